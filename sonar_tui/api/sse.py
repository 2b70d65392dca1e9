"""Incremental Server-Sent Events decoding from raw bytes.

Network reads split the stream anywhere: inside a line, inside a multi-byte UTF-8 character,
between the ``\\r`` and ``\\n`` of a line ending. The decoder keeps the bytes after the last
line ending and decodes only complete lines, so a character is never cut (line endings are
ASCII and never occur inside a multi-byte sequence).

Per the WHATWG SSE rules: ``data:`` with or without the space after the colon, several
``data:`` lines of one event joined with ``\\n``, ``event:`` names kept, comment lines
(``:``...) and ``id:`` / ``retry:`` ignored, a blank line ends an event. One deliberate
deviation: an event still open at end of stream is delivered rather than dropped, because a
server that closes right after its final ``data:`` line still meant it.

The work per read is a few C-level calls (``rfind``, ``decode``, ``split``) plus one Python
step per *line*, never per byte: this is the streaming hot path.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import orjson

from sonar_tui.api.errors import ApiError, ErrorKind

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CR = 13
_LF = 10
# The most one line may hold before its line break arrives. Real lines are kilobytes (a 2024
# chunk repeating a long answer, megabytes); a server sending a 20 MB line, or one that never
# ends, must not make the client buffer without bound.
MAX_LINE_BYTES = 8 * 1024 * 1024


def line_too_long_error() -> ApiError:
    return ApiError(ErrorKind.PROTOCOL,
                    f"The service sent a single line of more than {MAX_LINE_BYTES // 2**20} MB "
                    "without a line break, so the answer was cut there; the text that arrived "
                    "before it is kept.", partial=True)


class SseEvent(NamedTuple):
    event: str  # the ``event:`` name, "" when the server sent none
    data: str  # the ``data:`` lines joined with "\n"


def _event(name: str, data: str) -> SseEvent:
    # NamedTuple's generated __new__ is Python code; tuple.__new__ is half the cost per event.
    return tuple.__new__(SseEvent, (name, data))


class SseDecoder:
    """Feed raw bytes, get complete :class:`SseEvent` values back."""

    __slots__ = ("_pending", "_pending_size", "_skip_lf", "_data", "_event", "_at_start",
                 "overflowed")

    def __init__(self) -> None:
        # Bytes after the last line ending seen, as the reads that brought them: a long line
        # grows by appending a piece, never by copying what it holds so far.
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._skip_lf = False  # the last read ended with "\r": a leading "\n" belongs to it
        self._data: list[str] = []
        self._event = ""
        self._at_start = True
        self.overflowed = False  # a line passed MAX_LINE_BYTES: nothing more is decoded

    @property
    def pending_bytes(self) -> int:
        return self._pending_size

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self.overflowed:
            return []
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
        if self._pending:
            if b"\n" not in chunk and b"\r" not in chunk:
                self._pending.append(chunk)
                self._pending_size += len(chunk)
                if self._pending_size > MAX_LINE_BYTES:
                    self._overflow()
                return []
            self._pending.append(chunk)
            buf = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
        else:
            buf = chunk
        if b"\r" in buf:
            return self._feed_with_cr(buf)
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._keep(buf)
            return []
        self._keep(buf[cut + 1:])
        text = buf[:cut].decode("utf-8", "replace")
        if self._at_start:
            text = self._strip_bom(text)
        if not self._data:
            # The usual reads: one event, "[event: <name>\n]data: <payload>\n" + blank line.
            name = self._event
            body = text
            if text.startswith("event: "):
                nl = text.find("\n")
                name, body = text[7:nl], text[nl + 1:]
            if body.startswith("data: ") and body.find("\n") == len(body) - 1:
                self._event = ""
                return [_event(name, body[6:-1])]
        return self._lines(text.split("\n"))

    def _keep(self, tail: bytes) -> None:
        """Hold the unfinished last line (a line already past the limit ends decoding)."""
        if not tail:
            return
        self._pending, self._pending_size = [tail], len(tail)
        if self._pending_size > MAX_LINE_BYTES:
            self._overflow()

    def _overflow(self) -> None:
        self.overflowed = True
        self._pending, self._pending_size = [], 0
        self._data = []

    def _feed_with_cr(self, buf: bytes) -> list[SseEvent]:
        """The general path, for streams that use CRLF or bare CR line endings."""
        cut = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        end = cut
        if buf[cut] == _CR:
            # "\r" at the very end: its "\n" may be the first byte of the next read.
            self._skip_lf = cut == len(buf) - 1
        elif cut and buf[cut - 1] == _CR:
            end = cut - 1  # the final "\r\n" is one line ending, not two
        self._keep(buf[cut + 1:])
        text = buf[:end].decode("utf-8", "replace")
        if self._at_start:
            text = self._strip_bom(text)
        return self._lines(_LINE_BREAK.split(text))

    def _strip_bom(self, text: str) -> str:
        self._at_start = False
        return text[1:] if text.startswith("\ufeff") else text

    def close(self) -> list[SseEvent]:
        """End of stream: the last unterminated line and any open event are delivered."""
        events: list[SseEvent] = []
        if self.overflowed:
            return events
        if self._pending:
            text = b"".join(self._pending).decode("utf-8", "replace")
            self._pending, self._pending_size = [], 0
            if self._at_start:
                text = self._strip_bom(text)
            events = self._lines([text])
        if self._data:
            events.append(_event(self._event, "\n".join(self._data)))
        self._data = []
        self._event = ""
        return events

    def _lines(self, lines: list[str]) -> list[SseEvent]:
        events: list[SseEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    joined = data[0] if len(data) == 1 else "\n".join(data)
                    events.append(_event(self._event, joined))
                    data = self._data = []
                self._event = ""
                continue
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
                continue
            if line[0] == ":":
                continue  # a comment: keep-alive pings
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "event":
                self._event = value
            elif name == "data":  # a bare "data" line: an empty data line, per the spec
                data.append(value)
            # "id", "retry" and unknown fields are ignored
        return events


class SseEventParser:
    """What both wire adapters share: SSE decoding, and stopping at the terminal event.

    Subclasses turn each SSE event into answer events in ``_on_sse`` and set ``_done`` once
    the stream has said its last word.
    """

    def __init__(self) -> None:
        self._sse = SseDecoder()
        self._done = False

    def feed(self, data: bytes) -> list:
        """Bytes as they arrive (cut anywhere) in, answer events out."""
        out: list = []
        if self._done:
            return out
        for sse in self._sse.feed(data):
            self._on_sse(sse, out)
            if self._done:
                return out
        if self._sse.overflowed:
            out.extend(self.fail(line_too_long_error()))
        return out

    def _on_sse(self, sse: SseEvent, out: list) -> None:
        raise NotImplementedError

    def fail(self, error: ApiError) -> list:
        """End the answer with ``error`` (held text first); nothing more is read."""
        raise NotImplementedError


# The C scanner behind json.loads: (value, end) = scan_json(text, index).
scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # not in typeshed


def load_json(text: str) -> Any:
    """An event's ``data`` as JSON, or None when it is not JSON (pings, ``[DONE]``, junk).

    orjson first: decoding one JSON object per token is most of what the parser costs, and
    orjson does it in about half the time. It refuses a few things the standard library
    accepts (lone surrogate escapes, integers over 64 bits, NaN), so anything it refuses goes
    through the standard decoder, whose C scanner is called directly: ``json.loads`` adds two
    wrapper calls and two whitespace regex matches per payload.

    Every remote JSON value comes through here, so this is where lone surrogates (``"\\ud800"``,
    which JSON allows and a gateway cutting strings by UTF-16 units sends) become U+FFFD:
    left in, they cannot be encoded and would fail the database write, the terminal write or
    the next request body, far from their cause. Only the fallback path can hold them.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        value, end = scan_json(text, 0)
        if end != len(text):
            value = json.loads(text)  # trailing whitespace is fine, trailing junk is not
    except StopIteration:  # no JSON value at position 0, e.g. leading whitespace
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return None
    except (ValueError, RecursionError):
        return None
    try:
        return without_surrogates(value) if _SURROGATE_RE.search(text) else value
    except RecursionError:
        return None


# A surrogate escape, lone or paired: orjson accepts the pairs, so one seen in the fallback
# path is, nearly always, a lone one.
_SURROGATE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_CHAR_RE = re.compile("[\ud800-\udfff]")


def without_surrogates(value: Any) -> Any:
    """``value`` (decoded JSON) with every lone surrogate code point replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE_CHAR_RE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    return value


__all__ = ["MAX_LINE_BYTES", "SseDecoder", "SseEvent", "SseEventParser", "line_too_long_error",
           "load_json", "scan_json", "without_surrogates"]
