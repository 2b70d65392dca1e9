"""Help: every key binding, read from the bindings themselves (so it is never out of date)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static


def key_label(key: str) -> str:
    """'ctrl+j,shift+enter' -> 'ctrl+j / shift+enter', with readable names."""
    names = {"left_square_bracket": "[", "right_square_bracket": "]", "slash": "/",
             "question_mark": "?", "escape": "esc", "delete": "del"}
    return " / ".join(names.get(part, part) for part in key.split(","))


def binding_rows(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[tuple[str, str]]:
    rows = []
    for binding in bindings:
        if not binding.description:
            continue
        key = keymap.get(binding.id, binding.key) if binding.id else binding.key
        rows.append((key_label(key), binding.description))
    return rows


def help_content(sections: list[tuple[str, list[tuple[str, str]]]], notes: list[str]) -> Content:
    width = max((len(key) for _, rows in sections for key, _ in rows), default=8) + 2
    lines: list[Content] = []
    for title, rows in sections:
        if not rows:
            continue
        if lines:
            lines.append(Content(""))
        lines.append(Content(title).stylize("bold $text-primary"))
        for key, description in rows:
            lines.append(Content("  ") + Content(key.ljust(width)).stylize("bold $text-accent")
                         + Content(description))
    for note in notes:
        lines.extend([Content(""), Content(note).stylize("$foreground-muted")])
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > Vertical {
        width: 84; max-width: 98%; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; padding: 0 1; height: 1; }
    HelpScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], notes: list[str]) -> None:
        super().__init__()
        self._sections = sections
        self._notes = notes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Keys — every action is also in the command palette (ctrl+p)",
                         id="help-title")
            with VerticalScroll():
                yield Static(help_content(self._sections, self._notes), id="help-body")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
