"""An answer's Markdown as ONE widget whose cost per chunk does not grow with the answer.

Tokens are buffered and shown on a timer (a parse per token starves key handling). The text
is kept in *segments* cut at block boundaries (``SEGMENT_CHARS``); each segment is parsed
into blocks (``markdown.parse_blocks``) and each block laid out once per width into cached
rows (``markdown.lay_out``). While an answer streams, only the live segment's last block is
parsed again and laid out again on each flush: what came before keeps its rows.

The widget draws through Textual's line API (``render_line``), so a frame costs the rows on
screen, and a layout pass sees one widget whatever the answer's length. A segment that has
never been near the view (a long answer that arrived in one burst, or an old one opened from
history) is not even parsed: its height is estimated until the reader scrolls near it
(``virtualize``, which ``Conversation`` calls after scrolling and reports how far the text
above the view moved, so the reader's place is kept).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

from rich.cells import cell_len
from rich.segment import Segment as RichSegment
from textual.content import Content
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.timer import Timer
from textual.widget import Widget

from sonar_tui.sanitize import clean_text
from sonar_tui.ui.widgets.markdown import (
    BLOCK_STRIDE,
    CITE_META,
    SEGMENT_STRIDE,
    Block,
    CitationClicked,
    Laid,
    LinkClicked,
    Palette,
    block_lines,
    extract,
    lay_out,
    margins,
    parse_blocks,
)

SEGMENT_CHARS = 2500
FLUSH_INTERVAL = 0.05
# Each flush costs one frame; past LONG_ANSWER_CHARS a frame every 100 ms is enough (a
# reader cannot tell 100 ms from 50 ms in a long answer) and halves that cost.
LONG_ANSWER_CHARS = 4096
LONG_FLUSH_INTERVAL = 0.1
RENDER_MARGIN = 1.0  # screens above and below the viewport laid out exactly
KEEP_ROWS_SCREENS = 3  # rows of segments further than this from the view are let go

_FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})")
# Lines that continue the block above even after a blank line: indented text (list item
# continuation, indented code), list items (a loose list), table rows, block quotes.
_CONTINUATION_RE = re.compile(r"[ \t]|[-*+] |\d{1,9}[.)] |\||>")


def boundaries(text: str, start: int = 0) -> list[int]:
    """Offsets >= ``start`` where a new top-level block begins after a blank line.

    Cutting the text at such an offset never splits a fence, list, table or quote.
    """
    found: list[int] = []
    fence: str | None = None
    previous_blank = False
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        match = _FENCE_RE.match(stripped)
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                    and not stripped.strip().strip(fence[0]):
                fence = None
            previous_blank = False
        else:
            blank = not stripped.strip()
            if (previous_blank and not blank and offset >= start and line.endswith("\n")
                    and not _CONTINUATION_RE.match(stripped)):
                found.append(offset)
            if match:
                fence = match.group(1)
            previous_blank = blank
        offset += len(line)
    return found


def plan_cuts(written: str, fragment: str, limit: int = SEGMENT_CHARS) -> list[int]:
    """Where segments start in ``written + fragment`` (``written``: the live segment).

    A cut is made at the first block boundary after a segment reaches ``limit``. The
    boundary may lie in ``written`` (a line whose start was written before its end
    arrived): the live segment then gives that text to the next one.
    """
    text = written + fragment
    if len(text) <= limit:
        return []
    cuts: list[int] = []
    segment_start = 0
    # A boundary is only known once its line is complete: look from the start of the last
    # line that was still incomplete.
    search = written.rfind("\n", 0, max(0, len(written) - 1)) + 1 if written else 0
    for cut in boundaries(text, search):
        if cut - segment_start >= limit:
            cuts.append(cut)
            segment_start = cut
    return cuts


def split_segments(text: str, limit: int = SEGMENT_CHARS) -> list[str]:
    """A finished text cut into segments (for answers loaded from history)."""
    edges = [0, *plan_cuts("", text, limit), len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a] or [""]


def estimate_height(text: str, width: int) -> int:
    """Rows a segment will take (for segments not laid out at this width yet).

    Only the scrollbar depends on it: a segment is laid out before it is on screen.
    """
    width = max(16, width)
    lines = 0
    fenced = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            lines += 2  # the fence's padding
        elif fenced or not stripped or stripped.startswith("|"):
            lines += 1
        elif stripped.startswith("#"):
            lines += 3  # a heading and its margins
        else:
            lines += max(1, -(-cell_len(stripped) // width))
    return max(1, lines)


def _line_start(text: str, line: int) -> int:
    """The offset of line ``line`` (0-based) in ``text``."""
    offset = 0
    for _ in range(line):
        found = text.find("\n", offset)
        if found < 0:
            return len(text)
        offset = found + 1
    return offset


class TextSegment:
    """A piece of an answer cut at a block boundary: its text, its blocks once parsed, and
    its rows once laid out (one width, one palette, one highlighted citation)."""

    def __init__(self, text: str, index: int) -> None:
        self.text = text
        self.index = index
        self.blocks: list[Block] | None = None
        self.height = 1
        self.exact = False  # height is the laid-out one at ``width``
        self.width = 0
        self.rows: list[Strip] | None = None
        self.fences: list[tuple[int, int]] = []
        self.marks: list[tuple[int, frozenset[int]]] = []
        self._laid: dict[Block, tuple[object, Laid]] = {}

    @property
    def parsed(self) -> bool:
        return self.blocks is not None

    def parse(self) -> list[Block]:
        if self.blocks is None:
            self.blocks = parse_blocks(self.text)
        return self.blocks

    def append(self, fragment: str) -> None:
        """More text: only the last block (which the text may still change) is parsed
        again, from where it starts."""
        self.text += fragment
        if self.blocks is None:
            return
        kept = self.blocks[:-1]
        start_line = self.blocks[-1].line if self.blocks else 0
        start = _line_start(self.text, start_line)
        self.blocks = kept + parse_blocks(self.text[start:], start_line)
        self.rows = None
        self.exact = False

    def truncate(self, length: int) -> str:
        """Keep the first ``length`` characters; returns the rest (for the next segment)."""
        rest, self.text = self.text[length:], self.text[:length]
        if self.blocks is not None:
            self.reparse()
        return rest

    def reparse(self) -> None:
        """Parse the whole text again (the end of a stream: whatever the increments did)."""
        self.blocks = parse_blocks(self.text)
        self._laid.clear()
        self.rows = None
        self.exact = False

    def estimate(self, width: int) -> None:
        """A height for ``width`` without laying out (the segment is not near the view)."""
        if width == self.width:
            return
        if self.exact and self.width:
            # The best guess for a laid-out segment: the same text area at the new width.
            self.height = max(1, round(self.height * self.width / max(1, width)))
        else:
            self.height = estimate_height(self.text, width) if self.text else 0
        self.exact = False
        self.rows = None
        self.width = width

    def lay_out(self, width: int, palette: Palette, current: int | None,
                first: bool) -> None:
        """Rows at ``width``; blocks whose rows are cached for the same key keep them."""
        blocks = self.parse()
        rows: list[Strip] = []
        fences: list[tuple[int, int]] = []
        marks: list[tuple[int, frozenset[int]]] = []
        below = 0 if first else 1  # what the segment above leaves (every block's margin)
        base = palette.base
        laid_before = self._laid
        self._laid = {}
        for index, block in enumerate(blocks):
            y = self.index * SEGMENT_STRIDE + index * BLOCK_STRIDE
            top, bottom = margins(block, False, palette)
            gap = top if first and index == 0 else max(below, top)
            if gap:
                blank = Strip([RichSegment(" " * width, base.rich_style
                                           + Style.from_meta({"offset": (0, y)}).rich_style)],
                              width)
                rows.extend([blank] * gap)
            key = (width, palette.key, current if current in block.markers else None, y)
            cached = laid_before.get(block)
            laid = cached[1] if cached is not None and cached[0] == key else \
                lay_out(block, width, palette, y + 1, current)
            self._laid[block] = (key, laid)
            start = len(rows)
            rows.extend(laid.rows)
            fences.extend((start + a, start + b) for a, b in laid.fences)
            marks.extend((start + row, numbers) for row, numbers in laid.marks)
            below = bottom
        self.rows, self.fences, self.marks = rows, fences, marks
        self.height = max(1, len(rows)) if blocks else 0
        self.width = width
        self.exact = True

    def drop_rows(self) -> None:
        """Forget the rows (memory), keep the height: laying out again gives the same."""
        self.rows = None
        self._laid.clear()

    def lines(self) -> Iterator[tuple[int, str]]:
        """Numbered text lines, as the rows carry them (what a selection copies)."""
        for index, block in enumerate(self.parse()):
            y = self.index * SEGMENT_STRIDE + index * BLOCK_STRIDE
            if index or self.index:
                yield y, ""
            yield from enumerate(block_lines(block), y + 1)


class GrowsInOnePass:
    """For widgets that grow with a streaming answer (mixed in before the Widget class).

    After each layout pass Textual sets every resized widget's ``virtual_size``, a
    reactive that asks for another layout pass and a repaint of the whole widget. For a
    widget that does not scroll the pass just made has already placed it, and for the
    scrolling pane it has already scrolled it (a scrollbar that appears or goes asks for
    its own layout pass): the echo only painted the conversation a second time on every
    flush. Measured headless, 2,000 chunks at 100 chunks/s: 465 full repaints -> 254.
    """

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size,
                      layout: bool = True) -> bool:
        return super()._size_updated(  # type: ignore[misc]
            size, virtual_size, container_size, layout=False)


class MarkdownLines(GrowsInOnePass, Widget):
    """The rows of some segments of a :class:`StreamingMarkdown`: its sealed part (which
    grows only when a segment is sealed, so its rows stay cached from frame to frame) or
    its live part (the segment being written, small, drawn again on each flush)."""

    DEFAULT_CSS = """
    MarkdownLines { height: auto; }
    """

    def __init__(self, owner: StreamingMarkdown, segments: list[TextSegment], *,
                 trailing: bool) -> None:
        super().__init__()
        self.owner = owner
        self.segments = segments
        self.trailing = trailing  # holds the end of the text: adds its last margin
        self.auto_links = False  # links are styled when laid out, not on every render
        self._width = 0
        self._starts: list[int] = []  # first row of each segment
        self._starts_valid = False
        self._selection: Selection | None = None

    # ------------------------------------------------------------------ layout

    def _lay_out_segment(self, segment: TextSegment) -> bool:
        """Lay ``segment`` out at the current width; True if its height changed."""
        before = segment.height
        segment.lay_out(self._width, self.owner.palette(), self.owner.current,
                        first=segment.index == 0)
        if segment.height != before:
            self._starts_valid = False
            return True
        return False

    def segments_changed(self, first: int = 0) -> None:
        """Segments from ``first`` (an index in this part) changed: lay out what is near
        the bottom, then repaint (a layout pass only if the height changed)."""
        self._starts_valid = False
        if not self.is_mounted or not self._width:
            self.refresh(layout=True)
            return
        before = self.virtual_size.height
        self._prepare_tail(first)
        if self.total_height() != before:
            self.refresh(layout=True)
        else:
            start = self.segment_start(first)
            self.refresh(Region(0, start, self._width, max(1, before - start)))

    def _prepare_tail(self, first: int) -> None:
        """Lay out segments from ``first`` that are near the bottom (where a reader who
        follows the answer is); earlier ones of a burst keep an estimated height."""
        width = self._width
        budget = (self.app.size.height if self.is_attached else 50) * 2
        for segment in reversed(self.segments[first:]):
            if budget > 0 or segment is self.segments[-1]:
                self._lay_out_segment(segment)
                budget -= segment.height
            else:
                segment.estimate(width)

    def _set_width(self, width: int) -> None:
        if width == self._width:
            return
        old = self._width
        self._width = width
        self._starts_valid = False
        for segment in self.segments:
            segment.estimate(width)
        if old == 0:
            self._prepare_tail(0)
        else:
            # Text near the bottom is what a reader sees first; virtualize() lays out the
            # rest near the view (and keeps the reader's place) after the next refresh.
            self._prepare_tail(max(0, len(self.segments) - 2))
            self.post_message(StreamingMarkdown.NeedsLayout())

    def total_height(self) -> int:
        total = sum(segment.height for segment in self.segments)
        if self.trailing and self.segments and self.segments[-1].blocks:
            total += margins(self.segments[-1].blocks[-1], False, self.owner.palette())[1]
        return total

    def _update_starts(self) -> None:
        if not self._starts_valid:
            starts = []
            row = 0
            for segment in self.segments:
                starts.append(row)
                row += segment.height
            self._starts = starts
            self._starts_valid = True

    def segment_start(self, index: int) -> int:
        self._update_starts()
        return self._starts[index] if index < len(self._starts) else self.total_height()

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._set_width(max(4, width))
        for segment in self.segments:
            segment.estimate(self._width)  # only those never measured at this width
        return self.total_height()

    def palette_changed(self) -> None:
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self._width or self.size.width
        style = self.visual_style.rich_style
        if not self.segments or not width:
            return Strip.blank(width, style)
        self._update_starts()
        index = bisect_right(self._starts, y) - 1
        if index < 0:
            return Strip.blank(width, style)
        segment = self.segments[index]
        local = y - self._starts[index]
        if segment.rows is None or segment.width != width:
            if segment.exact and segment.width == width:
                # Rows let go, height known: laying out again gives the same height.
                if self._lay_out_segment(segment):
                    self.call_after_refresh(self.refresh, layout=True)
            else:
                self.post_message(StreamingMarkdown.NeedsLayout())
                return Strip.blank(width, style)
        rows = segment.rows or []
        if local >= len(rows):
            return Strip.blank(width, style)
        row = rows[local]
        if self._selection is not None:
            row = self._highlight(row)
        return row

    def _highlight(self, row: Strip) -> Strip:
        """The row with the selected part of its text line in the selection style."""
        selection = self._selection
        assert selection is not None
        out: list[RichSegment] = []
        style = None
        for segment in row:
            meta_style = segment.style
            offset = meta_style.meta.get("offset") if meta_style is not None \
                and meta_style._meta is not None else None
            if offset is None:
                out.append(segment)
                continue
            x, y = offset
            span = selection.get_span(y)
            if span is None:
                out.append(segment)
                continue
            start, end = span
            text = segment.text
            if end == -1:
                end = x + len(text) + 1
            a, b = max(0, start - x), min(len(text), end - x)
            if a >= b:
                out.append(segment)
                continue
            if style is None:
                style = Style.from_styles(
                    self.screen.get_component_styles("screen--selection")).rich_style
            if a:
                out.append(RichSegment(text[:a], meta_style))
            out.append(RichSegment(text[a:b], (meta_style + style) if meta_style else style))
            if b < len(text):
                out.append(RichSegment(text[b:], meta_style))
        return Strip(out, row.cell_length)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return extract(selection, self.text_lines()), "\n"

    def text_lines(self) -> Iterator[tuple[int, str]]:
        for segment in self.segments:
            yield from segment.lines()

    def selection_updated(self, selection: Selection | None) -> None:
        self._selection = selection
        self.refresh()

    # ------------------------------------------------------------------ clicks

    def on_click(self, event: Click) -> None:
        number = event.style.meta.get(CITE_META)
        if number is not None:
            event.stop()
            self.post_message(CitationClicked(self.owner, int(number)))

    def action_link(self, href: str) -> None:
        self.post_message(LinkClicked(self.owner, href))

    # ------------------------------------------------------------------ virtualizing

    def virtualize(self, viewport: Region) -> int:
        """Lay out segments near ``viewport`` (screen coordinates) exactly; let far ones
        go. Returns by how many rows the text above the viewport's top moved."""
        if not self._width or not self.segments or not self.region:
            return 0  # not laid out yet, or hidden (folded reasoning)
        margin = int(viewport.height * RENDER_MARGIN)
        top = self.content_region.y
        near_top, near_bottom = viewport.y - margin, viewport.bottom + margin
        keep = viewport.height * KEEP_ROWS_SCREENS
        moved = 0
        changed = False
        self._update_starts()
        for segment, start in zip(self.segments, list(self._starts), strict=True):
            y = top + start
            bottom = y + segment.height
            if bottom >= near_top and y <= near_bottom:
                if not segment.exact or segment.width != self._width or segment.rows is None:
                    before = segment.height
                    self._lay_out_segment(segment)
                    if segment.height != before:
                        changed = True
                        if bottom <= viewport.y:  # wholly above the view
                            moved += segment.height - before
            elif segment.rows is not None and (bottom < viewport.y - keep
                                               or y > viewport.bottom + keep):
                segment.drop_rows()
        if changed:
            self._starts_valid = False
            self.refresh(layout=True)
        return moved

    def render_containing(self, text: str) -> None:
        """Lay out every segment whose text contains ``text`` (before scrolling to it)."""
        if not self._width:
            return
        changed = False
        for segment in self.segments:
            if text in segment.text and (not segment.exact or segment.rows is None
                                         or segment.width != self._width):
                changed = self._lay_out_segment(segment) or changed
        if changed:
            self.refresh(layout=True)

    def restyle(self, numbers: set[int | None]) -> None:
        """Lay out again the segments showing any of ``numbers`` (the current citation)."""
        for segment in self.segments:
            touched = any(mark in numbers
                          for block in segment.blocks or () for mark in block.markers)
            if touched and segment.exact and self._width:
                self._lay_out_segment(segment)
        self.refresh()

    def first_row_citing(self, number: int) -> int | None:
        for local, segment in enumerate(self.segments):
            if segment.rows is not None:
                for row, numbers in segment.marks:
                    if number in numbers:
                        return self.segment_start(local) + row
        return None

    def fence_rows(self) -> list[tuple[int, int]]:
        """(first row, end row) of every code block in order (estimated where not laid
        out: a segment not laid out is far from the view)."""
        rows: list[tuple[int, int]] = []
        for local, segment in enumerate(self.segments):
            start = self.segment_start(local)
            if segment.rows is not None:
                rows.extend((start + a, start + b) for a, b in segment.fences)
            else:
                count = sum(1 for block in segment.parse() for _ in block.fences())
                rows.extend((start, start + segment.height) for _ in range(count))
        return rows


class StreamingMarkdown(GrowsInOnePass, Widget):
    """An answer's (or a question's, or reasoning's) Markdown, optionally streaming.

    Holds the text and its segments; shows them in one :class:`MarkdownLines` (a finished
    text) or two (sealed part and live part, while streaming).
    """

    BLANK = True  # a container: its rows are its children's
    COMPONENT_CLASSES = {
        "md-h1", "md-h2", "md-h3", "md-h4", "md-h5", "md-h6", "md-fence", "md-quote",
        "md-quote-border", "md-rule", "md-link", "list-bullet", "table-head", "table-rule",
        "em", "strong", "s", "code_inline", "citation-marker", "citation-marker--current",
    }
    DEFAULT_CSS = """
    StreamingMarkdown {
        height: auto;
        layout: vertical;
        padding: 0 1;
        color: $foreground;
        & > .md-h1 { color: $markdown-h1-color; background: $markdown-h1-background;
                     text-style: $markdown-h1-text-style; }
        & > .md-h2 { color: $markdown-h2-color; background: $markdown-h2-background;
                     text-style: $markdown-h2-text-style; }
        & > .md-h3 { color: $markdown-h3-color; background: $markdown-h3-background;
                     text-style: $markdown-h3-text-style; }
        & > .md-h4 { color: $markdown-h4-color; background: $markdown-h4-background;
                     text-style: $markdown-h4-text-style; }
        & > .md-h5 { color: $markdown-h5-color; background: $markdown-h5-background;
                     text-style: $markdown-h5-text-style; }
        & > .md-h6 { color: $markdown-h6-color; background: $markdown-h6-background;
                     text-style: $markdown-h6-text-style; }
        & > .md-fence { color: rgb(210,210,210); background: black 10%; }
        &:light > .md-fence { background: white 30%; }
        &:ansi > .md-fence { background: transparent; }
        & > .md-quote { background: $boost; }
        & > .md-quote-border { color: $text-primary 50%; }
        &:light > .md-quote-border { color: $text-secondary; }
        & > .md-rule { color: $secondary; }
        & > .md-link { color: $link-color; text-style: $link-style; }
        & > .list-bullet { color: $text-primary; }
        & > .table-head { color: $text-primary; text-style: bold; }
        & > .table-rule { color: $foreground 30%; }
        & > .em { text-style: italic; }
        & > .strong { text-style: bold; }
        & > .s { text-style: strike; }
        &:dark > .code_inline { background: $warning 10%; color: $text-warning 95%; }
        &:light > .code_inline { background: $error 5%; color: $text-error 95%; }
        &:ansi > .code_inline { background: ansi_default; }
        & > .citation-marker { color: $citation-marker; text-style: bold; }
        /* Inside text, Textual applies neither "reverse" nor an opaque component
           background, so the current marker is marked by colour and underline. */
        & > .citation-marker--current { color: $warning; text-style: bold underline; }
    }
    """

    class NeedsLayout(Message):
        """Rows were asked for text not laid out yet: the pane should virtualize."""

    def __init__(self, text: str = "", *, streaming: bool = False, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.segment_limit = SEGMENT_CHARS
        initial = clean_text(text) if text else ""
        self.segments: list[TextSegment] = [
            TextSegment(piece, index)
            for index, piece in enumerate(split_segments(initial, self.segment_limit))
        ] if initial else []
        self._streaming = streaming
        if streaming:
            if not self.segments:
                self.segments.append(TextSegment("", 0))
            self._sealed = MarkdownLines(self, self.segments[:-1], trailing=False)
            self._live: MarkdownLines | None = MarkdownLines(self, self.segments[-1:],
                                                            trailing=True)
        else:
            self._sealed = MarkdownLines(self, list(self.segments), trailing=True)
            self._live = None
        self._pending: list[str] = []
        self._received = len(initial)
        self._timer: Timer | None = None
        self._slow_timer = False
        self._palette: Palette | None = None
        self._palette_stale = False
        self.current: int | None = None  # the highlighted [n] citation

    def compose(self):
        yield self._sealed
        if self._live is not None:
            yield self._live

    def _parts(self) -> list[MarkdownLines]:
        return [self._sealed] if self._live is None else [self._sealed, self._live]

    # ------------------------------------------------------------------ text

    @property
    def source(self) -> str:
        """Everything received so far, including what is not yet on screen."""
        return "".join(segment.text for segment in self.segments) + "".join(self._pending)

    @property
    def streaming(self) -> bool:
        return self._streaming

    def on_mount(self) -> None:
        if self._streaming:
            self._timer = self.set_interval(FLUSH_INTERVAL, self._flush)

    def write(self, fragment: str) -> None:
        """Queue text; cheap enough to call per token (no parsing, no I/O)."""
        if not fragment:
            return
        self._pending.append(fragment)
        self._received += len(fragment)
        if self._received > LONG_ANSWER_CHARS and self._timer is not None \
                and not self._slow_timer:
            self._slow_timer = True
            self._timer.stop()
            self._timer = self.set_interval(LONG_FLUSH_INTERVAL, self._flush)

    def _flush(self) -> None:
        """The timer's flush: nothing to do for text nobody can see (a thread kept hidden
        while it streams, folded reasoning): it is shown in one go when it is."""
        if self._pending and self._displayed():
            self._flush_now()

    def _displayed(self) -> bool:
        node: object = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            node = node.parent
        return True

    def _flush_now(self) -> None:
        if not self._pending:
            return
        fragment = clean_text("".join(self._pending))
        self._pending.clear()
        live_part = self._live or self._sealed
        if not self.segments:
            segment = TextSegment("", 0)
            self.segments.append(segment)
            live_part.segments.append(segment)
        live = self.segments[-1]
        cuts = plan_cuts(live.text, fragment, self.segment_limit)
        if not cuts:
            live.append(fragment)
            live_part.segments_changed(len(live_part.segments) - 1)
            return
        text = live.text + fragment
        if cuts[0] >= len(live.text):
            live.append(text[len(live.text):cuts[0]])
        else:
            live.truncate(cuts[0])
        new = [TextSegment(text[start:end], len(self.segments) + number)
               for number, (start, end) in enumerate(zip(cuts, [*cuts[1:], len(text)],
                                                          strict=True))]
        self.segments.extend(new)
        if self._live is None:
            self._sealed.segments.extend(new)
            self._sealed.segments_changed(len(self._sealed.segments) - len(new) - 1)
        else:
            # The live segment and all but the last new one are sealed.
            sealed = self._sealed.segments
            first = len(sealed)
            sealed.extend([live, *new[:-1]])
            self._live.segments[:] = new[-1:]
            self._sealed.segments_changed(first)
            self._live.segments_changed(0)
        # Following the bottom scrolls without telling the pane: segments that scrolled
        # far away let their rows go now.
        self.post_message(self.NeedsLayout())

    async def flush(self) -> None:
        """Show what has arrived now, without waiting for the timer (the stream ended)."""
        self._flush_now()

    async def finish(self) -> None:
        """End of stream: show everything; the last segment gets one full parse."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._flush_now()
        self._streaming = False
        if self.segments:
            self.segments[-1].reparse()
            part = self._live or self._sealed
            part.segments_changed(max(0, len(part.segments) - 1))

    async def replace(self, text: str) -> None:
        """Show exactly ``text`` (the service's authoritative final text)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._pending.clear()
        self._streaming = False
        self.segments = [TextSegment(piece, index) for index, piece in
                         enumerate(split_segments(clean_text(text), self.segment_limit))]
        self._sealed.segments[:] = self.segments
        self._sealed.trailing = True
        self._sealed.segments_changed(0)
        if self._live is not None:
            self._live.segments[:] = []
            self._live.trailing = False
            self._live.segments_changed(0)

    # ------------------------------------------------------------------ styles

    def palette(self) -> Palette:
        """Styles for laying out, from this widget's CSS: the same object until a style
        update (a theme, a pseudo-class) changes them."""
        if self._palette is not None and not self._palette_stale:
            return self._palette
        self._palette_stale = False
        get = self.get_visual_style
        base = self.visual_style
        headings = {f"h{n}": get(f"md-h{n}", partial=True) for n in range(1, 7)}
        parts = (get("md-fence", partial=True), get("md-quote", partial=True),
                 get("md-quote-border", partial=True), get("md-rule", partial=True),
                 get("list-bullet", partial=True))
        ansi = self.app.native_ansi_color if self.is_attached else False
        dark = self.app.current_theme.dark if self.is_attached else True
        key = (base, tuple(headings.values()), parts, ansi, dark)
        old = self._palette
        if old is not None and old.key == key:
            return old
        palette = self._palette = Palette(self._get_style, base, headings, *parts, ansi=ansi,
                                          dark=dark, key=key)
        for segment in self.segments:
            segment.rows = None  # laid out again on use, at the same height...
            if old is not None and old.ansi != ansi:
                segment.exact = False  # ...unless fences change their margins
        return palette

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._palette is not None:
            old = self._palette.key
            self._palette_stale = True
            if self.palette().key != old:
                for part in self._parts():
                    part.palette_changed()

    # ------------------------------------------------------------------ the pane asks

    def virtualize(self, viewport: Region) -> int:
        """Lay out the text near ``viewport`` (screen coordinates) exactly; let far rows
        go. Returns by how many rows the text above the viewport's top moved (the caller
        scrolls by as much to keep the reader's place)."""
        return sum(part.virtualize(viewport) for part in self._parts())

    def render_containing(self, text: str) -> None:
        """Lay out every segment whose text contains ``text`` (before scrolling to it)."""
        for part in self._parts():
            part.render_containing(text)

    def _part_offset(self, part: MarkdownLines) -> int:
        offset = 0
        for other in self._parts():
            if other is part:
                return offset
            offset += other.total_height()
        return offset

    def set_current_citation(self, number: int | None) -> int | None:
        """Highlight ``[number]`` (None clears); the first row showing it, if laid out."""
        previous, self.current = self.current, number
        first: int | None = None
        for part in self._parts():
            part.restyle({previous, number})
            if first is None and number is not None:
                row = part.first_row_citing(number)
                if row is not None:
                    first = self._part_offset(part) + row
        return first

    def fence_rows(self) -> list[tuple[int, int]]:
        """(first row, end row) of every code block, in order."""
        rows: list[tuple[int, int]] = []
        for part in self._parts():
            offset = self._part_offset(part)
            rows.extend((offset + a, offset + b) for a, b in part.fence_rows())
        return rows

    def text_lines(self) -> Iterator[tuple[int, str]]:
        for part in self._parts():
            yield from part.text_lines()

    def shown_contents(self) -> list[Content]:
        """Every piece of inline text the answer shows (parsed now if need be)."""
        return [content for segment in self.segments for block in segment.parse()
                for content in block.contents()]

    def links(self) -> list[str]:
        """The targets of the links shown (``@click`` actions), in order."""
        found: list[str] = []
        for content in self.shown_contents():
            for span in content.spans:
                meta = getattr(span.style, "meta", None) or {}
                if "@click" in meta:
                    found.append(meta["@click"])
        return found

    def shown_rows(self) -> list[str]:
        """The text of every row as drawn, everything laid out (for tests and debugging)."""
        self.render_containing("")
        return [part.render_line(y).text for part in self._parts()
                for y in range(part.total_height())]


__all__ = [
    "SEGMENT_CHARS",
    "GrowsInOnePass",
    "MarkdownLines",
    "StreamingMarkdown",
    "TextSegment",
    "boundaries",
    "estimate_height",
    "plan_cuts",
    "split_segments",
]
