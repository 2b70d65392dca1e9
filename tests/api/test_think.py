"""``<think>`` splitting across arbitrary chunk boundaries."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sonar_tui.api.think import ThinkSplitter


def split(*pieces: str) -> tuple[str, str, list[tuple[bool, str]]]:
    splitter = ThinkSplitter()
    out = []
    for piece in pieces:
        out += splitter.feed(piece)
    out += splitter.close()
    reasoning = "".join(t for r, t in out if r)
    text = "".join(t for r, t in out if not r)
    return reasoning, text, out


def oracle(s: str) -> tuple[str, str]:
    """An independent definition: a block runs from <think> to the next </think> (or the end)."""
    block = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.S)
    return "".join(block.findall(s)), block.sub("", s)


def test_tags_split_anywhere():
    reasoning, text, _ = split("<thi", "nk>\nI should search.", "\n</th", "ink>\n\nThe answer.")
    assert reasoning == "\nI should search.\n"
    assert text == "\n\nThe answer."


def test_partial_tag_is_held_then_released_when_not_a_tag():
    splitter = ThinkSplitter()
    assert splitter.feed("a <thi") == [(False, "a ")]
    assert splitter.feed("s is text") == [(False, "<this is text")]


def test_held_fragment_is_flushed_at_end():
    assert split("x < y and <th")[1] == "x < y and <th"
    assert split("<think>unfinished </thi")[0] == "unfinished </thi"


def test_plain_text_passes_through_unchanged():
    assert split("no tags here, 1 < 2")[2] == [(False, "no tags here, 1 < 2")]


def test_close_tag_outside_a_block_is_text():
    assert split("a </think> b") == ("", "a </think> b", [(False, "a </think> b")])


def test_pieces_keep_wire_order():
    _, _, pieces = split("pre<think>r1</think>mid<think>r2</think>post")
    assert pieces == [(False, "pre"), (True, "r1"), (False, "mid"), (True, "r2"), (False, "post")]


ALPHABET = st.sampled_from(["<", ">", "/", "t", "h", "i", "n", "k", "<think>", "</think>",
                            "a", " ", "\n", "é", "🎉"])


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join), st.lists(st.integers(0, 200), max_size=20))
def test_every_character_survives_any_chunking(text, cuts):
    points = sorted({c for c in cuts if 0 < c < len(text)})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    reasoning, answer, out = split(*pieces)
    assert (reasoning, answer) == oracle(text)
    assert all(piece for _, piece in out)  # no empty pieces
