"""What the app tests share: a real mock server, a real database, a real config file.

``Harness`` starts the loopback mock (in its own thread, like a remote service) and builds
``SonarApp`` instances pointed at it, with their database and config in ``tmp_path`` and a
fixed clock so relative times on screen never change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from sonar_tui.config import LoadedConfig, load_config
from sonar_tui.mock import start_mock
from sonar_tui.ui.app import SonarApp

FIXED_NOW = 1_790_000_000.0  # 2026-09-21: relative times on screen stay put
FAKE_KEY = "pplx-FAKE0123456789abcdefTESTKEY"


class Harness:
    def __init__(self, tmp_path: Path, profile: str = "default", **mock_options) -> None:
        self.tmp_path = tmp_path
        self.mock = start_mock(profile, **mock_options)
        self.db_path = tmp_path / "threads.db"
        self.config_path = tmp_path / "config" / "config.toml"

    @property
    def service(self):
        return self.mock.service

    def configure(self, **changes) -> None:
        """Change the mock's profile/pace/chunks/fault_times between requests."""
        self.mock.service.configure(**changes)

    def config(self, *, key: str | None = FAKE_KEY, **env: str) -> LoadedConfig:
        environment = {"PERPLEXITY_BASE_URL": self.mock.url, **env}
        if key:
            environment["PERPLEXITY_API_KEY"] = key
        return load_config(self.config_path, env=environment)

    def app(self, *, config: LoadedConfig | None = None, **kwargs) -> SonarApp:
        return SonarApp(config or self.config(), db_path=self.db_path, clock=lambda: FIXED_NOW,
                        **kwargs)

    def paths(self) -> list[str]:
        return [request.path for request in self.mock.requests]

    def close(self) -> None:
        self.mock.stop()


async def wait_until(pilot, predicate: Callable[[], bool], what: str,
                     timeout: float = 20.0) -> None:
    """Poll the app until ``predicate()`` holds (the timeout only guards against hangs)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def ready(pilot) -> SonarApp:
    app: SonarApp = pilot.app
    await asyncio.wait_for(app._data_ready.wait(), 20)
    await pilot.pause()
    return app


async def ask(pilot, question: str) -> None:
    app: SonarApp = pilot.app
    app.main.composer.focus()
    app.main.composer.load_text(question)
    await pilot.press("enter")


def idle(app: SonarApp) -> bool:
    return not app.live and not app.pending


async def ask_and_wait(pilot, question: str) -> None:
    app: SonarApp = pilot.app
    before = len(app.main.conversation.answers())
    await ask(pilot, question)
    await wait_until(pilot, lambda: len(app.main.conversation.answers()) > before,
                     "the answer view")
    await wait_until(pilot, lambda: idle(app), "the answer to finish")
    await app.workers.wait_for_complete()
    await pilot.pause()


def last_answer(app: SonarApp):
    return app.main.conversation.answers()[-1]
