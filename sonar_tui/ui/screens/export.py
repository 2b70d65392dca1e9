"""Export a thread: where to write it, asked with a sensible default, and said after."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, Static

from sonar_tui.files import home_relative, target_path
from sonar_tui.ui.bindings import bindings_for
from sonar_tui.ui.screens.modals import Dialog, key_hints


class ExportScreen(Dialog[Path | None]):
    """Returns the path written, or None (cancelled). ``write`` raises OSError on failure,
    which is shown here, with the dialog still open to fix the path."""

    BINDINGS = bindings_for("export")

    def __init__(self, title: str, default: Path, write: Callable[[Path], None]) -> None:
        super().__init__()
        self._title, self._default, self._write = title, default, write
        self._replace: Path | None = None  # an existing file the user agreed to replace

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
        path = target_path(event.value, self._default.name)
        if path is None:
            self._say("Type where to write the file.", "$text-warning")
            return
        shown = home_relative(str(path))
        if path.exists() and path != self._replace:
            self._replace = path
            self._say(f"{shown} exists. Enter again replaces it; or change the name.",
                      "$text-warning")
            return
        try:
            self._write(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            folder = home_relative(str(path.parent))
            hint = f" (is there a folder {folder}?)" if not path.parent.is_dir() else ""
            self._say(f"Could not write {shown}: {reason}{hint}", "$text-error")
            self._replace = None
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
