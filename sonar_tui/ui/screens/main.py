"""The main screen: sidebar, conversation, composer, citation panel, status line.

The screen owns the widgets and translates their messages into calls on the app, which owns
the service and the workers (so answers keep streaming whatever is on screen).
"""

from __future__ import annotations

import asyncio
from itertools import count
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.content import Content
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Header, Static, TextArea

from sonar_tui.api.conversation import Attachment
from sonar_tui.api.events import Source
from sonar_tui.sanitize import clean_line
from sonar_tui.store.models import MessageRecord, ThreadRecord
from sonar_tui.ui.live import LiveAnswer
from sonar_tui.ui.widgets.answer import AnswerView, LinkLines, QuestionView, RelatedList
from sonar_tui.ui.widgets.citations import CitationPanel, SourceList
from sonar_tui.ui.widgets.composer import Composer
from sonar_tui.ui.widgets.conversation import DEMO_SUGGESTIONS, Conversation, empty_thread_hint
from sonar_tui.ui.widgets.markdown import CitationClicked, LinkClicked
from sonar_tui.ui.widgets.sidebar import PAGE_SIZE, Sidebar, Target, ThreadList
from sonar_tui.ui.widgets.status import StatusLine

if TYPE_CHECKING:
    from sonar_tui.ui.app import SonarApp

WIDE = 110  # columns from which the panels sit beside the conversation
FIRST_PAGE = 12  # messages mounted when a thread opens (about six exchanges)
KEEP_FINISHED = 3  # conversations of finished threads kept mounted, hidden, for going back
OLDER_PAGE = 10
SEARCH_DEBOUNCE = 0.15
DRAFT_SAVE_INTERVAL = 0.5  # seconds between checks whether the draft changed (cheap when not)


# The containers that only lay the screen out are BLANK: they draw nothing of their own
# (no border, no background of their own), and a BLANK widget's rows are one strip
# repeated, which every frame of a streaming answer would otherwise build row by row.


class Columns(Horizontal):
    BLANK = True


class Column(Vertical):
    BLANK = True


class Conversations(ContentSwitcher):
    BLANK = True


def sidebar_width(width: int) -> int:
    return max(24, min(36, round(width * 0.22)))


def sources_width(width: int) -> int:
    return max(30, min(48, round(width * 0.28)))


class MainScreen(Screen):
    """Layout: on a wide screen the thread list and the sources panel have columns of
    their own, and the conversation the width that leaves; showing or hiding a panel
    never changes that width (the conversation stays centred in the room left), so no
    text is wrapped again and the reader's place does not move. A panel without a column
    (the thread list on a narrow screen, the sources panel set to "hidden") opens as a
    drawer over the conversation. On a narrow screen the sources panel sits below the
    conversation (only its height changes when it is toggled)."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    AUTO_FOCUS = "#composer"
    DEFAULT_CSS = """
    MainScreen { layout: vertical; }
    MainScreen > #main { height: 1fr; layers: base drawer; align-horizontal: center; }
    /* The centre never collapses: a zero-width composer crashes TextArea's rendering. */
    MainScreen #center { width: 1fr; height: 1fr; min-width: 40; }
    MainScreen #sidebar { dock: left; }
    MainScreen #citations { dock: right; }
    MainScreen #conversations { height: 1fr; }
    MainScreen #attachments { height: auto; color: $text-muted; padding: 0 2; display: none; }
    MainScreen #attachments.-shown { display: block; }

    MainScreen.-sidebar-closed #sidebar { display: none; }
    MainScreen.-citations-hidden #citations { display: none; }
    MainScreen.-narrow #citations, MainScreen.-citations-bottom #citations {
        dock: bottom; width: 100%; height: 30%; min-height: 5; max-height: 14;
        border-left: none;
        border-top: hkey $border-blurred;
    }
    /* Drawers: over the conversation, which keeps its width. */
    MainScreen.-narrow #sidebar { layer: drawer; display: none; width: 32; max-width: 80%; }
    MainScreen.-narrow.-sidebar-open #sidebar { display: block; }
    MainScreen.-citations-overlay #citations { layer: drawer; }
    MainScreen.-narrow #sidebar, MainScreen.-citations-overlay #citations {
        background: $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__(id="main-screen")
        self.thread: ThreadRecord | None = None
        self._conversation_ids = count(1)
        self._conversation = self._new_conversation()
        self._recent: list[Conversation] = []  # hidden, most recently left first
        self._switching = asyncio.Lock()
        self._drafts_ready = False  # the draft of the thread on screen is in the composer
        self._saved_place: tuple[int | None, str] = (None, "")  # (thread, draft) as stored
        # The composer's text, kept as it changes: at quit the widgets are gone before the
        # last save.
        self._composer_text = ""

    @property
    def sonar(self) -> SonarApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Columns(id="main"):
            yield Sidebar(clock=self.sonar.clock, id="sidebar")
            with Column(id="center"):
                yield Conversations(self._conversation, id="conversations",
                                      initial=self._conversation.id)
                yield Static(id="attachments")
                yield Composer(id="composer")
            yield CitationPanel(id="citations")
        yield StatusLine(id="status")
        yield Footer()

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab goes composer -> conversation -> sources -> threads, whatever the columns'
        order on screen (the thread list is left of the conversation, the composer below
        it): from where one types, to what one reads, to where one goes next."""
        try:
            areas = [self.composer, self.conversation, self.citations, self.sidebar]
        except NoMatches:  # the screen being taken down (at exit): some are gone already
            return super().focus_chain

        def area(widget: Widget) -> int:
            for index, ancestor in enumerate(areas):
                if widget is ancestor or ancestor in widget.ancestors:
                    return index
            return len(areas)
        return sorted(super().focus_chain, key=area)

    def on_mount(self) -> None:
        self.conversation.follow_streaming = self.sonar.config.appearance.follow_streaming
        # A draft survives a crash or a killed terminal, not only a quit.
        self.set_interval(DRAFT_SAVE_INTERVAL, self.save_draft)
        self.fit_columns()

    def on_resize(self) -> None:
        self.fit_columns()

    # ------------------------------------------------------------------ panels

    def fit_columns(self) -> None:
        """Columns from the screen's width and the panels' places (settings), never from
        whether a panel is shown at the moment."""
        width = self.size.width
        if not width or not self.is_mounted:
            return
        center, sidebar, citations = (self.query_one("#center"), self.sidebar,
                                      self.citations)
        if width < WIDE:
            for widget in (center, sidebar, citations):
                widget.styles.width = None  # the stylesheet's
            return
        sidebar.styles.width = sidebar_width(width)
        citations.styles.width = sources_width(width)
        beside = not (self.has_class("-citations-bottom") or self.has_class("-citations-overlay"))
        center.styles.width = max(40, width - sidebar_width(width)
                                  - (sources_width(width) if beside else 0))

    def place_sources(self, place: str) -> None:
        """The sources panel's place (appearance.citation_panel): right, bottom, hidden (a
        drawer, shown by ctrl+g)."""
        self.set_class(place == "bottom", "-citations-bottom")
        self.set_class(place == "hidden", "-citations-overlay")
        self.set_class(place == "hidden", "-citations-hidden")
        self.fit_columns()

    def _focus_out_of(self, panel) -> None:
        focused = self.focused
        if focused is not None and panel in focused.ancestors_with_self:
            self.composer.focus()

    def toggle_sidebar(self) -> None:
        if self.has_class("-narrow"):
            opening = not self.has_class("-sidebar-open")
            self.set_class(opening, "-sidebar-open")
            if opening:
                self.sidebar.option_list.focus()  # a drawer is opened to pick a thread
        else:
            self.toggle_class("-sidebar-closed")
            opening = not self.has_class("-sidebar-closed")
        if not opening:
            self._focus_out_of(self.sidebar)

    def toggle_sources(self) -> None:
        self.toggle_class("-citations-hidden")
        if self.has_class("-citations-hidden"):
            self._focus_out_of(self.citations)

    def show_sidebar(self) -> None:
        self.add_class("-sidebar-open")
        self.remove_class("-sidebar-closed")

    def close_drawer(self) -> bool:
        """Close the thread list's drawer (narrow screen); False if it was not open."""
        if self.has_class("-narrow") and self.has_class("-sidebar-open"):
            self.remove_class("-sidebar-open")
            self._focus_out_of(self.sidebar)
            return True
        return False

    # ------------------------------------------------------------------ shortcuts

    @property
    def conversation(self) -> Conversation:
        """The conversation on screen (others may stream, hidden, in the background)."""
        return self._conversation

    def _new_conversation(self) -> Conversation:
        return Conversation(id=f"conversation-{next(self._conversation_ids)}")

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    @property
    def citations(self) -> CitationPanel:
        return self.query_one(CitationPanel)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def thread_id(self) -> int | None:
        return self.thread.id if self.thread else None

    # ------------------------------------------------------------------ threads

    async def _conversation_for(self, thread: ThreadRecord | None) -> tuple[Conversation, bool]:
        """Put the conversation that will show ``thread`` on screen; True if it already
        shows that thread as it stands.

        Conversations stay mounted, hidden (a hidden conversation costs nothing in
        layout), for threads whose answer is still streaming and for the KEEP_FINISHED
        threads the reader left last, so going back shows them at once, scrolled as they
        were, instead of building them again. A thread that changed in the database since
        it was left (another window wrote to it) is built again.
        """
        current = self.conversation
        thread_id = thread.id if thread is not None else None
        if thread_id is not None and current.thread_id == thread_id:
            return current, False  # opening the thread on screen again rebuilds it
        switcher = self.query_one("#conversations", ContentSwitcher)
        current.left_as = None
        if current.thread_id is not None:
            if not current.streaming:
                left = await self.sonar.service.get_thread(current.thread_id)
                current.left_as = _state_of(left) if left is not None else None
            if current in self._recent:
                self._recent.remove(current)
            self._recent.insert(0, current)
        kept = next((c for c in self._recent if thread_id is not None
                     and c.thread_id == thread_id), None)
        up_to_date = kept is not None and (kept.left_as is None or thread is None
                                           or kept.left_as == _state_of(thread))
        target = kept or self._new_conversation()
        target.follow_streaming = current.follow_streaming
        if kept is None:
            await switcher.add_content(target)
        else:
            self._recent.remove(kept)
        had_focus = self.focused is current
        switcher.current = target.id
        self._conversation = target
        if had_focus:
            target.focus()
        # The citation panel follows the pane: an empty one (a new thread, one still to be
        # filled) must not keep offering the last thread's links.
        self.citations.show_sources(
            target.selected.sources if target.selected is not None else [],
            keep_highlight=False)
        keep = set(self._recent[:KEEP_FINISHED])
        dropped = [c for c in switcher.query_children(Conversation)
                   if c is not target and c not in keep and not c.streaming]
        self._recent = [c for c in self._recent if c not in dropped]
        await switcher.remove_children(dropped)
        target.left_as = None
        return target, up_to_date

    # ------------------------------------------------------------------ drafts

    async def reopen_last_thread(self) -> None:
        """At start-up (and when the demo's database replaces the user's): the thread used
        last, with its unsent draft; a new thread when there was none (ctrl+n makes one)."""
        self._drafts_ready = False
        self._saved_place = (None, "")
        last = None
        with self.sonar.store_errors("find the last thread"):
            last = await self.sonar.service.last_thread()
        if last is not None:
            await self.open_thread(last)
        if self.thread is None:
            await self.show_empty_thread()
        elif not self._drafts_ready:  # the thread on screen already was that one
            await self._restore_draft(self.thread_id)

    async def save_draft(self, *, switching: bool = False) -> None:
        """Keep what the composer holds as the unsent question of the thread on screen,
        and that thread as the one to reopen; writes only when either changed."""
        service = self.sonar.service
        if not self._drafts_ready or service.store is None:
            return
        if self._switching.locked() and not switching:
            # Mid-switch the composer still holds the thread left while thread_id already
            # names the one opening: the timer would file one thread's draft under the other.
            return
        place = (self.thread_id, self._composer_text)
        if place == self._saved_place:
            return
        owner = self._saved_place[0]
        with self.sonar.store_errors("keep the draft"):
            if owner is None and place[0] is not None:
                # Sent from the new thread, which became this one: its draft was sent.
                await service.leave(None, "")
            await service.leave(place[0], place[1], remember=True, opening=place[0])
            self._saved_place = place

    async def _leave_for(self, opening: int | None) -> bool:
        """Before the thread on screen changes: keep its draft. False when ``opening`` is
        the thread already on screen (its draft stays in the composer)."""
        if self._drafts_ready and opening == self.thread_id:
            return False
        await self.save_draft(switching=True)
        return True

    async def _restore_draft(self, opening: int | None) -> None:
        service = self.sonar.service
        if service.store is None:
            return
        draft = ""
        with self.sonar.store_errors("read the draft"):
            draft = await service.draft(opening)
        composer = self.composer
        # At start-up what was typed before the database opened wins over the stored draft.
        if self._drafts_ready or not composer.text:
            composer.load_text(draft)
            composer.move_cursor(composer.document.end)
            self._composer_text = draft
        self._drafts_ready = True
        typed = self._composer_text  # the draft, or what was typed before start-up ended
        with self.sonar.store_errors("remember the thread"):
            await service.leave(opening, typed, remember=True, opening=opening)
        self._saved_place = (opening, typed)

    async def show_empty_thread(self) -> None:
        async with self._switching:
            switching = await self._leave_for(None)
            self.thread = None
            self.sub_title = "New thread"
            self.sidebar.select_thread(None)
            demo = self.sonar.demo
            conversation, _ = await self._conversation_for(None)
            await conversation.show_thread(None, [], has_older=False,
                                           empty_hint=empty_thread_hint(demo),
                                           suggestions=DEMO_SUGGESTIONS if demo else None)
            self.composer.questions = []
            self.sonar.refresh_status()
            if switching:
                await self._restore_draft(None)

    async def open_thread(self, thread_id: int, message_id: int | None = None) -> None:
        # One switch at a time, in the order asked: the start-up's empty thread, a thread
        # opened from the sidebar and ctrl+n run in different tasks, and interleaved they
        # left one thread's title over another's (or no) conversation.
        async with self._switching:
            switching = await self._leave_for(thread_id)
            await self._open_thread(thread_id, message_id)
            if switching and self.thread_id == thread_id:
                await self._restore_draft(thread_id)

    async def _open_thread(self, thread_id: int, message_id: int | None) -> None:
        app = self.sonar
        thread = await app.service.get_thread(thread_id)
        if thread is None:
            app.notify("That thread no longer exists.", severity="warning", markup=False)
            await app.refresh_threads()
            return
        self.thread = thread
        self.show_thread_title()
        self.sidebar.select_thread(thread.id)
        conversation, shown = await self._conversation_for(thread)
        if shown and message_id is None:
            self.composer.questions = conversation.question_texts()
            conversation.schedule_virtualize()  # the pane may have changed size meanwhile
            app.refresh_status()
            return
        if message_id is None:
            messages, has_older = await app.service.load_page(thread_id, FIRST_PAGE)
        else:
            everything, _ = await app.service.load_page(thread_id, 1_000_000)
            start = next((i for i, m in enumerate(everything) if m.id >= message_id), 0)
            start = max(0, start - 1)
            messages, has_older = everything[start:], start > 0
        live = app.live_for(thread.id)
        await conversation.show_thread(thread.id, messages, has_older=has_older, live=live)
        self.composer.questions = [m.content for m in messages if m.role == "user"]
        if message_id is not None:
            self._reveal_message(message_id)
        app.refresh_status()

    async def forget_thread(self, thread_id: int) -> None:
        """A deleted thread: its kept conversation goes (the one on screen is replaced by
        the caller)."""
        gone = [c for c in self._recent if c.thread_id == thread_id]
        self._recent = [c for c in self._recent if c not in gone]
        await self.query_one("#conversations", ContentSwitcher).remove_children(gone)

    def show_thread_title(self) -> None:
        thread = self.thread
        if thread is None:
            self.sub_title = "New thread"
        else:
            self.sub_title = thread.title + (" · ⚙ thread settings" if thread.overrides else "")

    def _reveal_message(self, message_id: int) -> None:
        conversation = self.conversation
        for view in conversation.children:
            if getattr(view, "message_id", None) == message_id:
                if isinstance(view, AnswerView):
                    conversation.select(view)
                conversation.release_anchor()
                self.call_after_refresh(conversation.scroll_to_widget, view, top=True,
                                        animate=False)
                return

    # ------------------------------------------------------------------ the app's view of it
    # What the app asks of the screen, named for what happens, not for the widget that
    # shows it: the app never reaches into the screen's widgets (tests/ui/test_boundary.py).

    def show_threads(self, threads: list[ThreadRecord], *, exhausted: bool) -> None:
        self.sidebar.show_threads(threads, exhausted=exhausted)

    def thread_title(self, thread_id: int) -> str | None:
        """The title the thread list shows for ``thread_id`` (None: not listed)."""
        return next((t.title for t in self.sidebar.threads if t.id == thread_id), None)

    def show_job(self, thread_id: int, status: str | None, started: float | None) -> None:
        self.sidebar.set_job(thread_id, status, started)

    def tick(self) -> None:
        """Once a second: running times of background jobs in the thread list."""
        # A query, not ``self.sidebar``: the clock may tick once more while the app is
        # closing and the screen's widgets are already gone.
        for sidebar in self.query(Sidebar):
            sidebar.refresh_jobs()

    async def question_saved(self, live: LiveAnswer, thread: ThreadRecord,
                             message: MessageRecord, *, from_composer: bool) -> None:
        """A question is stored: it leaves the composer, and when its thread is on screen
        (or none is yet) it shows there with its answer to come."""
        if from_composer:
            self.composer.clear_text()
        if self.thread_id is not None and self.thread_id != thread.id:
            return
        if self.thread_id is None:
            self.thread = thread
            self.sub_title = thread.title
            self.conversation.thread_id = thread.id
            self.sidebar.select_thread(thread.id)
        await self.conversation.add_question(message.content, message.id,
                                             [a.name for a in message.attachments])
        await self.conversation.add_live_answer(live)
        self.composer.questions.append(message.content)

    async def add_live_answer(self, live: LiveAnswer) -> None:
        await self.conversation.add_live_answer(live)

    def answer_views(self) -> list[AnswerView]:
        """The answers of the thread on screen, oldest first."""
        return self.conversation.answers()

    def last_question(self) -> QuestionView | None:
        return self.conversation.last_question()

    def selected_answer(self) -> AnswerView | None:
        """The answer the reader selected, or the last one."""
        answers = self.conversation.answers()
        return self.conversation.selected or (answers[-1] if answers else None)

    def select_answer(self, message_id: int | None) -> None:
        kept = next((v for v in self.answer_views() if v.message_id == message_id), None)
        if kept is not None:
            self.conversation.select(kept)

    def sources_changed(self, view: AnswerView, sources: list[Source]) -> None:
        """An answer's sources changed: the panel follows if that answer is selected."""
        if self.conversation.selected is view:
            self.citations.show_sources(sources)

    def toggle_reasoning(self) -> None:
        self.conversation.action_toggle_reasoning()

    def set_follow_streaming(self, follow: bool) -> None:
        if self.is_mounted:  # at start-up the screen applies it itself, once composed
            for conversation in self.query(Conversation):
                conversation.follow_streaming = follow

    def nearest_fence(self, view: AnswerView) -> int:
        """Which of the answer's code blocks is closest to the middle of the view."""
        body = view.body
        fences = body.fence_rows()
        if not fences:
            return 0
        region = self.conversation.region
        top = body.content_region.y
        middle = region.y + region.height // 2
        return min(range(len(fences)),
                   key=lambda i: abs(top + (fences[i][0] + fences[i][1]) // 2 - middle))

    @property
    def composer_text(self) -> str:
        return self.composer.text

    def edit_in_composer(self, text: str) -> None:
        self.composer.set_text(text)
        self.composer.focus()

    def focus_composer(self) -> None:
        if self.focused is not self.composer:
            self.composer.focus()

    def focus_thread_search(self) -> None:
        self.show_sidebar()
        self.sidebar.focus_filter()

    def show_attachments(self, attachments: list[Attachment]) -> None:
        widget = self.query_one("#attachments", Static)
        names = ", ".join(f"{clean_line(a.name)} ({a.size // 1024} KB)" for a in attachments)
        widget.update(Content("📎 " + names + "  (sent with the next question)")
                      if attachments else Content(""))
        widget.set_class(bool(attachments), "-shown")

    def show_status(self, **values: Any) -> None:
        if self.is_mounted:
            self.status.show(**values)

    # ------------------------------------------------------------------ widget messages

    @on(TextArea.Changed, "#composer")
    def _composer_changed(self, event: TextArea.Changed) -> None:
        self._composer_text = event.text_area.text

    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        await self.sonar.ask(event.text)

    @on(Sidebar.Opened)
    async def _opened(self, event: Sidebar.Opened) -> None:
        with self.sonar.store_errors("open that thread"):
            await self.open_thread(event.target.thread_id, event.target.message_id)
            self.close_drawer()  # on a narrow screen the thread is what the reader wants now
            if event.target.message_id is not None:
                self.conversation.focus()

    @on(Sidebar.SearchRequested)
    def _search(self, event: Sidebar.SearchRequested) -> None:
        self._run_search(event.query)

    @on(Sidebar.SearchSubmitted)
    def _search_submitted(self, event: Sidebar.SearchSubmitted) -> None:
        self._run_search(event.query, open_best=True)

    @work(exclusive=True, group="search")
    async def _run_search(self, query: str, open_best: bool = False) -> None:
        if not query.strip():
            await self.sonar.refresh_threads()
            return
        if not open_best:
            await asyncio.sleep(SEARCH_DEBOUNCE)  # typing: search once the user pauses
        hits = []
        with self.sonar.store_errors("search"):
            hits = await self.sonar.service.search(query)
            self.sidebar.show_hits(query, hits)
        if open_best:
            if hits:
                self.post_message(Sidebar.Opened(Target(hits[0].thread_id, hits[0].message_id)))
            else:
                self.sidebar.option_list.focus()

    @on(Sidebar.MoreRequested)
    async def _more(self, event: Sidebar.MoreRequested) -> None:
        with self.sonar.store_errors("list more threads"):
            threads = await self.sonar.service.list_threads(PAGE_SIZE, event.offset)
            self.sidebar.show_threads(threads, append=True, exhausted=len(threads) < PAGE_SIZE)

    @on(ThreadList.Action)
    async def _thread_action(self, event: ThreadList.Action) -> None:
        await self.sonar.thread_action(event.action, event.thread_id)

    @on(Conversation.AnswerSelected)
    def _answer_selected(self, event: Conversation.AnswerSelected) -> None:
        if event.conversation is not self.conversation:
            return  # a conversation kept hidden while its answer streams
        self.citations.show_sources(event.view.sources if event.view else [], keep_highlight=False)

    @on(Conversation.MarkerChosen)
    def _marker(self, event: Conversation.MarkerChosen) -> None:
        found = self.citations.highlight_number(event.number)
        if not found:
            self.app.notify(f"Source [{event.number}] is not in this answer's sources.",
                            severity="warning", markup=False)
            return
        if event.focus:
            if self.has_class("-citations-hidden"):
                self.toggle_sources()
            self.citations.source_list.focus()

    @on(SourceList.Back)
    def _back(self, event: SourceList.Back) -> None:
        self.conversation.focus()
        if event.number is not None:
            self.conversation.show_marker(event.number, focus=False)

    @on(CitationPanel.Chosen)
    def _source_chosen(self, event: CitationPanel.Chosen) -> None:
        self.sonar.open_link(event.source.url, event.source.title)

    @on(SourceList.CopyUrl)
    def _copy_url(self, event: SourceList.CopyUrl) -> None:
        self.sonar.copy_source_url(event.source)

    @on(CitationClicked)
    def _citation_clicked(self, event: CitationClicked) -> None:
        node = event.markdown
        while node is not None and not isinstance(node, AnswerView):
            node = node.parent
        if isinstance(node, AnswerView):
            self.conversation.select(node)
        self.conversation.show_marker(event.number, focus=False)

    @on(RelatedList.Ask)
    async def _related(self, event: RelatedList.Ask) -> None:
        # Back to the composer: the next thing typed is the next question, not a key of
        # the list or of the conversation.
        self.composer.focus()
        await self.sonar.ask(event.question, from_composer=False)

    @on(Conversation.TypedAhead)
    def _typed_ahead(self, event: Conversation.TypedAhead) -> None:
        composer = self.composer
        composer.focus()
        composer.insert(event.text)

    @on(LinkLines.Open)
    def _open_image(self, event: LinkLines.Open) -> None:
        self.sonar.open_link(event.url, "Image")

    @on(LinkClicked)
    def _link(self, event: LinkClicked) -> None:
        event.stop()
        self.sonar.open_link(event.href, "Link")

    @on(Conversation.LoadOlder)
    async def _older(self, event: Conversation.LoadOlder) -> None:
        if event.thread_id != self.thread_id:
            return
        page = None
        with self.sonar.store_errors("load the older messages"):
            page = await self.sonar.service.load_page(event.thread_id, OLDER_PAGE,
                                                      event.before_id)
        if page is None:  # could not be read (and was reported)
            return
        messages, has_older = page
        await self.conversation.prepend_older(messages, has_older=has_older)
        self.composer.questions = [m.content for m in messages if m.role == "user"] \
            + self.composer.questions


def _state_of(thread: ThreadRecord) -> tuple[float, int]:
    """What changes whenever a thread's messages do."""
    return thread.updated_at, thread.message_count

