"""references: copy formats that resolve [n] markers to sources, plain text, code blocks,
whole threads. Rendering claims are checked with markdown-it, the parser Textual's Markdown
widget uses (GitHub and Obsidian are CommonMark too)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from sonar_tui.references import (
    CodeBlock,
    cited_numbers,
    code_blocks,
    nearest_code_block,
    plain_text,
    question_markdown,
    sources_markdown,
    status_note,
    thread_markdown,
    with_inline_links,
    with_references,
)

PARSER = MarkdownIt("gfm-like")

# The shape of a real Sonar answer (fixture unknown-repo__sonar-nonstream-2025-08-...).
ANSWER = (
    "Jannik Sinner is the current world No. 1, ahead of Carlos Alcaraz and Alexander "
    "Zverev[1][2][3]. These rankings reflect the latest data[1][3]."
)
SOURCES = [
    {"number": 1, "url": "https://www.espn.com/tennis/rankings",
     "title": "Men's Tennis ATP Rankings 2025", "date": "2025-08-11",
     "last_updated": "2025-08-11", "snippet": None, "origin": "web"},
    {"number": 2,
     "url": "https://en.wikipedia.org/wiki/List_of_ATP_number_1_ranked_singles_tennis_players",
     "title": "List of ATP number 1 ranked singles tennis players - Wikipedia",
     "date": "2005-08-30", "last_updated": "2025-08-14", "snippet": None, "origin": "web"},
    {"number": 3, "url": "https://www.tntsports.co.uk/tennis/atp/standings.shtml",
     "title": "ATP 2025 World Ranking - Tennis", "date": None, "last_updated": None,
     "snippet": None, "origin": "web"},
    {"number": 4, "url": "https://www.atptour.com/en/rankings/singles",
     "title": "Rankings | Singles | ATP Tour | Tennis", "date": None, "last_updated": None,
     "snippet": None, "origin": "web"},
]


def link_tokens(markdown: str) -> list[tuple[str, str]]:
    """(href, rendered text) of every explicit link."""
    found = []
    for block in PARSER.parse(markdown):
        children = block.children or []
        for i, token in enumerate(children):
            if token.type == "link_open" and token.markup != "linkify":
                text = ""
                for inner in children[i + 1:]:
                    if inner.type == "link_close":
                        break
                    text += inner.content
                found.append((token.attrs["href"], text))
    return found


# ----------------------------------------------------------------------------- with_references


def test_with_references_lists_every_source_in_number_order() -> None:
    assert with_references(ANSWER, SOURCES) == ANSWER + (
        "\n\n"
        "[1]: Men's Tennis ATP Rankings 2025 — https://www.espn.com/tennis/rankings\n"
        "[2]: List of ATP number 1 ranked singles tennis players - Wikipedia — "
        "https://en.wikipedia.org/wiki/List_of_ATP_number_1_ranked_singles_tennis_players\n"
        "[3]: ATP 2025 World Ranking - Tennis — "
        "https://www.tntsports.co.uk/tennis/atp/standings.shtml\n"
        "[4]: Rankings | Singles | ATP Tour | Tennis — "
        "https://www.atptour.com/en/rankings/singles"
    )


def test_with_references_cited_only() -> None:
    result = with_references(ANSWER, list(reversed(SOURCES)), cited_only=True)
    assert result.endswith("[3]: ATP 2025 World Ranking - Tennis — "
                           "https://www.tntsports.co.uk/tennis/atp/standings.shtml")
    assert "[4]:" not in result
    # an answer citing nothing still gets its sources
    assert "[4]:" in with_references("No markers here.", SOURCES, cited_only=True)


def test_with_references_without_sources_is_the_answer_alone() -> None:
    assert with_references("Just text.\n\n", []) == "Just text."


def test_source_lines_only_show_http_urls_and_clean_titles() -> None:
    sources = [
        {"number": 1, "url": "javascript:alert(1)", "title": "Evil"},
        {"number": 2, "url": "", "title": "notes.pdf", "origin": "attachment"},
        {"number": 3, "url": "https://www.example.com/a", "title": ""},
        {"number": 4, "url": "file:///etc/passwd", "title": "Title\x1b]52;c;AAAA\x07\nsplit\u202e"},
        {"number": 5, "url": "https://example.com/x", "title": None},
        {"number": 3, "url": "https://duplicate.example", "title": "second 3 ignored"},
        {"number": "x", "url": "https://bad-number.example"},
    ]
    assert sources_markdown(sources).split("\n") == [
        "[1]: Evil — no http(s) link",
        "[2]: notes.pdf — attached file",
        "[3]: example.com — https://www.example.com/a",
        "[4]: Title split — no http(s) link",
        "[5]: example.com — https://example.com/x",
    ]


@pytest.mark.parametrize("title", [
    "Word", "", 'Say "hi"', 'A "B', "A 'B", "Python (programming language)", "A (B",
    "<x y>", "(whole)", "x 'y' z",
])
@pytest.mark.parametrize("url", [
    "https://x.example/", "https://x.example/a'", "https://x.example/a)", "", "ftp://x",
])
def test_source_lines_never_become_hidden_link_definitions(title: str, url: str) -> None:
    """``[1]: Word`` alone would be a link reference definition: invisible when rendered, and
    every [1] in the answer would link to "Word"."""
    lines = sources_markdown([{"number": 1, "url": url, "title": title},
                              {"number": 2, "url": url, "title": title}])
    for bullets in (False, True):
        document = "Claim[1][2].\n\n" + (sources_markdown(
            [{"number": 1, "url": url, "title": title}], bullets=True) if bullets else lines)
        env: dict = {}
        PARSER.parse(document, env)
        assert not env.get("references"), document


@given(st.lists(st.fixed_dictionaries({
    "number": st.integers(1, 12),
    "url": st.sampled_from(["https://ok.example/p", "javascript:x", "", "http://a.b/(c)",
                            "https://ok.example/\x1b[31m", "data:x"]) | st.text(max_size=20),
    "title": st.text(max_size=30),
}), max_size=6))
def test_with_references_output_is_clean_and_only_links_http(sources: list[dict]) -> None:
    result = with_references("Claim [1][2][3].", sources)
    assert not any(ord(c) < 32 and c not in "\n\t" for c in result)
    for line in result.split("\n")[2:]:
        url = line.rsplit(" — ", 1)[1]
        assert url.startswith(("http://", "https://")) or url in ("no http(s) link",
                                                                   "attached file")
    env: dict = {}
    PARSER.parse(result, env)
    assert not env.get("references")


# ----------------------------------------------------------------------------- inline links


def test_inline_links_convert_adjacent_markers_and_render_as_bracketed_numbers() -> None:
    result = with_inline_links("Claim[1][2]. Unknown[9].", SOURCES)
    assert result == (
        "Claim[\\[1\\]](https://www.espn.com/tennis/rankings)"
        "[\\[2\\]]"
        "(https://en.wikipedia.org/wiki/List_of_ATP_number_1_ranked_singles_tennis_players)"
        ". Unknown[9]."
    )
    assert link_tokens(result) == [
        ("https://www.espn.com/tennis/rankings", "[1]"),
        ("https://en.wikipedia.org/wiki/List_of_ATP_number_1_ranked_singles_tennis_players", "[2]"),
    ]


def test_inline_links_leave_code_existing_links_and_unsafe_sources() -> None:
    sources = [{"number": 1, "url": "https://a.example"}, {"number": 2, "url": "javascript:x"}]
    text = ("Use `arr[1]` here[1].\n\n```python\nx = arr[1]\n```\n\n"
            "Already [1](https://a.example) linked; unsafe[2].\n[1]: https://a.example")
    assert with_inline_links(text, sources) == (
        "Use `arr[1]` here[\\[1\\]](https://a.example).\n\n```python\nx = arr[1]\n```\n\n"
        "Already [1](https://a.example) linked; unsafe[2].\n[1]: https://a.example")


def test_inline_link_destinations_keep_parentheses_balanced() -> None:
    sources = [{"number": 1, "url": "https://en.wikipedia.org/wiki/Python_(programming_language)"},
               {"number": 2, "url": "https://example.com/smiley:)"}]
    result = with_inline_links("A[1] B[2]", sources)
    assert link_tokens(result) == [
        ("https://en.wikipedia.org/wiki/Python_(programming_language)", "[1]"),
        ("https://example.com/smiley:%29", "[2]"),
    ]


def test_with_references_and_inline_links_neutralise_unsafe_markdown_links() -> None:
    text = "See [this](javascript:alert(1)) and [that](https://ok.example)[1]."
    assert link_tokens(with_references(text, SOURCES)) == [("https://ok.example", "that")]
    assert [h for h, _ in link_tokens(with_inline_links(text, SOURCES))] == [
        "https://ok.example", "https://www.espn.com/tennis/rankings"]


# ----------------------------------------------------------------------------- plain text


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        (ANSWER, "Jannik Sinner is the current world No. 1, ahead of Carlos Alcaraz and "
                 "Alexander Zverev. These rankings reflect the latest data."),
        ("Claim [1]. Next", "Claim. Next"),
        ("a [1] b", "a b"),
        ("a[1] b", "a b"),
        ("word[1]word", "word word"),
        ("(see [1][2])", "(see)"),
        ("[1] Starts a line\n  [2] indented", "Starts a line\n  indented"),
        ("Ends a line [3]\nnext", "Ends a line\nnext"),
        ("**bold** and *italic* and ***both*** and __strong__ and _em_ and ~~gone~~",
         "bold and italic and both and strong and em and gone"),
        ("snake_case_name and 2*3*4 and a * b", "snake_case_name and 2*3*4 and a * b"),
        ("# Title\n\n## Sub ##\nText", "Title\n\nSub\nText"),
        ("- item **one**\n1. item two", "- item one\n1. item two"),
        ("[site](https://x.example/_a_/) and ![logo](https://x.example/l.png)",
         "site (https://x.example/_a_/) and logo"),
        ("<https://x.example/_b_> and https://x.example/_c_/ bare",
         "https://x.example/_b_ and https://x.example/_c_/ bare"),
        ("[https://x.example](https://x.example)", "https://x.example"),
        ("[bad](javascript:alert(1))", "bad"),
        ("Use `arr[1]` and `` a`b `` and \\*literal\\*", "Use arr[1] and a`b and *literal*"),
        ("Code:\n\n```python\nx = arr[1]  # **not** emphasis [2]\n```\nafter[1]",
         "Code:\n\n```python\nx = arr[1]  # **not** emphasis [2]\n```\nafter"),
        ("Bell\x07 and \x1b[31mred\x1b[0m", "Bell and red"),
    ],
)
def test_plain_text(markdown: str, expected: str) -> None:
    assert plain_text(markdown) == expected


def test_cited_numbers_ignore_code_and_definitions() -> None:
    assert cited_numbers("a[3][1] `b[7]`\n```\nc[8]\n```\n[5]: def\nd[1] \\[6]") == [1, 3]


# ----------------------------------------------------------------------------- code blocks


DOC = """Intro with `inline` code.

```python title="demo.py"
def f(a):
    return a[1]
```

1. Install:
   ```bash
   pip install x
     --flag
   ```
2. Then:
- ```js
  let x = 1;
  ```

````markdown
```inner
not a fence close
```
````

~~~{.rust .numberLines}
fn main() {}
~~~

``` not`a fence
text

```
unclosed at the end
"""


def test_code_blocks_number_and_extract_every_fence_kind() -> None:
    assert code_blocks(DOC) == [
        CodeBlock(1, "python", "def f(a):\n    return a[1]", 2, 5),
        CodeBlock(2, "bash", "pip install x\n  --flag", 8, 11),
        CodeBlock(3, "js", "let x = 1;", 13, 15),
        CodeBlock(4, "markdown", "```inner\nnot a fence close\n```", 17, 21),
        CodeBlock(5, "rust", "fn main() {}", 23, 25),
        CodeBlock(6, "", "unclosed at the end", 30, 31, closed=False),
    ]


def test_code_blocks_agree_with_markdown_it() -> None:
    theirs = [(t.map[0], t.info.split(" ")[0], t.content.rstrip("\n"))
              for t in PARSER.parse(DOC) if t.type == "fence"]
    ours = [(b.start_line, b.language, b.code) for b in code_blocks(DOC)]
    theirs[4] = (23, "rust", "fn main() {}")  # Pandoc-style {.rust} info: we read the class
    assert ours == theirs


def test_code_blocks_handle_crlf_and_empty_blocks() -> None:
    assert code_blocks("```\r\n```\r\n~~~sh\r\nls\r\n~~~") == [
        CodeBlock(1, "", "", 0, 1), CodeBlock(2, "sh", "ls", 2, 4)]
    assert code_blocks("no code here") == []


@pytest.mark.parametrize(("line", "expected"), [(0, 1), (3, 1), (6, 1), (7, 1), (8, 2), (9, 2),
                                                 (15, 2), (16, 3), (40, 3)])
def test_nearest_code_block(line: int, expected: int) -> None:
    blocks = [CodeBlock(1, "", "a", 2, 5), CodeBlock(2, "", "b", 9, 11),
              CodeBlock(3, "", "c", 20, 22)]
    assert nearest_code_block(blocks, line).number == expected


def test_nearest_code_block_prefers_the_block_above_on_a_tie() -> None:
    blocks = [CodeBlock(1, "", "a", 0, 2), CodeBlock(2, "", "b", 6, 8)]
    assert nearest_code_block(blocks, 4).number == 1
    assert nearest_code_block([], 4) is None


# ----------------------------------------------------------------------------- threads


def test_question_markdown_short_and_long() -> None:
    assert question_markdown("Who is No. 1?") == "## Who is No. 1?"
    assert question_markdown("What about C#") == "## What about C\\#"
    long = "Compare these:\n\n- a\n- b"
    assert question_markdown(long) == "## Compare these:\n\n> Compare these:\n>\n> - a\n> - b"
    heading = question_markdown("x" * 100).split("\n")[0]
    assert heading == "## " + "x" * 79 + "…"


def test_status_notes() -> None:
    assert status_note({"status": "complete"}) == ""
    assert status_note({"status": "error", "error": {"message": "Rate limited\x1b[2J",
                                                     "status": 429}}) == (
        "> **Error (HTTP 429):** Rate limited")
    assert status_note({"status": "cancelled"}).startswith("> *Cancelled")
    assert status_note({"status": "interrupted"}).startswith("> *Interrupted")
    assert status_note({"status": "complete", "finish_reason": "length"}) == (
        "> *Stopped at the maximum answer length.*")


def test_thread_markdown() -> None:
    thread = {"title": "ATP\x1b]0;x\x07 rankings", "created_at": 0}
    messages = [
        {"role": "user", "content": "Who is No. 1?"},
        {"role": "assistant", "content": ANSWER, "sources": SOURCES[:2], "status": "complete"},
        {"role": "user", "content": "And women?"},
        {"role": "assistant", "content": "", "status": "error",
         "error": {"message": "Service unavailable", "status": 503}},
    ]
    assert thread_markdown(thread, messages) == (
        "# ATP rankings\n\n"
        "## Who is No. 1?\n\n"
        f"{ANSWER}\n\n"
        "[1]: Men's Tennis ATP Rankings 2025 — https://www.espn.com/tennis/rankings\n"
        "[2]: List of ATP number 1 ranked singles tennis players - Wikipedia — "
        "https://en.wikipedia.org/wiki/List_of_ATP_number_1_ranked_singles_tennis_players\n\n"
        "## And women?\n\n"
        "> **Error (HTTP 503):** Service unavailable\n"
    )
