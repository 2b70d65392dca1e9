"""Between Python values and columns: JSON (always redacted), records from rows, titles."""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from sonar_tui.sanitize import clean_line
from sonar_tui.store.models import AttachmentRecord, JobRecord, MessageRecord, ThreadRecord
from sonar_tui.store.redact import redact

log = logging.getLogger(__name__)

TITLE_MAX_CHARS = 80


# ---------------------------------------------------------------------- text
# A lone UTF-16 surrogate (from a JSON "\ud800" escape, or a file name decoded with
# surrogateescape) cannot be encoded as UTF-8: SQLite's bind would raise UnicodeEncodeError
# and lose the whole write. Everything that reaches a column goes through ``text``.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def text(value: str) -> str:
    """``value`` with every lone surrogate replaced by U+FFFD (nearly free for ASCII)."""
    if value.isascii():
        return value
    return _SURROGATE_RE.sub("\ufffd", value)


def opt_text(value: Any) -> str | None:
    return None if value is None else text(str(value))


# ---------------------------------------------------------------------- JSON
def _fallback(value: Any) -> Any:
    # A settings value of an unexpected type must not cost the user their message.
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (bytes, bytearray)):
        return None
    return str(value)


def dump_json(value: Any, *, scrub_strings: bool = True) -> str:
    """Redacted, compact JSON for a column."""
    return text(json.dumps(redact(value, scrub_strings=scrub_strings), ensure_ascii=False,
                           separators=(",", ":"), default=_fallback))


def dump_json_or_none(value: Any, *, scrub_strings: bool = True) -> str | None:
    return None if value is None else dump_json(value, scrub_strings=scrub_strings)


def load_json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        # Never fail a whole thread over one damaged cell.
        log.warning("unreadable JSON in the database, using %r", default)
        return default


# ---------------------------------------------------------------------- titles
def title_from_text(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """A one-line title: terminal sequences and control characters removed (whole sequences,
    not just their ESC), whitespace collapsed, cut at a word boundary with an ellipsis when
    longer than ``limit``."""
    line = clean_line(text)
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-—–") + "…"


# ---------------------------------------------------------------------- records
def thread_from_row(row: sqlite3.Row) -> ThreadRecord:
    keys = row.keys()
    return ThreadRecord(
        id=row["id"],
        uid=row["uid"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        pinned=bool(row["pinned"]),
        overrides=load_json(row["overrides"], {}),
        last_api=row["last_api"],
        last_model=row["last_model"],
        message_count=row["message_count"] if "message_count" in keys else 0,
        has_streaming=bool(row["has_streaming"]) if "has_streaming" in keys else False,
        job_status=row["job_status"] if "job_status" in keys else None,
        job_started_at=row["job_started_at"] if "job_started_at" in keys else None,
    )


def job_from_row(row: sqlite3.Row) -> JobRecord:
    keys = row.keys()
    return JobRecord(
        id=row["id"],
        thread_id=row["thread_id"],
        question_id=row["question_id"],
        answer_id=row["answer_id"],
        response_id=row["response_id"],
        endpoint=row["endpoint"],
        path=row["path"],
        status=row["status"],
        settings=load_json(row["settings"], {}),
        model=row["model"],
        steps=load_json(row["steps"], []),
        sources=load_json(row["sources"], []),
        error=load_json(row["error"], None),
        polls=row["polls"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        checked_at=row["checked_at"],
        finished_at=row["finished_at"],
        question=row["question"] if "question" in keys else "",
        thread_title=row["thread_title"] if "thread_title" in keys else "",
    )


def message_from_row(row: sqlite3.Row) -> MessageRecord:
    return MessageRecord(
        id=row["id"],
        thread_id=row["thread_id"],
        role=row["role"],
        content=row["content"],
        status=row["status"],
        reasoning=row["reasoning"],
        steps=load_json(row["steps"], []),
        error=load_json(row["error"], None),
        model=row["model"],
        api=row["api"],
        settings=load_json(row["settings"], {}),
        usage=load_json(row["usage"], None),
        cost=row["cost"],
        finish_reason=row["finish_reason"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        response_id=row["response_id"],
        response_endpoint=row["response_endpoint"],
    )


def source_from_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "number": row["number"],
        "url": row["url"],
        "title": row["title"],
        "date": row["date"],
        "last_updated": row["last_updated"],
        "snippet": row["snippet"],
        "origin": row["origin"],
    }


def image_from_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "url": row["url"],
        "origin_url": row["origin_url"],
        "width": row["width"],
        "height": row["height"],
        "title": row["title"],
    }


def attachment_from_row(row: sqlite3.Row, with_data: bool) -> AttachmentRecord:
    # sqlite3.Row's "in" looks at the values, not the column names: keys() is needed.
    data = row["data"] if with_data and "data" in row.keys() else None  # noqa: SIM118
    return AttachmentRecord(name=row["name"], mime=row["mime"], size=row["size"],
                            sha256=row["sha256"], data=bytes(data) if data is not None else None)


# ---------------------------------------------------------------------- input rows
def source_params(message_id: int, sources: Iterable[Mapping[str, Any]]) -> list[tuple]:
    params = []
    for position, source in enumerate(sources):
        number = source.get("number")
        params.append((
            message_id, position,
            int(number) if number is not None else position + 1,
            text(str(source.get("url") or "")),
            text(str(source.get("title") or "")),
            opt_text(source.get("date")),
            opt_text(source.get("last_updated")),
            opt_text(source.get("snippet")),
            opt_text(source.get("origin")),
        ))
    return params


def image_params(message_id: int, images: Iterable[Mapping[str, Any]]) -> list[tuple]:
    return [
        (message_id, position, text(str(image.get("url") or "")), opt_text(image.get("origin_url")),
         _opt_int(image.get("width")), _opt_int(image.get("height")), opt_text(image.get("title")))
        for position, image in enumerate(images)
    ]


def _opt_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
