"""The composer: a multi-line editor where Enter sends.

Shift+Enter only reaches applications on terminals with the Kitty keyboard protocol, so
ctrl+j (a bare line feed, which every terminal sends) is the newline key that always works.
"""

from __future__ import annotations

from sonar_tui.ui.bindings import bindings_for
from textual.message import Message
from textual.widgets import TextArea


class Composer(TextArea):
    DEFAULT_CSS = """
    Composer {
        min-width: 12;
        height: auto;
        min-height: 3;
        max-height: 10;
        border: round $border-blurred;
        padding: 0 1;
        &:focus { border: round $primary; }
    }
    """

    BINDINGS = bindings_for("composer")

    class Submitted(Message):
        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

        @property
        def control(self) -> Composer:
            return self.composer

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         highlight_cursor_line=False,
                         placeholder="Ask anything…  (Enter sends, ctrl+j newline)")
        self.questions: list[str] = []  # the thread's questions, oldest first
        self._recall_index: int | None = None

    # Enter and ctrl+j are priority bindings, so they run when the key reaches the App, while
    # keys typed just before them may still wait in this widget's queue (fast typing, tmux,
    # SSH bursts). call_later queues the work behind those keys, so nothing is lost or
    # reordered.
    def action_submit(self) -> None:
        self.call_later(self._submit)

    def action_newline(self) -> None:
        self.call_later(self.insert, "\n")

    def _submit(self) -> None:
        text = self.text
        if text.strip():
            self.post_message(self.Submitted(self, text))

    def action_recall_previous(self) -> None:
        """Up in an empty composer recalls the last question; again, the one before."""
        if self.questions and (not self.text or self._recall_index is not None) \
                and self.cursor_location[0] == 0:
            index = len(self.questions) if self._recall_index is None else self._recall_index
            if index > 0:
                self._recall_index = index - 1
                self.load_text(self.questions[self._recall_index])
                self.move_cursor(self.document.end)
            return
        self.action_cursor_up()

    def set_text(self, text: str) -> None:
        self._recall_index = None
        self.load_text(text)
        self.move_cursor(self.document.end)

    def clear_text(self) -> None:
        self._recall_index = None
        self.load_text("")

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        # Typing after a recall turns the recalled text into an ordinary draft.
        if self._recall_index is not None and self.questions[self._recall_index] != self.text:
            self._recall_index = None
