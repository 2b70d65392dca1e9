"""The conversation sidebar: threads (pinned first, newest next) and full-text search.

An ``OptionList`` renders lines on demand, so it stays one widget however many threads it
lists (a ``ListView`` mounts a widget per row and crawls at a few thousand). Threads are
loaded a page at a time as the highlight nears the end of what is loaded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.events import Key
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from sonar_tui.sanitize import clean_line, clean_text
from sonar_tui.store.models import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN, SearchHit, ThreadRecord
from sonar_tui.ui.bindings import bindings_for
from sonar_tui.ui.format import Clock, format_elapsed, relative_time

PAGE_SIZE = 200
JOB_WORDS = {"submitting": "starting", "queued": "queued", "in_progress": "running",
             "cancelling": "cancelling"}


@dataclass(frozen=True, slots=True)
class Target:
    """What an option in the list opens."""

    thread_id: int
    message_id: int | None = None


def thread_prompt(thread: ThreadRecord, now: float, width: int = 28) -> Content:
    title = clean_line(thread.title) or "Untitled"
    when = relative_time(thread.updated_at, now)
    job = thread.job_status
    if job is not None:  # a background job runs: what it does and for how long, not when
        started = thread.job_started_at if thread.job_started_at is not None else now
        when = f"{JOB_WORDS.get(job, clean_line(job))} {format_elapsed(now - started)}"
    # ● answering now, ◷ a background job runs, 📌 pinned, ⚙ own settings (overrides)
    marks = ("● " if thread.has_streaming else "") + ("◷ " if job is not None else "") \
        + ("📌 " if thread.pinned else "") + ("⚙ " if thread.overrides else "")
    room = max(8, width - len(when) - 1)
    head = Content(marks).stylize("$streaming-indicator") + Content(title).truncate(
        room - len(marks), ellipsis=True)
    gap = max(1, width - head.cell_length - len(when))
    return head + Content(" " * gap) + Content(when).stylize("$foreground-muted")


def hit_prompt(hit: SearchHit) -> Content:
    """Title, then the snippet with the matched words highlighted (never parsed as markup)."""
    title = Content(clean_line(hit.thread_title) or "Untitled").stylize("bold")
    if hit.matches > 1:  # one row per thread: the best match, and how many there are
        title += Content(f"  {hit.matches} matches").stylize("$foreground-muted")
    # Split on the store's highlight markers first: they are control characters, which
    # cleaning would (rightly) remove.
    parts: list[Content] = []
    for index, piece in enumerate(hit.snippet.replace(HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN)
                                  .split(HIGHLIGHT_OPEN)):
        text = Content(clean_text(piece, keep_newlines=False))
        parts.append(text.stylize("bold $text-accent") if index % 2 else text)
    role = "Q: " if hit.role == "user" else "A: " if hit.role == "assistant" else ""
    return (title + Content("\n") + Content(role).stylize("$foreground-muted")
            + Content("").join(parts))


class ThreadList(OptionList):
    BINDINGS = bindings_for("threads")

    class Action(Message):
        """Rename, pin or delete was asked for a thread."""

        def __init__(self, action: str, thread_id: int) -> None:
            super().__init__()
            self.action = action
            self.thread_id = thread_id

    def _target(self) -> Target | None:
        option = self.highlighted_option
        return getattr(option, "target", None) if option else None

    def _post_action(self, action: str) -> None:
        target = self._target()
        if target is not None:
            self.post_message(self.Action(action, target.thread_id))

    def action_rename(self) -> None:
        self._post_action("rename")

    def action_pin(self) -> None:
        self._post_action("pin")

    def action_delete(self) -> None:
        self._post_action("delete")

    def action_filter(self) -> None:
        self.screen.query_one("#thread-filter", Input).focus()


class TargetOption(Option):
    def __init__(self, prompt: Content, target: Target, id: str | None = None) -> None:
        super().__init__(prompt, id=id)
        self.target = target


class Sidebar(Vertical):
    """Thread list with a filter box; the filter runs full-text search."""

    BINDINGS = bindings_for("search")

    DEFAULT_CSS = """
    Sidebar {
        height: 1fr;
        border-right: vkey $border-blurred;
        & > #sidebar-title { padding: 0 1; color: $text-muted; height: 1; }
        /* One row, focused or not: Input's own focus style adds a tall border, which in
           one row left two border rows and no room for the text. */
        & > Input, & > Input:focus { margin: 0 0; border: none; height: 1; padding: 0 1; }
        & > Input:focus { background-tint: $foreground 8%; }
        & > ThreadList { height: 1fr; border: none; padding: 0; }
        /* No focus border: it would take two columns and wrap every row. */
        & > ThreadList:focus { border: none; background-tint: $foreground 3%; }
    }
    """

    class Opened(Message):
        def __init__(self, target: Target) -> None:
            super().__init__()
            self.target = target

    class SearchRequested(Message):
        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class SearchSubmitted(Message):
        """Enter in the search box: open the best hit for ``query``."""

        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class MoreRequested(Message):
        """The highlight reached the end of the loaded page."""

        def __init__(self, offset: int) -> None:
            super().__init__()
            self.offset = offset

    def __init__(self, *, clock: Clock, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.threads: list[ThreadRecord] = []
        self.searching = False
        self.exhausted = False
        self.current_thread_id: int | None = None
        self._shown_width = 0

    def compose(self) -> ComposeResult:
        yield Static("Threads", id="sidebar-title")
        yield Input(placeholder="/ search threads…", id="thread-filter")
        yield ThreadList(id="thread-list")

    @property
    def option_list(self) -> ThreadList:
        return self.query_one(ThreadList)

    def focus_filter(self) -> None:
        self.query_one("#thread-filter", Input).focus()

    def _width(self) -> int:
        return max(20, (self.size.width or 34) - 3)

    def on_resize(self) -> None:
        # Rows are laid out for a width (the age right-aligned): a drawer or a resized
        # terminal needs them again, or the ages wrap onto a line of their own.
        if self.threads and not self.searching and self._shown_width != self._width():
            highlighted = self.option_list.highlighted
            self.show_threads(list(self.threads), exhausted=self.exhausted)
            if highlighted is not None and highlighted < self.option_list.option_count:
                self.option_list.highlighted = highlighted

    def show_threads(self, threads: list[ThreadRecord], *, append: bool = False,
                     exhausted: bool = False) -> None:
        """Show threads (pinned first, then newest; the store orders them)."""
        query = self.query_one("#thread-filter", Input).value
        if self.searching and not append and query.strip():
            # A refresh that came unasked (an answer ended, a thread was deleted) while the
            # reader searches: the hits stay, asked again so that they are current.
            self.threads, self.exhausted = list(threads), exhausted
            self.post_message(self.SearchRequested(query))
            return
        self.searching = False
        self.exhausted = exhausted
        now, width = self.clock(), self._width()
        if not append:
            self._shown_width = width
        self.threads = [*self.threads, *threads] if append else list(threads)
        options = [TargetOption(thread_prompt(t, now, width), Target(t.id), id=f"t{t.id}")
                   for t in (threads if append else self.threads)]
        option_list = self.option_list
        if append:
            option_list.add_options(options)
        else:
            # The reader's place in the list survives a refresh (they come unasked: an
            # answer ends, a job is adopted); without one, the open thread is highlighted.
            target = getattr(option_list.highlighted_option, "target", None)
            highlighted = target.thread_id if target is not None else self.current_thread_id
            option_list.set_options(options)
            self._highlight_thread(highlighted)

    def update_thread(self, thread: ThreadRecord) -> None:
        """Refresh one row in place (streaming marker, title, time)."""
        if self.searching:
            return
        for index, existing in enumerate(self.threads):
            if existing.id == thread.id:
                self.threads[index] = thread
                # The option may be gone after a refresh; harmless.
                with contextlib.suppress(OptionDoesNotExist):
                    self.option_list.replace_option_prompt(
                        f"t{thread.id}", thread_prompt(thread, self.clock(), self._width()))
                return

    def set_job(self, thread_id: int, status: str | None, started_at: float | None) -> None:
        """A thread's background job changed (or ended: ``status`` None): redraw its row."""
        thread = next((t for t in self.threads if t.id == thread_id), None)
        if thread is not None:
            self.update_thread(replace(thread, job_status=status, job_started_at=started_at))

    def refresh_jobs(self) -> None:
        """Redraw the rows of threads with a running job (their elapsed time moves on)."""
        for thread in [t for t in self.threads if t.job_status is not None]:
            self.update_thread(thread)

    def show_hits(self, query: str, hits: list[SearchHit]) -> None:
        self.searching = True
        options: list[Option] = [
            TargetOption(hit_prompt(hit), Target(hit.thread_id, hit.message_id))
            for hit in hits
        ]
        if not options:
            options = [Option(Content(f"No matches for “{clean_line(query)}”"), disabled=True)]
        self.option_list.set_options(options)
        self.option_list.highlighted = 0 if hits else None

    def select_thread(self, thread_id: int | None) -> None:
        self.current_thread_id = thread_id
        if not self.searching:
            self._highlight_thread(thread_id)

    def _highlight_thread(self, thread_id: int | None) -> None:
        if thread_id is None:
            return
        with contextlib.suppress(OptionDoesNotExist):
            self.option_list.highlighted = self.option_list.get_option_index(f"t{thread_id}")

    @on(Input.Changed, "#thread-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.post_message(self.SearchRequested(event.value))

    @on(Input.Submitted, "#thread-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        # Enter opens the best hit at once (the results may still be on their way); the
        # list is a Down away. Moving to the list first made the first Enter look swallowed.
        if event.value.strip():
            self.post_message(self.SearchSubmitted(event.value))
        else:
            self.option_list.focus()

    def on_key(self, event: Key) -> None:
        if event.key == "down" and isinstance(self.app.focused, Input):
            event.stop()
            self.option_list.focus()

    def action_clear_search(self) -> None:
        """Esc while searching: back to the thread list (and the box emptied)."""
        box = self.query_one("#thread-filter", Input)
        if not self.searching and not box.value:
            raise SkipAction()  # the app's Esc (close the drawer, back to the composer)
        box.value = ""  # Input.Changed("") brings the thread list back
        self.option_list.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        target = getattr(event.option, "target", None)
        if target is not None:
            self.post_message(self.Opened(target))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if (not self.searching and not self.exhausted
                and event.option_index >= len(self.threads) - 10):
            self.post_message(self.MoreRequested(len(self.threads)))
