"""The generated answers: deterministic, exact chunk counts, well-formed at any length."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from sonar_tui.mock.content import (
    LAST_LINE_PREFIX,
    build_answer,
    last_line,
    topic_of,
)

QUESTION = "What are the best Rust async runtimes in 2026?"


def _controls(text: str) -> set[str]:
    """Characters a terminal could act on (everything of category Cc except newline)."""
    return {c for c in text if unicodedata.category(c) == "Cc" and c != "\n"}


def test_same_question_gives_the_same_answer_bytes():
    first = build_answer(QUESTION, chunks=500, seed=3)
    build_answer.cache_clear()
    second = build_answer(QUESTION, chunks=500, seed=3)
    assert first is not second
    assert first == second
    assert first.text.encode() == second.text.encode()


def test_seed_and_question_change_the_answer():
    assert build_answer(QUESTION, seed=1).text != build_answer(QUESTION, seed=2).text
    assert build_answer(QUESTION).text != build_answer("How do tides work?").text


def test_exact_chunk_count_and_recognisable_last_line():
    for count in (1, 7, 300, 1000, 4000, 8000):
        answer = build_answer(QUESTION, chunks=count)
        assert len(answer.chunks) == count
        assert "".join(answer.chunks) == answer.text
        assert answer.text.endswith("\n\n" + last_line(count)) or count == 1
        assert answer.text.splitlines()[-1] == last_line(count)
        assert last_line(count).startswith(LAST_LINE_PREFIX)


def test_chunks_are_about_eight_characters_so_4000_chunks_are_about_31_kb():
    answer = build_answer(QUESTION, chunks=4000)
    assert 28_000 <= len(answer.text) <= 36_000
    assert all(answer.chunks)


def test_answer_has_heading_lists_table_code_and_matching_citations():
    answer = build_answer(QUESTION, chunks=400)
    text = answer.text
    assert text.startswith("# Best Rust async runtimes in 2026\n")
    assert re.search(r"^- \*\*", text, re.M)
    assert re.search(r"^1\. ", text, re.M)
    assert "|---|---|---|" in text
    assert re.search(r"^```[a-z]+\n", text, re.M)
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    assert markers and markers <= set(range(1, len(answer.sources) + 1))
    source = answer.sources[0]
    assert source.url.startswith("https://") and source.title and source.snippet
    assert source.last_updated
    assert answer.related_questions and answer.images


def test_no_search_means_no_sources_and_no_markers():
    answer = build_answer(QUESTION, chunks=300, cite=False)
    assert answer.sources == () and answer.images == ()
    assert not re.search(r"\[\d+\]", answer.text)


def test_reasoning_is_wrapped_in_think_tags_split_across_chunks():
    answer = build_answer(QUESTION, chunks=50, reasoning_chunks=30)
    assert answer.think_chunks[:2] == ("<thi", "nk>\n")
    assert answer.think_chunks[-2:] == ("\n</thi", "nk>\n\n")
    joined = "".join(answer.think_chunks)
    assert joined == f"<think>\n{answer.reasoning}\n</think>\n\n"
    assert len(answer.think_chunks) >= 30
    kinds = [step["type"] for step in answer.reasoning_steps]
    assert kinds == ["web_search", "fetch_url_content", "execute_python"]
    assert answer.reasoning_steps[0]["web_search"]["search_keywords"]
    assert answer.reasoning_steps[2]["execute_python"]["code"]


def test_topic_echo_is_cleaned_of_control_characters():
    assert topic_of("what is \x1b[31mred\x1b[0m text?") == "[31mred [0m text"
    assert topic_of("???") == "Your question"
    answer = build_answer("Explain\x00 the \x9b31m C1\u202e trick", chunks=200)
    assert not _controls(answer.text)


def test_hostile_style_is_full_of_escapes_and_markup():
    answer = build_answer(QUESTION, chunks=400, style="hostile")
    text = answer.text
    for needle in ("\x1b[31m", "\x1b]52;c;", "\x1b]8;;", "\x00", "\x9b", "\x85", "[bold]",
                   "[@click=app.quit]", "[link=https://evil", "javascript:", "file:///",
                   "data:text/html", "\u202e", "漢字", "\u2028"):
        assert needle in text, needle
    assert max(len(line) for line in text.split("\n")) >= 4000
    urls = [source.url for source in answer.sources]
    assert any(u.startswith("javascript:") for u in urls)
    assert any(u.startswith("file:") for u in urls)
    assert any(u.startswith("data:") for u in urls)
    assert any("\x1b" in source.title for source in answer.sources)
    assert any("\x1b" in question for question in answer.related_questions)
    assert text.splitlines()[-1] == last_line(400)
    assert len(answer.chunks) == 400


def test_one_megabyte_answers_keep_their_chunk_count():
    answer = build_answer(QUESTION, chunks=2000, min_chars=1_100_000)
    assert len(answer.text.encode()) > 1_048_576
    assert len(answer.chunks) == 2000
    assert answer.text.count("```") % 2 == 0


@settings(max_examples=60, deadline=None)
@given(question=st.text(max_size=120), chunks=st.integers(min_value=1, max_value=1500),
       seed=st.integers(min_value=0, max_value=5))
def test_any_question_gives_a_well_formed_answer(question, chunks, seed):
    answer = build_answer(question, chunks=chunks, seed=seed)
    text = answer.text
    assert "".join(answer.chunks) == text
    assert len(answer.chunks) == chunks or len(answer.chunks) < chunks < 40
    assert text.count("```") % 2 == 0  # every code fence is closed
    assert text.splitlines()[-1] == last_line(chunks)
    assert not _controls(text)
    assert text.startswith("# ")
