"""The app driven as a user drives it: Pilot, a real mock service, a real database."""

from __future__ import annotations

import asyncio
import base64

import pytest

from sonar_tui.mock import last_line
from sonar_tui.store import Store
from sonar_tui.ui.screens.main import KEEP_FINISHED
from sonar_tui.ui.screens.welcome import WelcomeScreen
from sonar_tui.ui.widgets.answer import ReasoningBlock
from sonar_tui.ui.widgets.citations import SourceList
from sonar_tui.ui.widgets.conversation import Conversation
from tests.ui.appkit import (
    Harness,
    ask,
    ask_and_wait,
    idle,
    last_answer,
    ready,
    wait_until,
    workers_finished,
)


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


async def stored(harness: Harness):
    store = await Store.open(harness.db_path)
    try:
        threads = await store.list_threads()
        return threads, [await store.load_messages(t.id) for t in threads]
    finally:
        await store.close()


async def test_question_streams_into_an_answer_with_its_sources(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "How does HTTP caching work?")
        view = last_answer(app)
        assert view.status == "complete"
        assert view.body.source.rstrip().endswith(last_line(300))
        assert len(view.sources) == 7
        assert app.main.citations.sources == view.sources  # the panel shows the selected answer
        assert app.main.composer.text == ""
        assert app.main.sidebar.threads[0].title == "How does HTTP caching work?"
    body = harness.service.last_body()
    assert body["model"] == "sonar" and body["stream"] is True
    assert body["messages"][-1] == {"role": "user", "content": "How does HTTP caching work?"}
    threads, messages = await stored(harness)
    assert [m.role for m in messages[0]] == ["user", "assistant"]
    assert messages[0][1].status == "complete" and len(messages[0][1].sources) == 7


async def test_second_question_sends_the_thread_history(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        await ask_and_wait(pilot, "And how does it differ from TCP?")
        roles = [m["role"] for m in harness.service.last_body()["messages"]]
        assert roles == ["user", "assistant", "user"]
        assert harness.mock.requests[-1].headers["x-conversation-id"] == app.main.thread.uid


async def test_following_stops_when_the_reader_scrolls_up_and_end_resumes(harness):
    harness.configure(chunks=2000, hold_at=900)  # the rest waits until the reader scrolled
    app = harness.app()
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        await ask(pilot, "Explain TCP congestion control")
        conversation = app.main.conversation
        await wait_until(pilot, lambda: harness.service.streams_held() == 1
                         and conversation.max_scroll_y > 20, "a long answer")
        assert conversation.following
        conversation.focus()
        await pilot.press("pageup", "pageup")
        assert not conversation.following
        held = conversation.scroll_y
        harness.release()
        await wait_until(pilot, lambda: conversation.max_scroll_y > held + 30, "more text")
        assert conversation.scroll_y == held  # the reader's place is kept while text arrives
        await pilot.press("end")
        assert conversation.following
        await wait_until(pilot, lambda: idle(app), "the end of the answer")
        await pilot.pause()
        assert conversation.scroll_y == conversation.max_scroll_y


async def test_reasoning_is_open_while_thinking_and_folds_when_the_answer_starts(harness):
    harness.configure(chunks=80, hold_at=20)  # held in the thinking phase
    app = harness.app(config=harness.config(SONAR_TUI_MODEL="sonar-reasoning-pro"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask(pilot, "Should I use Rust or Go for a CLI?")
        await wait_until(pilot, lambda: harness.service.streams_held() == 1
                         and app.main.conversation.answers()
                         and last_answer(app).reasoning_block is not None
                         and last_answer(app).reasoning_block.thinking.source, "reasoning text")
        view = last_answer(app)
        block: ReasoningBlock = view.reasoning_block
        assert not block.collapsed and not view.body.source  # thinking, no answer yet
        harness.release()
        await wait_until(pilot, lambda: bool(view.body.source), "the answer to start")
        await pilot.pause()
        assert block.collapsed
        await wait_until(pilot, lambda: idle(app), "the answer to finish")
        assert "<think>" not in view.body.source
        await pilot.press("ctrl+t")
        assert not block.collapsed
        await pilot.press("ctrl+t")
        assert block.collapsed


async def test_a_marker_jumps_to_its_source_and_back(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is a CDN?")
        view = last_answer(app)
        first = view.cited_numbers()[0]
        app.main.conversation.focus()
        await pilot.press("n")
        assert app.main.conversation.current_marker == first
        source_list: SourceList = app.main.citations.source_list
        assert source_list.highlighted_option.id == f"s{first}"
        await pilot.press("enter")
        assert app.focused is source_list
        await pilot.press("down")
        second = source_list.highlighted_option.source.number
        await pilot.press("escape")
        assert app.focused is app.main.conversation
        assert app.main.conversation.current_marker == second


async def test_escape_stops_the_answer_and_keeps_the_partial_text(harness):
    harness.configure(chunks=2000, hold_at=300)  # held until the stop: it cannot end first
    app = harness.app()
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        await ask(pilot, "Write a long history of the web")
        await wait_until(pilot, lambda: harness.service.streams_held() == 1
                         and app.main.conversation.answers()
                         and len(last_answer(app).body.source) > 200, "some text")
        await pilot.press("escape")
        await wait_until(pilot, lambda: idle(app), "the stop")
        await wait_until(pilot, lambda: workers_finished(app), "the answer's worker to end")
        await pilot.pause()
        shown = last_answer(app).body.source
        assert last_answer(app).status == "cancelled"
    _, messages = await stored(harness)
    answer = messages[0][1]
    assert answer.status == "cancelled"
    assert answer.content and shown.startswith(answer.content[:200])
    assert last_line(2000) not in answer.content


async def test_an_error_is_shown_inline_and_retry_works_once_it_clears(harness):
    harness.configure(profile="500", fault_times=3)  # every try of the first question fails
    app = harness.app()
    async with app.run_test(size=(120, 34)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Is the service up?")
        view = last_answer(app)
        assert view.status == "error"
        error_text = str(view.query_one("#error").render())
        assert "HTTP 500" in error_text and "ctrl+r" in error_text
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: last_answer(app).status == "complete", "the retry")
        assert len(app.main.conversation.answers()) == 1  # the failed answer was replaced
    _, messages = await stored(harness)
    assert [(m.role, m.status) for m in messages[0]] == [("user", "complete"),
                                                         ("assistant", "complete")]


async def test_switching_threads_keeps_both_answers_streaming(harness):
    # Both answers are held half-way on the wire until the test has switched threads: they
    # are certainly streaming at the same time, however loaded the machine.
    harness.configure(chunks=400, hold_at=100)
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "First topic: DNS")
        await wait_until(pilot, lambda: len(app.live) == 1
                         and harness.service.streams_held() == 1, "the first stream")
        first_thread = app.main.thread_id
        harness.configure(chunks=250)
        await pilot.press("ctrl+n")
        await ask(pilot, "Second topic: BGP")
        await wait_until(pilot, lambda: len(app.live) == 2
                         and harness.service.streams_held() == 2, "two streams at once")
        assert app.main.status.info.streaming == 2
        await app.main.open_thread(first_thread)  # back to the first, mid-stream
        assert harness.release() == 2
        await wait_until(pilot, lambda: idle(app), "both answers")
        await pilot.pause()
        assert last_answer(app).body.source.rstrip().endswith(last_line(400))
    threads, messages = await stored(harness)
    assert len(threads) == 2
    assert all(m[-1].status == "complete" for m in messages)
    ends = {n for m in messages for n in (250, 400)
            if m[-1].content.rstrip().endswith(last_line(n))}
    assert ends == {250, 400}


async def start_streaming_then_leave(pilot, harness, chunks: int):
    """A finished thread, then a streaming one, then back to the finished one. The streaming
    answer is held by the mock until the caller's ``harness.release()``."""
    app = pilot.app
    await ask_and_wait(pilot, "A finished thread")
    finished = app.main.thread_id
    await pilot.press("ctrl+n")
    harness.configure(chunks=chunks, hold_at=100)
    await ask(pilot, "A long answer")
    await wait_until(pilot, lambda: app.live and last_answer(app).body.source
                     and harness.service.streams_held() == 1, "streaming")
    view = last_answer(app)
    conversation = app.main.conversation
    await app.main.open_thread(finished)
    await pilot.pause()
    assert app.main.conversation.question_texts() == ["A finished thread"]
    return finished, view, conversation


async def test_a_streaming_thread_left_and_reopened_keeps_its_views(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        _, view, conversation = await start_streaming_then_leave(pilot, harness, chunks=3000)
        live = view.live
        # Hidden, not rebuilt: the same view keeps receiving the answer.
        assert not conversation.display and view.is_attached and live.view is view
        hidden_at = len(view.body.source)
        harness.release()
        await wait_until(pilot, lambda: len(view.body.source) > hidden_at + 200,
                         "text arriving while hidden")
        await app.main.open_thread(live.thread_id)
        assert app.main.conversation is conversation and conversation.display
        assert last_answer(app) is view and conversation.selected is view
        assert app.main.composer.questions == ["A long answer"]
        # The finished thread just left is kept too (hidden), for a quick way back.
        assert [c.question_texts() for c in app.main.query(Conversation)
                if not c.display] == [["A finished thread"]]


async def test_an_answer_that_ends_while_its_thread_is_hidden_is_shown_whole(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        finished, view, conversation = await start_streaming_then_leave(pilot, harness,
                                                                        chunks=300)
        harness.release()
        await wait_until(pilot, lambda: idle(app), "the answer to end, hidden")
        await app.workers.wait_for_complete()
        assert view.status == "complete"
        await app.main.open_thread(view.live.thread_id)
        assert last_answer(app) is view
        await pilot.pause()
        assert view.body.source.rstrip().endswith(last_line(300))
        await app.main.open_thread(finished)
        assert app.main.conversation.question_texts() == ["A finished thread"]


async def test_kept_conversations_are_bounded_and_a_streaming_one_is_always_kept(harness):
    """Going back is instant for the threads left last, but only KEEP_FINISHED finished
    threads stay mounted (hidden); a thread whose answer streams stays whatever happens,
    and its view keeps receiving the answer while hidden."""
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        finished = []
        for n in range(KEEP_FINISHED + 2):
            await pilot.press("ctrl+n")
            await ask_and_wait(pilot, f"Finished thread {n}")
            finished.append(app.main.thread_id)
        await pilot.press("ctrl+n")
        harness.configure(chunks=3000, hold_at=100)  # streams until released below
        await ask(pilot, "A long answer")
        await wait_until(pilot, lambda: app.live and last_answer(app).body.source
                         and harness.service.streams_held() == 1, "streaming")
        view = last_answer(app)
        for thread_id in finished:  # more threads than are kept, the streaming one left
            await app.main.open_thread(thread_id)
            await pilot.pause()
            conversations = list(app.main.query(Conversation))
            assert len(conversations) <= KEEP_FINISHED + 2  # shown + kept + the streaming one
        assert view.is_attached and view.live.view is view
        kept = [c.question_texts() for c in app.main.query(Conversation) if not c.display]
        assert ["A long answer"] in kept
        assert len(kept) == KEEP_FINISHED + 1, kept
        before = len(view.body.source)
        harness.release()
        await wait_until(pilot, lambda: len(view.body.source) > before + 200,
                         "the hidden answer still receiving text")
        # The oldest finished threads were let go: opening one builds it again.
        mounted = list(app.main.query(Conversation))
        await app.main.open_thread(finished[0])
        assert app.main.conversation not in mounted
        assert app.main.conversation.question_texts() == ["Finished thread 0"]


async def test_thread_switches_asked_at_once_end_on_the_last_one_asked(harness):
    """The start-up's empty thread, a thread opened from the sidebar, ctrl+n: they run in
    different tasks. Interleaved, the switcher used to show an empty pane under the title
    of the thread opened last."""
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "A finished thread")
        thread_id = app.main.thread_id
        await pilot.press("ctrl+n")
        await pilot.pause()
        async def later(delay: float) -> None:
            await asyncio.sleep(delay)
            await app.main.open_thread(thread_id)

        for delay in (0, 0.001, 0.01):
            await asyncio.gather(app.main.show_empty_thread(), later(delay))
            await pilot.pause()
            shown = app.main.conversation
            assert app.main.thread_id == thread_id and shown.display
            assert shown.question_texts() == ["A finished thread"] and len(shown.answers()) == 1
            await asyncio.gather(app.main.open_thread(thread_id), app.main.show_empty_thread())
            await pilot.pause()
            assert app.main.thread_id is None and not app.main.conversation.answers()


async def test_a_kept_thread_changed_by_another_window_is_rebuilt_when_reopened(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "A finished thread")
        thread_id = app.main.thread_id
        kept = app.main.conversation
        assert kept.max_scroll_y > 5
        kept.scroll_to(y=3, animate=False, immediate=True)  # the reader scrolled up a little
        await pilot.press("ctrl+n")
        await pilot.pause()
        await app.main.open_thread(thread_id)  # unchanged: shown as it was left
        await pilot.pause()
        assert app.main.conversation is kept and kept.question_texts() == ["A finished thread"]
        assert kept.scroll_y == 3
        await pilot.press("ctrl+n")
        await pilot.pause()
        other = await Store.open(harness.db_path)  # a second window asks in that thread
        try:
            await other.add_user_message(thread_id, "A question from the other window")
        finally:
            await other.close()
        await app.main.open_thread(thread_id)
        assert app.main.conversation.question_texts() == [
            "A finished thread", "A question from the other window"]


async def test_without_a_key_the_welcome_screen_says_how_to_set_one(harness):
    app = harness.app(config=harness.config(key=None))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        text = str(app.screen.query_one("#welcome-text").render())
        assert "PERPLEXITY_API_KEY" in text and "config.toml" in text
        await pilot.press("c")
        assert app.screen is app.main


async def test_copy_answer_sends_it_with_references_over_osc52(harness):
    app = harness.app()
    written: list[str] = []
    app.terminal_writer = written.append
    async with app.run_test(size=(120, 34)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is HTTP/3?")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: app.last_copy is not None, "the copy")
    payload = written[0].split(";", 2)[2].rstrip("\a")
    copied = base64.b64decode(payload).decode()
    assert copied.startswith("# ")
    assert "\n[1]: " in copied and " — https://" in copied
    assert app.last_copy.ok


async def test_retirement_switches_to_the_agent_api_once_and_remembers_it(harness):
    harness.configure(profile="403-retired")
    app = harness.app()
    async with app.run_test(size=(120, 34)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Who maintains curl?")
        assert last_answer(app).status == "complete" and last_answer(app).api == "agent"
        notices = [n for n in app._notifications if "Agent API" in n.title]
        assert len(notices) == 1
        await ask_and_wait(pilot, "And wget?")
    assert harness.paths() == ["/chat/completions", "/v1/responses", "/v1/responses"]
    assert "agent_endpoints" in harness.config_path.read_text()


async def test_demo_runs_without_a_key_or_network(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from sonar_tui.config import load_config
    from sonar_tui.ui.app import SonarApp

    config = load_config(tmp_path / "config.toml", env={})
    app = SonarApp(config, db_path=tmp_path / "demo.db", demo=True,
                   mock_options={"pace": None})
    async with app.run_test(size=(120, 34)) as pilot:
        await ready(pilot)
        assert "DEMO" in app.title
        assert app.screen is app.main  # no welcome screen: the demo needs no key
        await ask_and_wait(pilot, "What can the demo do?")
        view = last_answer(app)
        assert view.status == "complete" and view.sources and view.related
    assert not (tmp_path / "config.toml").exists()  # the demo never writes the user's config


async def test_fast_typing_then_enter_sends_every_character(harness):
    """Keys that arrive in one burst (tmux, paste-like typing over SSH) are never cut off."""
    from textual import events

    app = harness.app()
    question = "How do I choose between SQLite and PostgreSQL for a small web app?"
    async with app.run_test(size=(120, 34)) as pilot:
        await ready(pilot)
        app.main.composer.focus()
        for char in question:  # posted without waiting between keys, like a real burst
            app.post_message(events.Key(char, char))
        app.post_message(events.Key("enter", "\r"))
        await wait_until(pilot, lambda: app.main.conversation.last_question() is not None,
                         "the question")
        assert app.main.conversation.last_question().text == question
        await wait_until(pilot, lambda: idle(app), "the answer")


async def test_resizing_through_every_width_never_crashes(harness):
    """A squeezed composer once crashed TextArea (found by resizing tmux to 80 columns)."""
    app = harness.app()
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        for width, height in [(120, 40), (100, 30), (80, 24), (60, 20), (40, 16), (30, 12),
                              (200, 60), (80, 24)]:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
        assert app.is_running and app.main.has_class("-narrow")
        assert app.main.citations.region.y > app.main.conversation.region.y  # panel below
        await pilot.press("ctrl+g")
        assert not app.main.citations.display or app.main.citations.region.height == 0


def osc52_texts(written: list[str]) -> list[str]:
    return [base64.b64decode(w.split(";", 2)[2].rstrip("\a")).decode() for w in written
            if w.startswith("\x1b]52;")]


async def test_an_answer_reopened_from_the_database_has_what_it_had_live(harness):
    """Sources, research steps and images are typed values in the UI; the store keeps dicts.
    An answer read back from the database after a restart must come back equal, field for
    field, to the one built from the stream (and its panel must list the same sources)."""
    config = harness.config(SONAR_TUI_STREAM_MODE="concise", SONAR_TUI_RETURN_IMAGES="true")
    app = harness.app(config=config)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "How does HTTP caching work?")
        view = last_answer(app)
        live = (view.sources, view.steps, view.images)
        thread_id = app.main.thread_id
    assert all(live), "the mock's answer has sources, steps and images"

    app = harness.app(config=config)
    written: list[str] = []
    app.terminal_writer = written.append
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await app.main.open_thread(thread_id)
        await wait_until(pilot, lambda: app.main.conversation.answers(), "the stored answer")
        view = last_answer(app)
        assert (view.sources, view.steps, view.images) == live
        assert app.main.citations.sources == view.sources
        # Copy URL and the copy with references work on sources that came from the database.
        app.main.citations.source_list.focus()
        app.main.citations.source_list.highlighted = 0
        await pilot.press("y")
        await wait_until(pilot, lambda: app.last_copy is not None, "the URL copy")
        assert osc52_texts(written) == [view.sources[0].url]
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: len(written) == 2, "the answer copy")
        assert f"\n[1]: {live[0][0].title} — {live[0][0].url}" in osc52_texts(written)[1]
