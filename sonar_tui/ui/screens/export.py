"""Export a thread: where to write it, asked with a sensible default, and said after."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, Static

from sonar_tui.files import existing_file, home_relative, is_folder, target_path
from sonar_tui.sanitize import clean_line
from sonar_tui.ui.bindings import bindings_for
from sonar_tui.ui.screens.modals import Dialog, key_hints


class ExportScreen(Dialog[Path | None]):
    """Returns the path written, or None (cancelled). ``write`` raises OSError (or ValueError
    for a NUL byte) on failure, which is shown here, with the dialog still open to fix the
    path. ``write`` runs in a thread: a slow disk or network folder never freezes the app."""

    BINDINGS = bindings_for("export")

    def __init__(self, title: str, default: Path, write: Callable[[Path], None]) -> None:
        super().__init__()
        self._title, self._default, self._write = title, default, write
        self._replace: Path | None = None  # an existing file the user agreed to replace
        self._writing = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="title")
            yield Input(home_relative(str(self._default)), id="path")
            yield Static(Content("A folder gets the name above; ~ is your home.")
                         .stylize("$foreground-muted"), id="problem", classes="body")
            yield Static(key_hints(("enter", "Export"), ("esc", "Cancel")), classes="keys")

    def on_mount(self) -> None:
        box = self.query_one("#path", Input)
        box.cursor_position = len(box.value)

    def _say(self, text: str, style: str) -> None:
        self.query_one("#problem", Static).update(Content(text).stylize(style))

    @on(Input.Changed)
    def _changed(self) -> None:
        self._replace = None

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if self._writing:
            return
        path = target_path(event.value, self._default.name)
        if path is None:
            self._say("Type where to write the file.", "$text-warning")
            return
        shown = clean_line(home_relative(str(path)))
        try:
            exists = existing_file(path)
        except (OSError, ValueError) as exc:
            self._failed(path, shown, exc)
            return
        if exists and path != self._replace:
            self._replace = path
            self._say(f"{shown} exists. Enter again replaces it; or change the name.",
                      "$text-warning")
            return
        self._writing = True
        self._say(f"Writing {shown}…", "$foreground-muted")
        self.run_worker(self._write_then_close(path, shown), group="export", exclusive=True)

    async def _write_then_close(self, path: Path, shown: str) -> None:
        try:
            await asyncio.to_thread(self._write, path)
        except Exception as exc:  # noqa: BLE001 - said in the dialog, never a traceback
            self._failed(path, shown, exc)
            return
        finally:
            self._writing = False
        self.dismiss(path)

    def _failed(self, path: Path, shown: str, exc: Exception) -> None:
        if isinstance(exc, ValueError) and "null" in str(exc):  # os/pathlib's word for NUL
            self._say("Could not write there: the name contains a NUL character.",
                      "$text-error")
        elif not isinstance(exc, OSError):
            self._say(f"Could not write {shown}: {clean_line(str(exc))}", "$text-error")
        else:
            reason = exc.strerror or str(exc)
            folder = home_relative(str(path.parent))
            hint = f" (is there a folder {clean_line(folder)}?)" if (
                exc.errno in (errno.ENOENT, errno.ENOTDIR) and not is_folder(path.parent)) else ""
            self._say(f"Could not write {shown}: {reason}{hint}", "$text-error")
        self._replace = None

    def action_cancel(self) -> None:
        self.dismiss(None)
