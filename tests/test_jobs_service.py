"""Background jobs through the real service: a real database in tmp_path, the real client,
the mock over loopback HTTP. Jobs move on when the test says (the mock counts reads), so no
test waits for a job's clock; polls come every few milliseconds (``job_poll_interval``)."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from sonar_tui.api.conversation import continuation_endpoint
from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import (
    Failed,
    Finished,
    Retrying,
    SourcesUpdate,
    Started,
    StepsUpdate,
    TextDelta,
    UsageUpdate,
    build_answer,
)
from sonar_tui.api.settings import RequestSettings
from sonar_tui.config import load_config
from sonar_tui.jobs import GONE_MESSAGE
from sonar_tui.mock import last_line, start_mock
from sonar_tui.service import (
    AnswerSaved,
    ChatService,
    JobProgress,
    JobSubmitted,
    QuestionSaved,
)
from sonar_tui.store import Store

CHUNKS = 16
QUESTION = "Survey the history of TLS"
DEEP = RequestSettings(model="sonar-deep-research")
POLL = "0.02"


@pytest.fixture
def mock():
    with start_mock(chunks=CHUNKS, job_polls=3, job_seconds=None) as handle:
        yield handle


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "threads.db") as opened:
        yield opened


def service_for(store: Store | None, tmp_path, url: str, **env: str) -> ChatService:
    config = load_config(tmp_path / "config.toml", env={
        "PERPLEXITY_API_KEY": "test-key", "PERPLEXITY_BASE_URL": url,
        "SONAR_TUI_API_MODE": "agent", "SONAR_TUI_JOB_POLL_INTERVAL": POLL, **env})
    return ChatService(store, config)


async def collect(events) -> list:
    return [event async for event in events]


def db_row(path, sql: str, *args):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchone()


async def test_a_job_is_committed_first_polled_and_its_answer_lands_whole(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    seen = []
    async for event in service.ask(QUESTION, settings=DEEP, background=True):
        seen.append(event)
        if isinstance(event, QuestionSaved):
            # The question is in the database before anything is sent.
            assert mock.service.jobs.ids() == []
            assert db_row(store.path, "SELECT count(*) FROM messages")[0] == 1
        if isinstance(event, JobSubmitted):
            # ... and the job's id before anything else happens.
            assert db_row(store.path, "SELECT response_id, status FROM jobs") == (
                event.job.response_id, "queued")
            assert event.job.response_id in mock.service.jobs.ids()
    kinds = [type(e) for e in seen]
    assert kinds[:3] == [QuestionSaved, JobProgress, JobSubmitted] and kinds[-1] is AnswerSaved
    assert (seen[1].status, seen[1].next_check) == ("submitting", None)  # a job, no id yet
    progress = [e for e in seen if isinstance(e, JobProgress)][1:]
    assert [p.status for p in progress][:2] == ["queued", "queued"] and progress[-1].polls >= 2
    assert any(isinstance(e, StepsUpdate) for e in seen[:kinds.index(Started)])  # while running
    answer = build_answer(seen)
    assert answer.text.endswith(last_line(CHUNKS)) and answer.finish_reason == "stop"
    assert answer.sources and answer.usage and answer.cost
    saved = seen[-1]
    assert saved.status == "complete"
    question, stored = await store.load_messages(saved.thread_id)
    assert (question.content, stored.id) == (QUESTION, saved.message_id)
    assert stored.content == answer.text and len(stored.sources) == len(answer.sources)
    assert stored.cost == answer.cost and stored.usage["total_tokens"] > 0
    assert stored.response_endpoint == continuation_endpoint(mock.url)
    job = await store.thread_job(saved.thread_id)
    assert (job.status, job.answer_id, job.finished) == ("completed", stored.id, True)
    assert stored.response_id == job.response_id
    sent = mock.service.bodies("/v1/responses")[0]
    assert sent["background"] is True and sent["effort"] == "high"
    await service.aclose()


async def test_submitted_then_followed_by_another_process(tmp_path, store, mock):
    first = service_for(store, tmp_path, mock.url)
    events = await collect(first.ask(QUESTION, settings=DEEP, background=True, follow=False))
    assert type(events[-1]) is JobSubmitted and mock.service.jobs.reads(
        events[-1].job.response_id) == 0
    await first.aclose()
    # A new process (another Store on the file, another client) picks the job up.
    async with await Store.open(store.path) as later:
        second = service_for(later, tmp_path, mock.url)
        (job,) = await second.list_jobs(unfinished=True)
        followed = await collect(second.follow_job(job.id))
        assert type(followed[-1]) is AnswerSaved and followed[-1].status == "complete"
        assert build_answer(followed).text.endswith(last_line(CHUNKS))
        assert await second.list_jobs(unfinished=True) == []
        await second.aclose()


async def test_deep_research_goes_to_the_background_by_itself_and_others_stream(
        tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    deep = await collect(service.ask(QUESTION, settings=DEEP))
    assert any(isinstance(e, JobSubmitted) for e in deep)
    quick = await collect(service.ask("What is TLS?"))
    assert not any(isinstance(e, JobSubmitted) for e in quick)
    effort = await collect(service.ask(QUESTION, settings=RequestSettings(agent_effort="xhigh")))
    assert any(isinstance(e, JobSubmitted) for e in effort)
    off = service_for(store, tmp_path, mock.url, SONAR_TUI_BACKGROUND_RESEARCH="false")
    streamed = await collect(off.ask(QUESTION, settings=DEEP))
    assert not any(isinstance(e, JobSubmitted) for e in streamed)
    assert streamed[-1].status == "complete"
    assert len(mock.service.jobs.ids()) == 2
    await service.aclose()
    await off.aclose()


@pytest.mark.parametrize("env, words", [
    ({"SONAR_TUI_API_MODE": "sonar"}, 'api_mode is "sonar"'),
    ({"SONAR_TUI_API_MODE": "auto"}, "is a gateway serving chat completions"),
])
async def test_where_there_is_no_background_mode_it_is_refused_and_deep_research_streams(
        tmp_path, store, mock, env, words):
    service = service_for(store, tmp_path, mock.url, **env)
    (refused,) = await collect(service.ask(QUESTION, settings=DEEP, background=True))
    assert refused.error.kind is ErrorKind.INVALID_SETTINGS and refused.error.field == "background"
    assert words in refused.error.message and "no background mode" in refused.error.message
    assert await store.list_threads() == [] and mock.requests == []
    assert words in service.background_refusal()
    streamed = await collect(service.ask(QUESTION, settings=DEEP))  # automatic: just streams
    assert streamed[-1].status == "complete" and mock.service.jobs.ids() == []
    no_db = service_for(None, tmp_path, mock.url)
    (refused,) = await collect(no_db.ask(QUESTION, settings=DEEP, background=True, save=False))
    assert "needs the thread database" in refused.error.message
    await service.aclose()


async def test_a_failed_job_keeps_the_error_and_what_it_found(tmp_path, store, mock):
    mock.service.configure(profile="agent-failed")
    service = service_for(store, tmp_path, mock.url)
    events = await collect(service.ask(QUESTION, settings=DEEP, background=True))
    assert isinstance(events[-2], Failed) and events[-1].status == "error"
    answer = await store.get_message(events[-1].message_id)
    assert answer.status == "error" and answer.error["message"]
    assert answer.sources  # the searches it did are kept
    assert (await store.thread_job(events[-1].thread_id)).status == "failed"
    await service.aclose()


async def test_a_cancelled_job_stops_on_the_service_and_keeps_what_it_found(
        tmp_path, store, mock):
    mock.service.configure(job_polls=None)  # held until it is cancelled
    service = service_for(store, tmp_path, mock.url)
    events = []
    outcome = None

    async def follow():
        async for event in service.ask(QUESTION, settings=DEEP, background=True):
            events.append(event)

    task = asyncio.create_task(follow())
    while not any(isinstance(e, StepsUpdate) for e in events):
        await asyncio.sleep(0.01)
    job = next(e.job for e in events if isinstance(e, JobSubmitted))
    outcome = await service.cancel_job(job.id)
    assert outcome.stopped and "Cancelling" in outcome.message
    await asyncio.wait_for(task, 10)
    assert [r.path for r in mock.requests if r.path.endswith("/cancel")] == [
        f"/v1/responses/{job.response_id}/cancel"]
    assert isinstance(events[-2], Finished) and events[-2].reason == "cancelled"
    saved = events[-1]
    assert saved.status == "cancelled"
    answer = await store.get_message(saved.message_id)
    assert (answer.status, answer.finish_reason, answer.error) == ("cancelled", "cancelled", None)
    assert answer.steps and answer.sources
    assert (await store.get_job(job.id)).status == "cancelled"
    again = await service.cancel_job(job.id)
    assert not again.stopped and "already ended" in again.message
    await service.aclose()


async def test_a_cancel_the_service_refuses_stops_following_and_says_so(tmp_path, store, mock):
    mock.service.configure(job_polls=None, profile="cancel-refused")
    service = service_for(store, tmp_path, mock.url)
    submitted = await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                          follow=False))
    job = submitted[-1].job
    follower = asyncio.create_task(collect(service.follow_job(job.id)))
    await asyncio.sleep(0.05)
    outcome = await service.cancel_job(job.id)
    assert outcome.stopped and "cannot cancel this job (HTTP 404" in outcome.message
    assert "stopped following it" in outcome.message and "billed" in outcome.message
    followed = await asyncio.wait_for(follower, 10)
    assert followed[-1].status == "cancelled"  # the follower found it ended and stopped
    answer = await store.get_message(followed[-1].message_id)
    assert answer.status == "cancelled" and "cannot cancel" in answer.error["message"]
    assert (await store.get_job(job.id)).status == "abandoned"
    await service.aclose()


async def test_a_job_the_service_forgot_is_said_gone(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    mock.service.forget_responses()
    events = await collect(service.follow_job(job.id))
    assert isinstance(events[-2], Failed) and events[-2].error.kind is ErrorKind.NOT_FOUND
    assert events[-2].error.message == GONE_MESSAGE and "store: false" in GONE_MESSAGE
    assert events[-1].status == "error"
    assert (await store.get_job(job.id)).status == "gone"
    await service.aclose()


async def test_two_jobs_at_once_each_answer_lands_in_its_thread(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    first, second = await asyncio.gather(
        collect(service.ask("Survey the history of TLS", settings=DEEP, background=True)),
        collect(service.ask("Survey the history of QUIC", settings=DEEP, background=True)))
    for events, word in ((first, "TLS"), (second, "QUIC")):
        saved = events[-1]
        assert saved.status == "complete"
        question, answer = await store.load_messages(saved.thread_id)
        assert word in question.content and answer.id == saved.message_id
    assert first[-1].thread_id != second[-1].thread_id
    assert len(mock.service.jobs.ids()) == 2
    await service.aclose()


async def test_polling_backs_off_and_honours_retry_after(tmp_path, store, mock):
    mock.service.configure(job_polls=7)
    service = service_for(store, tmp_path, mock.url, SONAR_TUI_JOB_POLL_INTERVAL="0.05")
    waits = [e.next_check for e in await collect(service.ask(
        QUESTION, settings=DEEP, background=True))
        if isinstance(e, JobProgress) and e.status != "submitting"]
    # Every wait is the last one x1.5 (each jittered +-20%), up to 15 x the first interval.
    assert len(waits) >= 6
    assert all(0.04 <= w <= 0.75 * 1.2 for w in waits)
    assert waits[4] > waits[0] * 2

    mock.service.configure(job_polls=3)
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    mock.service.configure(profile="poll-429", fault_times=1)
    timed = []
    async for event in service.follow_job(job.id):
        if isinstance(event, JobProgress):
            timed.append((time.monotonic(), event))
    limited = next(i for i, (_, e) in enumerate(timed) if e.problem is not None)
    at, event = timed[limited]
    assert event.problem.kind is ErrorKind.RATE_LIMIT and event.next_check >= 1.0
    assert timed[limited + 1][0] - at >= 1.0  # the next read waited for Retry-After
    assert (await store.get_job(job.id)).finished
    await service.aclose()


async def test_network_blips_keep_the_job_and_it_is_fetched_later(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    mock.service.configure(profile="poll-drop", fault_times=2)
    events = await collect(service.follow_job(job.id))
    problems = [e.problem for e in events if isinstance(e, JobProgress) and e.problem]
    assert [p.kind for p in problems] == [ErrorKind.NETWORK, ErrorKind.NETWORK]
    assert events[-1].status == "complete"
    assert (await store.get_job(job.id)).polls == 4  # 2 blips, queued, in progress
    # The service down altogether: the job waits in the database, untouched.
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    mock.stop()
    checked = await collect(service.follow_job(job.id, once=True))
    assert checked[-1].problem.kind is ErrorKind.NETWORK
    stored = await store.get_job(job.id)
    assert not stored.finished and stored.error["kind"] == "network"
    await service.aclose()


async def test_two_followers_write_one_answer(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    async with await Store.open(store.path) as other_store:
        other = service_for(other_store, tmp_path, mock.url)
        one, two = await asyncio.gather(collect(service.follow_job(job.id)),
                                        collect(other.follow_job(job.id)))
        await other.aclose()
    assert one[-1].message_id == two[-1].message_id
    assert build_answer(one).text == build_answer(two).text
    assert [m.role for m in await store.load_messages(job.thread_id)] == ["user", "assistant"]
    await service.aclose()


async def test_a_thread_waiting_for_its_job_takes_no_other_question(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    (refused,) = await collect(service.ask("And then?", thread_id=job.thread_id))
    assert "waiting for a background job" in refused.error.message
    (refused,) = await collect(service.answer_again(job.thread_id))
    assert "waiting for a background job" in refused.error.message
    assert await service.take_back_last(job.thread_id) is None
    assert len(await store.load_messages(job.thread_id)) == 1
    await collect(service.follow_job(job.id))
    # Afterwards the thread goes on, continuing the job's answer by its id.
    follow_up = await collect(service.ask("And TLS 1.3?", thread_id=job.thread_id))
    assert follow_up[-1].status == "complete"
    assert mock.service.bodies("/v1/responses")[-1]["previous_response_id"] == job.response_id
    await service.aclose()


async def test_regenerating_deep_research_starts_a_new_job(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    first = await collect(service.ask(QUESTION, settings=DEEP, background=True))
    again = await collect(service.answer_again(first[-1].thread_id))
    assert any(isinstance(e, JobSubmitted) for e in again) and again[-1].status == "complete"
    messages = await store.load_messages(first[-1].thread_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].id == again[-1].message_id
    await service.aclose()


async def test_a_failed_regenerating_job_keeps_the_answer_it_was_to_replace(tmp_path, store,
                                                                             mock):
    service = service_for(store, tmp_path, mock.url)
    first = await collect(service.ask(QUESTION, settings=DEEP, background=True))
    thread_id = first[-1].thread_id
    old = [m for m in await store.load_messages(thread_id) if m.role == "assistant"]
    mock.service.profile = "agent-failed"
    again = await collect(service.answer_again(thread_id))
    assert again[-1].status == "error"
    messages = await store.load_messages(thread_id)
    # The complete answer is still there, with the failed attempt after it.
    assert [(m.role, m.status) for m in messages] == [
        ("user", "complete"), ("assistant", "complete"), ("assistant", "error")]
    assert messages[1].id == old[0].id and messages[1].content == old[0].content
    await service.aclose()


async def test_a_jobs_answer_is_redacted_like_a_streamed_one(tmp_path, store, mock):
    """A service that echoes a piece of the key into a background answer: the piece never
    reaches the database (the mock's answer says "constraints", and so does this key)."""
    key = "pplx-constraints-0123456789"
    service = service_for(store, tmp_path, mock.url, PERPLEXITY_API_KEY=key)
    events = await collect(service.ask(QUESTION, settings=DEEP, background=True))
    answer = (await store.load_messages(events[-1].thread_id))[-1]
    assert answer.status == "complete"
    assert "[redacted]" in answer.content and "constraints" not in answer.content
    await service.aclose()


async def test_a_job_whose_id_never_arrived_is_said_lost(tmp_path, store, mock):
    message = await store.add_user_message(None, QUESTION)
    job = await store.add_job(message.thread_id, message.id,
                              endpoint=continuation_endpoint(mock.url), path="/v1/responses",
                              settings={}, model="sonar-deep-research")
    service = service_for(store, tmp_path, mock.url)
    young = await collect(service.follow_job(job.id, once=True))
    assert isinstance(young[-1], JobProgress) and young[-1].status == "submitting"
    with sqlite3.connect(store.path) as conn:  # an hour later, nobody has given it an id
        conn.execute("UPDATE jobs SET created_at = created_at - 3600")
    events = await collect(service.follow_job(job.id))
    assert "its answer cannot be fetched" in events[-2].error.message
    assert events[-1].status == "error"
    assert (await store.get_job(job.id)).status == "lost" and mock.requests == []
    await service.aclose()


async def test_a_job_is_only_checked_where_it_was_started(tmp_path, store, mock):
    service = service_for(store, tmp_path, mock.url)
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    with start_mock(chunks=CHUNKS) as elsewhere:
        moved = service_for(store, tmp_path, elsewhere.url)
        checked = await collect(moved.follow_job(job.id, once=True))
        assert checked[-1].problem.field == "base_url"
        assert "can only be checked where it was started" in checked[-1].problem.message
        outcome = await moved.cancel_job(job.id)
        assert not outcome.stopped and elsewhere.requests == []
        await moved.aclose()
    assert not (await store.get_job(job.id)).finished
    await service.aclose()


async def test_starting_a_job_retries_a_busy_service(tmp_path, store, mock):
    mock.service.configure(profile="429", fault_times=1)
    service = service_for(store, tmp_path, mock.url)
    events = await collect(service.ask(QUESTION, settings=DEEP, background=True, follow=False))
    assert [type(e) for e in events] == [QuestionSaved, JobProgress, Retrying, JobSubmitted]
    mock.service.configure(profile="401-json")
    failed = await collect(service.ask("Another", settings=DEEP, background=True))
    assert failed[-2].error.kind is ErrorKind.AUTH and failed[-1].status == "error"
    job = await store.thread_job(failed[-1].thread_id)
    assert (job.status, job.response_id, job.finished) == ("failed", None, True)
    await service.aclose()


async def test_progress_survives_a_restart(tmp_path, store, mock):
    mock.service.configure(job_polls=None)
    service = service_for(store, tmp_path, mock.url)
    job = (await collect(service.ask(QUESTION, settings=DEEP, background=True,
                                     follow=False)))[-1].job
    [e async for e in service.follow_job(job.id, once=True)]
    [e async for e in service.follow_job(job.id, once=True)]
    assert (await store.get_job(job.id)).steps  # reported while running, and kept
    restarted = service_for(store, tmp_path, mock.url)
    first = []
    async for event in restarted.follow_job(job.id):
        first.append(event)
        if isinstance(event, JobProgress):
            break
    # Shown before the first check: what the database kept.
    assert isinstance(first[0], StepsUpdate) and isinstance(first[1], SourcesUpdate)
    assert not any(isinstance(e, (TextDelta, UsageUpdate)) for e in first)
    await service.aclose()
    await restarted.aclose()


async def test_a_cancel_is_looked_at_at_once_not_at_the_next_scheduled_check(
        tmp_path, store, mock):
    mock.service.configure(job_polls=None)
    service = service_for(store, tmp_path, mock.url, SONAR_TUI_JOB_POLL_INTERVAL="60")
    events: list = []

    async def follow():
        async for event in service.ask(QUESTION, settings=DEEP, background=True):
            events.append(event)

    task = asyncio.create_task(follow())
    while not any(isinstance(e, JobSubmitted) for e in events):
        await asyncio.sleep(0.01)
    job = next(e.job for e in events if isinstance(e, JobSubmitted))
    assert (await service.cancel_job(job.id)).stopped
    # The follower sleeps up to a minute before its first check; the cancel wakes it.
    await asyncio.wait_for(task, 10)
    assert events[-1].status == "cancelled"
    await service.aclose()
