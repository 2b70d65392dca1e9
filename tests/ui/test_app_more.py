"""More of the app as a user drives it: threads, history, copying, links, keys, settings."""

from __future__ import annotations

import base64

import pytest

from sonar_tui.api.settings import RequestSettings
from sonar_tui.references import code_blocks
from sonar_tui.store import FinalAnswer, Store
from sonar_tui.ui.screens.help import HelpScreen
from sonar_tui.ui.screens.modals import ConfirmScreen, PickScreen, TextInputScreen, UrlScreen
from tests.ui.appkit import Harness, ask_and_wait, idle, last_answer, ready, wait_until


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=60)
    yield h
    h.close()


def osc52_texts(written: list[str]) -> list[str]:
    return [base64.b64decode(w.split(";", 2)[2].rstrip("\a")).decode() for w in written
            if w.startswith("\x1b]52;")]


async def test_rename_pin_and_delete_threads_from_the_sidebar(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "First question")
        await pilot.press("ctrl+n")
        await ask_and_wait(pilot, "Second question")
        sidebar = app.main.sidebar
        assert [t.title for t in sidebar.threads] == ["Second question", "First question"]
        sidebar.option_list.focus()
        sidebar.option_list.highlighted = 1
        await pilot.press("p")  # pin "First question": pinned threads come first
        await wait_until(pilot, lambda: sidebar.threads[0].pinned, "the pin")
        assert sidebar.threads[0].title == "First question"
        sidebar.option_list.highlighted = 0
        await pilot.press("r")
        assert isinstance(app.screen, TextInputScreen)
        await pilot.press("ctrl+u", *"Renamed [bold]", "enter")
        await wait_until(pilot, lambda: sidebar.threads[0].title == "Renamed [bold]", "rename")
        sidebar.option_list.highlighted = 1
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing deleted
        assert len(sidebar.threads) == 2
        await pilot.press("d")
        await pilot.press("y")
        await wait_until(pilot, lambda: len(sidebar.threads) == 1, "the delete")
    store = await Store.open(harness.db_path)
    threads = await store.list_threads()
    assert [t.title for t in threads] == ["Renamed [bold]"]
    await store.close()


async def test_search_jumps_to_the_matching_message(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Tell me about zebras")
        await pilot.press("ctrl+n")
        await ask_and_wait(pilot, "Tell me about quokkas")
        await pilot.press("ctrl+f", *"zebra")
        await wait_until(pilot, lambda: app.main.sidebar.searching
                         and app.main.sidebar.option_list.option_count > 0, "hits")
        await pilot.press("enter")  # leaves the filter box for the results
        await pilot.press("enter")  # opens the best hit
        await wait_until(pilot, lambda: app.main.sub_title == "Tell me about zebras", "the thread")


async def test_long_threads_mount_the_newest_page_and_load_older_on_scroll(harness):
    app = harness.app()
    store = await Store.open(harness.db_path)
    thread = await store.create_thread("Long thread")
    for index in range(40):
        await store.add_user_message(thread.id, f"Question {index}")
        message_id = await store.start_answer(thread.id, {}, "sonar", "sonar")
        await store.finish_answer(message_id,
                                  FinalAnswer("complete", f"Answer {index}\n\n" + "text " * 40))
    await store.close()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await app.main.open_thread(thread.id)
        await pilot.pause()
        conversation = app.main.conversation
        assert len(conversation.answers()) == 6  # FIRST_PAGE = 12 messages
        assert conversation.has_older
        conversation.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        seen = conversation.query_children("QuestionView").first()  # the top of the screen
        seen_at = seen.region.y
        await wait_until(pilot, lambda: len(conversation.answers()) > 6, "older messages")
        # What the reader was looking at stays where it was; the older messages are above it.
        await wait_until(pilot, lambda: abs(seen.region.y - seen_at) <= 1
                         and conversation.scroll_y > 0, "the view to stay on the same message")


async def test_up_recalls_questions_and_f2_takes_back_the_last_one(harness):
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is Rust?")
        await ask_and_wait(pilot, "What is Go?")
        composer = app.main.composer
        composer.focus()
        await pilot.press("up")
        assert composer.text == "What is Go?"
        await pilot.press("up")
        assert composer.text == "What is Rust?"
        composer.clear_text()
        await pilot.press("f2")
        await wait_until(pilot, lambda: composer.text == "What is Go?", "the question back")
        assert len(app.main.conversation.answers()) == 1
        await pilot.press("ctrl+u", *"What is Zig?", "enter")
        await wait_until(pilot, lambda: len(app.main.conversation.answers()) == 2 and idle(app),
                         "the edited question's answer")
    roles = [(m["role"], m["content"]) for m in harness.service.last_body()["messages"]]
    assert roles[-1] == ("user", "What is Zig?")
    assert ("user", "What is Go?") not in roles


async def test_choosing_a_related_question_asks_it(harness):
    harness.configure(profile="related")
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is WebAssembly?")
        related = last_answer(app).query_one("#related")
        first = str(related.get_option_at_index(0).prompt)
        related.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.main.conversation.answers()) == 2 and idle(app),
                         "the related question's answer")
        assert app.main.conversation.last_question().text == first


async def test_sources_open_in_a_browser_locally_and_are_shown_over_ssh(harness, monkeypatch):
    opened: list[str] = []
    app = harness.app()
    monkeypatch.setattr(type(app), "open_url", lambda self, url, **kw: opened.append(url))
    written: list[str] = []
    app.terminal_writer = written.append
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is a CDN?")
        url = app.main.citations.sources[0].url
        app.main.citations.source_list.focus()
        app.main.citations.source_list.highlighted = 0
        monkeypatch.setenv("DISPLAY", ":0")  # a local desktop: the browser opens
        await pilot.press("enter")
        assert opened == [url]
        monkeypatch.delenv("DISPLAY")
        monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5 10.0.0.2 22")  # no browser here
        await pilot.press("enter")
        assert opened == [url] and isinstance(app.screen, UrlScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.last_copy is not None, "the copy")
        assert osc52_texts(written) == [url]


async def test_links_that_are_not_http_are_never_opened(harness, monkeypatch):
    opened: list[str] = []
    app = harness.app()
    monkeypatch.setattr(type(app), "open_url", lambda self, url, **kw: opened.append(url))
    monkeypatch.setenv("DISPLAY", ":0")
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        for url in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "not a url"):
            app.open_link(url)
            await pilot.pause()
        assert opened == []
        assert all("only http(s)" in n.message for n in app._notifications)


async def test_code_blocks_copy_by_picker_and_nearest(harness):
    app = harness.app()
    written: list[str] = []
    app.terminal_writer = written.append
    harness.configure(chunks=300)
    async with app.run_test(size=(140, 44)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Show me code for an LRU cache")
        blocks = code_blocks(last_answer(app).body.source)
        assert blocks
        await pilot.press("ctrl+l")
        if len(blocks) > 1:
            assert isinstance(app.screen, PickScreen)
            await pilot.press("1")
        await wait_until(pilot, lambda: app.last_copy is not None, "the copy")
        assert osc52_texts(written)[-1] == blocks[0].code
        app.last_copy = None
        app.main.conversation.focus()
        await pilot.press("c")  # the block nearest the middle of the view
        await wait_until(pilot, lambda: app.last_copy is not None, "the second copy")
        assert osc52_texts(written)[-1] in [block.code for block in blocks]


async def test_help_lists_every_binding_with_the_users_keymap(harness):
    config = harness.config()
    config.keymap = {"app.copy_answer": "f12"}
    app = harness.app(config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.plain_text
        for needle in ("f12", "Copy the selected answer", "ctrl+n", "Start a new thread",
                       "Stop the streaming answer", "Next [n] citation", "Rename the thread",
                       "Copy the source's URL", "ctrl+j"):
            assert needle in text
        await pilot.press("escape")
        await ask_and_wait(pilot, "Remapped?")
        written: list[str] = []
        app.terminal_writer = written.append
        await pilot.press("f12")  # the remapped key copies the answer
        await wait_until(pilot, lambda: app.last_copy is not None, "the copy")
        assert osc52_texts(written)


async def test_every_action_is_in_the_command_palette(harness):
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
    for title in ("New thread", "Search threads", "Stop answer", "Regenerate answer",
                  "Edit last question", "Copy answer with references", "Copy code block…",
                  "Copy thread as Markdown", "Export thread (Markdown)", "Toggle reasoning",
                  "Toggle sources panel", "Settings", "Thread settings",
                  "Clear thread overrides", "Attach image", "Help"):
        assert title in titles


async def test_thread_overrides_reach_the_request_and_show_in_the_status_line(harness):
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Baseline question")
        thread = app.main.thread
        settings = RequestSettings().with_overrides({"recency": "week",
                                                     "domain_filter": ["nature.com"]})
        app.main.thread = await app.service.set_overrides(thread.id, settings)
        app.main.show_thread_title()
        app.refresh_status()
        assert app.main.status.info.overrides and "thread settings" in app.main.sub_title
        await ask_and_wait(pilot, "With overrides")
        body = harness.service.last_body()
        assert body["search_recency_filter"] == "week"
        assert body["search_domain_filter"] == ["nature.com"]
        await pilot.press("f5")  # clear this thread's overrides
        await wait_until(pilot, lambda: not app.main.thread.overrides, "the overrides cleared")
        assert not app.main.status.info.overrides
        await ask_and_wait(pilot, "Back on the defaults")
        body = harness.service.last_body()
        assert "search_recency_filter" not in body and "search_domain_filter" not in body


async def test_attaching_an_image_sends_it_with_the_next_question(harness, tmp_path,
                                                                  monkeypatch):
    png = tmp_path / "pixel.png"
    png.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
    (tmp_path / "notes.txt").write_text("not an image")
    monkeypatch.chdir(tmp_path)  # short relative paths: every typed key costs a frame
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await pilot.press("f3")
        await pilot.press(*"notes.txt", "enter")
        assert not app.attachments and "not a PNG" in list(app._notifications)[-1].message
        await pilot.press("f3")
        await pilot.press(*png.name, "enter")
        assert [a.name for a in app.attachments] == ["pixel.png"]
        await ask_and_wait(pilot, "What is in this image?")
    content = harness.service.last_body()["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is in this image?"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_a_long_streamed_answer_is_one_widget_with_rows_kept_only_near_the_view(tmp_path):
    """However long the answer, it is one widget (layout cost stays flat), and only the
    segments near the viewport keep laid-out rows (memory stays flat)."""
    harness = Harness(tmp_path, chunks=8000)  # ~64 KB: a few dozen segments
    try:
        app = harness.app()
        async with app.run_test(size=(160, 50)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "How do B-trees work?")
            body = last_answer(app).body
            assert len(body.source) > 60_000
            assert len(body.query("*")) == 2  # its sealed rows and its live rows
            kept = [segment for segment in body.segments if segment.rows is not None]
            rows = sum(len(segment.rows or ()) for segment in kept)
            assert len(body.segments) >= 20 and len(kept) < len(body.segments) / 2, \
                (len(body.segments), len(kept))
            assert rows <= 8 * 50, rows  # the view and three screens either side
            widgets = len(app.main.conversation.query("*"))
            assert widgets < 40, widgets
    finally:
        harness.close()


async def test_a_refresh_of_the_thread_list_keeps_the_readers_place_in_it(harness):
    # Refreshes come unasked (an answer ends, a job is adopted): a key pressed just before
    # one must not be undone, or Down then Enter opens nothing (it once looked like a
    # dropped key in the real-terminal tests).
    app = harness.app()
    async with app.run_test(size=(120, 34)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "First question")
        await pilot.press("ctrl+n")
        await ask_and_wait(pilot, "Second question")
        await pilot.press("ctrl+n")
        sidebar = app.main.sidebar
        sidebar.option_list.focus()
        await pilot.press("home", "down")
        await pilot.pause()
        assert sidebar.option_list.highlighted == 1
        await app.refresh_threads()
        assert sidebar.option_list.highlighted == 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.main.thread is not None, "the thread to open")
        assert app.main.thread.title == "First question"


async def test_the_clock_ticking_while_the_screen_is_taken_down_is_harmless(harness):
    """The app's one-second clock can fire once more while the app closes, after the
    screen's widgets are gone: it raised NoMatches and failed the exit."""
    from sonar_tui.ui.widgets.sidebar import Sidebar

    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await app.main.query_one(Sidebar).remove()
        app._tick()
        await pilot.pause()
        assert app.is_running
