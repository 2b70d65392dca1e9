"""The main screen's layout: panels that never change the conversation's width, drawers,
and a narrow screen laid out on purpose (issue 15: items 5 and 17)."""

from __future__ import annotations

import pytest

from sonar_tui.ui.widgets.status import StatusInfo, status_content
from tests.ui.appkit import Harness, ask_and_wait, ready, screen_text


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=300)
    yield h
    h.close()


def text_widths(app) -> set[int]:
    """The widths the conversation's answer text is laid out at."""
    body = app.main.conversation.answers()[-1].body
    return {segment.width for segment in body.segments if segment.rows is not None}


@pytest.mark.parametrize("size", [(160, 50), (120, 36), (80, 24)])
async def test_toggling_panels_keeps_the_conversations_width(harness, size):
    """A width change wraps every line again and moves the reader's place: showing or
    hiding the thread list or the sources panel must not change it."""
    app = harness.app()
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "How does HTTP caching work?")
        conversation = app.main.conversation
        width, widths = conversation.region.width, text_widths(app)
        for key in ("ctrl+b", "ctrl+g", "ctrl+b", "ctrl+g", "ctrl+g", "ctrl+b"):
            await pilot.press(key)
            await pilot.pause()
            assert conversation.region.width == width, key
            assert text_widths(app) == widths, key
        # and every state was really toggled
        assert app.main.has_class("-citations-hidden")


async def test_a_wide_screen_keeps_the_panels_columns_when_they_are_hidden(harness):
    app = harness.app()
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "How does HTTP caching work?")
        sidebar, citations = app.main.sidebar, app.main.citations
        conversation = app.main.conversation
        assert sidebar.region.right <= conversation.region.x
        assert conversation.region.right <= citations.region.x
        await pilot.press("ctrl+b", "ctrl+g")
        await pilot.pause()
        assert not sidebar.display and not citations.display
        # centred in the room the panels left
        left, right = conversation.region.x, 160 - conversation.region.right
        assert abs(left - right) <= 2


async def test_on_a_narrow_screen_the_thread_list_is_a_drawer_and_the_sources_stay(harness):
    """At 80x24 with the sidebar shown, the sources panel used to disappear."""
    app = harness.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "How does HTTP caching work?")
        main = app.main
        assert not main.sidebar.display and main.citations.region.height >= 5
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert main.sidebar.display and app.focused is main.sidebar.option_list
        assert main.citations.display and main.citations.region.height >= 5
        assert main.citations.region.y > main.conversation.region.y
        # over the conversation, which keeps its width
        assert main.sidebar.region.x == main.conversation.region.x == 0
        assert main.conversation.region.width == 80
        # Escape closes the drawer (and nothing else happens)
        await pilot.press("escape")
        await pilot.pause()
        assert not main.sidebar.display and app.focused is main.composer
        # opening a thread from the drawer closes it: the thread is what the reader wants
        await pilot.press("ctrl+b")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert not main.sidebar.display and main.thread_id is not None


async def test_thread_rows_fit_the_drawer_without_wrapping(harness):
    app = harness.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "A question whose title is far too long for the drawer")
        await pilot.press("ctrl+b")
        await pilot.pause()
        drawer = app.main.sidebar.region
        lines = screen_text(app).splitlines()
        rows = [line[drawer.x:drawer.right] for line in lines[drawer.y:drawer.bottom]]
        title = next(i for i, row in enumerate(rows) if "A question" in row)
        assert "now" in rows[title]  # the age on the title's row, not wrapped below it
        assert not rows[title + 1].strip(" ▕")


def test_the_status_line_folds_its_least_useful_parts_instead_of_being_cut():
    info = StatusInfo(model="sonar-reasoning-pro", api="sonar", search="web · month",
                      last_tokens=12_345, last_cost=0.0123, thread_tokens=98_765,
                      thread_cost=0.4567, streaming=1)
    wide = status_content(info).plain
    narrow = status_content(info, 78).plain
    assert "thread" in wide and "search" in wide
    assert len(narrow) <= 78
    assert "sonar-reasoning-pro" in narrow and "1 streaming" in narrow and "last" in narrow
    assert "thread" not in narrow  # the first to go
