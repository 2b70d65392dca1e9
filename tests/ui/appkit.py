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
        self.apps: list[SonarApp] = []

    @property
    def service(self):
        return self.mock.service

    def configure(self, **changes) -> None:
        """Change the mock's profile/pace/chunks/fault_times/hold_at between requests."""
        self.mock.service.configure(**changes)

    def release(self) -> int:
        """Let the streams held by ``configure(hold_at=N)`` finish (at once); later ones are
        not held. Returns how many were waiting."""
        self.mock.service.configure(hold_at=None)
        return self.mock.service.release_streams()

    def config(self, *, key: str | None = FAKE_KEY, **env: str) -> LoadedConfig:
        environment = {"PERPLEXITY_BASE_URL": self.mock.url, **env}
        if key:
            environment["PERPLEXITY_API_KEY"] = key
        return load_config(self.config_path, env=environment)

    def app(self, *, config: LoadedConfig | None = None, **kwargs) -> SonarApp:
        app = SonarApp(config or self.config(), db_path=self.db_path, clock=lambda: FIXED_NOW,
                       **kwargs)
        self.apps.append(app)
        return app

    def paths(self) -> list[str]:
        return [request.path for request in self.mock.requests]

    def close(self) -> None:
        self.mock.stop()
        for app in self.apps:  # a test that failed mid-way must not keep pytest from exiting
            app.release_leftovers()


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


def workers_finished(app: SonarApp) -> bool:
    """Every worker has ended, cancelled ones included (``workers.wait_for_complete`` raises
    for a worker that ended by cancellation, which is how Esc ends an answer)."""
    return all(worker.is_finished for worker in app.workers)


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


# Characters a terminal could act on: C0 controls except tab and newline, DEL, C1.
TERMINAL_CONTROLS = frozenset(chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20),
                                               *range(0x7F, 0xA0)])


def screen_text(app: SonarApp) -> str:
    """The screen as plain text, exactly the characters the compositor would send to the
    terminal (cursor moves and styles aside), so that a control character that reached a
    widget shows up here even though an SVG screenshot would escape it."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def controls_in(text: str) -> list[str]:
    """The terminal control characters in ``text``, as escapes (for assertion messages)."""
    return sorted({f"U+{ord(c):04X}" for c in text if c in TERMINAL_CONTROLS})


def notices(app: SonarApp) -> str:
    """Every notification shown so far, one per line (title: message)."""
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


# ----------------------------------------------------------------------------- a real terminal


def poll(predicate: Callable[[], object], what: str, timeout: float = 30.0,
         interval: float = 0.05):
    """Wait (blocking) for ``predicate()`` to be truthy; the timeout only guards hangs."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def process_gone(pid: int) -> bool:
    """Exited (or a zombie nobody reaped yet: tmux's child, not ours)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except FileNotFoundError:
        return True


class Tmux:
    """The real app in a real terminal: a tmux server of our own (private socket, no user
    config), so nobody else's sessions are touched. OSC 52 clipboard writes from the app
    would land in tmux's paste buffers (``set-clipboard on``), where a test can see them."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        import uuid

        self.socket = f"sonar-tui-test-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in env.items() if k != "TMUX"}
        self.conf = workdir / "tmux.conf"
        self.conf.write_text("set -s set-clipboard on\nset -g allow-rename on\n")

    def run(self, *args: str) -> str:
        import subprocess

        done = subprocess.run(["tmux", "-L", self.socket, "-f", str(self.conf), *args],
                              env=self.env, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: list[str], size: tuple[int, int] = (120, 40)) -> int:
        """Run ``command`` in a new session; returns its pid (the pane runs it with exec)."""
        import shlex

        self.run("new-session", "-d", "-s", "app", "-x", str(size[0]), "-y", str(size[1]),
                 "exec " + " ".join(map(shlex.quote, command)))
        return int(self.run("display-message", "-p", "-t", "app", "#{pane_pid}").strip())

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app")

    def title(self) -> str:
        return self.run("display-message", "-p", "-t", "app", "#{pane_title}").strip()

    def buffers(self) -> str:
        return self.run("list-buffers", "-F", "#{buffer_sample}")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "app", *(["-l"] if literal else []), *keys)

    def close(self) -> None:
        import subprocess

        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env,
                       capture_output=True, timeout=30)
