"""Markdown for answers: Textual's own widget, with fewer widgets per block and live markers.

Widget count is what makes long answers slow in Textual (every widget costs CSS matching,
layout and compositing). Textual's stock ``Markdown`` builds a widget per table cell and four
per list item: a 30 KB answer became 1,680 widgets and took 2.9 s to render on the team's
2-core machine. The block classes here render a whole table, a whole simple list and a code
fence as ONE widget each, through Markdown's own ``BLOCKS`` extension point, so parsing,
streaming (``Markdown.get_stream``) and links behave exactly as upstream. ``[n]`` citation
markers in text are styled (theme variable ``$citation-marker``) and clickable.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.content import Content, Span
from textual.events import Click
from textual.message import Message
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widgets import Markdown

from sonar_tui.sanitize import clean_text, safe_url
from textual.widgets._markdown import (
    MarkdownBlock,
    MarkdownBulletList,
    MarkdownFence,
    MarkdownH1,
    MarkdownH2,
    MarkdownH3,
    MarkdownH4,
    MarkdownH5,
    MarkdownH6,
    MarkdownListItem,
    MarkdownOrderedList,
    MarkdownParagraph,
    MarkdownTable,
    MarkdownTD,
    MarkdownTH,
)

MARKER_RE = re.compile(r"\[(\d{1,3})\]")
CITE_META = "sonar-cite"


class CitationClicked(Message):
    """A ``[n]`` marker in an answer was clicked."""

    def __init__(self, markdown: Markdown | None, number: int) -> None:
        super().__init__()
        self.markdown = markdown
        self.number = number


def mark_citations(content: Content, current: int | None = None) -> Content:
    """Style ``[n]`` markers (outside inline code) and make them clickable."""
    plain = content.plain
    if "[" not in plain:
        return content
    code_ranges = [(s.start, s.end) for s in content.spans if s.style == ".code_inline"]
    spans: list[Span] = []
    for match in MARKER_RE.finditer(plain):
        start, end = match.span()
        if any(cs <= start < ce for cs, ce in code_ranges):
            continue
        number = int(match.group(1))
        # A plain meta key, not "@click": Textual restyles @click spans as links, which
        # would override the marker colour. Clicks are read back in _CitationMarkers.
        spans.append(Span(start, end, Style.from_meta({CITE_META: number})))
        spans.append(Span(start, end, ".citation-marker"))
        if number == current:
            spans.append(Span(start, end, ".citation-marker--current"))
    return content.add_spans(spans) if spans else content


_LINK_ACTION_RE = re.compile(r"^link\((.*)\)$", re.S)


def _link_href(style: object) -> str | None:
    meta = getattr(style, "meta", None) or {}
    action = meta.get("@click") if isinstance(meta, dict) else None
    if not isinstance(action, str):
        return None
    match = _LINK_ACTION_RE.match(action)
    if not match:
        return None
    try:
        href = ast.literal_eval(match.group(1))  # Textual wrote it with repr()
    except (ValueError, SyntaxError):
        return ""
    return href if isinstance(href, str) else ""


def drop_unsafe_links(content: Content) -> Content:
    """Links whose target is not http(s) become plain text: no underline, nothing to click."""
    spans = [span for span in content.spans
             if (href := _link_href(span.style)) is None or safe_url(href) is not None]
    if len(spans) == len(content.spans):
        return content
    return Content(content.plain, spans)


def restyle_current(content: Content, current: int | None) -> Content:
    """The same content with only ``[current]`` markers carrying the "current" style."""
    spans = [span for span in content.spans if span.style != ".citation-marker--current"]
    if current is not None:
        target = f"[{current}]"
        plain = content.plain
        spans.extend(Span(span.start, span.end, ".citation-marker--current")
                     for span in content.spans
                     if span.style == ".citation-marker" and plain[span.start:span.end] == target)
    return Content(content.plain, spans)


def _contains_marker(content: Content, number: int | None) -> bool:
    return number is not None and f"[{number}]" in content.plain


class _CitationMarkers:
    """Mixin for blocks whose inline text may carry ``[n]`` markers."""

    def _token_to_content(self, token) -> Content:  # type: ignore[override]
        content = super()._token_to_content(token)  # type: ignore[misc]
        return mark_citations(drop_unsafe_links(content))

    def on_click(self, event: Click) -> None:
        number = event.style.meta.get(CITE_META)
        if number is not None:
            event.stop()
            markdown = self.query_ancestor(Markdown)  # type: ignore[attr-defined]
            self.post_message(CitationClicked(markdown, int(number)))  # type: ignore[attr-defined]


class AnswerParagraph(_CitationMarkers, MarkdownParagraph):
    pass


# Headings get the same treatment: a hostile "# [x](javascript:…)" must not become a link.
class AnswerH1(_CitationMarkers, MarkdownH1):
    pass


class AnswerH2(_CitationMarkers, MarkdownH2):
    pass


class AnswerH3(_CitationMarkers, MarkdownH3):
    pass


class AnswerH4(_CitationMarkers, MarkdownH4):
    pass


class AnswerH5(_CitationMarkers, MarkdownH5):
    pass


class AnswerH6(_CitationMarkers, MarkdownH6):
    pass


class AnswerTH(_CitationMarkers, MarkdownTH):
    pass


class AnswerTD(_CitationMarkers, MarkdownTD):
    pass


# ----------------------------------------------------------------------------- tables


class CompactTable(MarkdownTable):
    """A whole table as one widget, drawn with box characters (upstream: a widget per cell)."""

    DEFAULT_CSS = """
    CompactTable {
        width: 1fr;
        height: auto;
        margin: 0 0 1 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        overflow-x: hidden;
    }
    """

    def compose(self) -> ComposeResult:
        return ()

    def on_mount(self) -> None:
        self._refresh_table()

    def _refresh_table(self) -> None:
        headers, rows = self._get_headers_and_rows()
        self.update(render_table(headers, rows))

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        if isinstance(block, MarkdownTable):
            # Streaming: the table grew by a row; rebuild this one widget in place.
            self._blocks = block._blocks
            self._token = block._token
            self._refresh_table()
            return
        await MarkdownBlock._update_from_block(self, block)


def render_table(headers: list[Content], rows: list[list[Content]]) -> Content:
    columns = max([len(headers), *(len(row) for row in rows)], default=0)
    if not columns:
        return Content("")
    widths = [1] * columns
    for row in (headers, *rows):
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], cell_len(cell.plain))
    blank = Content("")

    def line(row: list[Content], style: str | None) -> Content:
        cells = []
        for index in range(columns):
            cell = row[index] if index < len(row) else blank
            if style:
                cell = cell.stylize(style)
            cells.append(Content(" ") + cell + Content(" " * (widths[index] - cell_len(cell.plain) + 1)))
        return Content.styled("│", "$foreground 30%").join(cells)

    rule = Content("┼".join("─" * (width + 2) for width in widths)).stylize("$foreground 30%")
    out = [line(headers, "bold $text-primary"), rule]
    out.extend(line(row, None) for row in rows)
    return Content("\n").join(out)


# ----------------------------------------------------------------------------- lists


class HangingList(Visual):
    """List items with their bullets, wrapped with a hanging indent, as one Visual."""

    def __init__(self, items: list[tuple[str, Content]], bullet_style: str) -> None:
        self.items = items
        self.bullet_style = bullet_style
        self.indent = max((cell_len(bullet) for bullet, _ in items), default=0)

    def get_optimal_width(self, rules, container_width: int) -> int:
        return max((self.indent + cell_len(text.plain) for _, text in self.items), default=0)

    def get_height(self, rules, width: int) -> int:
        text_width = max(1, width - self.indent)
        return sum(len(text.wrap(text_width)) or 1 for _, text in self.items)

    def render_strips(self, width: int, height: int | None, style: Style,
                      options: RenderOptions) -> list[Strip]:
        text_width = max(1, width - self.indent)
        strips: list[Strip] = []
        get_style = options.get_style
        bullet_style = get_style(self.bullet_style) if get_style else Style()
        plain_options = RenderOptions(get_style, options.rules)
        for bullet, text in self.items:
            lines = text.render_strips(text_width, None, style, plain_options) or [Strip([])]
            for index, strip in enumerate(lines):
                lead = bullet.rjust(self.indent) if index == 0 else " " * self.indent
                lead_strip = Content(lead).render_strips(self.indent, 1, style + bullet_style,
                                                         plain_options)
                strips.append(Strip.join(
                    [*lead_strip, strip.extend_cell_length(text_width, style.rich_style)]))
        if height is not None:
            strips = strips[:height]
        return strips


def _is_simple(items: Iterable[MarkdownBlock]) -> bool:
    """Items holding one paragraph each can be drawn as a single widget."""
    return all(
        isinstance(item, MarkdownListItem)
        and len(item._blocks) == 1
        and isinstance(item._blocks[0], MarkdownParagraph)
        for item in items
    )


class _CompactList:
    """Mixin: a simple list is one widget; anything nested falls back to upstream's layout."""

    DEFAULT_CSS = """
    CompactBulletList, CompactOrderedList { height: auto; }
    """

    def _list_items(self) -> list[tuple[str, Content]]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        blocks = self._blocks  # type: ignore[attr-defined]
        if blocks and _is_simple(blocks):
            self._compact_items = self._list_items()
            self._blocks = []  # type: ignore[attr-defined]
            return ()
        self._compact_items = None
        return super().compose()  # type: ignore[misc]

    def on_mount(self) -> None:
        if self._compact_items is not None:
            self.update(HangingList(self._compact_items, ".list-bullet"))  # type: ignore[attr-defined]

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        if (type(block) is type(self) and self._compact_items is not None
                and block._blocks and _is_simple(block._blocks)):
            block.compose()  # turns its items into _compact_items without mounting anything
            self._compact_items = block._compact_items  # type: ignore[attr-defined]
            self._token = block._token  # type: ignore[attr-defined]
            self.update(HangingList(self._compact_items, ".list-bullet"))  # type: ignore[attr-defined]
            return
        await super()._update_from_block(block)  # type: ignore[misc]


class CompactBulletList(_CompactList, MarkdownBulletList):
    COMPONENT_CLASSES = MarkdownBulletList.COMPONENT_CLASSES | {"list-bullet"}
    DEFAULT_CSS = """
    CompactBulletList > .list-bullet { color: $text-primary; }
    """

    def _list_items(self) -> list[tuple[str, Content]]:
        return [(item.bullet, item._blocks[0]._content) for item in self._blocks]


class CompactOrderedList(_CompactList, MarkdownOrderedList):
    COMPONENT_CLASSES = MarkdownOrderedList.COMPONENT_CLASSES | {"list-bullet"}
    DEFAULT_CSS = """
    CompactOrderedList > .list-bullet { color: $text-primary; }
    """

    def _list_items(self) -> list[tuple[str, Content]]:
        try:
            start = int(self._blocks[0].bullet)
        except (ValueError, IndexError):
            start = 1
        return [(f"{number}. ", item._blocks[0]._content)
                for number, item in enumerate(self._blocks, start)]


# ----------------------------------------------------------------------------- code fences


class CompactFence(MarkdownFence):
    """A code fence without the inner Label upstream adds (one widget instead of two).

    A fence without a language is shown as plain text: asking Pygments to guess one imports
    every lexer the first time (~160 ms) and guesses wrong on prose-like text.
    """

    @classmethod
    def highlight(cls, code: str, language: str, ansi: bool = False,
                  dark: bool = False) -> Content:
        return super().highlight(code, language.strip() or "text", ansi=ansi, dark=dark)

    DEFAULT_CSS = """
    CompactFence {
        padding: 1 2;
        overflow-x: auto;
    }
    CompactFence:ansi { padding: 1 0; }
    """

    def compose(self) -> ComposeResult:
        return ()

    def on_mount(self) -> None:
        self.update(self._highlighted_code)

    def set_content(self, content: Content) -> None:
        self._content = content
        self.update(content)


# ----------------------------------------------------------------------------- the widget


def _descendant_blocks(block: MarkdownBlock) -> Iterable[MarkdownBlock]:
    for child in block._blocks:
        yield child
        yield from _descendant_blocks(child)


class AnswerMarkdown(Markdown):
    """Markdown for answers and questions: compact blocks, styled ``[n]`` markers."""

    COMPONENT_CLASSES = {"citation-marker", "citation-marker--current"}
    DEFAULT_CSS = """
    AnswerMarkdown {
        padding: 0 1;
        & > .citation-marker { color: $citation-marker; text-style: bold; }
        /* Inside Content spans Textual applies neither "reverse" nor an opaque component
           background, so the current marker is marked by colour and underline. */
        & > .citation-marker--current { color: $warning; text-style: bold underline; }
    }
    """

    BLOCKS = {
        **Markdown.BLOCKS,
        "paragraph_open": AnswerParagraph,
        "h1": AnswerH1,
        "h2": AnswerH2,
        "h3": AnswerH3,
        "h4": AnswerH4,
        "h5": AnswerH5,
        "h6": AnswerH6,
        "th_open": AnswerTH,
        "td_open": AnswerTD,
        "table_open": CompactTable,
        "bullet_list_open": CompactBulletList,
        "ordered_list_open": CompactOrderedList,
        "fence": CompactFence,
        "code_block": CompactFence,
    }

    def __init__(self, markdown: str | None = None, **kwargs) -> None:
        # Links are routed through the app (only http(s), SSH-aware), never opened directly.
        super().__init__(clean_text(markdown) if markdown else markdown, open_links=False,
                         **kwargs)

    # Whatever a caller passes (stored answers, typed questions, streamed fragments), no
    # control sequence reaches the screen: the widget is safe by itself.
    def update(self, markdown: str):  # type: ignore[override]
        return super().update(clean_text(markdown))

    def append(self, markdown: str):  # type: ignore[override]
        return super().append(clean_text(markdown))

    def set_current_citation(self, number: int | None) -> MarkdownBlock | None:
        """Highlight ``[number]`` (None clears); returns the first block that shows it."""
        first: MarkdownBlock | None = None
        for block in self.query(MarkdownBlock):
            if isinstance(block, (AnswerParagraph, AnswerTD, AnswerTH)):
                block.set_content(restyle_current(block._content, number))
                if first is None and _contains_marker(block._content, number):
                    first = block
            elif isinstance(block, _CompactList) and block._compact_items:
                block._compact_items = [(bullet, restyle_current(text, number))
                                        for bullet, text in block._compact_items]
                block.update(HangingList(block._compact_items, ".list-bullet"))
                if first is None and any(_contains_marker(text, number)
                                         for _, text in block._compact_items):
                    first = block
            elif isinstance(block, CompactTable):
                cells = [cell for cell in _descendant_blocks(block)
                         if isinstance(cell, (AnswerTD, AnswerTH))]
                for cell in cells:
                    cell._content = restyle_current(cell._content, number)
                block._refresh_table()
                if first is None and any(_contains_marker(c._content, number) for c in cells):
                    first = block
        return first


__all__ = [
    "AnswerMarkdown",
    "CitationClicked",
    "CITE_META",
    "CompactTable",
    "HangingList",
    "MARKER_RE",
    "mark_citations",
    "render_table",
]
