"""Copy formats for answers: citations resolved to their sources, plain text, code blocks, threads.

An answer is Markdown with ``[n]`` citation markers; its sources are dicts with the keys of
``Source.to_dict()`` (``number, url, title, date, last_updated, snippet, origin``), the shape the
store and the export use. Everything returned here is clipboard/notes material, so it is built
from cleaned text only (no control characters: a pasted ESC sequence can end a shell's bracketed
paste and run what follows) and only http(s) URLs become links.

Formats, and why:

- :func:`with_references` keeps the markers and appends ``[n]: Title — URL`` lines, one per
  source, every source in number order. Readable as plain text (chat, code comment) and in
  Markdown (Obsidian, GitHub comments show one per line). All sources are listed, not only the
  cited ones: the numbers stay contiguous, so a reader never wonders whether a line went
  missing, and the uncited results are what the answer was grounded on (what the UI's source
  list shows too). ``cited_only=True`` gives the short version.
- :func:`with_inline_links` turns each marker into ``[\\[n\\]](url)``: GitHub, Obsidian and
  Textual render it as a clickable "[n]", and adjacent markers stay visibly separate. Not
  ``[[n]](url)``: Obsidian reads ``[[n]]`` as a wiki link; not ``[n](url)``: ``[1][2]`` would
  render as an unreadable "12".
- :func:`plain_text` removes markers and Markdown emphasis; code is kept verbatim.

Markers inside code spans and fenced code are code, not citations (``arr[1]`` stays).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sonar_tui.sanitize import (
    clean_line,
    clean_text,
    fenced_blocks,
    neutralise_markdown_links,
    protect_code,
    restore_code,
    safe_url,
    split_lines,
    url_domain,
)

# ----------------------------------------------------------------------------- markers

# [n] not preceded by a backslash (escaped) or "!" (image), not followed by "(" (already a link).
_MARKER_RE = re.compile(r"(?<![\\!])\[(\d{1,4})\](?!\()")


def _is_definition(text: str, match: re.Match[str]) -> bool:
    """``[n]:`` at the start of a line is a reference definition, not a citation."""
    start = match.start()
    at_line_start = start == 0 or text[start - 1] == "\n"
    return at_line_start and text.startswith(":", match.end())


def cited_numbers(markdown: str) -> list[int]:
    """The source numbers the answer cites, ascending, without duplicates."""
    prose, _ = protect_code(markdown)
    return sorted({int(m.group(1)) for m in _MARKER_RE.finditer(prose)
                   if not _is_definition(prose, m)})


# ----------------------------------------------------------------------------- sources

def missing_sources_note(text: str, sources: Collection[object]) -> str | None:
    """What to say once when an answer cites ``[n]`` but no source arrived (a gateway such
    as LiteLLM drops them from streams), instead of leaving markers that point nowhere.
    ``sources``: typed ``Source`` objects or their dicts; only whether there are any counts."""
    if sources:
        return None
    numbers = cited_numbers(text)
    if not numbers:
        return None
    cited = f"[{numbers[0]}]" if len(numbers) == 1 else f"[{numbers[0]}]–[{numbers[-1]}]"
    return (f"This answer cites sources ({cited}) but none arrived with it: the service, or a "
            "gateway in between, dropped them.")


def _sources_by_number(sources: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """Sources keyed by number, ascending; the first of two sources with one number wins."""
    by_number: dict[int, Mapping[str, Any]] = {}
    for source in sources:
        try:
            number = int(source.get("number") or 0)
        except (TypeError, ValueError):
            continue
        if number > 0 and number not in by_number:
            by_number[number] = source
    return dict(sorted(by_number.items()))


def source_line(source: Mapping[str, Any]) -> str:
    """``[n]: Title — URL`` for one source.

    The title falls back to the domain; a source without an http(s) URL says so instead of
    showing it ("attached file" for attachments). The line always holds " — " after the title
    and is escaped when needed, so that Markdown never reads it as a link reference definition
    (which would hide it and turn the answer's ``[n]`` markers into links to the title).
    """
    number = int(source.get("number") or 0)
    title = clean_line(str(source.get("title") or ""))
    url = safe_url(str(source.get("url") or ""))
    if url:
        line = f"[{number}]: {title or url_domain(url)} — {url}"
    elif source.get("origin") == "attachment":
        line = f"[{number}]: {title or 'attachment'} — attached file"
    else:
        line = f"[{number}]: {title or f'source {number}'} — no http(s) link"
    return _not_a_definition(line, len(f"[{number}]: "))


def _not_a_definition(line: str, prefix_length: int) -> str:
    r"""``line`` with its bracket escaped (``\[n]:``) if Markdown could read it as a definition.

    A definition is ``[label]: destination`` optionally followed by a quoted or parenthesised
    title, then nothing else on the line (a quoted title may run onto the next lines). The first
    word of our line is the destination; the line is safe when what follows it cannot be such a
    title ending the line. Conservative: when unsure, escape.
    """
    rest = line[prefix_length:]
    if rest.startswith("<"):
        return "\\" + line
    _, _, remainder = rest.partition(" ")
    if not remainder or remainder[0] not in "\"'(":
        return line
    opener = remainder[0]
    closer = ")" if opener == "(" else opener
    i = 1
    while i < len(remainder):
        char = remainder[i]
        if char == "\\":
            i += 2
            continue
        if opener == "(" and char == "(":
            return line  # an unescaped "(" inside a parenthesised title: not a title
        if char == closer:
            return "\\" + line if not remainder[i + 1:].strip() else line
        i += 1
    return "\\" + line  # unclosed: could close on a later line


def sources_markdown(sources: Iterable[Mapping[str, Any]], *, bullets: bool = False,
                     only: Iterable[int] | None = None) -> str:
    """One :func:`source_line` per source in number order (``only``: just those numbers).

    ``bullets`` makes each line a Markdown list item, for documents rendered as CommonMark
    where consecutive lines would otherwise join into one paragraph (``.md`` files on GitHub).
    """
    wanted = set(only) if only is not None else None
    lines = [source_line(s) for n, s in _sources_by_number(sources).items()
             if wanted is None or n in wanted]
    return "\n".join(f"- {line}" if bullets else line for line in lines)


def with_references(text: str, sources: Iterable[Mapping[str, Any]], *,
                    cited_only: bool = False) -> str:
    """The answer with its markers, a blank line, then ``[n]: Title — URL`` per source.

    Every source is listed in number order (``cited_only``: only the cited ones, or all of them
    when the answer cites none). Without sources the answer comes back alone.
    """
    body = _clean_markdown(text).rstrip()
    sources = list(sources)
    only = None
    if cited_only:
        only = cited_numbers(body) or None
    block = sources_markdown(sources, only=only)
    return f"{body}\n\n{block}" if block else body


def _clean_markdown(text: str) -> str:
    return neutralise_markdown_links(clean_text(text))


def _link_destination(url: str) -> str:
    """``url`` usable as a Markdown link destination: parentheses balanced or encoded."""
    depth = 0
    for char in url:
        depth += 1 if char == "(" else -1 if char == ")" else 0
        if depth < 0:
            break
    if depth == 0:
        return url
    return url.replace("(", "%28").replace(")", "%29")


def with_inline_links(text: str, sources: Iterable[Mapping[str, Any]]) -> str:
    """The answer with each ``[n]`` that has an http(s) source turned into ``[\\[n\\]](url)``.

    Markers without a source (unknown numbers) or whose source has no http(s) URL stay as they
    are, as do markers in code.
    """
    urls = {n: safe_url(str(s.get("url") or "")) for n, s in _sources_by_number(sources).items()}
    prose, pieces = protect_code(_clean_markdown(text))

    def link(match: re.Match[str]) -> str:
        url = urls.get(int(match.group(1)))
        if not url or _is_definition(prose, match):
            return match.group()
        return f"[\\[{match.group(1)}\\]]({_link_destination(url)})"

    return restore_code(_MARKER_RE.sub(link, prose), pieces)


# ----------------------------------------------------------------------------- plain text

_IMAGE_RE = re.compile(r"!\[((?:[^\[\]\\]|\\.)*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_LINK_RE = re.compile(
    r"(?<!\\)\[((?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.)*\])*)\]"
    r"\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_AUTOLINK_RE = re.compile(r"<(https?://[^\s<>]+)>", re.I)
_BARE_URL_RE = re.compile(r"https?://[^\s<>\x00]+", re.I)
_HEADING_RE = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M)
# An emphasis span is capped at 1000 characters: an opener without a closer then costs a bounded
# scan instead of one to the end of the line (quadratic on "*a *a *a ..."); a longer span just
# keeps its markers.
_SPAN = r"(.{1,1000}?)"
_EMPHASIS_RES = tuple(re.compile(pattern) for pattern in (
    r"(?<![\\*])\*\*\*(?![\s*])" + _SPAN + r"(?<![\s\\*])\*\*\*(?!\*)",
    r"(?<![\\*])\*\*(?![\s*])" + _SPAN + r"(?<![\s\\*])\*\*(?!\*)",
    r"(?<![\\\w])__(?![\s_])" + _SPAN + r"(?<![\s\\_])__(?!\w)",
    r"(?<![\\*\w])\*(?![\s*])" + _SPAN + r"(?<![\s\\*])\*(?![*\w])",
    r"(?<![\\\w])_(?![\s_])" + _SPAN + r"(?<![\s\\_])_(?!\w)",
    r"(?<![\\~])~~(?![\s~])" + _SPAN + r"(?<![\s\\~])~~(?!~)",
))
_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


def plain_text(text: str) -> str:
    """The answer as plain text: citation markers removed (with the spaces before them),
    emphasis, heading hashes and backslash escapes removed, links as ``text (url)``, inline code
    without its backticks; fenced code blocks kept verbatim, fences included.
    """
    prose, segments = protect_code(clean_text(text))
    pieces = [_inline_code_content(s.text) if s.kind == "inline" else s.text for s in segments]

    def protect(value: str) -> str:
        """Keep a URL away from the emphasis rules (``https://x.org/_a_/``)."""
        pieces.append(value)
        return f"\x00{len(pieces) - 1}\x00"

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1), safe_url(match.group(2))
        if url is None:
            return label
        shown = _ESCAPE_RE.sub(r"\1", label).strip()
        if not shown or shown in (url, match.group(2)):
            return protect(url)
        return f"{label} ({protect(url)})"

    prose = _IMAGE_RE.sub(lambda m: m.group(1), prose)
    prose = _LINK_RE.sub(link, prose)
    prose = _AUTOLINK_RE.sub(lambda m: protect(m.group(1)), prose)
    prose = _BARE_URL_RE.sub(lambda m: protect(m.group()), prose)
    prose = _remove_markers(prose)
    prose = _HEADING_RE.sub(r"\1", prose)
    for pattern in _EMPHASIS_RES:
        prose = pattern.sub(r"\1", prose)
    prose = _ESCAPE_RE.sub(r"\1", prose)
    return restore_code(prose, pieces)


def _inline_code_content(span: str) -> str:
    """A code span's content; CommonMark strips one space each side when both are there."""
    ticks = len(span) - len(span.lstrip("`"))
    content = span[ticks:-ticks]
    if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
        content = content[1:-1]
    return content


# The look-behind lets a match start only where a run of spaces starts: without it every
# position inside a long run of spaces would rescan the rest of the run (quadratic).
_MARKER_RUN_RE = re.compile(r"(?<![ \t])([ \t]*)((?:(?<![\\!])\[\d{1,4}\](?!\())+)([ \t]*)")


def _remove_markers(prose: str) -> str:
    """Drop citation markers and tidy the space around them.

    "claims [1]." -> "claims."; "a[1][2] b" -> "a b"; "word[1]word" -> "word word"; a marker
    starting a line goes with the spaces after it; ``[1]:`` starting a line is a definition and
    stays.
    """
    def tidy(match: re.Match[str]) -> str:
        line_start = match.start() == 0 or prose[match.start() - 1] == "\n"
        after = prose[match.end()] if match.end() < len(prose) else "\n"
        if line_start:
            return match.group() if after == ":" and not match.group(3) else match.group(1)
        if after == "\n":
            return ""
        if match.group(3):
            return match.group(3)
        return " " if after.isalnum() or after == "\x00" else ""

    return _MARKER_RUN_RE.sub(tidy, prose)


# ----------------------------------------------------------------------------- code blocks

@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced code block of an answer, for "copy code block n" / "copy the nearest block"."""

    number: int  # 1-based, in document order
    language: str  # first word of the info string ("" when none)
    code: str  # the lines between the fences, list indentation removed, no final newline
    start_line: int  # 0-based line of the opening fence in the Markdown source
    end_line: int  # 0-based line of the closing fence (the last line when never closed)
    closed: bool = True


def _language(info: str) -> str:
    if info.startswith("{"):  # Pandoc-style {.python .numberLines}
        match = re.search(r"\.([\w+#-]+)", info)
        return match.group(1) if match else ""
    word = info.split(maxsplit=1)[0] if info.strip() else ""
    return clean_line(word)


def _dedent(line: str, columns: int) -> str:
    column = index = 0
    while index < len(line) and column < columns and line[index] in " \t":
        column = column + 1 if line[index] == " " else (column // 4 + 1) * 4
        index += 1
    return line[index:]


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Every fenced code block (``` or ~~~, any length, inside lists, unclosed at the end).

    The code has no trailing newline, so pasting a one-line command into a shell does not run it.
    """
    lines = split_lines(clean_text(markdown))
    blocks = []
    for number, fence in enumerate(fenced_blocks(lines), start=1):
        body = lines[fence.start + 1:fence.end if fence.closed else fence.end + 1]
        code = "\n".join(_dedent(line.rstrip("\r\n"), fence.indent) for line in body)
        blocks.append(CodeBlock(number, _language(fence.info), code, fence.start, fence.end,
                                fence.closed))
    return blocks


def nearest_code_block(blocks: list[CodeBlock], line: int) -> CodeBlock | None:
    """The block containing ``line``, else the closest one (the one above on a tie)."""
    def distance(block: CodeBlock) -> int:
        if block.start_line <= line <= block.end_line:
            return 0
        return block.start_line - line if line < block.start_line else line - block.end_line

    return min(blocks, key=lambda b: (distance(b), b.start_line > line), default=None)


# ----------------------------------------------------------------------------- threads

QUESTION_HEADING_WIDTH = 80
_ATX_HEADING_RE = re.compile(r"^( {0,3})(#{1,6})(?=[ \t]|$)", re.M)


def demote_headings(markdown: str, levels: int = 2) -> str:
    """ATX headings outside code moved ``levels`` down (at most ``######``), so an answer's own
    "## Summary" nests under the question heading instead of competing with it."""
    prose, pieces = protect_code(markdown)
    prose = _ATX_HEADING_RE.sub(lambda m: m.group(1) + "#" * min(6, len(m.group(2)) + levels),
                                prose)
    return restore_code(prose, pieces)


def question_markdown(question: str, *, level: int = 2) -> str:
    """A question as a heading (its first line, shortened), plus the whole question quoted when
    the heading does not hold all of it. Headings make a long thread navigable in any outline.
    """
    text = clean_text(question).strip()
    first = clean_line(text.split("\n", 1)[0]) if text else ""
    shortened = len(first) > QUESTION_HEADING_WIDTH
    heading = first[:QUESTION_HEADING_WIDTH - 1].rstrip() + "…" if shortened else first
    heading = neutralise_markdown_links(heading) or "(empty question)"
    if heading.endswith("#"):  # would be read as a closing sequence and vanish
        heading = heading[:-1] + "\\#"
    out = f"{'#' * level} {heading}"
    if shortened or first != text:
        quoted = "\n".join(f"> {line}" if line else ">"
                           for line in neutralise_markdown_links(text).split("\n"))
        out += f"\n\n{quoted}"
    return out


_STATUS_NOTES = {
    "cancelled": "Cancelled: the answer stops where it was cancelled.",
    "interrupted": "Interrupted: the app closed while this answer was being written.",
    "streaming": "Still being written when this was saved.",
}


def status_note(message: Mapping[str, Any]) -> str:
    """A one-line Markdown note for an answer that did not complete ("" when it did)."""
    status = message.get("status") or "complete"
    if status == "error":
        error = message.get("error") or {}
        status_code = error.get("status")
        detail = clean_line(str(error.get("message") or "")) or "the request failed"
        head = "Error" + (f" (HTTP {status_code})" if status_code else "")
        return f"> **{head}:** {neutralise_markdown_links(detail)}"
    if status in _STATUS_NOTES:
        return f"> *{_STATUS_NOTES[status]}*"
    if message.get("finish_reason") == "length":
        return "> *Stopped at the maximum answer length.*"
    return ""


def utc_iso(timestamp: float | None) -> str:
    """Unix seconds as ISO 8601 UTC (``2025-08-16T00:01:22Z``); "" when unknown."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(float(timestamp), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def thread_markdown(thread: Mapping[str, Any], messages: Iterable[Mapping[str, Any]]) -> str:
    """A whole thread for the clipboard: the title, then each question (see
    :func:`question_markdown`) and its answer with references (its own headings moved two
    levels down, under the question's), and a note for answers that failed or stopped early.
    ``thread``/``messages`` have the ``ThreadRecord.to_dict()`` / ``MessageRecord.to_dict()``
    keys.
    """
    title = clean_line(str(thread.get("title") or "")) or "Untitled thread"
    parts = [f"# {neutralise_markdown_links(title)}"]
    for message in messages:
        if message.get("role") == "user":
            parts.append(question_markdown(str(message.get("content") or "")))
            continue
        answer = str(message.get("content") or "")
        if answer.strip():
            parts.append(demote_headings(with_references(answer, message.get("sources") or [])))
        note = status_note(message)
        if note:
            parts.append(note)
    return "\n\n".join(parts) + "\n"
