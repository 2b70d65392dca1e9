"""Remote text is data: take out everything that could act on a terminal, a renderer or a browser.

Every string that arrives from the network (answers, reasoning, titles, snippets, URLs, error
bodies) passes through here before it reaches a widget, the clipboard or an export.

- :func:`clean_text` / :func:`clean_line` remove terminal control sequences (CSI, OSC including
  OSC 52 clipboard writes and OSC 8 links, DCS/APC/PM/SOS strings, single-character ESC
  sequences), C0/C1 controls, DEL and the Unicode bidi overrides/isolates that can make text read
  differently from what it is. Ordinary text (any script, emoji, combining marks) is untouched.
- :func:`safe_url` lets through only well-formed http(s) URLs.
- :func:`escape_markup` makes text inert inside Textual content markup.
- :func:`neutralise_markdown_links` turns Markdown links whose target is not http(s) into text.
- :func:`markdown_code_segments` / :func:`fenced_blocks` say where a Markdown document holds code,
  so that link and citation rewriting never touches it (``references`` uses them too).

No Textual here: the UI, the CLI and the exporters all call this module.
"""

from __future__ import annotations

import bisect
import html
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# ----------------------------------------------------------------------------- control sequences

# The payload of a string sequence (OSC, DCS, APC, PM, SOS) runs to its terminator: BEL, ST
# (ESC \ or the 8-bit 0x9C). An unterminated one is cut at the end of its line rather than the end
# of the text, so one stray introducer cannot swallow the rest of an answer; CAN/SUB abort a
# sequence in the VT state machine, so they end the payload too. Whatever is left of a broken
# sequence is plain text once the introducer is gone.
_STRING_BODY = r"[^\x07\x1b\x9c\x18\x1a\n]*"
_STRING_END = r"(?:\x07|\x1b\\|\x9c)?"
_SEQUENCE_RE = re.compile(
    # OSC: ESC ] or 0x9D (OSC 52 clipboard, OSC 8 hyperlinks, window titles...)
    r"(?:\x1b\]|\x9d)" + _STRING_BODY + _STRING_END
    # DCS (ESC P), SOS (ESC X), PM (ESC ^), APC (ESC _) and their 8-bit forms (sixel, kitty
    # graphics, tmux passthrough...)
    + r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])" + _STRING_BODY + _STRING_END
    # CSI: parameters, intermediates, final byte (colours, cursor moves, screen clears...)
    + r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    # Any other ESC sequence (ESC c resets the terminal, ESC ( 0 switches the character set...),
    # or a lone ESC.
    + r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
# Quick test for "is there anything to do at all": most text has none of these.
_SUSPECT_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# A carriage return alone would let later text overwrite earlier text on a terminal line; as a
# line break both stay visible. Vertical tab and form feed are line breaks too.
_LINE_BREAK_RE = re.compile(r"\r\n?|[\x0b\x0c]")
# C0 (except tab and newline), DEL, C1, and the bidi embeddings/overrides (U+202A-U+202E) and
# isolates (U+2066-U+2069). The bidi *marks* (U+200E, U+200F, U+061C) stay: RTL text needs them
# and they cannot reorder anything beyond themselves.
_DROP_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# A lone surrogate (from JSON "\ud800") cannot be encoded: it would crash a terminal write or a
# SQLite insert later, far from its cause.
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_TAB_NEWLINE_RE = re.compile(r"[\t\n]")
_WHITESPACE_RE = re.compile(r"\s+")


def clean_text(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with every terminal control sequence and control character removed.

    Line breaks (``\\r\\n``, lone ``\\r``, vertical tab, form feed) become ``\\n``. Tabs and
    newlines are kept when ``keep_newlines`` is true, otherwise each becomes one space. Lone
    surrogates become U+FFFD. The result is idempotent: ``clean_text(clean_text(t)) ==
    clean_text(t)``.

    Safe to call on each streamed delta (the output never holds a control character), but a
    sequence split across two deltas leaves its second half visible as ordinary text.
    """
    if _SUSPECT_RE.search(text) is not None:
        if "\x1b" in text or _has_c1_introducer(text):
            text = _SEQUENCE_RE.sub("", text)
        text = _LINE_BREAK_RE.sub("\n", text)
        text = _DROP_RE.sub("", text)
        text = _SURROGATE_RE.sub("\ufffd", text)
    if not keep_newlines:
        text = _TAB_NEWLINE_RE.sub(" ", text)
    return text


def _has_c1_introducer(text: str) -> bool:
    return any(c in text for c in "\x9b\x9d\x90\x98\x9e\x9f")


def clean_line(text: str) -> str:
    """A one-line field (title, snippet, list entry): cleaned, whitespace runs -> one space,
    trimmed."""
    return _WHITESPACE_RE.sub(" ", clean_text(text, keep_newlines=False)).strip()


# ----------------------------------------------------------------------------- URLs

MAX_URL_LENGTH = 8192  # longer "URLs" are payloads, not links
_URL_FORBIDDEN_RE = re.compile(
    r"[\s\\\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_ASCII_HOST_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$")
# Characters that are illegal in a URL and would break the Markdown, HTML or YAML around it;
# browsers send them percent-encoded anyway.
_URL_QUOTE = {'"': "%22", "<": "%3C", ">": "%3E", "`": "%60"}


def safe_url(url: str) -> str | None:
    """A normalised http(s) URL, or None when ``url`` is anything else.

    Refused: other schemes (javascript:, data:, file:, vbscript:, mailto: ...), schemeless or
    relative URLs, URLs without a host, with whitespace, backslashes, control or bidi characters
    inside, with credentials (``https://bank.example@evil.example/`` reads as the wrong host),
    with a malformed port or host, or longer than :data:`MAX_URL_LENGTH`.

    Normalised: surrounding whitespace trimmed, scheme and host lowercased, an internationalised
    host in its ASCII (punycode) form so that look-alike letters cannot pass for another domain,
    and the characters " < > and backtick percent-encoded so the URL is safe to embed in Markdown,
    HTML or YAML.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH or _URL_FORBIDDEN_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when malformed
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not url[len(scheme):].startswith("://"):
        return None
    if "@" in parts.netloc:
        return None
    host = parts.hostname or ""
    if not host:
        return None
    if ("[" in parts.netloc) != (":" in host):  # brackets are for IPv6 only (no IPvFuture)
        return None
    if ":" in host:  # an IPv6 literal (urlsplit has removed its brackets)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        netloc = f"[{host}]"
    else:
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
        if not _ASCII_HOST_RE.match(host) or ".." in host:
            return None
        netloc = host
    if port is not None:
        netloc += f":{port}"
    path, query, fragment = (_quote_unsafe(p) for p in (parts.path, parts.query, parts.fragment))
    return urlunsplit((scheme, netloc, path, query, fragment))


def _quote_unsafe(part: str) -> str:
    for char, encoded in _URL_QUOTE.items():
        if char in part:
            part = part.replace(char, encoded)
    return part


def url_domain(url: str) -> str:
    """The host to show next to a source ("en.wikipedia.org", without "www."); "" when unsafe."""
    normalised = safe_url(url)
    if normalised is None:
        return ""
    host = urlsplit(normalised).hostname or ""
    return host[4:] if host.startswith("www.") else host


# ----------------------------------------------------------------------------- markup

def escape_markup(text: str) -> str:
    """``text`` made inert inside Textual content markup (``Content.from_markup``, ``notify``).

    Textual's parser opens a tag at any ``[`` not preceded by a backslash (``[Bold]``,
    ``[$accent]``, ``[ b]`` are all tags), and turns ``\\[`` back into ``[``. Escaping every
    ``[`` therefore round-trips exactly: the rendered plain text equals ``text`` and carries no
    style. ``textual.markup.escape`` only escapes ``[`` before a lowercase letter, ``#``, ``/`` or
    ``@``, which lets the other forms through.

    Caveat: Textual cannot express a literal backslash right before a tag, so
    ``escape_markup("a\\\\") + "[b]x[/b]"`` shows the tag as text instead of applying it
    (harmless, only a display glitch). Prefer ``Content(text)`` / ``Content.assemble`` to markup.
    """
    return text.replace("[", "\\[")


# ----------------------------------------------------------------------------- Markdown structure

_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# A fence may follow a list marker on the same line ("1. ```python") and be indented inside a
# list item; tabs count as 4 columns.
_FENCE_OPEN_RE = re.compile(
    r"^(?P<prefix>[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)?)(?P<fence>`{3,}|~{3,})(?P<info>[^\r\n]*)"
)
_FENCE_CLOSE_RE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?:\r\n|\r|\n)?$")


def split_lines(text: str) -> list[str]:
    """Lines with their endings kept, split as CommonMark does (``\\n``, ``\\r\\n``, ``\\r``)."""
    return _LINE_RE.findall(text)


@dataclass(frozen=True, slots=True)
class FencedBlock:
    """A fenced code block in a list of lines (0-based, inclusive line indices)."""

    start: int  # the opening fence line
    end: int  # the closing fence line, or the last line when the fence is never closed
    indent: int  # columns before the fence: removed from each code line, as CommonMark does
    fence: str  # the opening fence characters, e.g. "```" or "~~~~"
    info: str  # the info string after the fence, stripped
    closed: bool


def _columns(prefix: str) -> int:
    return len(prefix.expandtabs(4))


def fenced_blocks(lines: list[str]) -> list[FencedBlock]:
    """The fenced code blocks in ``lines`` (from :func:`split_lines`).

    Handles ``` and ~~~ fences of any length (a longer fence can hold shorter ones), info
    strings, fences indented inside list items, and a fence still open at the end. Known
    simplifications: fences inside blockquotes (``> ````) and 4-space indented code are not
    recognised as code.
    """
    blocks: list[FencedBlock] = []
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN_RE.match(lines[i])
        if match is None or (match["fence"][0] == "`" and "`" in match["info"]):
            i += 1
            continue
        fence = match["fence"]
        end, closed = len(lines) - 1, False
        for j in range(i + 1, len(lines)):
            close = _FENCE_CLOSE_RE.match(lines[j])
            if close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence):
                end, closed = j, True
                break
        blocks.append(FencedBlock(i, end, _columns(match["prefix"]), fence,
                                  match["info"].strip(), closed))
        i = end + 1
    return blocks


_BACKTICK_RUN_RE = re.compile(r"`+")
# Where a paragraph ends, for code spans (which never cross one): a blank line, or a line
# that starts a block able to interrupt a paragraph (quote, heading, list item, rule, fence;
# a backtick fence whose info string holds a backtick is no fence).
# Seeing a break where there is none only makes less text count as code: the safe side.
_PARAGRAPH_BREAK_RE = re.compile(
    r"\n(?=[ \t]*\n| {0,3}(?:>|#{1,6}(?:[ \t]|$)|[-+*][ \t]|\d{1,9}[.)][ \t]"
    r"|[-*_=]{3}|`{3,}[^`\n]*$|~{3}))",
    re.M,
)


def _code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each inline code span: a run of N backticks up to the next run of exactly
    N within the same paragraph (CommonMark). A run without a partner is literal text. Linear
    apart from the bisects: a regex with a lazy scan per opener goes quadratic on text full of
    unmatched runs of different lengths.
    """
    runs = [m.span() for m in _BACKTICK_RUN_RE.finditer(text)]
    if len(runs) < 2:
        return []
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    breaks = [m.start() for m in _PARAGRAPH_BREAK_RE.finditer(text)]
    spans: list[tuple[int, int]] = []
    index, prose_start = 0, 0
    while index < len(runs):
        start, end = runs[index]
        # An odd number of backslashes escapes the run's first backtick only; the rest of the
        # run may still open a span. Backslashes inside an earlier span escape nothing.
        if _backslashes_before(text, start, prose_start) % 2:
            start += 1
        same = by_length.get(end - start, [])
        later = bisect.bisect_right(same, index)
        if start == end or later == len(same):
            index += 1  # escaped, or no partner: literal backticks
            continue
        closer = same[later]
        close_start, close_end = runs[closer]
        after = bisect.bisect_left(breaks, end)
        if after < len(breaks) and breaks[after] < close_start:
            index += 1  # the partner is in another paragraph
            continue
        spans.append((start, close_end))
        index, prose_start = closer + 1, close_end
    return spans


def _backslashes_before(text: str, position: int, floor: int) -> int:
    """How many backslashes directly precede ``position``, not looking before ``floor``."""
    count = 0
    while position - count > floor and text[position - count - 1] == "\\":
        count += 1
    return count


class Segment(NamedTuple):
    text: str
    kind: str  # "prose", "fenced" (a fenced block, fence lines included) or "inline" (a code span)

    @property
    def is_code(self) -> bool:
        return self.kind != "prose"


def markdown_code_segments(markdown: str) -> list[Segment]:
    """``markdown`` cut into prose and code pieces whose concatenation is ``markdown``."""
    lines = split_lines(markdown)
    segments: list[Segment] = []
    position = 0
    for block in fenced_blocks(lines):
        _add_prose("".join(lines[position:block.start]), segments)
        segments.append(Segment("".join(lines[block.start:block.end + 1]), "fenced"))
        position = block.end + 1
    _add_prose("".join(lines[position:]), segments)
    return segments


def _add_prose(text: str, segments: list[Segment]) -> None:
    position = 0
    for start, end in _code_spans(text):
        if start > position:
            segments.append(Segment(text[position:start], "prose"))
        segments.append(Segment(text[start:end], "inline"))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:], "prose"))


_PLACEHOLDER_RE = re.compile(r"\x00(\d+)\x00")


def protect_code(markdown: str) -> tuple[str, list[Segment]]:
    """``markdown`` with every code segment replaced by a placeholder, and the code segments.

    Lets a regex rewrite prose across code spans (``[`x`](url)``) without touching the code;
    :func:`restore_code` puts the pieces back. NUL never survives :func:`clean_text`, and any NUL
    in ``markdown`` is dropped here, so a placeholder cannot collide with the text.
    """
    pieces: list[Segment] = []
    out: list[str] = []
    for segment in markdown_code_segments(markdown.replace("\x00", "")):
        if not segment.is_code:
            out.append(segment.text)
            continue
        # A fenced block's last line ending stays in the prose, so that what follows the block
        # still starts a line for the regexes that look for one.
        code = segment.text.rstrip("\r\n") if segment.kind == "fenced" else segment.text
        out.append(f"\x00{len(pieces)}\x00{segment.text[len(code):]}")
        pieces.append(Segment(code, segment.kind))
    return "".join(out), pieces


def restore_code(text: str, pieces: Sequence[str | Segment]) -> str:
    """Undo :func:`protect_code`; ``pieces`` may be replaced by other strings in between."""
    def piece(match: re.Match[str]) -> str:
        value = pieces[int(match.group(1))]
        return value.text if isinstance(value, Segment) else value

    return _PLACEHOLDER_RE.sub(piece, text)


def code_span(text: str) -> str:
    """``text`` as an inline code span, with a backtick fence longer than any run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    # CommonMark strips one space from each end when both ends have one (or a backtick is there)
    edges = text.startswith("`") or text.endswith("`")
    spaced = text.startswith(" ") and text.endswith(" ") and text.strip(" ")
    pad = " " if edges or spaced else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


# ----------------------------------------------------------------------------- Markdown links

_LINK_TEXT = r"(?:[^\[\]\\\x00]|\\.|\x00\d+\x00|\[(?:[^\[\]\\]|\\.)*\])*"
# A code-span placeholder counts as destination text: a renderer reads the backticks as URL
_DESTINATION = (r"(?:<(?P<angle>(?:[^<>\n\x00]|\x00\d+\x00)*)>"
                r"|(?P<bare>(?:[^\s()\\\x00]|\\.|\x00\d+\x00"
                r"|\((?:[^\s()\\\x00]|\\.|\x00\d+\x00)*\))*))")
_TITLE = r"(?:\s+(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\)))?"
_INLINE_LINK_RE = re.compile(
    r"(?<!\\)(?P<escapes>(?:\\\\)*)(?P<bang>!?)\[(?P<text>" + _LINK_TEXT + r")\]"
    r"\(\s*" + _DESTINATION + _TITLE + r"\s*\)",
    re.S,
)
_AUTOLINK_RE = re.compile(
    r"(?<!\\)(?P<escapes>(?:\\\\)*)<(?P<uri>[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?)>"
)
_DEFINITION_RE = re.compile(
    r"^(?P<lead> {0,3})\[(?P<label>(?:[^\[\]\\]|\\.)+)\]:(?P<gap>[ \t]*\n?[ \t]*)"
    r"(?:<(?P<angle>[^<>\n]*)>|(?P<bare>\S+))",
    re.M,
)
_BACKSLASH_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _link_target(destination: str) -> str:
    """What a Markdown renderer would use as the href: escapes removed, entities decoded."""
    return html.unescape(_BACKSLASH_ESCAPE_RE.sub(r"\1", destination)).strip()


def _allowed_target(target: str, keep_fragment_links: bool) -> bool:
    if keep_fragment_links and target.startswith("#") and not _URL_FORBIDDEN_RE.search(target):
        return True
    return safe_url(target) is not None


def neutralise_markdown_links(markdown: str, *, keep_fragment_links: bool = False) -> str:
    """``markdown`` with every link, image, autolink and link definition whose target is not an
    http(s) URL turned into plain text.

    ``[x](javascript:alert(1))`` -> ``x``; ``![alt](file:///etc/passwd)`` -> ``alt``;
    ``<file:///etc/passwd>`` -> the URI as an inline code span (so no linkifier picks it up
    again); ``[ref]: data:...`` -> the definition shown as text. Targets are judged the way a
    renderer reads them (backslash escapes removed, ``&colon;``-style entities decoded) and must
    pass :func:`safe_url`. ``#fragment`` links survive only with ``keep_fragment_links`` (for
    in-app anchors such as ``#cite-3``). http(s) links, code spans and fenced code are untouched.

    Raw HTML (``<a href=...>``) is left alone: Textual does not render it as a link and the
    renderers exports are read in (GitHub, Obsidian) sanitise it. Bare e-mail addresses that a
    linkifier turns into ``mailto:`` links are not Markdown links either: the UI must still pass
    every clicked href through :func:`safe_url`.
    """
    # Neutralising an outer link can expose a new one (``[r]([x](javascript:x))`` -> ``[r](x)``),
    # so passes repeat until nothing changes; each change removes link syntax, so this ends.
    while True:
        cleaned = _neutralise_once(markdown, keep_fragment_links)
        if cleaned == markdown:
            break
        markdown = cleaned
    # The regexes approximate CommonMark, and hostile text keeps finding where they differ
    # (``[r](`)` `` is a link to a backtick, not a code span). So the parser Textual renders
    # with has the last word: if it still sees a link we would refuse, no bracket or angle
    # bracket may act as syntax any more. That garbles a hostile answer, never an ordinary one.
    if any(not _allowed_target(href, keep_fragment_links) for href in _rendered_links(cleaned)):
        return cleaned.translate(_LINK_SYNTAX_ENTITIES)
    return cleaned


@cache
def _renderer() -> MarkdownIt:
    """The parser and preset Textual's Markdown widget uses, so it sees the links a user can
    click. Built on first use: importing and building it costs ~25 ms that `ask` need not pay."""
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like")


# Character references are text to CommonMark, never syntax, and show as the character itself
_LINK_SYNTAX_ENTITIES = str.maketrans({"[": "&#91;", "]": "&#93;", "<": "&lt;"})


def _rendered_links(markdown: str) -> list[str]:
    """The href or src of every link and image the renderer makes from Markdown link syntax
    (not the bare URLs its linkifier finds: the UI checks those with :func:`safe_url`)."""
    # Link syntax needs "](" (inline), "]:" (a definition, without which "[x]" is text) or
    # "<" (autolink); answers whose only brackets are [n] markers skip the parse, which costs
    # several times what the regexes do
    if not any(mark in markdown for mark in ("](", "]:", "<")):
        return []
    found: list[str] = []
    pending = _renderer().parse(markdown)
    while pending:
        token = pending.pop()
        if token.type == "link_open" and token.markup != "linkify":
            found.append(str(token.attrs.get("href", "")))
        elif token.type == "image":
            found.append(str(token.attrs.get("src", "")))
        pending.extend(token.children or ())
    return found


def _neutralise_once(markdown: str, keep_fragment_links: bool) -> str:
    if not any(c in markdown for c in "[<"):
        return markdown
    text, pieces = protect_code(markdown)

    def inline(match: re.Match[str]) -> str:
        destination = match["angle"] if match["angle"] is not None else match["bare"]
        inner = _INLINE_LINK_RE.sub(inline, match["text"])  # [![img](bad)](good)
        # A code span in the destination is part of the URL a renderer sees, so judge it whole
        target = _link_target(restore_code(destination or "", pieces))
        if not _allowed_target(target, keep_fragment_links):
            return match["escapes"] + inner
        start, end = match.start("text") - match.start(), match.end("text") - match.start()
        whole = match.group()
        return whole[:start] + inner + whole[end:]

    def autolink(match: re.Match[str]) -> str:
        uri = match["uri"]
        if _allowed_target(_link_target(uri), keep_fragment_links):
            return match.group()
        return match["escapes"] + code_span(uri)

    def definition(match: re.Match[str]) -> str:
        destination = restore_code(
            match["angle"] if match["angle"] is not None else match["bare"], pieces)
        if _allowed_target(_link_target(destination), keep_fragment_links):
            return match.group()
        return f"{match['lead']}\\[{match['label']}]:{match['gap']}{code_span(destination)}"

    text = _INLINE_LINK_RE.sub(inline, text)
    text = _AUTOLINK_RE.sub(autolink, text)
    text = _DEFINITION_RE.sub(definition, text)
    return restore_code(text, pieces)
