"""The terminal going away: a hung-up pty (an SSH link that drops, a tmux session killed).

Textual's Linux driver assumes the terminal outlives the app. When it does not, its writer
thread dies on the first write (EIO) and every later write blocks once the writer's queue is
full, so the app freezes before it can save anything; and its input thread reads end-of-file
in a loop that never sleeps. ``SonarDriver`` keeps Textual's driver and changes one thing:
its output file drops writes once the terminal is gone and tells the app, which saves and
exits. ``terminal_gone`` is the check the app polls for the input side (a hung-up terminal
with nothing to write, e.g. SIGHUP ignored under nohup).
"""

from __future__ import annotations

import asyncio
import os
import sys
import termios
from collections.abc import Callable
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


class _TerminalOutput:
    """A file for Textual's writer thread: writes after the terminal is gone are dropped."""

    def __init__(self, file: IO[str], lost: Callable[[], None]) -> None:
        self._file = file
        self._lost = lost
        self.gone = False

    def _fail(self) -> None:
        if not self.gone:
            self.gone = True
            self._lost()

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # EIO: hung up; ValueError: closed
                self._fail()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self._fail()

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return not self.gone and self._file.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class SonarDriver(LinuxDriver):
    """Textual's Linux driver, whose output survives the terminal going away."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        loop = asyncio.get_running_loop()
        lost = getattr(app, "terminal_lost", None)

        def on_lost() -> None:  # from the writer thread: never block it
            if lost is not None:
                loop.call_soon_threadsafe(lost)
        self._file = _TerminalOutput(self._file, on_lost)  # type: ignore[assignment,arg-type]


def terminal_gone(fd: int | None = None) -> bool:
    """True once the controlling terminal hung up (its attributes can no longer be read)."""
    if fd is None:
        stream = sys.__stdin__
        if stream is None:
            return True
        try:
            fd = stream.fileno()
        except (OSError, ValueError):
            return True
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):
        return True
    return not os.isatty(fd)


__all__ = ["SonarDriver", "terminal_gone"]
