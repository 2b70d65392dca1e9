"""Throttled saving of an answer while it streams.

The streaming hot path calls :meth:`AnswerWriter.append_text` per token (a list append, no
I/O) and ``await writer.maybe_checkpoint()`` after it, which returns at once unless a
checkpoint is due: ``CHECKPOINT_INTERVAL_S`` since the last one, or ``CHECKPOINT_CHARS`` of
new text, whichever comes first. A crash therefore loses at most that much. New sources
(``set_sources``) are saved with the next checkpoint, text or not.

    writer = store.answer_writer(await store.start_answer(thread_id, settings, model, api))
    async for event in stream:
        writer.append_text(event.text)            # or append_reasoning, set_sources
        await writer.maybe_checkpoint()
    await writer.finish(FinalAnswer("complete", writer.content, sources=..., usage=...))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sonar_tui.store.models import FinalAnswer
    from sonar_tui.store.store import Store

CHECKPOINT_INTERVAL_S = 0.5
CHECKPOINT_CHARS = 4096


class AnswerWriter:
    def __init__(
        self,
        store: Store,
        message_id: int,
        *,
        interval: float = CHECKPOINT_INTERVAL_S,
        max_pending_chars: int = CHECKPOINT_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.message_id = message_id
        self._interval = interval
        self._max_pending = max_pending_chars
        self._clock = clock
        self._text: list[str] = []
        self._reasoning: list[str] = []
        # The sources received so far, when newer than the last checkpoint: saved with the
        # text, so the [n] markers of a partial answer still point somewhere after a crash.
        self._sources: list[Mapping[str, Any]] | None = None
        self._saved_sources: list[Mapping[str, Any]] = []
        self._pending = 0  # characters appended since the last saved checkpoint
        self._last_checkpoint = clock()
        self._in_flight = False
        self._retry_at: float | None = None  # after a failed write: no new try before this
        self.checkpoints = 0  # how many were written (diagnostics, tests)
        self.finished = False

    # ------------------------------------------------------------------ hot path
    def append_text(self, text: str) -> None:
        if text:
            self._text.append(text)
            self._pending += len(text)

    def append_reasoning(self, text: str) -> None:
        if text:
            self._reasoning.append(text)
            self._pending += len(text)

    def set_sources(self, sources: Sequence[Mapping[str, Any]]) -> None:
        """The whole list of sources so far (the last call wins)."""
        sources = list(sources)
        self._sources = None if sources == self._saved_sources else sources

    @property
    def due(self) -> bool:
        if not (self._pending or self._sources is not None) or self._in_flight or self.finished:
            return False
        if self._pending >= self._max_pending and self._retry_at is None:
            return True
        now = self._clock()
        if self._retry_at is not None:
            return now >= self._retry_at
        return now - self._last_checkpoint >= self._interval

    async def maybe_checkpoint(self) -> bool:
        """Write a checkpoint if one is due; True when it wrote."""
        if not self.due:
            return False
        await self.checkpoint()
        return True

    # ------------------------------------------------------------------ writes
    @property
    def content(self) -> str:
        return _joined(self._text)

    @property
    def reasoning(self) -> str:
        return _joined(self._reasoning)

    async def checkpoint(self) -> None:
        """Save the text so far now. On failure the text stays pending, and the next try
        waits a full interval (a full disk must not turn into a write per token)."""
        if self.finished:
            return
        pending, sources = self._pending, self._sources
        self._in_flight = True
        try:
            await self._store.checkpoint_answer(self.message_id, self.content, self.reasoning,
                                                sources=sources)
        except BaseException:
            self._retry_at = self._clock() + self._interval
            raise
        finally:
            self._in_flight = False
            self._last_checkpoint = self._clock()
        self._retry_at = None
        # Only what was saved stops being pending (text may arrive during the await).
        self._pending -= pending
        if sources is not None:
            self._saved_sources = sources
            if self._sources is sources:
                self._sources = None
        self.checkpoints += 1

    async def finish(self, final: FinalAnswer) -> None:
        """Finalise the answer with ``final`` (its text is the whole answer: the appended
        deltas, or the adapter's final text). Cancelled and failed answers keep their
        partial text."""
        await self._store.finish_answer(self.message_id, final)
        self.finished = True
        self._pending = 0
        self._sources = None


def _joined(parts: list[str]) -> str:
    # Collapse in place so that repeated reads stay linear over the whole stream.
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""
