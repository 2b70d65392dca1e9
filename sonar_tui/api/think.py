"""Splitting ``<think>…</think>`` reasoning from answer text across arbitrary chunk boundaries.

Reasoning models put their chain of thought inline in the answer text. A stream delivers it in
pieces cut anywhere, so a tag may arrive as ``<thi`` + ``nk>``. The splitter holds back a
trailing fragment that could still become a tag, and releases it as soon as the next piece
proves it is not one (or at end of stream). Tags are removed; every other character comes
out exactly once, in order.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

Piece = tuple[bool, str]  # (is_reasoning, text)


class ThinkSplitter:
    __slots__ = ("_inside", "_held", "seen_tag")

    def __init__(self) -> None:
        self._inside = False
        self._held = ""  # a possible tag prefix at the end of the last piece
        self.seen_tag = False  # a think block has opened at some point

    @property
    def inside(self) -> bool:
        return self._inside

    def passes(self, text: str) -> bool:
        """True when ``text`` is plain answer text as it stands (no tag state, no ``<``)."""
        return not self._inside and not self._held and "<" not in text

    def feed(self, text: str) -> list[Piece]:
        if not self._held and not self._inside and "<" not in text:
            return [(False, text)] if text else []  # the common case: plain answer text
        if self._held:
            text = self._held + text
            self._held = ""
        pieces: list[Piece] = []
        while text:
            tag = CLOSE_TAG if self._inside else OPEN_TAG
            at = text.find(tag)
            if at >= 0:
                if at:
                    pieces.append((self._inside, text[:at]))
                self._inside = not self._inside
                self.seen_tag = True
                text = text[at + len(tag):]
                continue
            hold = _partial_tag_start(text, tag)
            if hold < len(text):
                self._held = text[hold:]
                text = text[:hold]
            if text:
                pieces.append((self._inside, text))
            break
        return pieces

    def close(self) -> list[Piece]:
        """End of stream: a held fragment was not a tag after all."""
        held, self._held = self._held, ""
        return [(self._inside, held)] if held else []


def _partial_tag_start(text: str, tag: str) -> int:
    """Where a suffix of ``text`` that is a proper prefix of ``tag`` starts (len(text) if none)."""
    start = max(0, len(text) - len(tag) + 1)
    at = text.find("<", start)
    while at >= 0:
        if tag.startswith(text[at:]):
            return at
        at = text.find("<", at + 1)
    return len(text)


__all__ = ["CLOSE_TAG", "OPEN_TAG", "Piece", "ThinkSplitter"]
