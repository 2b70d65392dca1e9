"""Regenerate the SVG screenshots in this folder from the offline demo.

    python screenshots/make_screenshots.py

Deterministic like the snapshot tests: the demo's mock service (seeded, a fixed port so no
random URL appears), a fresh database in a temporary directory, a fixed clock, fixed
terminal sizes and no blinking cursors. Nothing here needs a key or the network.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXED_NOW = 1_790_000_000.0
DEMO_PORT = 47_321  # fixed, so the settings screenshot shows the same URL every time

Scenario = Callable[["object"], Awaitable[None]]


async def _settle(pilot) -> None:
    for widget in pilot.app.query("TextArea, Input"):
        widget.cursor_blink = False
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def _ask(pilot, question: str) -> None:
    app = pilot.app
    app.main.composer.load_text(question)
    app.main.composer.focus()
    await pilot.press("enter")
    while not app.main.conversation.answers() or app.live or app.pending:
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def answer(pilot) -> None:
    await _ask(pilot, "How do I choose between SQLite and PostgreSQL for a small web app?")
    pilot.app.clear_notifications()


async def reasoning(pilot) -> None:
    app = pilot.app
    app.config.request.model = "sonar-reasoning-pro"
    await _ask(pilot, "Should I write my CLI in Rust or Go?")
    await pilot.press("ctrl+t")
    await _settle(pilot)
    conversation = app.main.conversation
    conversation.release_anchor()
    conversation.scroll_to_widget(conversation.answers()[-1], top=True, animate=False,
                                  immediate=True)
    app.clear_notifications()


async def sources(pilot) -> None:
    await _ask(pilot, "What changed in HTTP/3, and should my API use it?")
    conversation = pilot.app.main.conversation
    conversation.focus()
    await pilot.press("n", "n")
    pilot.app.clear_notifications()


async def search(pilot) -> None:
    await _ask(pilot, "How does DNS caching work?")
    await pilot.press("ctrl+n")
    await _ask(pilot, "What is HTTP caching, and which headers control it?")
    await pilot.press("ctrl+f", *"caching")
    while not pilot.app.main.sidebar.searching:
        await pilot.pause(0.05)
    pilot.app.clear_notifications()


async def settings(pilot) -> None:
    await pilot.press("ctrl+s")
    await pilot.app.screen.wait_until_mounted()


async def narrow(pilot) -> None:
    await _ask(pilot, "Explain Rust's borrow checker with a short code example")
    pilot.app.clear_notifications()


SHOTS: list[tuple[str, tuple[int, int], Scenario, str]] = [
    ("answer", (160, 48), answer, "sonar-dark"),
    ("reasoning", (160, 48), reasoning, "sonar-dark"),
    ("sources", (160, 48), sources, "sonar-light"),
    ("search", (140, 40), search, "sonar-dark"),
    ("settings", (130, 44), settings, "sonar-dark"),
    ("narrow-80x24", (80, 24), narrow, "sonar-phosphor"),
]


async def shoot(name: str, size: tuple[int, int], scenario: Scenario, theme: str) -> Path:
    from sonar_tui.config import load_config
    from sonar_tui.ui.app import SonarApp

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "data")
        config = load_config(Path(tmp) / "config.toml", env={"SONAR_TUI_THEME": theme})
        app = SonarApp(config, db_path=Path(tmp) / "demo.db", demo=True,
                       clock=lambda: FIXED_NOW, mock_options={"pace": None, "port": DEMO_PORT})
        async with app.run_test(size=size) as pilot:
            while not app._data_ready.is_set():
                await pilot.pause(0.05)
            await scenario(pilot)
            await _settle(pilot)
            path = app.save_screenshot(f"{name}.svg", path=str(HERE))
    return Path(path)


async def main() -> int:
    for name, size, scenario, theme in SHOTS:
        path = await shoot(name, size, scenario, theme)
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
