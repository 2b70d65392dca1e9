"""The fault matrix through the real app: every failure the service or the network can produce.

For each fault the app must stay responsive, keep the question (and any partial answer, with
its status) in the database, show the server's own words made readable inline, never show a
traceback, and answer again with ctrl+r once the fault clears. ``tests/FAULTS.md`` is the
table these tests check.
"""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass

import pytest

from sonar_tui.api.events import TextDelta
from sonar_tui.mock import last_line, start_mock
from sonar_tui.store import Store
from sonar_tui.ui.widgets.answer import AnswerView
from sonar_tui.ui.widgets.stream import StreamingMarkdown
from tests.ui.appkit import (
    Harness,
    ask,
    ask_and_wait,
    controls_in,
    idle,
    last_answer,
    ready,
    screen_text,
    wait_until,
)

CHUNKS = 40
TAG_RE = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


@dataclass(frozen=True)
class Fault:
    profile: str
    status: str  # the answer's status on screen and in the database
    words: tuple[str, ...]  # what the inline error must say (the server's words, readable)
    partial: bool = False  # part of the answer arrived and must be kept
    env: tuple[tuple[str, str], ...] = ()


FAULTS = [
    Fault("401-json", "error", ("API key rejected (HTTP 401)", "Invalid API key provided",
                                "PERPLEXITY_API_KEY")),
    Fault("401-html", "error", ("API key rejected (HTTP 401)", "401 Authorization Required",
                                "openresty")),
    Fault("403-retired", "error", ("Sonar chat completions retired (HTTP 403)",
                                   "Sonar is now the Agent API", "api_mode"),
          env=(("SONAR_TUI_API_MODE", "sonar"),)),
    Fault("400", "error", ("Request refused (HTTP 400)",
                           "user and assistant roles should be alternating")),
    Fault("429-no-retry-after", "error", ("Rate limited (HTTP 429)", "rate limit exceeded",
                                          "Wait a moment")),
    Fault("500", "error", ("Service error (HTTP 500)", "internal server error")),
    Fault("502-html", "error", ("Service error (HTTP 502)", "502 Bad Gateway", "cloudflare")),
    Fault("disconnect", "error", ("Network error", "connection dropped in the middle"),
          partial=True),
    Fault("stall", "error", ("Timed out", "sent nothing for 1 s"), partial=True,
          env=(("SONAR_TUI_IDLE_TIMEOUT", "1"),)),
    Fault("captive-portal", "error", ("Unexpected response", "A web page answered instead of "
                                      "the API", "Guest Wi-Fi - Sign in", "login page")),
    Fault("huge-line", "error", ("Unexpected response", "more than 8 MB without a line break",
                                 "the text that arrived before it is kept"), partial=True),
]


async def stored_messages(db_path) -> list:
    store = await Store.open(db_path)
    try:
        threads = await store.list_threads()
        return [m for t in threads for m in await store.load_messages(t.id)]
    finally:
        await store.close()


def error_text(view) -> str:
    return str(view.query_one("#error").render())


async def still_responsive(pilot) -> None:
    """A key press is still handled: ctrl+n opens an empty thread and focuses the composer."""
    app = pilot.app
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: app.main.thread is None, "ctrl+n to open a new thread")
    assert app.focused is app.main.composer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=CHUNKS)
    yield h
    h.close()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.profile for f in FAULTS])
async def test_fault_is_shown_kept_and_retried(harness, fault):
    # One try per question: the retry classification is the client's own tests' business;
    # here a fault must reach the user as it would after the last try.
    harness.configure(profile=fault.profile, fault_times=1)
    config = harness.config(SONAR_TUI_MAX_ATTEMPTS="1", **dict(fault.env))
    app = harness.app(config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Is the service up?")
        view = last_answer(app)
        assert view.status == fault.status
        shown = error_text(view)
        for words in fault.words:
            assert words in shown, f"{words!r} not in {shown!r}"
        assert "ctrl+r" in shown
        assert not TAG_RE.search(shown), "an HTML page must be reduced to its text"
        screen = screen_text(app)
        assert "Traceback" not in screen and controls_in(screen) == []
        if fault.partial:
            assert view.body.source.strip() and last_line(CHUNKS) not in view.body.source
        else:
            assert not view.body.source.strip()
        thread_id = app.main.thread_id

        messages = await stored_messages(harness.db_path)
        assert [(m.role, m.status) for m in messages] == [("user", "complete"),
                                                          ("assistant", fault.status)]
        assert messages[0].content == "Is the service up?"
        assert messages[1].error and messages[1].error["message"]
        if fault.partial:
            assert messages[1].content and view.body.source.startswith(messages[1].content[:40])
        else:
            assert messages[1].content == ""

        await still_responsive(pilot)
        await app.main.open_thread(thread_id)  # back to the failed answer
        await pilot.press("ctrl+r")  # the fault has cleared (fault_times=1)
        await wait_until(pilot, lambda: app.main.conversation.answers()
                         and last_answer(app).status == "complete", "the retry to complete")
        assert len(app.main.conversation.answers()) == 1
        assert last_answer(app).body.source.rstrip().endswith(last_line(CHUNKS))
        assert not last_answer(app).query("#error")
        await app.workers.wait_for_complete()
    messages = await stored_messages(harness.db_path)
    assert [(m.role, m.status) for m in messages] == [("user", "complete"),
                                                      ("assistant", "complete")]


async def test_rate_limit_with_retry_after_counts_down_then_retries_by_itself(harness):
    harness.configure(profile="429", fault_times=1)  # Retry-After: 1, then the limit lifts
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "Is the service up?")
        await wait_until(pilot, lambda: app.main.conversation.answers()
                         and last_answer(app).query("#notice"), "the countdown notice")
        notice = str(last_answer(app).query_one("#notice").render())
        assert "Rate limited (HTTP 429)" in notice and "retrying in" in notice
        await wait_until(pilot, lambda: idle(app), "the automatic retry")
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = last_answer(app)
        assert view.status == "complete" and not view.query("#notice")
        assert view.body.source.rstrip().endswith(last_line(CHUNKS))
    assert [r.path for r in harness.mock.requests] == ["/chat/completions"] * 2
    messages = await stored_messages(harness.db_path)
    assert [(m.role, m.status) for m in messages] == [("user", "complete"),
                                                      ("assistant", "complete")]


async def test_the_countdown_names_the_status_once(harness):
    harness.configure(profile="429", fault_times=1)
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "Is the service up?")
        await wait_until(pilot, lambda: app.main.conversation.answers()
                         and last_answer(app).query("#notice"), "the countdown notice")
        notice = str(last_answer(app).query_one("#notice").render())
        assert notice.count("(HTTP 429)") == 1, notice


@pytest.mark.parametrize("profile", ["malformed", "pings-no-done"])
async def test_stream_oddities_still_complete(harness, profile):
    harness.configure(profile=profile)
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Is the service up?")
        view = last_answer(app)
        assert view.status == "complete" and not view.query("#error")
        assert view.body.source.rstrip().endswith(last_line(CHUNKS))
        assert len(view.sources) == 7
        await still_responsive(pilot)
    messages = await stored_messages(harness.db_path)
    assert messages[1].status == "complete"
    assert messages[1].content.rstrip().endswith(last_line(CHUNKS))


async def test_a_one_megabyte_answer_is_kept_whole_while_the_app_stays_usable(harness):
    # Drawing 1 MB of Markdown takes minutes on a 2-core machine (tens of thousands of block
    # widgets; see tests/FAULTS.md), so the big answer streams into a thread that is not on
    # screen (as a related question asked from another thread would): the app's worker, the
    # service and the store carry it whole while the user goes on.
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "A short question first")
        first = app.main.thread_id
        harness.configure(profile="1mb", pace=20, fault_times=1)  # 40 chunks of ~27 KB, ~2 s
        await app.ask("Tell me everything", thread_id=None)  # a new thread, off screen
        await wait_until(pilot, lambda: idle(app), "the big answer to finish", timeout=60)
        await app.workers.wait_for_complete()
        assert app.main.thread_id == first and len(app.main.sidebar.threads) == 2
        big = next(t.id for t in app.main.sidebar.threads if t.id != first)
        await still_responsive(pilot)
        await ask_and_wait(pilot, "And another short one?")  # the app still asks and answers
        assert last_answer(app).status == "complete"
    big_answer = next(m for m in await stored_messages(harness.db_path)
                      if m.thread_id == big and m.role == "assistant")
    assert big_answer.status == "complete" and len(big_answer.content) > 1_000_000
    assert big_answer.content.rstrip().endswith(last_line(CHUNKS))


async def test_server_not_listening_then_coming_up(harness):
    port = closed_port()
    config = harness.config(PERPLEXITY_BASE_URL=f"http://127.0.0.1:{port}",
                            SONAR_TUI_MAX_ATTEMPTS="1")
    app = harness.app(config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Is anyone there?")
        view = last_answer(app)
        assert view.status == "error"
        shown = error_text(view)
        assert "Network error" in shown and "Could not connect to http://127.0.0.1:" in shown
        assert "Traceback" not in screen_text(app)
        messages = await stored_messages(harness.db_path)
        assert [(m.role, m.status) for m in messages] == [("user", "complete"),
                                                          ("assistant", "error")]
        thread_id = app.main.thread_id
        await still_responsive(pilot)
        await app.main.open_thread(thread_id)
        with start_mock("default", port=port, chunks=CHUNKS):  # the service comes up
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: app.main.conversation.answers()
                             and last_answer(app).status == "complete", "the retry")
            await app.workers.wait_for_complete()
    messages = await stored_messages(harness.db_path)
    assert [m.status for m in messages] == ["complete", "complete"]


# ----------------------------------------------------------------------------- display failures


async def test_a_chunk_arriving_while_its_answer_view_is_rebuilt_is_applied_safely(
        harness, monkeypatch):
    app = harness.app()
    late: list[asyncio.Future] = []
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "A first thread")
        first = app.main.thread_id
        await pilot.press("ctrl+n")
        harness.configure(chunks=600, hold_at=200)  # held: it streams until the test ends
        await ask(pilot, "A long answer")
        await wait_until(pilot, lambda: app.live and last_answer(app).body.source, "streaming")
        live = next(iter(app.live.values()))

        def on_unmount(self) -> None:
            # Textual removes the answer's body before the answer view itself: a chunk that
            # arrives in between is what the worker then applies.
            if self.id == "body":
                late.append(asyncio.ensure_future(app._apply(live, TextDelta(" late"))))
        monkeypatch.setattr(StreamingMarkdown, "on_unmount", on_unmount, raising=False)
        # Switching away keeps a streaming thread's views; opening it at a search hit
        # rebuilds them in place.
        await app.main.open_thread(first)
        await app.main.open_thread(live.thread_id, message_id=live.question_id)
        await pilot.pause()
        assert late, "the chunk arrived mid-rebuild"
        await asyncio.gather(*late)
        assert " late" in live.full_text  # applied (to the answer), without an error


async def test_a_display_error_mid_answer_loses_nothing(harness, monkeypatch):
    harness.configure(chunks=300, hold_at=100)  # the rest comes after the failure
    failures = []
    original = AnswerView.add_text

    def failing_once(self, text: str) -> None:
        if not failures:
            failures.append(text)
            raise RuntimeError("a display bug")
        original(self, text)
    monkeypatch.setattr(AnswerView, "add_text", failing_once)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask(pilot, "Will this answer be kept?")
        await wait_until(pilot, lambda: failures and harness.service.streams_held() == 1,
                         "the failure, mid-answer")
        harness.release()
        await wait_until(pilot, lambda: idle(app), "the answer to end")
        await app.workers.wait_for_complete()
        assert app.is_running
    messages = await stored_messages(harness.db_path)
    assert [(m.role, m.status) for m in messages] == [("user", "complete"),
                                                      ("assistant", "complete")]
    assert messages[1].content.rstrip().endswith(last_line(300))
