"""Help: every key, generated from the action registry with the user's keymap applied."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from sonar_tui.ui.bindings import bindings_for


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > Vertical {
        width: 90; max-width: 98%; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; padding: 0 1; height: 1; }
    HelpScreen VerticalScroll { height: 1fr; padding: 0 1; }
    HelpScreen .section { text-style: bold; color: $text-primary; margin: 1 0 0 0; }
    HelpScreen Grid { grid-size: 2; grid-columns: 22 1fr; grid-gutter: 0 2; height: auto;
                      padding: 0 0 0 2; }
    HelpScreen .key { text-style: bold; color: $text-accent; }
    HelpScreen .note { color: $text-muted; margin: 1 0 0 0; }
    """
    BINDINGS = bindings_for("help")

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], notes: list[str]) -> None:
        super().__init__()
        self._sections = sections
        self._notes = notes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Keys — every action is also in the command palette (ctrl+p)",
                         id="help-title")
            with VerticalScroll(id="help-body"):
                for title, rows in self._sections:
                    if not rows:
                        continue
                    yield Static(Content(title), classes="section")
                    with Grid():
                        for key, description in rows:
                            yield Static(Content(key), classes="key")
                            yield Static(Content(description))
                for note in self._notes:
                    yield Static(Content(note), classes="note")

    @property
    def plain_text(self) -> str:
        """Everything the help shows, as text (for tests and accessibility)."""
        return "\n".join(str(widget.render()) for widget in self.query(Static))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
