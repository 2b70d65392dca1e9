"""Background jobs in the real app (Pilot), against the mock over loopback and a real
database: F8 and deep research send jobs, the thread shows what the job has found so far,
the sidebar marks it, quitting loses nothing, Esc cancels (after asking), and a job that
ends while the user is elsewhere calls them back.

Jobs move on when the test says (``release_jobs``, or a number of reads), and the app
checks every 20 ms, so no test waits for a job's clock.
"""

from __future__ import annotations

import pytest

from sonar_tui.mock import last_line
from sonar_tui.store import Store
from tests.ui.appkit import Harness, ask, idle, last_answer, notices, ready, wait_until

CHUNKS = 30
QUESTION = "Survey the history of TLS"
JOBS_ENV = {"SONAR_TUI_API_MODE": "agent", "SONAR_TUI_JOB_POLL_INTERVAL": "0.02"}


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=CHUNKS, job_polls=None, job_seconds=None)
    yield h
    h.close()


def row_text(app, thread_id: int) -> str:
    return str(app.main.sidebar.option_list.get_option(f"t{thread_id}").prompt)


async def send_background(pilot, question: str = QUESTION) -> None:
    app = pilot.app
    app.main.composer.focus()
    app.main.composer.load_text(question)
    await pilot.press("f8")


def job_live(app):
    return next((live for live in app.live.values() if live.job_id is not None), None)


async def test_f8_sends_a_job_that_shows_its_progress_and_lands_whole(harness):
    app = harness.app(config=harness.config(**JOBS_ENV))
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await send_background(pilot)
        await wait_until(pilot, lambda: (live := job_live(app)) is not None
                         and live.job_status == "in_progress" and live.steps,
                         "the job to report its searches")
        assert app.main.composer.text == ""  # sent: the composer is free
        view = last_answer(app)
        assert view.status == "background" and view.steps
        assert "background job" in str(view.query_one("#answer-header").render())
        await wait_until(pilot, lambda: "Running for" in str(
            view.query_one("#notice").render()), "the job's notice")
        notice = str(view.query_one("#notice").render())
        assert "next check in" in notice and "Esc cancels · safe to quit" in notice
        assert "◷ 1 background job" in str(app.main.status.render())
        thread_id = app.main.thread_id
        assert "◷" in row_text(app, thread_id) and "running" in row_text(app, thread_id)
        assert app.main.sidebar.threads[0].job_status == "in_progress"
        sent = harness.service.bodies("/v1/responses")[0]
        assert sent["background"] is True

        harness.service.release_jobs()
        await wait_until(pilot, lambda: idle(app), "the job's answer")
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = last_answer(app)
        assert view.status == "complete"
        assert view.body.source.rstrip().endswith(last_line(CHUNKS))
        assert view.sources and view.cost
        assert "◷" not in row_text(app, thread_id)
        assert "Background job finished" not in notices(app)  # it landed in front of the user
    async with await Store.open(harness.db_path) as store:
        question, answer = await store.load_messages(thread_id)
        assert (question.content, answer.status) == (QUESTION, "complete")
        assert (await store.thread_job(thread_id)).status == "completed"


async def test_deep_research_goes_to_the_background_by_itself(harness):
    config = harness.config(**JOBS_ENV, SONAR_TUI_MODEL="sonar-deep-research")
    app = harness.app(config=config)
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        await wait_until(pilot, lambda: job_live(app) is not None, "a job")
        harness.service.release_jobs()
        await wait_until(pilot, lambda: idle(app), "its answer")
        await app.workers.wait_for_complete()
        assert last_answer(app).status == "complete"
    assert len(harness.service.jobs.ids()) == 1


async def test_where_there_is_no_background_mode_f8_says_why_and_sends_nothing(harness):
    app = harness.app()  # api_mode auto, a loopback URL: a chat gateway
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await send_background(pilot)
        await wait_until(pilot, lambda: "Not sent (background)" in notices(app),
                         "the refusal")
        assert "no background mode" in notices(app)
        assert app.main.composer.text == QUESTION  # kept, to send another way
        await pilot.press("f8")  # an empty composer says what F8 needs
    assert harness.service.requests == []
    async with await Store.open(harness.db_path) as store:
        assert await store.list_threads() == []


async def test_quitting_mid_job_loses_nothing_and_the_next_start_brings_the_answer(harness):
    config = harness.config(**JOBS_ENV)
    first = harness.app(config=config)
    async with first.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await send_background(pilot)
        await wait_until(pilot, lambda: (live := job_live(first)) is not None
                         and live.job_status == "in_progress", "the job to run")
        thread_id = first.main.thread_id
        # The user moved on to a new thread: the next start opens that one, so the job's
        # answer arrives elsewhere (and is announced).
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: first.main.thread_id is None, "the new thread")
    async with await Store.open(harness.db_path) as store:
        (job,) = await store.list_jobs(unfinished=True)
        assert job.steps and job.response_id  # what it had found is kept
    harness.service.release_jobs()
    written = []
    second = harness.app(config=config)
    second.terminal_writer = written.append
    async with second.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await wait_until(pilot, lambda: "Background job finished" in notices(second),
                         "the job's answer after the restart")
        assert "its answer is ready" in notices(second)
        assert written == ["\x07"]  # auto, in a terminal without notifications: the bell
        await second.workers.wait_for_complete()
        await second.main.open_thread(thread_id)
        await pilot.pause()
        view = last_answer(second)
        assert view.status == "complete" and view.body.source.rstrip().endswith(
            last_line(CHUNKS))
        assert second.main.conversation.last_question().text == QUESTION


async def test_a_resumed_job_shows_what_it_found_before_its_first_check(harness):
    config = harness.config(**JOBS_ENV)
    first = harness.app(config=config)
    async with first.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await send_background(pilot)
        await wait_until(pilot, lambda: (live := job_live(first)) is not None
                         and live.steps, "the job's searches")
        thread_id = first.main.thread_id
    harness.mock.stop()  # the service is out of reach at the next start
    second = harness.app(config=config)
    async with second.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await wait_until(pilot, lambda: job_live(second) is not None
                         and job_live(second).job_problem, "a failed check")
        await second.main.open_thread(thread_id)
        await pilot.pause()
        view = last_answer(second)
        assert view.status == "background" and view.steps  # from the database
        assert "Network error" in job_live(second).job_problem
        assert "◷" in row_text(second, thread_id)


async def test_esc_asks_before_cancelling_and_the_job_keeps_what_it_found(harness):
    app = harness.app(config=harness.config(**JOBS_ENV))
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await send_background(pilot)
        await wait_until(pilot, lambda: (live := job_live(app)) is not None and live.steps,
                         "the job to run")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.press("n")  # kept: nothing happens
        await pilot.pause()
        assert job_live(app) is not None and not any(
            r.path.endswith("/cancel") for r in harness.service.requests)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: idle(app), "the cancelled job's end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = last_answer(app)
        assert view.status == "cancelled" and view.steps
        assert "Cancelling" in notices(app)


async def test_two_jobs_at_once_and_the_one_elsewhere_calls_back(harness):
    config = harness.config(**JOBS_ENV, SONAR_TUI_JOB_NOTIFY="osc9")
    app = harness.app(config=config)
    written = []
    app.terminal_writer = written.append
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await send_background(pilot, "Survey the history of TLS")
        await wait_until(pilot, lambda: job_live(app) is not None and job_live(app).job_id,
                         "the first job")
        first_thread = app.main.thread_id
        await pilot.press("ctrl+n")
        await send_background(pilot, "Survey the history of QUIC")
        await wait_until(pilot, lambda: len([v for v in app.live.values() if v.job_id]) == 2,
                         "two jobs")
        second_thread = app.main.thread_id
        assert first_thread != second_thread
        rows = [row_text(app, t) for t in (first_thread, second_thread)]
        assert all("◷" in row for row in rows)
        harness.service.release_jobs()
        await wait_until(pilot, lambda: idle(app), "both answers")
        await app.workers.wait_for_complete()
        # The first ended while the user looked at the second: called back, once.
        assert notices(app).count("Background job finished") == 1
        assert "Survey the history of TLS" in notices(app)
        assert len(written) == 1 and written[0].startswith("\x1b]9;sonar-tui: Survey the")
    async with await Store.open(harness.db_path) as store:
        for thread_id, word in ((first_thread, "TLS"), (second_thread, "QUIC")):
            question, answer = await store.load_messages(thread_id)
            assert word in question.content and answer.status == "complete"


async def test_a_job_started_elsewhere_is_adopted(harness):
    from sonar_tui.service import ChatService

    config = harness.config(**JOBS_ENV)
    app = harness.app(config=config)
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        # Another sonar-tui (`ask --background`) starts a job on the same database.
        async with await Store.open(harness.db_path) as store:
            other = ChatService(store, config)
            [e async for e in other.ask(QUESTION, background=True, follow=False)]
            await other.aclose()
        await app.follow_unfinished_jobs()  # what the app does every few seconds
        assert job_live(app) is not None
        harness.service.release_jobs()
        await wait_until(pilot, lambda: idle(app), "the adopted job's answer")
        assert "Background job finished" in notices(app)


async def test_a_failed_job_is_said_and_kept(harness):
    harness.configure(profile="agent-failed")
    app = harness.app(config=harness.config(**JOBS_ENV))
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await send_background(pilot)
        await wait_until(pilot, lambda: job_live(app) is not None, "the job")
        harness.service.release_jobs()
        await wait_until(pilot, lambda: idle(app), "its end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = last_answer(app)
        assert view.status == "error" and view.sources
        assert "the model provider returned an error" in str(view.query_one("#error").render())


async def test_the_clock_never_brings_back_the_notice_of_an_answer_that_ended(harness):
    """The once-a-second notice (a retry countdown, a job's running time) runs in a worker;
    one scheduled just before the answer ends must not write over the finished answer
    (seen as a stale 'Service error … retrying' line under a failed answer)."""
    harness.configure(profile="502-html", fault_times=5)
    app = harness.app(config=harness.config(SONAR_TUI_MAX_ATTEMPTS="2"))
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "Is the service up?")
        await wait_until(pilot, lambda: (live := next(iter(app.live.values()), None))
                         is not None and live.retry_at is not None, "a retry countdown")
        live = next(iter(app.live.values()))
        view = live.view
        await wait_until(pilot, lambda: live.status == "error", "the failure")
        app._tick()  # a tick that lands between the failure and the end of the worker
        await wait_until(pilot, lambda: idle(app), "the answer's end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.status == "error" and not view.query_children("#notice")
