"""Gateways in the app: recorded OpenRouter answers keep their sources in the panel, the copy
and the export; dropped sources are said once; the automatic switch with a config file that
cannot be written holds for the session and is said once; a remembered switch is forgotten
from the settings screen."""

from __future__ import annotations

import base64
from pathlib import Path

from sonar_tui.mock.http import Response, ServerThread
from sonar_tui.ui.screens.settings import SettingsScreen
from tests.ui.appkit import Harness, ask_and_wait, last_answer, ready, wait_until

import pytest

OPENROUTER = Path(__file__).resolve().parents[1] / "fixtures" / "openrouter"
URLS = ["https://github.com/pydantic/pydantic-ai", "https://pydantic.dev/pydantic-ai",
        "https://github.com/pydantic/pydantic-ai/releases/tag/v2.0.0",
        "https://pydantic.dev/docs/ai/overview/",
        "https://github.com/pydantic/pydantic-ai/tree/refs/tags/v1.44.0"]


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=24)
    yield h
    h.close()


@pytest.fixture
def recorded_stream():
    body = (OPENROUTER / "pydantic-ai__openrouter-stream-web-search-annotations.sse").read_bytes()

    async def handler(request):
        return Response(200, [body], content_type="text/event-stream")
    with ServerThread(handler) as server:
        yield server


async def test_recorded_openrouter_sources_reach_the_panel_the_copy_and_the_export(
        harness, recorded_stream):
    app = harness.app(config=harness.config(PERPLEXITY_BASE_URL=recorded_stream.url,
                                            SONAR_TUI_MODEL="deepseek/deepseek-chat"))
    written: list[str] = []
    app.terminal_writer = written.append
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Pydantic AI's repository?")
        view = last_answer(app)
        assert view.status == "complete"
        assert [s.url for s in view.sources] == URLS
        panel = app.main.citations
        assert [s.url for s in panel.sources] == URLS
        assert panel.source_list.option_count == 5
        first = " ".join(str(panel.source_list.get_option_at_index(0).prompt).split())
        assert "[1] AI Agent Framework, the Pydantic" in first and "github.com" in first
        assert not view.query("#no-sources")  # it has its sources: nothing to say

        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: app.last_copy is not None, "the copy")
        copied = base64.b64decode(written[0].split(";", 2)[2].rstrip("\a")).decode()
        for number, url in enumerate(URLS, 1):
            assert f"[{number}]: " in copied and url in copied

        await app.action_export_thread("md")
        await pilot.pause()
        target = harness.tmp_path / "exported.md"
        app.screen.query_one("#path").value = str(target)
        await pilot.press("enter")
        await wait_until(pilot, target.exists, "the export")
        exported = target.read_text()
        for url in URLS:
            assert url in exported


async def test_sources_dropped_by_a_gateway_are_said_once_under_the_answer(harness):
    harness.configure(profile="gateway")
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "How does DNS work?")
        view = last_answer(app)
        assert view.status == "complete" and view.sources == []
        [note] = view.query("#no-sources")
        assert "cites sources ([" in str(note.render()) and "dropped them" in str(note.render())
        assert view.usage and view.usage.get("cost")  # asked for with stream_options
        await app.main.open_thread(app.main.thread_id)  # shown again from the database
        await pilot.pause()
        assert len(last_answer(app).query("#no-sources")) == 1


async def test_a_switch_with_a_read_only_config_holds_and_is_said_once(harness):
    folder = harness.config_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    harness.config_path.write_text("# mine\n")
    harness.configure(profile="403-retired")
    app = harness.app()
    folder.chmod(0o500)
    try:
        async with app.run_test(size=(120, 34)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "Who maintains curl?")
            assert last_answer(app).status == "complete" and last_answer(app).api == "agent"
            await ask_and_wait(pilot, "And wget?")
            assert last_answer(app).status == "complete" and last_answer(app).api == "agent"
            unsaved = [n for n in app._notifications if n.title == "Agent API choice not saved"]
            assert len(unsaved) == 1 and "read-only" in unsaved[0].message
            assert not [n for n in app._notifications if n.severity == "error"]
    finally:
        folder.chmod(0o700)
    assert harness.paths() == ["/chat/completions", "/v1/responses", "/v1/responses"]
    assert harness.config_path.read_text() == "# mine\n"


async def test_the_settings_screen_shows_and_forgets_a_remembered_switch(harness):
    harness.config_path.parent.mkdir(parents=True, exist_ok=True)
    harness.config_path.write_text(f'# mine\n[api]\nagent_endpoints = ["{harness.mock.url}"]\n')
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        app.action_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings")
        screen = app.screen
        await screen.wait_until_mounted()
        status = screen.query_one("#settings-endpoints")
        assert harness.mock.url in str(status.render())
        button = screen.query_one("#settings-forget-endpoints")
        button.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Forgotten" in screen.status_plain, "the forget")
        assert "none remembered" in str(status.render())
        assert "agent_endpoints" not in harness.config_path.read_text()
        await pilot.press("ctrl+s")  # saving the form does not bring them back
        await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen), "the save")
        await pilot.pause()
        assert "agent_endpoints" not in harness.config_path.read_text()
        assert harness.config_path.read_text().startswith("# mine\n")
        await ask_and_wait(pilot, "Still there?")
    assert harness.paths() == ["/chat/completions"]  # auto mode starts with chat again
