"""The citation panel: the selected answer's numbered sources."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from sonar_tui.ui.bindings import bindings_for
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sonar_tui.api.events import Source
from sonar_tui.sanitize import clean_line, url_domain

SNIPPET_CHARS = 160


def short_url(url: str, limit: int = 34) -> str:
    """A URL without its scheme and "www.", cut to ``limit`` characters."""
    text = clean_line(url)
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    if text.startswith("www."):
        text = text[4:]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hang(content: Content, width: int, indent: int, first: Content | None = None) -> list[Content]:
    """Wrap ``content`` to ``width`` with every line indented (or led by ``first``)."""
    lead = first if first is not None else Content(" " * indent)
    lines = content.wrap(max(8, width - indent)) or [Content("")]
    return [(lead if i == 0 else Content(" " * indent)) + line for i, line in enumerate(lines)]


def source_prompt(source: Source, width: int = 40) -> Content:
    """Number and title, then domain · date, then a short snippet, each with a hanging indent
    (pre-wrapped: an OptionList prompt would wrap back to column 0). Remote text is never
    markup."""
    label = f"[{source.number}] "
    number = Content(label).stylize("bold $citation-marker")
    # The 2026 wire sends bare citation URLs while streaming and titles only at the end.
    title = Content(clean_line(source.title) or short_url(source.url)
                    or "Untitled").stylize("bold")
    lines = _hang(title, width, len(label), first=number)
    domain = url_domain(source.url)
    meta_parts = [domain or "(unsafe link)"]
    date = source.date or source.last_updated
    if date:
        meta_parts.append(clean_line(str(date)))
    lines += _hang(Content(" · ".join(meta_parts)).stylize("$source-domain"), width, len(label))
    snippet = clean_line(source.snippet or "")
    if snippet:
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1].rstrip() + "…"
        lines += _hang(Content(snippet).stylize("$foreground-muted"), width, len(label))
    return Content("\n").join(lines)


class SourceList(OptionList):
    BINDINGS = bindings_for("sources")

    class CopyUrl(Message):
        def __init__(self, source: Source) -> None:
            super().__init__()
            self.source = source

    class Back(Message):
        def __init__(self, number: int | None) -> None:
            super().__init__()
            self.number = number

    def _source(self) -> Source | None:
        option = self.highlighted_option
        return option.source if isinstance(option, SourceOption) else None

    def action_copy_url(self) -> None:
        source = self._source()
        if source is not None:
            self.post_message(self.CopyUrl(source))

    def action_back(self) -> None:
        source = self._source()
        self.post_message(self.Back(source.number if source else None))


class SourceOption(Option):
    def __init__(self, source: Source, width: int) -> None:
        super().__init__(source_prompt(source, width), id=f"s{source.number}")
        self.source = source


class CitationPanel(Vertical):
    DEFAULT_CSS = """
    CitationPanel {
        height: 1fr;
        border-left: vkey $border-blurred;
        & > #sources-title { height: 1; padding: 0 1; color: $text-muted; }
        & > SourceList { height: 1fr; border: none; padding: 0; }
    }
    """

    class Chosen(Message):
        """Enter on a source: open it (or show it, over SSH)."""

        def __init__(self, source: Source) -> None:
            super().__init__()
            self.source = source

    class Highlighted(Message):
        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sources: list[Source] = []
        self._rendered_width = 0

    def compose(self) -> ComposeResult:
        yield Static("Sources", id="sources-title")
        yield SourceList(id="source-list")

    @property
    def source_list(self) -> SourceList:
        return self.query_one(SourceList)

    def _prompt_width(self) -> int:
        # The list's width less its scrollbar; before the first layout, a sensible guess.
        return max(16, (self.size.width or 42) - 3)

    def on_resize(self) -> None:
        if self.sources and self._rendered_width != self._prompt_width():
            sources, self.sources = self.sources, []
            self.show_sources(sources)

    def show_sources(self, sources: list[Source], *, keep_highlight: bool = True) -> None:
        if sources == self.sources:
            return
        previous = self.source_list.highlighted if keep_highlight else None
        self.sources = list(sources)
        title = f"Sources ({len(sources)})" if sources else "Sources"
        self.query_one("#sources-title", Static).update(title)
        width = self._rendered_width = self._prompt_width()
        options: list[Option] = [SourceOption(source, width) for source in sources]
        if not options:
            options = [Option(Content("No sources for this answer.").stylize("$foreground-muted"),
                              disabled=True)]
        self.source_list.set_options(options)
        if sources and previous is not None and previous < len(sources):
            self.source_list.highlighted = previous

    def highlight_number(self, number: int) -> bool:
        try:
            self.source_list.highlighted = self.source_list.get_option_index(f"s{number}")
        except Exception:
            return False
        self.source_list.scroll_to_highlight()
        return True

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if isinstance(event.option, SourceOption):
            event.stop()
            self.post_message(self.Chosen(event.option.source))
