"""Streaming Markdown whose cost per chunk does not grow with the answer.

Tokens are buffered and flushed to ``Markdown.get_stream`` on a timer (a parse per token
starves key handling). The text is kept in *segments*: when the live segment passes
``SEGMENT_CHARS`` the next block boundary seals it and a fresh ``AnswerMarkdown`` takes over,
so each append parses and lays out a bounded widget instead of an ever-growing one. Text
that arrives faster than it can be shown (a fast wire) is cut into sealed segments right away
and rendered once each. When the stream ends, only the live segment gets the final full
render that clears Markdown's partial-block state.
"""

from __future__ import annotations

import asyncio
import re

from textual.containers import Vertical
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream

from sonar_tui.ui.widgets.markdown import AnswerMarkdown

SEGMENT_CHARS = 2500
FLUSH_INTERVAL = 0.05

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


class StreamingMarkdown(Vertical):
    """An answer's Markdown, in bounded segments, optionally streaming."""

    DEFAULT_CSS = """
    StreamingMarkdown { height: auto; }
    """

    def __init__(self, text: str = "", *, streaming: bool = False, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._initial = text
        self._streaming = streaming
        self._pending: list[str] = []
        self._sealed_chars = 0
        self._live: AnswerMarkdown | None = None
        self._live_text = ""
        self._stream: MarkdownStream | None = None
        self._timer = None
        self.segment_limit = SEGMENT_CHARS

    @property
    def source(self) -> str:
        """Everything received so far, including what is not yet on screen."""
        sealed = "".join(segment.source for segment in self.query_children(AnswerMarkdown)
                         if segment is not self._live)
        return sealed + self._live_text + "".join(self._pending)

    @property
    def streaming(self) -> bool:
        return self._streaming

    async def on_mount(self) -> None:
        pieces = split_segments(self._initial, self.segment_limit) if self._initial else []
        if self._streaming:
            tail = pieces.pop() if pieces else ""
            if pieces:
                await self.mount_all([AnswerMarkdown(piece) for piece in pieces])
            await self._start_live(tail)
            self._timer = self.set_interval(FLUSH_INTERVAL, self._flush)
        elif pieces:
            await self.mount_all([AnswerMarkdown(piece) for piece in pieces])

    async def _start_live(self, text: str) -> None:
        self._live = AnswerMarkdown(text or None)
        self._live_text = text
        await self.mount(self._live)
        self._stream = Markdown.get_stream(self._live)
        # Let the stream's task take its first step: MarkdownStream.stop() on a task that
        # never ran raises CancelledError and drops what was queued.
        await asyncio.sleep(0)

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

    async def _flush(self) -> None:
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
                await self.mount_all([AnswerMarkdown(piece) for piece in middle])
            await self._start_live(tail)


    async def finish(self) -> None:
        """End of stream: show everything, then one clean render of the live segment."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        await self._flush()
        await self._close_stream()
        if self._live is not None:
            await self._live.update(self._live_text)
        self._streaming = False

    async def replace(self, text: str) -> None:
        """Show exactly ``text`` (the service's authoritative final text)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        await self._close_stream()
        self._pending.clear()
        self._live = None
        self._live_text = ""
        await self.remove_children()
        await self.mount_all([AnswerMarkdown(piece) for piece in split_segments(text, self.segment_limit)])
        self._streaming = False
