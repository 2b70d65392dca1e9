"""Issue 15, a newcomer's first hour: the rough edges they hit, driven as they would."""

from __future__ import annotations

import pytest
from textual import events

from sonar_tui.ui.screens.modals import ConfirmScreen, Dialog, TextInputScreen
from tests.ui.appkit import (
    Harness,
    ask_and_wait,
    idle,
    last_answer,
    notices,
    ready,
    screen_text,
    wait_until,
)


KEYS = {" ": "space", "/": "slash", "?": "question_mark"}


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


def _centred(app) -> None:
    box = app.screen.query_one("Dialog > Vertical")
    region, (width, height) = box.region, app.size
    assert box.styles.border.top[0] == "round"
    assert abs(region.x - (width - region.right)) <= 1, region
    assert abs(region.y - (height - region.bottom)) <= 1, region
    assert region.width < width and region.height < height


async def test_every_dialog_is_a_centred_box_with_its_keys(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        app.main.sidebar.option_list.focus()
        app.main.sidebar.option_list.highlighted = 0
        await pilot.press("r")
        assert isinstance(app.screen, TextInputScreen) and isinstance(app.screen, Dialog)
        await pilot.pause()
        _centred(app)
        assert "enter Rename · esc Cancel" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.pause()
        _centred(app)
        text = screen_text(app)
        assert "Delete (y)" in text and "Cancel (esc)" in text
        # The screen behind is dimmed, not blanked.
        assert app.screen.styles.background.a < 1


async def test_after_a_related_question_the_composer_has_focus(harness):
    harness.configure(profile="related", chunks=30)
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is WebAssembly?")
        last_answer(app).query_one("#related").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.main.conversation.answers()) == 2 and idle(app),
                         "the related question's answer")
        assert app.focused is app.main.composer
        await pilot.press(*"can you")  # typed, not 'c' copying code
        assert app.main.composer.text == "can you"


async def test_a_related_question_leaves_the_draft_and_the_attachment_alone(harness, tmp_path):
    """Picking a suggestion sends that question only: what was being typed stays in the
    composer and an attached image waits for the question it was attached for."""
    import base64

    from sonar_tui.api.conversation import Attachment

    png = tmp_path / "pixel.png"
    png.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
    harness.configure(profile="related", chunks=30)
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is WebAssembly?")
        app.attachments.append(Attachment.from_path(str(png)))
        await pilot.press(*"my own draft")
        last_answer(app).query_one("#related").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.main.conversation.answers()) == 2 and idle(app),
                         "the related question's answer")
        assert app.main.composer.text == "my own draft"
        assert [a.name for a in app.attachments] == ["pixel.png"]
        content = harness.service.last_body()["messages"][-1]["content"]
        assert isinstance(content, str)  # no image went with the suggestion


async def test_typing_in_the_conversation_goes_to_the_composer(harness):
    """Keys that are the conversation's own (y, c, n, t, j, k, [, ] ...) stay keys there (the
    footer shows them); any other printable key starts a question in the composer."""
    harness.configure(chunks=30)
    app = harness.app()
    app.terminal_writer = [].append  # OSC 52: a clipboard is reachable
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        app.main.conversation.focus()
        # Typed in one burst, before the focus has moved: the t of "What" is not the
        # reasoning key, and nothing is lost.
        app.post_message(events.Key("W", "W"))
        for key in "hat about HTTP/3?":
            app.post_message(events.Key(KEYS.get(key, key), key))
        await pilot.pause()
        assert app.focused is app.main.composer
        assert app.main.composer.text == "What about HTTP/3?"
        app.main.conversation.focus()
        await pilot.press("y")  # still copies the answer
        await wait_until(pilot, lambda: app.last_copy is not None, "the copy")
        assert app.focused is app.main.conversation
        assert app.main.composer.text == "What about HTTP/3?"
        await pilot.press("z")  # appended where the cursor was
        assert app.focused is app.main.composer
        assert app.main.composer.text == "What about HTTP/3?z"


async def test_tab_order_and_old_related_lists_are_not_tab_stops(harness):
    harness.configure(profile="related", chunks=30)
    app = harness.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is WebAssembly?")
        await ask_and_wait(pilot, "What is WASI?")
        main = app.main
        main.composer.focus()
        order = []
        for _ in range(5):
            await pilot.press("tab")
            order.append(app.focused)
        newest_related = last_answer(app).query_one("#related")
        assert order[:2] == [main.conversation, newest_related], order
        assert order[2] is main.citations.source_list, order
        assert order[3] is main.sidebar.option_list or main.sidebar in order[3].ancestors, order
        old_related = main.conversation.answers()[0].query_one("#related")
        assert not old_related.focusable


async def _two_threads(pilot) -> None:
    await ready(pilot)
    await ask_and_wait(pilot, "What is QUIC?")
    await pilot.press("ctrl+n")
    await ask_and_wait(pilot, "How does DNS caching work?")
    await pilot.press("ctrl+n")


async def test_the_search_box_shows_what_is_typed(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _two_threads(pilot)
        await pilot.press("ctrl+f", *"QUIC")
        box = app.main.query_one("#thread-filter")
        assert app.focused is box
        await pilot.pause()
        assert box.content_region.height == 1
        assert "QUIC" in screen_text(app).splitlines()[box.content_region.y]


async def test_the_first_enter_on_a_search_result_opens_it(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _two_threads(pilot)
        sidebar = app.main.sidebar
        await pilot.press("ctrl+f", *"QUIC")
        await wait_until(pilot, lambda: sidebar.searching, "search results")
        await pilot.press("enter")  # from the box: the best hit opens
        await wait_until(pilot, lambda: app.main.thread is not None, "the thread", timeout=3)
        assert app.main.thread.title == "What is QUIC?"
        # From the list: one Enter.
        await pilot.press("ctrl+n", "ctrl+f", "ctrl+u", *"DNS")
        await wait_until(pilot, lambda: sidebar.searching and sidebar.option_list.option_count
                         and "DNS" in str(sidebar.option_list.get_option_at_index(0).prompt),
                         "the DNS hit")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.main.thread is not None, "the thread", timeout=3)
        assert app.main.thread.title == "How does DNS caching work?"


async def test_search_results_stay_while_the_thread_list_refreshes(harness):
    """An answer ending or a thread deleted refreshes the thread list; while a query is in
    the box its hits stay (asked again), never the whole list under a query it ignores."""
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _two_threads(pilot)
        sidebar = app.main.sidebar

        def hits() -> list[str]:
            return [str(sidebar.option_list.get_option_at_index(i).prompt)
                    for i in range(sidebar.option_list.option_count)]
        await pilot.press("ctrl+f", *"DNS")
        await wait_until(pilot, lambda: sidebar.searching and len(hits()) == 1
                         and "DNS" in hits()[0], "the DNS hit")
        await app.refresh_threads()  # what an answer ending elsewhere does
        await pilot.pause()
        await wait_until(pilot, lambda: sidebar.searching and len(hits()) == 1
                         and "DNS" in hits()[0], "the DNS hit, still")
        assert app.main.query_one("#thread-filter").value == "DNS"


async def test_esc_on_an_empty_search_restores_the_thread_list(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _two_threads(pilot)
        sidebar = app.main.sidebar
        await pilot.press("ctrl+f", *"zzzqqq")
        await wait_until(pilot, lambda: sidebar.searching, "the empty result")
        assert sidebar.option_list.option_count == 1  # "No matches"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not sidebar.searching, "the thread list")
        assert sidebar.option_list.option_count == 2
        assert app.main.query_one("#thread-filter").value == ""


async def test_a_restart_opens_the_last_thread_with_its_draft(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _two_threads(pilot)  # ends on a new thread
        app.main.sidebar.option_list.focus()
        app.main.sidebar.option_list.highlighted = 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.main.thread is not None, "the thread")
        assert app.main.thread.title == "What is QUIC?"
        await pilot.press("tab")  # conversation; then a letter goes to the composer
        app.main.composer.focus()
        await pilot.press(*"And how does QUIC")
        await pilot.press("ctrl+q")
    second = harness.app()
    async with second.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await wait_until(pilot, lambda: second.main.thread is not None, "the last thread")
        assert second.main.thread.title == "What is QUIC?"
        assert second.main.composer.text == "And how does QUIC"
        assert second.focused is second.main.composer
        # The draft stays with its thread: a new thread starts empty, and going back
        # brings it back.
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: second.main.thread is None, "the new thread")
        assert second.main.composer.text == ""
        await pilot.press(*"Draft in a new thread")
        second.main.sidebar.option_list.focus()
        second.main.sidebar.option_list.highlighted = 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: second.main.thread is not None, "the thread again")
        assert second.main.composer.text == "And how does QUIC"
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: second.main.composer.text == "Draft in a new thread",
                         "the new thread's draft")


async def test_a_new_thread_left_open_is_what_the_next_start_shows(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.main.thread is None, "the new thread")
    second = harness.app()
    async with second.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await pilot.pause()
        assert second.main.thread is None and second.main.composer.text == ""


async def test_export_asks_where_and_says_where_it_wrote(harness, monkeypatch, tmp_path):
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        await app.action_export_thread("md")
        await pilot.pause()
        box = app.screen.query_one("#path")
        assert box.value == "~/what-is-quic.md"  # in the folder sonar-tui started from
        box.value = "~/notes/"  # a folder: the default name goes in it
        await pilot.press("enter")
        written = home / "notes" / "what-is-quic.md"
        await wait_until(pilot, written.exists, "the export")
        assert "What is QUIC?" in written.read_text()
        assert "Exported to ~/notes/what-is-quic.md" in notices(app)
        # The same file again: asked first; Enter again replaces it.
        written.write_text("old")
        await app.action_export_thread("json")
        await pilot.pause()
        app.screen.query_one("#path").value = "~/notes/what-is-quic.md"
        await pilot.press("enter")
        assert written.read_text() == "old" and "exists" in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: written.read_text() != "old", "the replaced file")
        assert written.read_text().lstrip().startswith("{")
        # Nowhere to write: said in the dialog, which stays open to fix the path.
        await app.action_export_thread("md")
        await pilot.pause()
        app.screen.query_one("#path").value = "~/missing/x.md"
        await pilot.press("enter")
        await pilot.pause()
        assert "Could not write ~/missing/x.md" in screen_text(app)
        assert app.screen.query("#path")
        await pilot.press("escape")
        assert not (home / "missing").exists()


async def test_a_new_thread_does_not_keep_the_last_threads_sources(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        panel = app.main.citations
        assert panel.sources
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.main.thread is None, "the new thread")
        await pilot.pause()
        assert panel.sources == []  # no stale links to open or copy


async def test_a_paste_into_the_conversation_goes_to_the_composer(harness):
    harness.configure(chunks=30)
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        app.main.conversation.focus()
        await pilot.pause()
        app.post_message(events.Paste("pasted multi\nline text"))  # as the driver does
        await wait_until(pilot, lambda: app.main.composer.text == "pasted multi\nline text",
                         "the paste in the composer")
        assert app.focused is app.main.composer
