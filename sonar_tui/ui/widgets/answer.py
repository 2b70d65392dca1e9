"""One question and one answer as they appear in the conversation."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.events import Click
from textual.message import Message
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Collapsible, OptionList, Static
from textual.widgets.option_list import Option

from sonar_tui.api.events import Image, ReasoningStep, Source
from sonar_tui.references import missing_sources_note
from sonar_tui.sanitize import clean_line, clean_text, safe_url, url_domain
from sonar_tui.store.models import MessageRecord
from sonar_tui.ui.format import format_cost, format_tokens, plural
from sonar_tui.ui.live import LiveAnswer
from sonar_tui.ui.widgets.markdown import MARKER_RE
from sonar_tui.ui.widgets.stream import GrowsInOnePass, StreamingMarkdown

URL_META = "sonar-url"
STATUS_LABELS = {
    "waiting": ("● waiting for the first byte…", "$streaming-indicator"),
    "streaming": ("● streaming", "$streaming-indicator"),
    "background": ("◷ background job", "$streaming-indicator"),
    "cancelled": ("⊘ stopped — partial answer kept", "$text-warning"),
    "interrupted": ("⚠ interrupted — partial answer kept", "$text-warning"),
    "error": ("✖ failed", "$text-error"),
}


def step_content(step: ReasoningStep) -> Content:
    """A reasoning step as a few lines: what was done, with which inputs, and what came back."""
    kind = step.kind or "step"
    label = {"web_search": "Search", "fetch_url_content": "Read", "image_search": "Images",
             "execute_python": "Python", "skill": "Skill"}.get(
                 kind, clean_line(kind).replace("_", " ").title())
    lines = [Content(f"▸ {label}").stylize("bold $text-secondary")]
    thought = clean_line(step.thought)
    if thought:
        lines[0] += Content("  " + thought).stylize("italic $foreground-muted")
    keywords = [clean_line(k) for k in step.keywords if k]
    if keywords:
        lines.append(Content("   " + " · ".join(f"“{k}”" for k in keywords)))
    for result in step.results[:6]:
        title = clean_line(result.title) or "Untitled"
        domain = url_domain(result.url)
        lines.append(Content("   – ") + Content(title) +
                     Content(f"  {domain}").stylize("$source-domain"))
    extra = len(step.results) - 6
    if extra > 0:
        lines.append(Content(f"   … and {extra} more").stylize("$foreground-muted"))
    for url in step.urls[:6]:
        lines.append(Content("   – " + (url_domain(url) or clean_line(url)))
                     .stylize("$source-domain"))
    code = clean_text(step.code).strip("\n")
    if code:
        lines.extend(Content("   │ " + line).stylize("$text-secondary")
                     for line in code.splitlines()[:12])
    output = clean_text(step.output).strip("\n")
    if output:
        lines.extend(Content("   ⇒ " + line) for line in output.splitlines()[:6])
    return Content("\n").join(lines)


class ReasoningBlock(Collapsible):
    """<think> text and research steps: open while the model thinks, folded once it answers."""

    DEFAULT_CSS = """
    ReasoningBlock {
        background: $reasoning-background;
        color: $reasoning-foreground;
        border-top: none;
        padding: 0;
        margin: 0 0 1 0;
        & > Contents { padding: 0 1 0 2; }
        & #steps { margin: 0 0 1 0; }
    }
    """

    def __init__(self, *, collapsed: bool, streaming: bool, reasoning: str = "",
                 steps: list[ReasoningStep] | None = None) -> None:
        self._steps = list(steps or [])
        self._reasoning_text = reasoning
        self._streaming = streaming
        self.auto_collapse = streaming  # folded by itself when the answer starts
        super().__init__(
            Static(self._steps_content(), id="steps"),
            StreamingMarkdown(reasoning, streaming=streaming, id="thinking"),
            title=self._make_title(), collapsed=collapsed)

    def _make_title(self) -> str:
        parts = ["Reasoning"]
        if self._steps:
            parts.append(plural(len(self._steps), "step"))
        return " · ".join(parts)

    def _steps_content(self) -> Content:
        return Content("\n").join(step_content(step) for step in self._steps)

    @property
    def thinking(self) -> StreamingMarkdown:
        return self.query_one("#thinking", StreamingMarkdown)

    def set_steps(self, steps: list[ReasoningStep]) -> None:
        self._steps = list(steps)
        self.title = self._make_title()
        self.query_one("#steps", Static).update(self._steps_content())

    def on_collapsible_toggled(self, event: Collapsible.Toggled) -> None:
        self.auto_collapse = False  # the user decided; leave it as they set it


class RelatedList(OptionList):
    DEFAULT_CSS = """
    RelatedList { height: auto; max-height: 8; border: none; padding: 0; margin: 0 0 1 0; }
    """

    class Ask(Message):
        def __init__(self, question: str) -> None:
            super().__init__()
            self.question = question

    def allow_focus(self) -> bool:
        # Only the newest answer's list is a tab stop: tabbing into an old answer's list
        # scrolled the conversation far away from where the reader was.
        answer = self.parent
        if not isinstance(answer, AnswerView) or answer.parent is None:
            return super().allow_focus()
        for sibling in reversed(answer.parent.children):
            if isinstance(sibling, AnswerView):
                return sibling is answer and super().allow_focus()
        return False

    @on(OptionList.OptionSelected)
    def _ask(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Ask(str(event.option.prompt)))


class LinkLines(Static):
    """Lines of links (returned images); a click opens one through the app's URL policy."""

    class Open(Message):
        def __init__(self, url: str) -> None:
            super().__init__()
            self.url = url

    def on_click(self, event: Click) -> None:
        url = event.style.meta.get(URL_META)
        if url:
            event.stop()
            self.post_message(self.Open(url))


def images_content(images: list[Image]) -> Content:
    lines = [Content("Images").stylize("bold $foreground-muted")]
    for index, image in enumerate(images, 1):
        url = safe_url(image.url)
        title = clean_line(image.title or "") or url_domain(image.origin_url or "") or "image"
        size = ""
        if image.width and image.height:
            size = f" ({image.width}×{image.height})"
        line = Content(f"{index}. ") + Content(title + size)
        if url:
            line += Content("  " + url_domain(url)).stylize("$source-domain")
            line = line.stylize(Style.from_meta({URL_META: url}))
        else:
            line += Content("  (unsafe link, not opened)").stylize("$foreground-muted")
        lines.append(line)
    return Content("\n").join(lines)


def error_content(error: dict[str, Any] | None, retry_note: str = "") -> Content:
    error = error or {}
    title = clean_line(error.get("title") or "") or "The answer failed"
    status = error.get("status")
    head = Content(f"✖ {title}" + (f" (HTTP {status})" if status else "")).stylize(
        "bold $text-error")
    lines = [head]
    message = clean_text(error.get("message") or "").strip()
    if message:
        lines.append(Content(message))
    hint = clean_line(error.get("hint") or "")
    if hint:
        lines.append(Content(hint).stylize("$foreground-muted"))
    lines.append(Content(retry_note or "Press ctrl+r to retry.").stylize("$text-accent"))
    return Content("\n").join(lines)


class QuestionView(Vertical):
    DEFAULT_CSS = """
    QuestionView {
        height: auto;
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: thick $primary;
        background: $boost;
        & > .who { color: $text-primary; text-style: bold; height: 1; }
        & > StreamingMarkdown { padding: 0; }
    }
    """

    def __init__(self, text: str, *, message_id: int | None = None,
                 attachments: list[str] | None = None) -> None:
        super().__init__()
        self.text = text
        self.message_id = message_id
        self.attachments = attachments or []

    def compose(self) -> ComposeResult:
        yield Static("You", classes="who")
        yield StreamingMarkdown(self.text)
        if self.attachments:
            yield Static(Content("📎 " + ", ".join(clean_line(a) for a in self.attachments))
                         .stylize("$foreground-muted"))


class AnswerRail(GrowsInOnePass, Widget):
    """The bar down an answer's left side. A border would be drawn again, row by row, on
    every frame the streaming answer grows; a BLANK widget of one colour costs nothing."""

    BLANK = True
    DEFAULT_CSS = """
    AnswerRail { dock: left; width: 1; height: 100%; background: $panel; }
    """


class AnswerView(GrowsInOnePass, Vertical):
    """An answer: header, reasoning, body, error, related questions, images."""

    BLANK = True  # a container: its rows are its children's (and its rail's)
    DEFAULT_CSS = """
    AnswerView {
        height: auto;
        margin: 1 0 0 0;
        padding: 0 1 0 0;
        &.-selected > AnswerRail { background: $accent; }
        /* One column between the rail and the content, as a border and padding gave. */
        & > #answer-header { height: auto; color: $text-muted; margin: 0 0 0 1; }
        & > #notice { height: 1; color: $text-warning; margin: 0 0 0 1; }
        & > ReasoningBlock { margin: 0 0 1 1; }
        & > #body { margin: 0 0 0 1; }
        & > #error { color: $text; background: $error 12%; padding: 0 1; margin: 1 0 0 1; }
        & > #no-sources { color: $text-warning; height: auto; margin: 0 0 0 1; }
        & > #images { margin: 1 0 0 1; }
        & > #related-title { color: $text-muted; text-style: bold; margin: 1 0 0 1; }
        & > RelatedList { margin: 0 0 1 1; }
    }
    """

    def __init__(self, *, message_id: int | None, text: str = "", reasoning: str = "",
                 steps: list[ReasoningStep] | None = None, sources: list[Source] | None = None,
                 related: list[str] | None = None, images: list[Image] | None = None,
                 usage: dict | None = None, cost: float | None = None, model: str = "",
                 api: str = "", status: str = "complete", error: dict | None = None,
                 live: LiveAnswer | None = None) -> None:
        super().__init__()
        self.message_id = message_id
        self._initial_text = text
        self._reasoning = reasoning
        self.steps = list(steps or [])
        self.sources = list(sources or [])
        self.related = list(related or [])
        self.images = list(images or [])
        self.usage = usage
        self.cost = cost
        self.model = model
        self.api = api
        self.status = status
        self.error = error
        self.live = live
        self.retry_note = ""
        self._ready = False  # composed and mounted: children can be updated
        self._reasoning_block: ReasoningBlock | None = None
        self._body: StreamingMarkdown | None = None
        self._shown_text = 0
        self._shown_reasoning = 0

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_record(cls, record: MessageRecord) -> AnswerView:
        # The store keeps these as dicts (it never imports the API): typed from here on.
        return cls(message_id=record.id, text=record.content, reasoning=record.reasoning,
                   steps=[ReasoningStep.from_dict(s) for s in record.steps],
                   sources=[Source.from_dict(s) for s in record.sources],
                   related=record.related,
                   images=[Image.from_dict(i) for i in record.images],
                   usage=record.usage, cost=record.cost,
                   model=record.model or "", api=record.api or "", status=record.status,
                   error=record.error)

    @classmethod
    def from_live(cls, live: LiveAnswer) -> AnswerView:
        view = cls(message_id=live.message_id, text=live.full_text, reasoning=live.full_reasoning,
                   steps=live.steps, sources=live.sources, related=live.related,
                   images=live.images, usage=live.usage, model=live.model, api=live.api,
                   status=live.status, error=live.error, live=live)
        live.view = view
        return view

    @property
    def streaming(self) -> bool:
        return self.status in ("waiting", "streaming", "background")

    def compose(self) -> ComposeResult:
        live = self.live
        if live is not None:  # take the answer as it stands now; on_mount catches up the rest
            self._initial_text, self._reasoning = live.full_text, live.full_reasoning
            self.steps, self.sources = list(live.steps), list(live.sources)
            self.status = live.status
        self._shown_text = len(self._initial_text)
        self._shown_reasoning = len(self._reasoning)
        yield AnswerRail()
        yield Static(self._header(), id="answer-header")
        if self._reasoning or self.steps:
            yield self._make_reasoning(collapsed=not self.streaming or bool(self._initial_text))
        yield StreamingMarkdown(self._initial_text, streaming=self.streaming, id="body")
        note = None if self.streaming else missing_sources_note(self._initial_text, self.sources)
        if note:
            yield Static(Content(note), id="no-sources")
        if self.error:
            yield Static(error_content(self.error, self.retry_note), id="error")
        yield from self._extras()

    def _make_reasoning(self, collapsed: bool) -> ReasoningBlock:
        return ReasoningBlock(collapsed=collapsed, streaming=self.streaming,
                              reasoning=self._reasoning, steps=self.steps)

    def _extras(self) -> ComposeResult:
        if self.related:
            yield Static("Related questions", id="related-title")
            yield RelatedList(*[Option(clean_line(q), id=f"q{i}")
                                for i, q in enumerate(self.related)], id="related")
        if self.images:
            yield LinkLines(images_content(self.images), id="images")

    def _header(self) -> Content:
        parts = [Content("Answer").stylize("bold $text-primary")]
        if self.model:
            parts.append(Content(clean_line(self.model)))
        if self.api:
            parts.append(Content("Agent API" if self.api == "agent" else "Sonar API"))
        if self.sources:
            parts.append(Content(plural(len(self.sources), "source")))
        if self.usage:
            tokens = self.usage.get("total_tokens") or 0
            if tokens:
                parts.append(Content(f"{format_tokens(tokens)} tok"))
        cost = self.cost if self.cost is not None else (self.usage or {}).get("cost")
        if cost is not None:
            parts.append(Content(format_cost(cost)))
        label = STATUS_LABELS.get(self.status)
        if label:
            parts.append(Content(label[0]).stylize(label[1]))
        return Content(" · ").join(parts)

    def refresh_header(self) -> None:
        if self.is_mounted:
            self.query_one("#answer-header", Static).update(self._header())

    # ------------------------------------------------------------------ live updates

    @property
    def body(self) -> StreamingMarkdown:
        if self._body is None or not self._body.is_attached:
            self._body = self.query_one("#body", StreamingMarkdown)
        return self._body

    @property
    def reasoning_block(self) -> ReasoningBlock | None:
        # Kept, not queried: add_text asks for it on every token.
        if self._reasoning_block is None or not self._reasoning_block.is_attached:
            blocks = self.query_children(ReasoningBlock)
            self._reasoning_block = blocks.first() if blocks else None
        return self._reasoning_block

    async def on_mount(self) -> None:
        self._ready = True
        live = self.live
        if live is None:
            return
        # Deltas that arrived between compose and mount were only kept in the LiveAnswer.
        reasoning = live.full_reasoning
        if len(reasoning) > self._shown_reasoning:
            await self.add_reasoning(reasoning[self._shown_reasoning:])
        if live.steps != self.steps:
            await self.set_steps(live.steps)
        text = live.full_text
        if len(text) > self._shown_text:
            self.add_text(text[self._shown_text:])

    def add_text(self, text: str) -> None:
        if not self._ready:
            return  # on_mount catches up from the LiveAnswer
        self._shown_text += len(text)
        self.body.write(text)
        block = self.reasoning_block
        if block is not None and block.auto_collapse and not block.collapsed:
            block.collapsed = True
            block.auto_collapse = False

    async def add_reasoning(self, text: str) -> None:
        if not self._ready:
            return
        self._shown_reasoning += len(text)
        block = self.reasoning_block
        if block is None:
            block = self._make_reasoning(collapsed=False)
            await self.mount(block, before=self.body)
        block.thinking.write(text)

    async def set_steps(self, steps: list[ReasoningStep]) -> None:
        if not self._ready:
            return
        self.steps = list(steps)
        block = self.reasoning_block
        if block is None:
            block = self._make_reasoning(collapsed=False)
            await self.mount(block, before=self.body)
        else:
            block.set_steps(self.steps)

    def set_sources(self, sources: list[Source]) -> None:
        self.sources = list(sources)
        self.refresh_header()

    def set_meta(self, *, model: str | None = None, api: str | None = None,
                 usage: dict | None = None, status: str | None = None) -> None:
        if model:
            self.model = model
        if api:
            self.api = api
        if usage is not None:
            self.usage = usage
        if status:
            self.status = status
        self.refresh_header()

    async def show_error(self, error: dict | None, retry_note: str = "") -> None:
        self.error = error
        self.retry_note = retry_note
        existing = self.query_children("#error")
        if error is None:
            await existing.remove()
        elif existing:
            existing.first(Static).update(error_content(error, retry_note))
        else:
            await self.mount(Static(error_content(error, retry_note), id="error"))

    async def finish(self, *, text: str | None, related: list[str], images: list[Image],
                     status: str, error: dict | None, usage: dict | None,
                     cost: float | None, model: str, api: str, message_id: int | None) -> None:
        """The stream ended: final render, then what only comes at the end."""
        if text is not None and text != self.body.source:
            await self.body.replace(text)
        else:
            await self.body.finish()
        block = self.reasoning_block
        if block is not None:
            await block.thinking.finish()
            if block.auto_collapse and self.body.source:
                block.collapsed = True
        self.message_id = message_id
        self.related, self.images = list(related), list(images)
        self.cost = cost
        self.set_meta(model=model, api=api, usage=usage, status=status)
        note = missing_sources_note(self.body.source, self.sources)
        if note and not self.query_children("#no-sources"):
            await self.mount(Static(Content(note), id="no-sources"), after=self.body)
        if error is not None or status == "error":
            await self.show_error(error)
        if self.related or self.images:
            await self.mount_all(list(self._extras()))

    def cited_numbers(self) -> list[int]:
        """Citation numbers in order of first appearance in the answer."""
        seen: dict[int, None] = {}
        for match in MARKER_RE.finditer(self.body.source):
            seen.setdefault(int(match.group(1)), None)
        return list(seen)

    async def set_notice(self, text: str) -> None:
        """A transient line under the header (e.g. a retry countdown); "" removes it."""
        existing = self.query_children("#notice")
        if not text:
            await existing.remove()
        elif existing:
            existing.first(Static).update(Content(text))
        else:
            await self.mount(Static(Content(text), id="notice"),
                             after=self.query_one("#answer-header"))

    def on_unmount(self) -> None:
        # Leaving the screen (thread switch) detaches the view; the answer keeps streaming.
        if self.live is not None and self.live.view is self:
            self.live.view = None
