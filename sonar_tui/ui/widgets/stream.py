"""Streaming Markdown whose cost per chunk does not grow with the answer.

Tokens are buffered and flushed to ``Markdown.get_stream`` on a timer (a parse per token
starves key handling). The text is kept in *segments*: when the live segment passes
``SEGMENT_CHARS`` the next block boundary seals it and a fresh ``AnswerMarkdown`` takes over,
so each append parses a bounded widget instead of an ever-growing one. Text that arrives
faster than it can be shown (a fast wire) is cut into sealed segments right away and
rendered once each. When the stream ends, only the live segment gets the final full render
that clears Markdown's partial-block state.

Every layout pass visits every mounted widget, so a long answer also stays cheap by keeping
only the segments near the viewport rendered: a sealed segment scrolled far away becomes a
``SegmentStub``, one blank widget of the same height that keeps its text, and becomes
Markdown again when the reader scrolls near it (``Conversation`` asks, on scroll).
"""

from __future__ import annotations

import asyncio
import re

from rich.cells import cell_len
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream

from sonar_tui.sanitize import clean_text
from sonar_tui.ui.run_to_end import runs_to_end
from sonar_tui.ui.widgets.markdown import AnswerMarkdown

SEGMENT_CHARS = 2500
FLUSH_INTERVAL = 0.05
# Each flush costs one layout pass of the whole screen (~30 ms on a 2-core machine when an
# answer is long); past LONG_ANSWER_CHARS, flushing half as often halves that cost, and a
# reader cannot tell 100 ms from 50 ms in a long answer.
LONG_ANSWER_CHARS = 4096
LONG_FLUSH_INTERVAL = 0.1
RENDER_MARGIN = 1.0  # screens above and below the viewport kept rendered

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


def plan_cuts(written: str, fragment: str, limit: int = SEGMENT_CHARS) -> list[str]:
    """Split ``fragment`` for a live segment that already holds ``written``.

    Returns pieces: the first continues the live segment, each later one starts a new
    segment. A cut is made at the first block boundary after a segment reaches ``limit``.
    """
    text = written + fragment
    if len(text) <= limit:
        return [fragment]
    pieces: list[str] = []
    segment_start = 0
    piece_start = len(written)
    for cut in boundaries(text, len(written)):
        if cut - segment_start >= limit and cut > piece_start:
            pieces.append(text[piece_start:cut])
            piece_start = segment_start = cut
    pieces.append(text[piece_start:])
    return pieces


def split_segments(text: str, limit: int = SEGMENT_CHARS) -> list[str]:
    """A finished text cut into segments (for answers loaded from history)."""
    return [piece for piece in plan_cuts("", text, limit) if piece] or [""]


def estimate_height(text: str, width: int) -> int:
    """Lines a segment will take when rendered (for segments never rendered at this width).

    Only the scrollbar depends on it: a stub becomes Markdown before it is on screen.
    """
    width = max(16, width - 4)
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


class SegmentStub(Widget):
    """A sealed segment kept off screen: blank, the height it had, and its text."""

    DEFAULT_CSS = """
    SegmentStub { width: 1fr; }
    """

    def __init__(self, source: str, height: int) -> None:
        super().__init__()
        self.source = source
        self.styles.height = max(1, height)

    def render(self) -> Content:
        return Content("")


Segment = AnswerMarkdown | SegmentStub


class StreamingMarkdown(Vertical):
    """An answer's Markdown, in bounded segments, optionally streaming."""

    DEFAULT_CSS = """
    StreamingMarkdown { height: auto; }
    """

    def __init__(self, text: str = "", *, streaming: bool = False, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._initial = clean_text(text) if text else ""
        self._streaming = streaming
        self._pending: list[str] = []
        self._live: AnswerMarkdown | None = None
        self._live_text = ""
        self._stream: MarkdownStream | None = None
        self._timer = None
        # Flushes, the end of the stream and a replacement must not interleave: a flush
        # that is sealing a segment while finish() runs would leave the last words queued.
        self._lock = asyncio.Lock()
        self.segment_limit = SEGMENT_CHARS
        self._received = 0
        self._slow_timer = False

    @property
    def source(self) -> str:
        """Everything received so far, including what is not yet on screen."""
        sealed = "".join(segment.source for segment in self._segments()
                         if segment is not self._live)
        return sealed + self._live_text + "".join(self._pending)

    @property
    def streaming(self) -> bool:
        return self._streaming

    def _segments(self) -> list[Segment]:
        return [child for child in self.children if isinstance(child, (AnswerMarkdown, SegmentStub))]

    def _width(self) -> int:
        return self.size.width or (self.parent.size.width if self.parent else 0) or 80

    async def on_mount(self) -> None:
        pieces = split_segments(self._initial, self.segment_limit) if self._initial else []
        tail = pieces.pop() if self._streaming and pieces else None
        if pieces:
            # The last segments are what a reader sees first (the view follows the bottom);
            # the rest start as stubs and render when scrolled near.
            shown = _last_pieces(pieces, self.segment_limit * 2)
            width = self._width()
            await self.mount_all([AnswerMarkdown(piece) if index >= len(pieces) - shown
                                  else SegmentStub(piece, estimate_height(piece, width))
                                  for index, piece in enumerate(pieces)])
        if self._streaming:
            await self._start_live(tail or "")
            self._timer = self.set_interval(FLUSH_INTERVAL, self._flush)
            self._received = len(self._initial)

    async def _start_live(self, text: str) -> None:
        # Mounted empty and fed through the stream: Markdown.update() would leave the
        # stream's parse position at the last line instead of the last block's start.
        self._live = AnswerMarkdown()
        self._live_text = ""
        await self.mount(self._live)
        self._stream = Markdown.get_stream(self._live)
        # Let the stream's task take its first step: MarkdownStream.stop() on a task that
        # never ran raises CancelledError and drops what was queued.
        await asyncio.sleep(0)
        if text:
            await self._stream.write(text)
            self._live_text = text

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            await stream.stop()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled ourselves
        if self._live is not None and self._live.source != self._live_text:
            await self._live.update(self._live_text)

    def write(self, fragment: str) -> None:
        """Queue text; cheap enough to call per token (no parsing, no I/O)."""
        if fragment:
            self._pending.append(fragment)
            self._received += len(fragment)
            if self._received > LONG_ANSWER_CHARS and self._timer is not None \
                    and self._slow_timer is False:
                self._slow_timer = True
                self._timer.stop()
                self._timer = self.set_interval(LONG_FLUSH_INTERVAL, self._flush)

    @runs_to_end  # the timer's task is cancelled when the timer stops, possibly mid-change
    async def _flush(self) -> None:
        async with self._lock:
            await self._flush_pending()

    async def flush(self) -> None:
        """Show what has arrived now, without waiting for the timer (the stream ended)."""
        await self._flush()

    async def _flush_pending(self) -> None:
        if not self._pending or self._stream is None:
            return
        fragment = "".join(self._pending)
        self._pending.clear()
        pieces = plan_cuts(self._live_text, fragment, self.segment_limit)
        await self._stream.write(pieces[0])
        self._live_text += pieces[0]
        if len(pieces) == 1:
            return
        # Seal the live segment; whole segments that arrived at once are rendered once each.
        await self._close_stream()
        middle, tail = pieces[1:-1], pieces[-1]
        with self.app.batch_update():
            if middle:
                # A burst (a fast wire): only the part near the bottom, where the reader
                # is, is rendered now; the rest waits as stubs until scrolled near.
                shown = _last_pieces(middle, self.segment_limit * 2)
                width = self._width()
                await self.mount_all([
                    AnswerMarkdown(piece) if index >= len(middle) - shown
                    else SegmentStub(piece, estimate_height(piece, width))
                    for index, piece in enumerate(middle)])
            await self._start_live(tail)
        self.call_after_refresh(self._after_seal)

    def _after_seal(self) -> None:
        container = self._scroll_container()
        if container is not None:
            self.run_worker(self.virtualize(container.region), group="virtualize",
                            exclusive=True, exit_on_error=False)

    def _scroll_container(self) -> Widget | None:
        # Widget.is_scrollable is true of any widget with children; what matters is the
        # ancestor that actually scrolls, whose region is what the reader sees.
        node = self.parent
        while node is not None and (not isinstance(node, Widget)
                                    or node.styles.overflow_y not in ("auto", "scroll")):
            node = node.parent
        return node if isinstance(node, Widget) else None

    async def finish(self) -> None:
        """End of stream: show everything, then one clean render of the live segment.

        The clean render (which rebuilds the segment's blocks) waits for the next screen
        refresh, so the last words are on screen first.
        """
        async with self._lock:
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            await self._flush_pending()
            await self._close_stream()
            self._streaming = False
            live, text = self._live, self._live_text
        if live is not None:
            refreshed = asyncio.Event()
            self.call_after_refresh(refreshed.set)
            await refreshed.wait()
            async with self._lock:
                if live.is_attached and live is self._live:
                    await live.update(text)

    async def replace(self, text: str) -> None:
        """Show exactly ``text`` (the service's authoritative final text)."""
        async with self._lock:
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            await self._close_stream()
            self._pending.clear()
            self._live = None
            self._live_text = ""
            await self.remove_children()
            await self.mount_all([AnswerMarkdown(piece) for piece in
                                  split_segments(clean_text(text), self.segment_limit)])
            self._streaming = False

    # ------------------------------------------------------------------ virtualizing

    @runs_to_end  # runs in exclusive workers, which a newer one cancels at any moment
    async def virtualize(self, viewport: Region) -> bool:
        """Render sealed segments near ``viewport`` (screen coordinates); stub far ones.

        A rendered segment becomes a stub of exactly its height, so nothing moves; a stub
        that was never rendered at this width may come back taller or shorter (the caller
        keeps the reader's place). True when anything was mounted or removed.
        """
        margin = int(viewport.height * RENDER_MARGIN)
        top, bottom = viewport.y - margin, viewport.bottom + margin
        changed = False
        async with self._lock:
            for segment in self._segments():
                region = segment.region
                if segment is self._live or not region:  # hidden (folded reasoning)
                    continue
                near = region.bottom >= top and region.y <= bottom
                if isinstance(segment, SegmentStub) and near:
                    await self._render_stub(segment)
                    changed = True
                elif isinstance(segment, AnswerMarkdown) and not near:
                    await self.mount(SegmentStub(segment.source, segment.outer_size.height),
                                     before=segment)
                    await segment.remove()
                    changed = True
        return changed

    async def _render_stub(self, stub: SegmentStub) -> AnswerMarkdown:
        rendered = AnswerMarkdown(stub.source)
        await self.mount(rendered, before=stub)
        await stub.remove()
        return rendered

    @runs_to_end
    async def render_containing(self, text: str) -> None:
        """Render every stub whose text contains ``text`` (before highlighting in it)."""
        async with self._lock:
            for segment in self._segments():
                if isinstance(segment, SegmentStub) and text in segment.source:
                    await self._render_stub(segment)


def _last_pieces(pieces: list[str], chars: int) -> int:
    """How many of the last pieces it takes to hold ``chars`` characters (at least one)."""
    total = count = 0
    for piece in reversed(pieces):
        if total >= chars:
            break
        total += len(piece)
        count += 1
    return max(1, count)
