"""sanitize: control sequences, URLs, markup and Markdown links out of remote text.

Speed (measured by hand on the 2-core dev machine, 2026; not asserted): ``clean_text`` on 1 MB of
ordinary text (mixed scripts, emoji, no controls) takes ~2 ms (one regex scan, fast path); on
~1 MB dense with CSI/OSC 52/OSC 8/bidi/CRLF it takes ~21 ms; a 30-character streamed delta costs
~0.2 µs. ``neutralise_markdown_links`` takes ~280 ms per MB of link- and code-heavy Markdown.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from textual.markup import to_content

from sonar_tui.sanitize import (
    clean_line,
    clean_text,
    code_span,
    escape_markup,
    markdown_code_segments,
    neutralise_markdown_links,
    safe_url,
    url_domain,
)

ESC = "\x1b"
FORBIDDEN = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {"\x7f"}
FORBIDDEN |= {chr(c) for c in range(0x80, 0xA0)}
FORBIDDEN |= {chr(c) for c in range(0x202A, 0x202F)} | {chr(c) for c in range(0x2066, 0x206A)}


def assert_inert(text: str) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in text if c in FORBIDDEN or 0xD800 <= ord(c) <= 0xDFFF})
    assert not bad, bad


# ----------------------------------------------------------------------------- clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text", "plain text"),
        (f"a{ESC}[31mred{ESC}[0m b", "ared b"),
        (f"{ESC}[38;2;255;0;0mtrue colour{ESC}[m", "true colour"),
        (f"clear{ESC}[2J{ESC}[H!", "clear!"),
        (f"x{ESC}[?1049h{ESC}[?2004ly", "xy"),  # alt screen, bracketed paste off
        # OSC 52 clipboard write, BEL- and ST-terminated: payload gone
        (f"x{ESC}]52;c;aGVsbG8=\x07y", "xy"),
        (f"x{ESC}]52;c;aGVsbG8={ESC}\\y", "xy"),
        # OSC 8 hyperlink: the visible text stays, the link goes
        (f"x{ESC}]8;;https://evil.example{ESC}\\click{ESC}]8;;{ESC}\\y", "xclicky"),
        (f"title{ESC}]0;pwned\x07!", "title!"),
        # unterminated OSC: cut at the end of its line, the next line survives
        (f"before{ESC}]52;c;AAAA\nafter", "before\nafter"),
        (f"tail{ESC}]0;never ends", "tail"),
        # DCS / APC / PM / SOS strings
        (f"a{ESC}Pq#0;2;0;0;0#0~~{ESC}\\b", "ab"),
        (f"a{ESC}_Gf=100;AAAA{ESC}\\b", "ab"),
        (f"a{ESC}^private{ESC}\\b", "ab"),
        (f"a{ESC}Xsos{ESC}\\b", "ab"),
        (f"a{ESC}Ptmux;{ESC}{ESC}]52;c;AA\x07{ESC}\\b", "ab"),
        # single-character ESC sequences: reset, charset switch, DECALN, save/restore cursor
        (f"{ESC}cafter reset", "after reset"),
        (f"{ESC}(0qqq{ESC}(B", "qqq"),
        (f"{ESC}#8x", "x"),
        (f"{ESC}7a{ESC}8", "a"),
        (f"lone esc at end{ESC}", "lone esc at end"),
        # 8-bit C1 forms
        ("a\x9b31mb", "ab"),
        ("a\x9d52;c;AA\x07b", "ab"),
        ("a\x90q\x9cb", "ab"),
        ("a\x85b\x9fc\nd", "ab\nd"),  # NEL dropped; APC eats to the end of its line
        # C0, DEL, NUL
        ("nul\x00del\x7fbell\x07bs\x08", "nuldelbellbs"),
        # line breaks: CR alone would let later text overwrite earlier text
        ("a\rb\r\nc\x0bd\x0ce", "a\nb\nc\nd\ne"),
        ("safe\rrm -rf", "safe\nrm -rf"),
        # bidi embeddings, overrides and isolates (Trojan Source)
        ("access\u202e\u2066// admin\u2069\u2066", "access// admin"),
        ("\u202a\u202b\u202c\u202d\u202ex", "x"),
        # lone surrogate (from JSON "\ud800") would crash an encoder later
        ("a\ud800b", "a\ufffdb"),
        ("tab\there\n", "tab\there\n"),
    ],
)
def test_clean_text_neutralises(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_clean_text_without_newlines_turns_tabs_and_newlines_into_spaces() -> None:
    assert clean_text("a\tb\nc\r\nd", keep_newlines=False) == "a b c d"


@pytest.mark.parametrize(
    "text",
    [
        "中文テキスト한국어",
        "emoji 😀👍🏽 👨‍👩‍👧 🏴󠁧󠁢󠁳󠁣󠁴󠁿 ❤️",
        "combining: e\u0301 a\u0308 \u0915\u094d\u0937",
        "RTL: שלום עולם مرحبا بالعالم \u200f\u200e\u061c",
        "  indented\n\tcode\n\n  ",
        "[1][2] **bold** `code` <tag> & \\ [link](https://x.org)",
        "Zero width joiner \u200d and NBSP \u00a0 and soft hyphen \u00ad",
    ],
)
def test_clean_text_preserves_ordinary_text(text: str) -> None:
    assert clean_text(text) == text


ORDINARY = st.characters(
    categories=("L", "M", "N", "P", "S", "Zs"),
    exclude_characters="".join(FORBIDDEN),
)


@given(st.text(ORDINARY))
def test_clean_text_never_changes_ordinary_text(text: str) -> None:
    assert clean_text(text) == text


HOSTILE = st.lists(
    st.one_of(
        st.sampled_from([ESC, "[", "]", "\\", "P", "_", "^", "X", "\x07", "\x9c", "\x9b", "\x9d",
                         "\x90", "\r", "\n", "\t", "\x00", "\x7f", "\x85", "\u202e", "\u2066",
                         "\u2069", "52;c;", "8;;", "0;", "31m", "\ud800", "a", " ", "中", "😀"]),
        st.characters(max_codepoint=0x2100),
    ),
    max_size=60,
).map("".join)


@given(HOSTILE)
def test_clean_text_output_is_inert_and_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert_inert(cleaned)
    assert clean_text(cleaned) == cleaned
    assert "\r" not in cleaned


@given(HOSTILE)
def test_clean_line_is_one_trimmed_line(text: str) -> None:
    line = clean_line(text)
    assert_inert(line)
    assert "\n" not in line and "\t" not in line and "  " not in line
    assert line == line.strip()
    assert clean_line(line) == line


def test_clean_line_collapses_whitespace() -> None:
    assert clean_line("  Title\n\twith   gaps \r\n") == "Title with gaps"


# ----------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/path?q=1#frag", "https://example.com/path?q=1#frag"),
        ("  HTTPS://Example.COM/Path  ", "https://example.com/Path"),
        ("http://example.com", "http://example.com"),
        ("https://en.wikipedia.org/wiki/Python_(programming_language)",
         "https://en.wikipedia.org/wiki/Python_(programming_language)"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
        ("https://münchen.de/Straße", "https://xn--mnchen-3ya.de/Straße"),
        ('https://example.com/a"b<c>d`e', "https://example.com/a%22b%3Cc%3Ed%60e"),
    ],
)
def test_safe_url_accepts_and_normalises_http_urls(url: str, expected: str) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "vbscript:msgbox(1)",
        "mailto:a@b.c",
        "ftp://example.com/file",
        "//example.com/path",
        "example.com",
        "/relative/path",
        "#cite-1",
        "https:/example.com",
        "https:example.com",
        "https://",
        "https://user:pass@example.com/",
        "https://bank.example@evil.example/",
        "https://exa mple.com/",
        "https://example.com/a b",
        "https://example.com/\tx",
        "https://example.com/\nx",
        "https://example.com/\x1b[31m",
        "https://example.com/\u202eevil",
        "https://example.com\\@evil.example/",
        "https://example.com:99999/",
        "https://example.com:port/",
        "https://exa%6dple.com/",
        "https://a..b/",
        "https://[::zz]/",
        "https://[v1.x]/",
        "https://example.com/" + "a" * 9000,
        "",
    ],
)
def test_safe_url_rejects(url: str) -> None:
    assert safe_url(url) is None


@given(st.text(max_size=60) | st.builds(lambda a, b: a + b,
                                        st.sampled_from(["http://", "https://", "HTTP://",
                                                         "javascript:", "//", "ftp://"]),
                                        st.text(max_size=40)))
def test_safe_url_only_ever_returns_clean_http_urls(url: str) -> None:
    result = safe_url(url)
    if result is not None:
        assert result.startswith(("http://", "https://"))
        assert not any(c.isspace() for c in result)
        assert_inert(result)
        assert "@" not in result.split("/", 3)[2]
        assert safe_url(result) == result


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.espn.com/tennis/rankings", "espn.com"),
        ("https://en.wikipedia.org/wiki/X", "en.wikipedia.org"),
        ("https://WWW.Example.com", "example.com"),
        ("https://www2.example.com", "www2.example.com"),
        ("javascript:alert(1)", ""),
        ("not a url", ""),
    ],
)
def test_url_domain(url: str, domain: str) -> None:
    assert url_domain(url) == domain


# ----------------------------------------------------------------------------- markup


@pytest.mark.parametrize(
    "text",
    ["[b]bold[/b]", "[Bold]x[/Bold]", "[$accent]x", "[ b]x", "[@click=app.quit]x[/]",
     '[link="https://evil"]y[/link]', "see [1] and [2]", "a\\[b]c", "trailing\\", "\\"],
)
def test_escape_markup_renders_as_the_original_text_in_textual(text: str) -> None:
    content = to_content(escape_markup(text))
    assert content.plain == text
    assert not content.spans


@given(st.text(st.sampled_from("[]\\/@$#=b x\"'().")))
def test_escape_markup_round_trips_through_textual_markup(text: str) -> None:
    content = to_content(escape_markup(text))
    assert content.plain == text
    assert not content.spans


# ----------------------------------------------------------------------------- Markdown

PARSER = MarkdownIt("gfm-like")


def explicit_hrefs(markdown: str) -> list[str]:
    """Every href/src a Markdown renderer (Textual's own parser) produces from link syntax.

    Links a linkifier made from bare text (markup "linkify") are left out: they are not
    Markdown links and the UI checks every clicked href with safe_url anyway.
    """
    found: list[str] = []

    def walk(tokens) -> None:
        for token in tokens:
            if token.type == "link_open" and token.markup != "linkify":
                found.append(str(token.attrs.get("href")))
            if token.type == "image":
                found.append(str(token.attrs.get("src")))
            if token.children:
                walk(token.children)

    walk(PARSER.parse(markdown))
    return found


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[x](javascript:alert(1))", "x"),
        ("[click **here**](JAVASCRIPT:alert(1))", "click **here**"),
        ("[x](<javascript:alert(1)>)", "x"),
        ('[x](javascript:alert(1) "title")', "x"),
        ("[x](java&#115;cript:alert(1))", "x"),  # entities decode in renderers
        ("[x](javascript&colon;alert(1))", "x"),
        ("[x](java\\script:alert(1))", "x"),
        ("![alt](file:///etc/passwd)", "alt"),
        ("![img](data:image/png;base64,AAAA)", "img"),
        ("[rel](/etc/passwd) [frag](#top) [empty]()", "rel frag empty"),
        ("<file:///etc/passwd>", "`file:///etc/passwd`"),
        ("<javascript:alert(1)>", "`javascript:alert(1)`"),
        ("<ftp://example.com/x>", "`ftp://example.com/x`"),
        ("<me@example.com>", "`me@example.com`"),
        ("[ref]: javascript:alert(1)\n\n[go][ref]", "\\[ref]: `javascript:alert(1)`\n\n[go][ref]"),
        ("[a [b] c](vbscript:x)", "a [b] c"),
        ("[![img](javascript:x)](https://ok.example)", "[img](https://ok.example)"),
        ("[`code`](javascript:y)", "`code`"),
        # found by hypothesis: removing the inner link exposed an outer one to a relative target
        ("[r]([x](javascript:alert(1)))", "r"),
        # an escaped backslash does not escape the backtick after it: that is a code span
        ("\\\\`[c](javascript:c)`[a](#frag)", "\\\\`[c](javascript:c)`a"),
        # a code span inside a destination is URL text to a renderer
        ("[t](`javascript:x`)", "t"),
        # a quote line ends the paragraph, so no code span runs across it
        ("`[a](#frag)\n>`", "`a\n>`"),
        # found by hypothesis in CI: the link's closing parenthesis comes before the backtick
        # closes, so a renderer reads a link to "`" where the regexes saw a code span; the
        # renderer's verdict wins and every bracket turns into a character reference
        ("[r](`)`", "&#91;r&#93;(`)`"),
    ],
)
def test_neutralise_markdown_links_rewrites_unsafe_targets(markdown: str, expected: str) -> None:
    result = neutralise_markdown_links(markdown)
    assert result == expected
    assert all(href.startswith(("http://", "https://")) for href in explicit_hrefs(result))


@pytest.mark.parametrize(
    "markdown",
    [
        "[ok](https://example.com/a_(b)) and ![i](https://example.com/i.png \"t\")",
        "<https://example.com/x>",
        "[ref]: https://example.com \"Title\"\n\n[go][ref]",
        "`[x](javascript:alert(1))` inline code stays",
        "```md\n[x](javascript:alert(1))\n<file:///etc/passwd>\n```\n",
        "  ~~~\n  [x](javascript:1)\n  ~~~\n",
        "no links at all",
    ],
)
def test_neutralise_markdown_links_leaves_safe_links_and_code_alone(markdown: str) -> None:
    assert neutralise_markdown_links(markdown) == markdown


def test_fragment_links_survive_only_when_asked() -> None:
    assert neutralise_markdown_links("[3](#cite-3)") == "3"
    assert neutralise_markdown_links("[3](#cite-3)", keep_fragment_links=True) == "[3](#cite-3)"


FRAGMENTS = st.sampled_from([
    "[x](javascript:alert(1))", "[y](https://ok.example/p)", "![i](file:///etc/passwd)",
    "<data:text/html,x>", "<https://ok.example>", "[r]: vbscript:x\n", "[r]", "[r][r]",
    "`[c](javascript:c)`", "```\n[f](javascript:f)\n```\n", "[n [e] st](javascript:n)",
    "[x](<javascript:x>)", "[e](java&#x73;cript:e)", "[a](#frag)", "[b](/rel)", "[", "]", "(",
    ")", "<", ">", "`", "\n", "\n\n", " ", "text", "*", "!", "\\",
])


@settings(max_examples=max(300, settings.default.max_examples))
@given(st.lists(FRAGMENTS, max_size=12).map("".join))
def test_no_markdown_link_with_an_unsafe_target_survives(markdown: str) -> None:
    result = neutralise_markdown_links(markdown)
    for href in explicit_hrefs(result):
        assert href.startswith(("http://", "https://")), (markdown, result, href)


@given(st.lists(FRAGMENTS, max_size=12).map("".join))
def test_code_segments_concatenate_back_to_the_input(markdown: str) -> None:
    assert "".join(s.text for s in markdown_code_segments(markdown)) == markdown


def test_code_segments_find_fences_and_spans() -> None:
    markdown = "a `x[1]` b\n```py\narr[1]\n```\nc ``d ` e`` f\n"
    code = [s.text for s in markdown_code_segments(markdown) if s.is_code]
    assert code == ["`x[1]`", "```py\narr[1]\n```\n", "``d ` e``"]


# No line indented 4 spaces: indented code blocks are a documented simplification.
SPAN_TEXT = st.text(st.sampled_from("`a \n"), max_size=40).filter(lambda t: "\n    " not in t)


@given(SPAN_TEXT)
@example("`\n``` `")  # found exploring: a backtick info string makes that line no fence
@example("`\n````\n`")  # a real fence (any length) does end the paragraph
def test_inline_code_spans_agree_with_markdown_it(text: str) -> None:
    text = "x" + text
    ours = [s.text for s in markdown_code_segments(text) if s.kind == "inline"]
    theirs = [t.content for block in PARSER.parse(text) for t in block.children or []
              if t.type == "code_inline"]

    def content(span: str) -> str:  # CommonMark: line endings become spaces, one space stripped
        ticks = len(span) - len(span.lstrip("`"))
        inner = span[ticks:-ticks].replace("\n", " ")
        if len(inner) > 2 and inner[0] == inner[-1] == " " and inner.strip():
            inner = inner[1:-1]
        return inner

    assert [content(s) for s in ours] == theirs


def test_unmatched_backtick_runs_are_literal_text() -> None:
    text = "".join("`" * k + "a" for k in range(1, 450))  # 100 kB, no run has a partner
    assert [s for s in markdown_code_segments(text) if s.is_code] == []


@given(st.text(st.sampled_from("`a b\n")))
def test_code_span_holds_any_text(text: str) -> None:
    tokens = PARSER.parseInline(code_span(text))[0].children
    if text.strip(" ") and "\n" not in text:
        assert [t.type for t in tokens] == ["code_inline"]
        assert tokens[0].content == text
