"""Thread export: Markdown for people, JSON for ``sonar-tui import``.

Both read the export document (``ThreadData.to_dict()``: ``format``, ``version``, ``thread``,
``messages``). Neither ever holds an API key: keys named like one are dropped from every
mapping, wherever they are (settings, overrides, anything added later).

Markdown layout (one thread)::

    ---                                   YAML front matter, every string double-quoted
    title: "…"
    uid: "…"
    created: 2025-08-16T00:01:22Z         ISO 8601 UTC
    updated: 2025-08-16T00:03:10Z
    model: "sonar-reasoning-pro"          the thread's latest model (omitted when unknown)
    ---

    # Title

    ## The question's first line          a heading per question: a navigable outline
                                          (+ the whole question quoted when longer)
    *sonar-reasoning-pro · 2025-08-16 00:01 UTC · $0.0061*

    <details><summary>Reasoning</summary> collapsed; HTML-escaped; agent steps listed
    …
    </details>

    The answer, its headings moved two levels down so they nest under the question.

    **Sources**

    - [1]: Title — https://…              the references format, as a list so that a
                                          CommonMark renderer keeps one source per line
    > **Error (HTTP 429):** …             for failed / cancelled / interrupted answers

``export_many`` separates threads with a thematic break and gives each a metadata line instead
of its own front matter. JSON: ``indent=2``, keys sorted below a fixed ``format``/``version``
header, non-ASCII kept readable, and characters a terminal could act on (C1, bidi controls,
line/paragraph separators) escaped as ``\\uXXXX`` so ``cat`` on the file is safe. Top-level
order: ``format``, ``version``, ``thread``, ``messages``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sonar_tui.references import (
    demote_headings,
    question_markdown,
    sources_markdown,
    status_note,
    utc_iso,
)
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
from sonar_tui.store.models import EXPORT_FORMAT, EXPORT_VERSION

EXPORT_MANY_FORMAT = "sonar-tui.threads"

# ----------------------------------------------------------------------------- secrets

_SECRET_NAMES = frozenset({
    "api_key", "apikey", "key", "x_api_key", "authorization", "proxy_authorization",
    "bearer", "token", "access_token", "secret", "password",
})
_SECRET_SUFFIXES = ("_api_key", "_apikey", "_secret", "_password")


def is_secret_key(name: str) -> bool:
    normal = str(name).strip().lower().replace("-", "_")
    return normal in _SECRET_NAMES or normal.endswith(_SECRET_SUFFIXES)


def _stable(value: Any) -> Any:
    """A JSON-ready copy: keys sorted, secrets dropped, bytes as base64, NaN/inf as null."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in sorted(value, key=str):
            if is_secret_key(key):
                continue
            item = value[key]
            if isinstance(item, (bytes, bytearray)):
                if key == "data":  # raw attachment bytes: the importer reads data_base64
                    out["data_base64"] = base64.b64encode(item).decode("ascii")
                    continue
                item = base64.b64encode(item).decode("ascii")
            out[str(key)] = _stable(item)
        return dict(sorted(out.items()))
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


# ----------------------------------------------------------------------------- JSON

# Inert in JSON, but a terminal showing the file could act on them (C1), reorder text (bidi) or
# break lines (U+2028/9); lone surrogates cannot even be written as UTF-8.
_JSON_ESCAPE_RE = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                             r"\u2028\u2029\ud800-\udfff\ufeff]")


def _dumps(document: Any) -> str:
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return _JSON_ESCAPE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def _thread_document(data: Mapping[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": data.get("format", EXPORT_FORMAT),
        "version": data.get("version", EXPORT_VERSION),
    }
    rest = _stable({k: v for k, v in data.items() if k not in document})
    for key in ("thread", "messages"):  # the thread reads better before its messages
        if key in rest:
            document[key] = rest.pop(key)
    document.update(rest)
    return document


def export_json(data: Mapping[str, Any]) -> str:
    """One thread as the JSON ``sonar-tui import`` reads (``ThreadData.to_dict()`` shape)."""
    return _dumps(_thread_document(data))


# ----------------------------------------------------------------------------- Markdown


def _yaml_string(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML), from a cleaned line."""
    return _dumps(clean_line(value)).rstrip("\n")


_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>#|~])")


def _md_literal(text: str) -> str:
    """One line of remote text shown literally inside Markdown (model names, file names)."""
    return _MD_SPECIAL_RE.sub(r"\\\1", clean_line(text))


def _human_time(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(float(timestamp), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _thread_model(thread: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> str:
    if thread.get("last_model"):
        return str(thread["last_model"])
    for message in reversed(messages):
        if message.get("role") == "assistant" and message.get("model"):
            return str(message["model"])
    return ""


def _front_matter(thread: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> str:
    lines = ["---", f"title: {_yaml_string(str(thread.get('title') or ''))}"]
    if thread.get("uid"):
        lines.append(f"uid: {_yaml_string(str(thread['uid']))}")
    for key, field in (("created", "created_at"), ("updated", "updated_at")):
        if thread.get(field) is not None:
            lines.append(f"{key}: {utc_iso(thread[field])}")
    model = _thread_model(thread, messages)
    if model:
        lines.append(f"model: {_yaml_string(model)}")
    lines.append("---")
    return "\n".join(lines)


def _escape_html_prose(markdown: str) -> str:
    """``<`` and ``&`` escaped outside code, and an unclosed fence closed, so that remote text
    placed inside an HTML block (``<details>``) cannot end it or swallow what follows."""
    lines = split_lines(markdown)
    blocks = fenced_blocks(lines)
    if blocks and not blocks[-1].closed:
        markdown = markdown.rstrip("\n") + "\n" + blocks[-1].fence
    prose, pieces = protect_code(markdown)
    return restore_code(prose.replace("&", "&amp;").replace("<", "&lt;"), pieces)


_STEP_LABELS = {"web_search": "Searched", "fetch_url_content": "Read",
                "image_search": "Searched images", "execute_python": "Ran Python",
                "skill": "Loaded skill"}


def _fenced(code: str, language: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{language}\n{code.rstrip()}\n{fence}"


def _steps_markdown(steps: list[Mapping[str, Any]]) -> str:
    items = []
    for step in steps:
        kind = str(step.get("kind") or "step")
        parts = [_STEP_LABELS.get(kind, _md_literal(kind))]
        keywords = [clean_line(str(k)) for k in step.get("keywords") or [] if str(k).strip()]
        if keywords:
            parts.append("; ".join(_escape_html_prose(_md_literal(k)) for k in keywords))
        urls = [u for u in (safe_url(str(u)) for u in step.get("urls") or []) if u]
        if urls:
            parts.append(", ".join(urls))
        item = "- " + ": ".join([parts[0], ", ".join(parts[1:])] if len(parts) > 1 else parts)
        thought = clean_line(str(step.get("thought") or ""))
        if thought:
            item += f"\n  {_escape_html_prose(neutralise_markdown_links(thought))}"
        for field, language in (("code", "python"), ("output", "text")):
            text = clean_text(str(step.get(field) or ""))
            if text.strip():
                block = _fenced(text, language)
                indented = (f"  {line}" if line else "" for line in block.split("\n"))
                item += "\n\n" + "\n".join(indented)
        items.append(item)
    return "\n".join(items)


def _reasoning_markdown(message: Mapping[str, Any]) -> str:
    reasoning = clean_text(str(message.get("reasoning") or "")).strip()
    steps = [s for s in message.get("steps") or [] if isinstance(s, Mapping)]
    if not reasoning and not steps:
        return ""
    parts = ["<details><summary>Reasoning</summary>"]
    if reasoning:
        parts.append(_escape_html_prose(neutralise_markdown_links(reasoning)))
    if steps:
        parts.append("**Steps**")
        parts.append(_steps_markdown(steps))
    parts.append("</details>")
    return "\n\n".join(parts)


def _answer_meta(message: Mapping[str, Any]) -> str:
    bits = []
    if message.get("model"):
        bits.append(_md_literal(str(message["model"])))
    when = _human_time(message.get("finished_at") or message.get("created_at"))
    if when:
        bits.append(when)
    cost = message.get("cost")
    if isinstance(cost, (int, float)) and math.isfinite(cost):
        bits.append(f"${cost:.4f}")
    return f"*{' · '.join(bits)}*" if bits else ""


def _list_section(title: str, items: list[str]) -> str:
    return f"**{title}**\n\n" + "\n".join(f"- {item}" for item in items) if items else ""


def _answer_markdown(message: Mapping[str, Any]) -> list[str]:
    parts = [_answer_meta(message), _reasoning_markdown(message)]
    content = clean_text(str(message.get("content") or "")).strip()
    if content:
        parts.append(demote_headings(neutralise_markdown_links(content)))
    sources = message.get("sources") or []
    if sources:
        parts.append("**Sources**\n\n" + sources_markdown(sources, bullets=True))
    related = [_md_literal(str(q)) for q in message.get("related") or [] if clean_line(str(q))]
    parts.append(_list_section("Related questions", related))
    images = []
    for image in message.get("images") or []:
        url = safe_url(str(image.get("url") or ""))
        if url:
            label = _md_literal(str(image.get("title") or "")) or url_domain(url)
            images.append(f"[{label}]({url})")
    parts.append(_list_section("Images", images))
    parts.append(status_note(message))
    return [p for p in parts if p]


def _question_extras(message: Mapping[str, Any]) -> str:
    attached = []
    for item in message.get("attachments") or []:
        name = _md_literal(str(item.get("name") or "")) or "attachment"
        mime = _md_literal(str(item.get("mime") or ""))
        size = item.get("size")
        details = ", ".join(x for x in (mime, _size(size)) if x)
        attached.append(f"{name} ({details})" if details else name)
    return f"*Attached: {'; '.join(attached)}*" if attached else ""


def _size(size: Any) -> str:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return ""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _thread_body(messages: list[Mapping[str, Any]]) -> list[str]:
    parts: list[str] = []
    for message in messages:
        if message.get("role") == "user":
            parts.append(question_markdown(str(message.get("content") or "")))
            extras = _question_extras(message)
            if extras:
                parts.append(extras)
        else:
            parts.extend(_answer_markdown(message))
    return parts


def _title(thread: Mapping[str, Any]) -> str:
    title = clean_line(str(thread.get("title") or "")) or "Untitled thread"
    return f"# {neutralise_markdown_links(title)}"


def _messages(data: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    thread = data.get("thread") or {}
    messages = [m for m in data.get("messages") or [] if isinstance(m, Mapping)]
    return thread, messages


def export_markdown(data: Mapping[str, Any]) -> str:
    """One thread as a Markdown document (layout in the module docstring)."""
    thread, messages = _messages(data)
    parts = [_front_matter(thread, messages), _title(thread), *_thread_body(messages)]
    return "\n\n".join(parts) + "\n"


def _thread_meta(thread: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> str:
    bits = []
    for label, field in (("Created", "created_at"), ("updated", "updated_at")):
        if thread.get(field) is not None:
            bits.append(f"{label} {_human_time(thread[field])}")
    model = _thread_model(thread, messages)
    if model:
        bits.append(_md_literal(model))
    return f"*{' · '.join(bits)}*" if bits else ""


def export_many(threads: Iterable[Mapping[str, Any]], *,
                fmt: Literal["markdown", "json"] = "markdown",
                exported_at: float | None = None) -> str:
    """Several threads in one document (``sonar-tui export --all``).

    JSON: ``{"format": "sonar-tui.threads", "version": 1, "threads": [...]}`` where each element
    is a complete one-thread document, exactly what :func:`export_json` writes for it.
    Markdown: front matter (title, thread count, ``exported`` when given), then each thread
    under its ``#`` title with a metadata line, separated by ``---`` thematic breaks.
    """
    threads = list(threads)
    if fmt == "json":
        document: dict[str, Any] = {"format": EXPORT_MANY_FORMAT, "version": EXPORT_VERSION}
        if exported_at is not None:
            document["exported_at"] = exported_at
        document["threads"] = [_thread_document(t) for t in threads]
        return _dumps(document)
    if fmt != "markdown":
        raise ValueError(f"unknown export format {fmt!r}")
    head = ["---", f"title: {_yaml_string('sonar-tui export')}", f"threads: {len(threads)}"]
    if exported_at is not None:
        head.append(f"exported: {utc_iso(exported_at)}")
    head.append("---")
    sections = []
    for data in threads:
        thread, messages = _messages(data)
        parts = [_title(thread), _thread_meta(thread, messages), *_thread_body(messages)]
        sections.append("\n\n".join(p for p in parts if p))
    return "\n".join(head) + "\n\n" + "\n\n---\n\n".join(sections) + "\n"
