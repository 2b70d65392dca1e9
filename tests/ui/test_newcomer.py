"""Issue 15, a newcomer's first hour: the rough edges they hit, driven as they would."""

from __future__ import annotations

import pytest

from sonar_tui.ui.screens.modals import ConfirmScreen, Dialog, TextInputScreen
from tests.ui.appkit import Harness, ask_and_wait, ready, screen_text


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
