"""The message pane: a thread's questions and answers, following the bottom while streaming.

Only the newest page of a thread is mounted at first; older messages are brought in when the
reader scrolls near the top (a few hundred mounted answers make every layout slow). Following
uses Textual's anchor: scrolling up releases it, End (or a new question) re-engages it.
"""

from __future__ import annotations

from sonar_tui.ui.bindings import bindings_for
from textual.containers import VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.events import Click, Key, Paste
from textual.message import Message
from textual.widgets import Static
from textual.widgets.option_list import Option

from sonar_tui.store.models import MessageRecord
from sonar_tui.ui.live import LiveAnswer
from sonar_tui.ui.widgets.answer import AnswerView, QuestionView, RelatedList
from sonar_tui.ui.widgets.stream import GrowsInOnePass, StreamingMarkdown

LOAD_OLDER_MARGIN = 3  # lines from the top at which older messages are fetched


class Conversation(GrowsInOnePass, VerticalScroll, can_focus=True):
    BLANK = True  # a container: what it shows is its children's (no rows of its own to draw)
    DEFAULT_CSS = """
    Conversation {
        height: 1fr;
        padding: 0 1 1 1;
        & > #older-hint { color: $text-muted; height: 1; text-align: center; }
        & > #empty { color: $text-muted; padding: 2 2 1 2; }
        & > #suggestions { margin: 0 2; height: auto; border: none; }
    }
    """

    BINDINGS = bindings_for("conversation")

    class AnswerSelected(Message):
        def __init__(self, conversation: Conversation, view: AnswerView | None) -> None:
            super().__init__()
            self.conversation = conversation
            self.view = view

    class MarkerChosen(Message):
        """The reader moved to ``[number]`` and wants its source (``focus`` = jump there)."""

        def __init__(self, number: int, focus: bool) -> None:
            super().__init__()
            self.number = number
            self.focus = focus

    class TypedAhead(Message):
        """Printable text typed here that is none of the conversation's keys: a question."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class LoadOlder(Message):
        def __init__(self, thread_id: int, before_id: int) -> None:
            super().__init__()
            self.thread_id = thread_id
            self.before_id = before_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.thread_id: int | None = None
        self.selected: AnswerView | None = None
        self.current_marker: int | None = None
        self.oldest_id: int | None = None
        self.has_older = False
        self._loading_older = False
        self.follow_streaming = True  # appearance.follow_streaming
        # (updated_at, message_count) of the thread when the reader left this conversation
        # with its answers ended: kept hidden, it is shown again only if they still match.
        self.left_as: tuple[float, int] | None = None
        self._virtualize_pending = False
        self._typing_ahead = False  # printable keys go to the composer until focus leaves

    def on_mount(self) -> None:
        self.anchor()

    def allow_focus(self) -> bool:
        # Nothing to read yet (a new thread): Tab goes straight on, to the suggestions.
        return super().allow_focus() and bool(self.query_children(QuestionView))

    def on_key(self, event: Key) -> None:
        """A letter that is not one of the keys shown in the footer starts a question.

        The reading keys stay single letters (y, c, n, t, j, k, [, ]..., as in less or
        lazygit): they are listed in the footer and say what they did. Anything else
        printable, typed here, was meant for the composer: it goes there instead of vanishing.
        Keys with a binding anywhere in the focus chain (? for help) keep it."""
        if not event.is_printable or not event.character:
            return
        # Once a question has started, the keys typed before the focus has moved are part
        # of it ("What": the t is not the reasoning key).
        if not self._typing_ahead and event.key in self.app.active_bindings:
            return
        event.stop()
        event.prevent_default()
        self._typing_ahead = True
        self.post_message(self.TypedAhead(event.character))

    def on_paste(self, event: Paste) -> None:
        """Pasted here, it was meant for the composer as much as typed keys are (a
        terminal's bracketed paste arrives as one event, not as keys)."""
        if event.text:
            event.stop()
            self._typing_ahead = True
            self.post_message(self.TypedAhead(event.text))

    def on_blur(self) -> None:
        self._typing_ahead = False

    # ------------------------------------------------------------------ virtualizing

    def schedule_virtualize(self) -> None:
        """After the next refresh, keep only what is near the viewport rendered."""
        if not self._virtualize_pending:
            self._virtualize_pending = True
            self.call_after_refresh(self._start_virtualize)

    def _start_virtualize(self) -> None:
        self._virtualize_pending = False
        self.run_worker(self._virtualize(), group="virtualize", exclusive=True,
                        exit_on_error=False)

    def _content_y(self, widget) -> float:
        """Where ``widget`` starts in the conversation's content: scrolling leaves it alone,
        only a change of height above it moves it."""
        return widget.region.y - self.region.y + self.scroll_y

    async def _virtualize(self) -> None:
        viewport = self.region
        if not viewport:
            return
        # Text laid out above the view may come out taller or shorter than its estimate:
        # whatever is at the top of the view must stay there.
        moved = sum(body.virtualize(viewport) for body in self.query(StreamingMarkdown))
        if moved and not self.following:
            def keep_place() -> None:
                self.scroll_to(y=self.scroll_y + moved, animate=False, immediate=True)
            self.call_after_refresh(keep_place)

    def on_streaming_markdown_needs_layout(self, event: StreamingMarkdown.NeedsLayout) -> None:
        event.stop()
        self.schedule_virtualize()

    @property
    def streaming(self) -> bool:
        """Whether an answer is streaming into this conversation right now."""
        return any(view.live is not None and view.live.active and view.live.view is view
                   for view in self.query_children(AnswerView))

    def question_texts(self) -> list[str]:
        return [view.text for view in self.query_children(QuestionView)]

    @property
    def following(self) -> bool:
        # Textual keeps "anchored but released by the user" as two private flags.
        return self.is_anchored and not self._anchor_released

    # ------------------------------------------------------------------ content

    @staticmethod
    def views_for(messages: list[MessageRecord]) -> list[QuestionView | AnswerView]:
        views: list[QuestionView | AnswerView] = []
        for record in messages:
            if record.role == "user":
                views.append(QuestionView(record.content, message_id=record.id,
                                          attachments=[a.name for a in record.attachments]))
            else:
                views.append(AnswerView.from_record(record))
        return views

    async def show_thread(self, thread_id: int | None, messages: list[MessageRecord], *,
                          has_older: bool, live: LiveAnswer | None = None,
                          empty_hint: Content | str = "",
                          suggestions: list[str] | None = None) -> None:
        """Replace the pane with a thread's newest page (and its streaming answer, if any)."""
        self.thread_id = thread_id
        self.selected = None
        self.current_marker = None
        self.has_older = has_older
        self.oldest_id = messages[0].id if messages else None
        views: list = []
        if has_older:
            views.append(Static("↑ older messages load as you scroll up", id="older-hint"))
        views.extend(self.views_for(messages))
        if live is not None:
            if not any(isinstance(v, QuestionView) and v.message_id == live.question_id
                       for v in views):
                views.append(QuestionView(live.question, message_id=live.question_id))
            views.append(AnswerView.from_live(live))
        if not views:
            views.append(Static(empty_hint, id="empty"))
            if suggestions:
                options = [Option(q, id=f"q{i}") for i, q in enumerate(suggestions)]
                views.append(RelatedList(*options, id="suggestions"))
        # Detach answers that are still streaming first: Textual removes a view's children
        # before the view, and a chunk arriving in between must not find it half gone.
        for view in self.query_children(AnswerView):
            if view.live is not None and view.live.view is view:
                view.live.view = None
        with self.app.batch_update():
            await self.remove_children()
            await self.mount_all(views)
        self.anchor()
        self.select(self.answers()[-1] if self.answers() else None)
        self.schedule_virtualize()

    async def prepend_older(self, messages: list[MessageRecord], *, has_older: bool) -> None:
        """Older messages arrived: mount them above, keeping what the reader sees in place."""
        self._loading_older = False
        self.has_older = has_older
        if not messages:
            await self.query_children("#older-hint").remove()
            return
        self.oldest_id = messages[0].id
        before_height = self.virtual_size.height
        first = next((c for c in self.children if c.id != "older-hint"), None)
        with self.app.batch_update():
            await self.mount_all(self.views_for(messages), before=first)
            if not has_older:
                await self.query_children("#older-hint").remove()

        def keep_position() -> None:
            self.scroll_to(y=self.scroll_y + self.virtual_size.height - before_height,
                           animate=False, immediate=True)
        self.call_after_refresh(keep_position)
        self.schedule_virtualize()

    async def add_question(self, text: str, message_id: int | None,
                           attachments: list[str] | None = None) -> QuestionView:
        await self.query_children("#empty, #suggestions").remove()
        view = QuestionView(text, message_id=message_id, attachments=attachments)
        await self.mount(view)
        return view

    async def add_live_answer(self, live: LiveAnswer) -> AnswerView:
        view = AnswerView.from_live(live)
        await self.mount(view)
        self.select(view)
        if self.follow_streaming:
            self.action_follow()
        else:  # show where the answer starts, and stay there
            self.release_anchor()
            self.call_after_refresh(self.scroll_to_widget, view, top=True, animate=False)
        return view

    def answers(self) -> list[AnswerView]:
        return list(self.query_children(AnswerView))

    def last_question(self) -> QuestionView | None:
        questions = self.query_children(QuestionView)
        return questions.last() if questions else None

    # ------------------------------------------------------------------ selection

    def select(self, view: AnswerView | None, *, scroll: bool = False) -> None:
        if self.selected is view:
            return
        if self.selected is not None and self.selected.is_attached:
            self.selected.remove_class("-selected")
            self._restyle_marker(self.selected, None)
        self.selected = view
        self.current_marker = None
        if view is not None:
            view.add_class("-selected")
            if scroll:
                self.scroll_to_widget(view, top=True, animate=False)
        self.post_message(self.AnswerSelected(self, view))

    def action_select_answer(self, step: int) -> None:
        answers = self.answers()
        if not answers:
            return
        index = answers.index(self.selected) if self.selected in answers else len(answers)
        index = max(0, min(len(answers) - 1, index + step))
        self.select(answers[index], scroll=True)

    def on_click(self, event: Click) -> None:
        node: DOMNode | None = event.widget
        while node is not None and node is not self:
            if isinstance(node, AnswerView):
                self.select(node)
                return
            node = node.parent

    # ------------------------------------------------------------------ markers

    def action_marker(self, step: int) -> None:
        """Move to the next/previous cited source of the selected answer."""
        view = self.selected
        if view is None:
            return
        numbers = view.cited_numbers()
        if not numbers:
            self.app.bell()
            return
        if self.current_marker in numbers:
            index = (numbers.index(self.current_marker) + step) % len(numbers)
        else:
            index = 0 if step > 0 else len(numbers) - 1
        self.show_marker(numbers[index], focus=False)

    def show_marker(self, number: int, *, focus: bool) -> None:
        view = self.selected
        if view is None:
            return
        self.current_marker = number
        self.run_worker(self._show_marker(view, number, focus), group="marker", exclusive=True,
                        exit_on_error=False)

    async def _show_marker(self, view: AnswerView, number: int, focus: bool) -> None:
        body = view.body
        body.render_containing(f"[{number}]")  # a far-away part may not be laid out yet
        row = self._restyle_marker(view, number)
        if row is not None:
            self.release_anchor()

            def center() -> None:  # once the layout that render_containing asked for is done
                if body.is_attached:
                    y = self._content_y(body) + body.gutter.top + row
                    self.scroll_to(y=y - self.scrollable_content_region.height // 2,
                                   animate=False)
            self.call_after_refresh(center)
        self.post_message(self.MarkerChosen(number, focus))

    def action_go_to_source(self) -> None:
        if self.current_marker is None:
            self.action_marker(1)
        if self.current_marker is not None:
            self.post_message(self.MarkerChosen(self.current_marker, True))

    @staticmethod
    def _restyle_marker(view: AnswerView, number: int | None) -> int | None:
        """Highlight ``[number]`` in the answer; the row (in its body) that first shows it."""
        return view.body.set_current_citation(number)

    # ------------------------------------------------------------------ following

    def action_follow(self) -> None:
        self.anchor()

    def action_top(self) -> None:
        self.scroll_home(animate=False)

    def action_page(self, direction: int) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=self.scroll_y + direction * page, animate=False)

    def action_toggle_reasoning(self) -> None:
        if self.selected is not None and self.selected.reasoning_block is not None:
            block = self.selected.reasoning_block
            block.collapsed = not block.collapsed

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.schedule_virtualize()
        if (new_value <= LOAD_OLDER_MARGIN and self.has_older and not self._loading_older
                and self.thread_id is not None and self.oldest_id is not None
                and self.max_scroll_y > 0):
            self._loading_older = True
            self.post_message(self.LoadOlder(self.thread_id, self.oldest_id))


DEMO_SUGGESTIONS = [
    "How do I choose between SQLite and PostgreSQL for a small web app?",
    "What changed in HTTP/3, and should my API use it?",
    "Explain Rust's borrow checker with a short code example",
]


def empty_thread_hint(demo: bool = False) -> Content:
    lines = [
        Content("Ask a question below.").stylize("bold $text"),
        Content(""),
        Content("Answers stream in with their numbered sources beside them; press n to walk "
                "through the citations, ctrl+o to copy an answer with its references."),
        Content("Enter sends · ctrl+j newline · F1 help · ctrl+s settings"),
    ]
    if demo:
        lines += [Content(""), Content("This is the offline demo: answers come from a local mock "
                                       "service. Try one (tab, then Enter):").stylize(
                                           "$text-accent")]
    return Content("\n").join(lines)
