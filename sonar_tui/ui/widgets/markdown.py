"""Markdown for answers, drawn as lines instead of a widget per block.

Every widget costs CSS matching, layout and compositing on every frame, and Textual's stock
``Markdown`` mounts one per paragraph, list item and table cell: a long answer was hundreds of
widgets, and each flush of a streaming answer reflowed all of them. Here a document is parsed
with the same parser Textual uses (markdown-it "gfm-like") into light :class:`Block` objects,
and each block is laid out once per width into ``Strip`` rows that are cached. The widget that
shows them (``stream.StreamingMarkdown``) is one widget however long the answer.

The look follows Textual's Markdown (its margins, heading variables, fences, quotes), with a
whole table, list or fence drawn by us. ``[n]`` citation markers are styled (theme variable
``$citation-marker``) and clickable; links are clickable; only http(s) links survive.

Rows carry selection offsets: ``(x, y)`` where ``y`` names a *text line* (a paragraph line, a
list item, a table row, a code line, or the blank line between two blocks) in document order,
so mouse selection copies the text as shown, with paragraphs unwrapped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.cells import cell_len
from rich.segment import Segment
from textual.content import Content, Span
from textual.message import Message
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions

from sonar_tui.sanitize import safe_url

MARKER_RE = re.compile(r"\[(\d{1,3})\]")
CITE_META = "sonar-cite"
BULLETS = ["• ", "▪ ", "‣ ", "⭑ ", "◦ "]  # Textual's, by depth of nesting

# Selection offsets: y = segment * SEGMENT_STRIDE + block * BLOCK_STRIDE + line. Line 0 of a
# block is the blank line before it; its text lines start at 1. Only the order matters to
# Textual's selection, so the gaps between the numbers are free.
SEGMENT_STRIDE = 10**12
BLOCK_STRIDE = 10**6


class CitationClicked(Message):
    """A ``[n]`` marker in an answer was clicked (``markdown``: the widget showing it)."""

    def __init__(self, markdown: Any, number: int) -> None:
        super().__init__()
        self.markdown = markdown
        self.number = number


class LinkClicked(Message):
    """A link in an answer was clicked; the app decides whether and how to open it."""

    def __init__(self, widget: Any, href: str) -> None:
        super().__init__()
        self.widget = widget
        self.href = href


# ----------------------------------------------------------------------------- inline text


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
        # would override the marker colour. Clicks are read back by the widget.
        spans.append(Span(start, end, Style.from_meta({CITE_META: number})))
        spans.append(Span(start, end, ".citation-marker"))
        if number == current:
            spans.append(Span(start, end, ".citation-marker--current"))
    return content.add_spans(spans) if spans else content


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


def inline_content(token: Token) -> Content:
    """An inline token as Content: emphasis, code, links (http(s) only), ``[n]`` markers.

    Text from the network is only ever text here: nothing is parsed as Textual markup.
    """
    parts: list[str] = []
    spans: list[Span] = []
    stack: list[tuple[list[Style | str], int]] = []
    position = 0

    def add(text: str) -> None:
        nonlocal position
        parts.append(text)
        position += len(text)

    def open_(*styles: Style | str) -> None:
        stack.append((list(styles), position))

    def close() -> None:
        if stack:
            styles, start = stack.pop()
            if position > start:
                spans.extend(Span(start, position, style) for style in styles)

    for child in token.children or ():
        kind = child.type
        if kind == "text":
            add(re.sub(r"\s+", " ", child.content))
        elif kind == "softbreak":
            add(" ")
        elif kind == "hardbreak":
            add("\n")
        elif kind == "code_inline":
            open_(".code_inline")
            add(child.content)
            close()
        elif kind == "html_inline":
            add(child.content)  # shown as typed, like any other text
        elif kind == "em_open":
            open_(".em")
        elif kind == "strong_open":
            open_(".strong")
        elif kind == "s_open":
            open_(".s")
        elif kind == "link_open":
            href = safe_url(str(child.attrs.get("href", "")))
            # An unsafe target (javascript:, file:...) leaves plain text: nothing to click.
            open_(*((Style.from_meta({"@click": f"link({href!r})"}), ".md-link") if href else ()))
        elif kind == "image":
            href = safe_url(str(child.attrs.get("src", "")))
            open_(*((Style.from_meta({"@click": f"link({href!r})"}), ".md-link") if href else ()))
            add("🖼  ")
            alt = "".join(grandchild.content for grandchild in child.children or ())
            if alt:
                add(f"({alt})")
            close()
        elif kind.endswith("_close"):
            close()
    while stack:
        close()
    return mark_citations(Content("".join(parts), spans))


def render_table(headers: list[Content], rows: list[list[Content]]) -> Content:
    """A table drawn with box characters, one line per row (cut, never wrapped)."""
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
            room = widths[index] - cell_len(cell.plain) + 1
            cells.append(Content(" ") + cell + Content(" " * room))
        return Content.styled("│", ".table-rule").join(cells)

    rule = Content("┼".join("─" * (width + 2) for width in widths)).stylize(".table-rule")
    out = [line(headers, ".table-head"), rule]
    out.extend(line(row, None) for row in rows)
    return Content("\n").join(out)


# ----------------------------------------------------------------------------- blocks


@dataclass(eq=False)
class Block:
    """One Markdown block: what it shows, not how wide it is.

    ``kind``: "p", "h1".."h6", "hr", "list", "item", "table", "fence", "quote" (and "row",
    "cell" while a table is being built). ``line``: where it starts in its segment's text.
    """

    kind: str
    line: int = 0
    content: Content | None = None
    children: list[Block] = field(default_factory=list)
    bullet: str = ""  # list items
    ordered: bool = False  # lists
    code: str = ""  # fences
    language: str = ""
    _markers: frozenset[int] | None = None
    _highlighted: dict[tuple[bool, bool], Content] = field(default_factory=dict)

    @property
    def markers(self) -> frozenset[int]:
        """The citation numbers shown anywhere in this block."""
        if self._markers is None:
            found: set[int] = set()
            for content in self.contents():
                found.update(int(m.group(1)) for m in MARKER_RE.finditer(content.plain))
            self._markers = frozenset(found)
        return self._markers

    def contents(self) -> Iterator[Content]:
        """Every piece of inline text in this block, in order."""
        if self.content is not None:
            yield self.content
        for child in self.children:
            yield from child.contents()

    def fences(self) -> Iterator[Block]:
        if self.kind == "fence":
            yield self
        for child in self.children:
            yield from child.fences()


_PARSER = MarkdownIt("gfm-like")
_CONTAINERS = {
    "paragraph_open": "p", "blockquote_open": "quote", "bullet_list_open": "list",
    "ordered_list_open": "list", "list_item_open": "item", "table_open": "table",
    "thead_open": "rows", "tbody_open": "rows", "tr_open": "row", "th_open": "cell",
    "td_open": "cell",
}


def parse_blocks(text: str, first_line: int = 0) -> list[Block]:
    """Top-level blocks of ``text`` (``first_line`` is added to each block's line)."""
    out: list[Block] = []
    stack: list[Block] = []

    def emit(block: Block) -> None:
        (stack[-1].children if stack else out).append(block)

    for token in _PARSER.parse(text):
        kind = token.type
        line = first_line + (token.map[0] if token.map else 0)
        if kind == "heading_open":
            stack.append(Block(token.tag, line))
        elif kind in _CONTAINERS:
            block = Block(_CONTAINERS[kind], line, ordered=kind == "ordered_list_open")
            if kind == "list_item_open":
                depth = sum(1 for b in stack if b.kind == "list" and not b.ordered)
                block.bullet = token.info or BULLETS[(depth - 1) % len(BULLETS)]
            elif kind == "th_open":
                block.kind = "head"
            stack.append(block)
        elif kind.endswith("_close"):
            if stack:
                emit(stack.pop())
        elif kind == "inline":
            if stack:
                stack[-1].content = inline_content(token)
        elif kind in ("fence", "code_block"):
            emit(Block("fence", line, code=token.content.rstrip("\n"),
                       language=token.info.strip().split(" ")[0] if token.info else ""))
        elif kind == "hr":
            emit(Block("hr", line))
        elif kind == "html_block":
            # Textual drops raw HTML; text from the network is shown as typed instead.
            emit(Block("p", line, content=Content(token.content.rstrip("\n"))))
    for block in out:
        _number_lists(block)
    return out


def _number_lists(block: Block) -> None:
    """Ordered lists count from their first item's number, as Textual's Markdown does."""
    if block.kind == "list" and block.ordered and block.children:
        try:
            start = int(block.children[0].bullet)
        except ValueError:
            start = 1
        for number, item in enumerate(block.children, start):
            item.bullet = f"{number}. "
    for child in block.children:
        _number_lists(child)


def table_content(block: Block) -> Content:
    headers: list[Content] = []
    rows: list[list[Content]] = []
    for section in block.children:
        for row in section.children:
            cells = [cell.content or Content("") for cell in row.children]
            if any(cell.kind == "head" for cell in row.children):
                headers = cells
            else:
                rows.append(cells)
    return render_table(headers, rows)


# ----------------------------------------------------------------------------- layout


@dataclass
class Palette:
    """Styles a layout needs, resolved from the showing widget's CSS (one per theme)."""

    get_style: Callable[[str | Style], Style]
    base: Style
    headings: dict[str, Style]
    fence: Style
    quote: Style
    quote_border: Style
    rule: Style
    bullet: Style
    ansi: bool = False
    dark: bool = True
    key: object = None

    def inside(self, base: Style) -> Palette:
        """The same palette for blocks drawn on another background (a quote)."""
        return Palette(self.get_style, base, self.headings, self.fence, self.quote,
                       self.quote_border, self.rule, self.bullet, self.ansi, self.dark,
                       self.key)


# (margin above, margin below) of a block, as Textual's Markdown CSS has them; inside a
# list item or a quote, paragraphs and lists have none.
MARGINS = {"p": (0, 1), "h1": (2, 1), "h2": (2, 1), "h3": (1, 1), "h4": (1, 1), "h5": (1, 1),
           "h6": (1, 1), "hr": (0, 1), "list": (0, 1), "table": (0, 1), "fence": (1, 1),
           "quote": (1, 1)}
NESTED_MARGINS = {**MARGINS, "p": (0, 0), "list": (0, 0)}
FULL_WIDTH_HEADINGS = {"h1", "h2", "h4", "h5", "h6"}  # h3 is `width: auto` in Textual


def margins(block: Block, nested: bool, palette: Palette) -> tuple[int, int]:
    if block.kind == "fence" and palette.ansi:
        return (0, 0)
    return (NESTED_MARGINS if nested else MARGINS).get(block.kind, (0, 0))


# ----------------------------------------------------------------------------- text lines
#
# What a selection copies, whatever the width: a block's text lines are numbered from the
# ``y`` it is laid out at, one after the other; inside a list item or a quote, one blank
# line separates two blocks. Rows carry the number of the line they show.


def block_lines(block: Block) -> list[str]:
    kind = block.kind
    if kind == "p" or kind in HEADINGS:
        return (block.content or Content("")).plain.split("\n")
    if kind == "table":
        return table_content(block).plain.split("\n")
    if kind == "fence":
        return block.code.split("\n")
    if kind == "list":
        lines: list[str] = []
        for item in block.children:
            item_lines = stack_lines(item.children) or [""]
            lines.append(item.bullet + item_lines[0])
            lines.extend(item_lines[1:])
        return lines
    if kind == "quote":
        return stack_lines(block.children)
    return [""]


def stack_lines(blocks: list[Block]) -> list[str]:
    lines: list[str] = []
    for index, block in enumerate(blocks):
        if index and _separated(blocks[index - 1], block):
            lines.append("")
        lines.extend(block_lines(block))
    return lines


def _separated(above: Block, below: Block) -> bool:
    """Whether blank rows separate two blocks in a list item or quote (then the copied text
    has a blank line there too)."""
    return max(NESTED_MARGINS.get(above.kind, (0, 0))[1],
               NESTED_MARGINS.get(below.kind, (0, 0))[0]) > 0


HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


# ----------------------------------------------------------------------------- rows


@dataclass
class Laid:
    """A block laid out at one width: its rows (margins excluded) and where things are."""

    rows: list[Strip]
    fences: list[tuple[int, int]] = field(default_factory=list)  # rows of each fence
    marks: list[tuple[int, frozenset[int]]] = field(default_factory=list)  # (row, [n]s)


def _offset_of(strip: Strip) -> tuple[int, int] | None:
    for segment in strip:
        style = segment.style
        if style is not None and style._meta is not None:
            offset = style.meta.get("offset")
            if offset is not None:
                return offset
    return None


def _blank(width: int, style: Style, y: int | None = None) -> Strip:
    rich = style.rich_style
    if y is not None:
        rich = rich + Style.from_meta({"offset": (0, y)}).rich_style
    return Strip([Segment(" " * width, rich)], width)


def _text_rows(content: Content, width: int, base: Style, palette: Palette, y: int,
               rules: dict[str, Any] | None = None) -> list[Strip]:
    """``content`` wrapped to ``width``; its line ``k`` becomes text line ``y + k``."""
    width = max(1, width)
    strips = content.render_strips(width, None, base,
                                   RenderOptions(palette.get_style, cast(Any, rules or {})))
    rows: list[Strip] = []
    for strip in strips:
        offset = _offset_of(strip)
        x, local = offset if offset else (0, 0)
        rows.append(strip.apply_offsets(x, y + local))
    return rows or [_blank(width, base, y)]


def _pad(strip: Strip, width: int, style: Style) -> Strip:
    return strip.extend_cell_length(width, style.rich_style).crop(0, width)


def highlight_code(code: str, language: str, *, ansi: bool, dark: bool) -> Content:
    """Syntax highlighting as Textual's MarkdownFence does it; a fence without a language
    is plain text (asking Pygments to guess imports every lexer and guesses wrong)."""
    return _cached_highlight(code, language.strip() or "text", ansi, dark)


@lru_cache(maxsize=256)
def _cached_highlight(code: str, language: str, ansi: bool, dark: bool) -> Content:
    from textual.widgets._markdown import MarkdownFence

    return MarkdownFence.highlight(code, language, ansi=ansi, dark=dark)


def lay_out(block: Block, width: int, palette: Palette, y: int, current: int | None,
            nested: bool = False) -> Laid:
    """Rows of one block at ``width``, its text lines numbered from ``y``."""
    kind = block.kind
    width = max(4, width)
    base = palette.base
    marks = block.markers
    if current not in marks:
        current = None
    if kind == "p" or kind in HEADINGS:
        content = block.content or Content("")
        if current is not None:
            content = restyle_current(content, current)
        if kind == "p":
            rows = _text_rows(content, width, base, palette, y)
        else:
            style = base + palette.headings[kind]
            rules = {"text_align": "center"} if kind == "h1" else None
            # Only the background goes to the end of the row, not an underline.
            fill = Style(background=style.background) if kind in FULL_WIDTH_HEADINGS else base
            rows = [_pad(row, width, fill)
                    for row in _text_rows(content, width, style, palette, y, rules)]
        return Laid(rows, [], _marks(rows, marks))
    if kind == "table":
        content = table_content(block)
        if current is not None:
            content = restyle_current(content, current)
        rows = _text_rows(content, width, base, palette, y,
                          {"text_wrap": "nowrap", "text_overflow": "ellipsis"})
        return Laid([_pad(row, width, base) for row in rows], [], _marks(rows, marks))
    if kind == "fence":
        return _lay_out_fence(block, width, palette, y)
    if kind == "list":
        return _lay_out_list(block, width, palette, y, current)
    if kind == "quote":
        return _lay_out_quote(block, width, palette, y, current)
    if kind == "hr":
        # Textual draws it as a bottom border under a row of padding.
        rule = Style.from_meta({"offset": (0, y)})
        return Laid([_blank(width, base, y),
                     Strip([Segment("─" * width, (base + palette.rule + rule).rich_style)],
                           width)])
    return Laid([_blank(width, base, y)])


def _marks(rows: list[Strip], numbers: frozenset[int]) -> list[tuple[int, frozenset[int]]]:
    """Which rows show which ``[n]`` markers."""
    if not numbers:
        return []
    found = []
    for index, row in enumerate(rows):
        text = row.text
        shown = frozenset(n for n in numbers if f"[{n}]" in text)
        if shown:
            found.append((index, shown))
    return found


def _lay_out_fence(block: Block, width: int, palette: Palette, y: int) -> Laid:
    style = palette.base + palette.fence
    pad_x = 0 if palette.ansi else 2
    inner = max(1, width - 2 * pad_x)
    code = highlight_code(block.code, block.language, ansi=palette.ansi, dark=palette.dark)
    left = [_blank(pad_x, style)] if pad_x else []
    rows = [_blank(width, style, y)]
    for strip in _text_rows(code, inner, style, palette, y,
                            {"text_wrap": "nowrap", "text_overflow": "fold"}):
        rows.append(_pad(Strip.join([*left, _pad(strip, inner, style)]), width, style))
    rows.append(_blank(width, style, y + block.code.count("\n")))
    return Laid(rows, [(0, len(rows))])


def stack(blocks: list[Block], width: int, palette: Palette, y: int, current: int | None,
          nested: bool = True) -> Laid:
    """Blocks one under the other with collapsing margins, as Textual's vertical layout
    stacks them (the first block's top margin and the last one's bottom margin included)."""
    rows: list[Strip] = []
    fences: list[tuple[int, int]] = []
    marks: list[tuple[int, frozenset[int]]] = []
    below = 0
    line = y
    for index, block in enumerate(blocks):
        top, bottom = margins(block, nested, palette)
        if index and _separated(blocks[index - 1], block):
            gap_line, line = line, line + 1
        else:
            gap_line = line
        rows.extend(_blank(width, palette.base, gap_line)
                    for _ in range(max(below, top) if index else top))
        laid = lay_out(block, width, palette, line, current, nested)
        start = len(rows)
        rows.extend(laid.rows)
        fences.extend((start + a, start + b) for a, b in laid.fences)
        marks.extend((start + row, numbers) for row, numbers in laid.marks)
        line += len(block_lines(block))
        below = bottom
    rows.extend(_blank(width, palette.base, max(y, line - 1)) for _ in range(below))
    return Laid(rows, fences, marks)


def _lay_out_list(block: Block, width: int, palette: Palette, y: int,
                  current: int | None) -> Laid:
    indent = max((cell_len(item.bullet) for item in block.children), default=2)
    inner = max(4, width - indent)
    bullet_style = (palette.base + palette.bullet).rich_style
    blank_indent = Strip([Segment(" " * indent, palette.base.rich_style)], indent)
    rows: list[Strip] = []
    fences: list[tuple[int, int]] = []
    marks: list[tuple[int, frozenset[int]]] = []
    line = y
    for item in block.children:
        laid = stack(item.children, inner, palette, line, current)
        shift = len(item.bullet)  # the bullet begins the item's first text line
        pad = indent - cell_len(item.bullet)
        lead = Strip.join([
            Strip([Segment(" " * pad, palette.base.rich_style)], pad) if pad > 0 else None,
            Strip([Segment(item.bullet, bullet_style)]).apply_offsets(0, line)])
        start = len(rows)
        for index, row in enumerate(laid.rows or [_blank(inner, palette.base, line)]):
            offset = _offset_of(row)
            if offset is not None and offset[1] == line:
                row = row.apply_offsets(offset[0] + shift, line)
            rows.append(Strip.join([lead if index == 0 else blank_indent, row]))
        fences.extend((start + a, start + b) for a, b in laid.fences)
        marks.extend((start + row, numbers) for row, numbers in laid.marks)
        line += len(stack_lines(item.children) or [""])
    return Laid(rows, fences, marks)


def _lay_out_quote(block: Block, width: int, palette: Palette, y: int,
                   current: int | None) -> Laid:
    style = palette.base + palette.quote
    inner = max(4, width - 3)
    laid = stack(block.children, inner, palette.inside(style), y, current)
    border = Strip([Segment("▌", (style + palette.quote_border).rich_style),
                    Segment(" ", style.rich_style)], 2)
    right = Strip([Segment(" ", style.rich_style)], 1)
    rows = [Strip.join([border, _pad(row, inner, style), right]) for row in laid.rows]
    return Laid(rows, laid.fences, laid.marks)


# ----------------------------------------------------------------------------- text out


def extract(selection: Selection, lines: Iterable[tuple[int, str]]) -> str:
    """What ``selection`` covers of numbered text lines (Selection.extract, sparse lines)."""
    start, end = selection
    out: list[str] = []
    for y, text in lines:
        if start is not None and y < start.y or end is not None and y > end.y:
            continue
        a = start.x if start is not None and y == start.y else 0
        b = end.x if end is not None and y == end.y else len(text)
        out.append(text[a:b])
    return "\n".join(out)


__all__ = [
    "Block",
    "CITE_META",
    "CitationClicked",
    "Laid",
    "LinkClicked",
    "MARKER_RE",
    "Palette",
    "block_lines",
    "extract",
    "inline_content",
    "lay_out",
    "mark_citations",
    "parse_blocks",
    "render_table",
    "restyle_current",
    "stack",
]
