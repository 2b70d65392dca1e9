"""Small modal screens: confirm, text input, pick from a list, show a URL."""

from __future__ import annotations

from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.style import Style
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from sonar_tui.ui.bindings import bindings_for

ResultType = TypeVar("ResultType")


def key_hints(*pairs: tuple[str, str]) -> Content:
    """``("enter", "Rename"), ("esc", "Cancel")`` -> "enter Rename · esc Cancel", keys bold."""
    parts = [Content(key).stylize("bold $text-accent") + Content(" " + what)
             for key, what in pairs]
    return Content(" · ").join(parts).stylize("$foreground-muted")


class Dialog(ModalScreen[ResultType]):
    """A centred, bordered box over the dimmed screen, with its keys on its last line.

    The CSS lives here, once, with ``Dialog`` selectors: Textual scopes a class's
    DEFAULT_CSS to that class, so rules written as ``ModalScreen ...`` in a subclass match
    nothing, and the dialogs used to spill over the top left of the screen.
    """

    DEFAULT_CSS = """
    Dialog { align: center middle; background: $background 60%; }
    Dialog > Vertical {
        width: 72; max-width: 95%; height: auto; max-height: 90%;
        border: round $primary; border-title-color: $text-primary;
        border-title-style: bold; background: $surface; padding: 1 2;
    }
    Dialog .title { text-style: bold; color: $text-primary; margin: 0 0 1 0; }
    Dialog .body { margin: 0 0 1 0; }
    Dialog .buttons { height: auto; align-horizontal: right; }
    Dialog .buttons Button { margin: 0 0 0 2; min-width: 10; }
    Dialog OptionList { height: auto; max-height: 16; border: none; margin: 0 0 1 0; }
    Dialog Input { margin: 0 0 1 0; }
    Dialog .keys { height: 1; margin: 1 0 0 0; text-align: right; }
    """


class ConfirmScreen(Dialog[bool]):
    BINDINGS = bindings_for("confirm")

    def __init__(self, title: str, body: Content | str, *, yes: str = "Yes", no: str = "Cancel",
                 danger: bool = False) -> None:
        super().__init__()
        self._title, self._body, self._yes, self._no, self._danger = title, body, yes, no, danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="title")
            yield Static(self._body if isinstance(self._body, Content) else Content(self._body),
                         classes="body")
            with Horizontal(classes="buttons"):
                yield Button(f"{self._no} (esc)", id="no")
                yield Button(f"{self._yes} (y)", id="yes",
                             variant="error" if self._danger else "primary")
            yield Static(key_hints(("y", self._yes), ("n/esc", self._no),
                                   ("tab/enter", "pick a button")), classes="keys")

    def on_mount(self) -> None:
        self.query_one("#yes" if not self._danger else "#no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class TextInputScreen(Dialog[str | None]):
    BINDINGS = bindings_for("input")

    def __init__(self, title: str, value: str = "", *, placeholder: str = "",
                 hint: str = "", ok: str = "OK") -> None:
        super().__init__()
        self._title, self._value, self._placeholder, self._hint = title, value, placeholder, hint
        self._ok = ok

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="title")
            yield Input(self._value, placeholder=self._placeholder, id="value")
            if self._hint:
                yield Static(Content(self._hint).stylize("$foreground-muted"), classes="body")
            yield Static(key_hints(("enter", self._ok), ("esc", "Cancel")), classes="keys")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickScreen(Dialog[int | None]):
    """Choose one of several items; returns its index."""

    BINDINGS = bindings_for("pick")

    def __init__(self, title: str, items: list[Content], *, hint: str = "") -> None:
        super().__init__()
        self._title, self._items, self._hint = title, items, hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="title")
            yield OptionList(*[Option(item, id=str(index))
                               for index, item in enumerate(self._items)])
            if self._hint:
                yield Static(Content(self._hint).stylize("$foreground-muted"))
            yield Static(key_hints(("↑↓", "move"), ("enter", "Choose"), ("esc", "Cancel")),
                         classes="keys")

    def on_key(self, event) -> None:
        # Digits pick directly: "3" copies block 3.
        if event.character and event.character.isdigit():
            index = int(event.character) - 1
            if 0 <= index < len(self._items):
                event.stop()
                self.dismiss(index)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)


class UrlScreen(Dialog[str | None]):
    """A source's URL where no browser can be opened (SSH): show it, offer to copy it.

    Returns "copy" when the user asks for a copy. The URL is also an OSC 8 hyperlink, which
    the *local* terminal can open on click.
    """

    BINDINGS = bindings_for("url")

    def __init__(self, url: str, title: str, reason: str) -> None:
        super().__init__()
        self._url, self._title, self._reason = url, title, reason

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title or "Source"), classes="title")
            # Built from a Style, not a markup string: the URL is remote text.
            yield Static(Content(self._url).stylize(Style(link=self._url)).stylize("underline"),
                         classes="body", id="url")
            yield Static(Content(self._reason).stylize("$foreground-muted"), classes="body")
            with Horizontal(classes="buttons"):
                yield Button("Close (esc)", id="close")
                yield Button("Copy URL (y)", id="copy", variant="primary")
            yield Static(key_hints(("y/enter", "Copy URL"), ("esc/q", "Close")), classes="keys")

    def on_mount(self) -> None:
        self.query_one("#copy", Button).focus()

    def action_copy(self) -> None:
        self.dismiss("copy")

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss("copy" if event.button.id == "copy" else None)
