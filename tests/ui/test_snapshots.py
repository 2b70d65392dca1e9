"""SVG snapshots of the main states (pytest --snapshot-update after a deliberate UI change).

Deterministic by construction: fixed terminal sizes, a fixed clock, the seeded mock service
(same question -> same bytes), no blinking cursors, and no URL with a random port on screen.
"""

from __future__ import annotations

import pytest

from sonar_tui.api.client import PerplexityClient
from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.events import build_answer
from sonar_tui.api.settings import ConnectionSettings
from sonar_tui.ui.themes import bundled_theme_paths
from tests.ui.appkit import FAKE_KEY, Harness, ask, ask_and_wait, last_answer, ready, wait_until

QUESTION = "How does HTTP caching work?"


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


async def settle(pilot) -> None:
    """No blinking cursors in a screenshot; everything laid out."""
    app = pilot.app
    for widget in app.query("TextArea, Input"):
        widget.cursor_blink = False
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def test_welcome_without_key(snap_compare, harness, monkeypatch):
    monkeypatch.setenv("HOME", str(harness.tmp_path))  # the path on screen reads ~/config/…
    app = harness.app(config=harness.config(key=None))

    async def run_before(pilot):
        await settle(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=(100, 30))


def test_empty_thread(snap_compare, harness):
    async def run_before(pilot):
        await ready(pilot)
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(120, 36))


def test_answer_with_citations_panel(snap_compare, harness):
    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, QUESTION)
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(140, 44))


def test_reasoning_expanded(snap_compare, harness):
    harness.configure(chunks=120)
    app = harness.app(config=harness.config(SONAR_TUI_MODEL="sonar-reasoning-pro"))

    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, "Should I use Rust or Go for a CLI?")
        await pilot.press("ctrl+t")
        await settle(pilot)  # the unfolded reasoning is laid out before scrolling to it
        conversation = pilot.app.main.conversation
        conversation.release_anchor()
        conversation.scroll_to_widget(last_answer(pilot.app), top=True, animate=False,
                                      immediate=True)
        await settle(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=(140, 44))


async def _partial_text(harness: Harness, question: str) -> str:
    """What the stalled mock sends before it goes silent (read with the real client)."""
    connection = ConnectionSettings(base_url=harness.mock.url, idle_timeout=0.5)
    async with PerplexityClient(connection, FAKE_KEY) as client:
        answer = build_answer([e async for e in client.stream(AskRequest(question))])
    harness.mock.requests.clear()
    return answer.text


def test_streaming_midway(snap_compare, harness):
    harness.configure(profile="stall")
    question = "Explain TCP congestion control"

    async def run_before(pilot):
        expected = await _partial_text(harness, question)
        app = pilot.app
        await ready(pilot)
        await ask(pilot, question)
        await wait_until(pilot, lambda: app.main.conversation.answers()
                         and last_answer(app).body.source == expected, "the partial answer")
        await settle(pilot)
        app.main.composer.focus()
        await pilot.pause()

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(120, 36))


def test_error_with_retry(snap_compare, harness):
    harness.configure(profile="502-html", fault_times=3)

    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, "Is the service up?")
        pilot.app.clear_notifications()
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(120, 36))


def test_settings_screen(snap_compare, harness):
    # A fixed base URL: the mock's random port must not appear in the screenshot.
    config = harness.config(PERPLEXITY_BASE_URL="https://api.perplexity.ai")

    async def run_before(pilot):
        await ready(pilot)
        await pilot.press("ctrl+s")
        await pilot.app.screen.wait_until_mounted()
        await settle(pilot)

    assert snap_compare(harness.app(config=config), run_before=run_before,
                        terminal_size=(120, 40))


def test_help_screen(snap_compare, harness):
    async def run_before(pilot):
        await ready(pilot)
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(120, 40))


def test_sidebar_search_results(snap_compare, harness):
    harness.configure(chunks=60)

    async def run_before(pilot):
        app = pilot.app
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        await pilot.press("ctrl+n")
        await ask_and_wait(pilot, "How does DNS caching work?")
        await pilot.press("ctrl+f")
        await pilot.press(*"caching")
        await wait_until(pilot, lambda: app.main.sidebar.searching, "search results")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(120, 36))


def test_narrow_layout_80x24(snap_compare, harness):
    harness.configure(chunks=80)

    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, QUESTION)
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(80, 24))


@pytest.mark.parametrize("theme", sorted(path.stem for path in bundled_theme_paths()))
def test_theme_on_the_answer_view(snap_compare, harness, theme):
    harness.configure(chunks=120)
    app = harness.app(config=harness.config(SONAR_TUI_THEME=theme))

    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, QUESTION)
        assert pilot.app.theme == theme
        await settle(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=(120, 36))



def test_narrow_layout_80x24_with_the_thread_drawer_open(snap_compare, harness):
    """The thread list opens over the conversation; the sources stay below it."""
    harness.configure(chunks=80)

    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, QUESTION)
        await pilot.press("f9")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(80, 24))


def test_wide_layout_with_both_panels_hidden(snap_compare, harness):
    """Hiding the panels leaves the conversation its width, centred."""
    harness.configure(chunks=80)

    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, QUESTION)
        await pilot.press("f9", "ctrl+g")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(140, 44))


async def _two_threads(pilot) -> None:
    await ready(pilot)
    await ask_and_wait(pilot, "What is QUIC?")
    await pilot.press("ctrl+n")
    await ask_and_wait(pilot, QUESTION)
    pilot.app.main.sidebar.option_list.focus()
    pilot.app.main.sidebar.option_list.highlighted = 1


def test_rename_dialog(snap_compare, harness):
    """Dialogs: centred, bordered, over the dimmed screen, with their keys shown."""
    harness.configure(chunks=40)

    async def run_before(pilot):
        await _two_threads(pilot)
        await pilot.press("r")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(120, 36))


def test_delete_confirmation(snap_compare, harness):
    harness.configure(chunks=40)

    async def run_before(pilot):
        await _two_threads(pilot)
        await pilot.press("d")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(120, 36))


def test_attach_dialog_at_80x24(snap_compare, harness):
    async def run_before(pilot):
        await ready(pilot)
        await pilot.app.run_action("attach")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(80, 24))


def test_export_dialog_at_80x24(snap_compare, harness, monkeypatch):
    home = harness.tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)  # the default path on screen reads ~/…
    harness.configure(chunks=40)

    async def run_before(pilot):
        await ready(pilot)
        await ask_and_wait(pilot, QUESTION)
        await pilot.app.action_export_thread("md")
        await settle(pilot)

    assert snap_compare(harness.app(), run_before=run_before, terminal_size=(80, 24))
