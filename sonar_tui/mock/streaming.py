"""From a list of SSE events to the body items the HTTP server writes.

The wire modules render what a healthy server sends; this module adds what goes wrong or
slow on the way: pacing (``Pause`` between events), a ``Gate`` a test opens, keep-alive
pings, one malformed event, and cutting the stream short with ``DROP`` (disconnect) or
``HANG`` (stall).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sonar_tui.mock.http import DROP, HANG, BodyItem, Control, Gate, Pause

PING = b": ping\n\n"
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class StreamShape:
    """How a healthy stream is altered. Indexes count events, starting at 0."""

    pace: float | None = None  # events per second; None = as fast as possible
    ping_every: int = 0  # a comment ping after every n events (0 = none added)
    drop_done: bool = False  # leave out a literal [DONE]
    insert_at: int | None = None  # put ``insert`` before this event
    insert: bytes = b""
    cut_at: int | None = None  # stop before this event ...
    cut: Control | None = None  # ... and then DROP or HANG
    gate_at: int | None = None  # wait at ``gate`` before this event ...
    gate: Gate | None = None  # ... until a test opens it


def shape_stream(events: Iterable[bytes], shape: StreamShape) -> Iterator[BodyItem]:
    pause = Pause(1.0 / shape.pace) if shape.pace and shape.pace > 0 else None
    first = True

    def send(item: bytes) -> Iterator[BodyItem]:
        nonlocal first
        if pause is not None and not first:
            yield pause
        first = False
        yield item

    for index, event in enumerate(events):
        if shape.cut_at is not None and index >= shape.cut_at:
            if shape.cut is not None:
                yield shape.cut
            return
        if shape.gate is not None and shape.gate_at == index:
            yield shape.gate
        if shape.insert_at == index:
            yield from send(shape.insert)
        if shape.drop_done and event == DONE:
            continue
        yield from send(event)
        if shape.ping_every and (index + 1) % shape.ping_every == 0:
            yield from send(PING)


__all__ = ["DONE", "DROP", "Gate", "HANG", "PING", "StreamShape", "shape_stream"]
