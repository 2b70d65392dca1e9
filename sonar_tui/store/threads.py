"""Threads and messages: the SQL. Every function runs inside a transaction it is given.

Callers (``Store``) choose the transaction: writes go through ``Database.write`` and may be
re-run after SQLITE_BUSY, so nothing here keeps Python-side state.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import aiosqlite

from sonar_tui.store import codec
from sonar_tui.store.errors import MessageNotFoundError, ThreadNotFoundError
from sonar_tui.store.models import AttachmentRecord, FinalAnswer, MessageRecord, ThreadRecord

FINAL_STATUSES = frozenset({"complete", "interrupted", "cancelled", "error"})


async def fetch_rows(conn: aiosqlite.Connection, sql: str,
                     parameters: Sequence[Any] = ()) -> list[aiosqlite.Row]:
    """``execute_fetchall`` as a list (aiosqlite types it as an Iterable: not indexable)."""
    return list(await conn.execute_fetchall(sql, parameters))


def inserted_id(cursor: aiosqlite.Cursor) -> int:
    """The id of the row an INSERT just made (never None after one)."""
    if cursor.lastrowid is None:
        raise RuntimeError("an INSERT reported no row id")
    return cursor.lastrowid

_THREAD_COLUMNS = """
    t.id, t.uid, t.title, t.created_at, t.updated_at, t.pinned, t.overrides, t.last_api,
    t.last_model,
    (SELECT count(*) FROM messages m WHERE m.thread_id = t.id) AS message_count,
    EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.status = 'streaming')
        AS has_streaming,
    (SELECT j.status FROM jobs j WHERE j.thread_id = t.id AND j.finished_at IS NULL
        ORDER BY j.id DESC LIMIT 1) AS job_status,
    (SELECT j.created_at FROM jobs j WHERE j.thread_id = t.id AND j.finished_at IS NULL
        ORDER BY j.id DESC LIMIT 1) AS job_started_at
"""


class AttachmentLike(Protocol):
    """What the store needs of an attachment (``api.conversation.Attachment`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def mime(self) -> str: ...
    @property
    def data(self) -> bytes | None: ...


# ---------------------------------------------------------------------- threads
async def insert_thread(
    conn: aiosqlite.Connection,
    *,
    title: str = "",
    overrides: Mapping[str, Any] | None = None,
    uid: str | None = None,
    created_at: float | None = None,
    updated_at: float | None = None,
    pinned: bool = False,
    last_api: str | None = None,
    last_model: str | None = None,
) -> int:
    created = time.time() if created_at is None else created_at
    cursor = await conn.execute(
        "INSERT INTO threads (uid, title, created_at, updated_at, pinned, overrides, last_api,"
        " last_model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (uid or uuid.uuid4().hex, codec.title_from_text(title), created,
         created if updated_at is None else updated_at, int(pinned),
         codec.dump_json(dict(overrides or {})), codec.opt_text(last_api),
         codec.opt_text(last_model)),
    )
    return inserted_id(cursor)


async def get_thread(conn: aiosqlite.Connection, thread_id: int) -> ThreadRecord | None:
    rows = await fetch_rows(
        conn, f"SELECT {_THREAD_COLUMNS} FROM threads t WHERE t.id = ?", (thread_id,))
    return codec.thread_from_row(rows[0]) if rows else None


async def get_thread_by_uid(conn: aiosqlite.Connection, uid: str) -> ThreadRecord | None:
    rows = await fetch_rows(
        conn, f"SELECT {_THREAD_COLUMNS} FROM threads t WHERE t.uid = ?", (uid,))
    return codec.thread_from_row(rows[0]) if rows else None


async def list_threads(
    conn: aiosqlite.Connection, limit: int, offset: int, pinned_first: bool
) -> list[ThreadRecord]:
    # Both orders are served by an index scanned backwards (threads_by_pinned /
    # threads_by_updated): no sort of the whole table, whatever its size.
    order = "t.pinned DESC, t.updated_at DESC, t.id DESC" if pinned_first else \
        "t.updated_at DESC, t.id DESC"
    rows = await fetch_rows(
        conn, f"SELECT {_THREAD_COLUMNS} FROM threads t ORDER BY {order} LIMIT ? OFFSET ?",
        (max(0, int(limit)), max(0, int(offset))),
    )
    return [codec.thread_from_row(row) for row in rows]


async def count_threads(conn: aiosqlite.Connection) -> int:
    rows = await fetch_rows(conn, "SELECT count(*) FROM threads")
    return int(rows[0][0])


async def update_thread(conn: aiosqlite.Connection, thread_id: int, **columns: Any) -> None:
    """Set the given columns (names are ours, never user input)."""
    columns = {k: codec.text(v) if isinstance(v, str) else v for k, v in columns.items()}
    assignments = ", ".join(f"{name} = ?" for name in columns)
    cursor = await conn.execute(
        f"UPDATE threads SET {assignments} WHERE id = ?", (*columns.values(), thread_id))
    if cursor.rowcount == 0:
        raise ThreadNotFoundError(thread_id)


async def require_thread(conn: aiosqlite.Connection, thread_id: int) -> str:
    """The thread's title; raises if it does not exist."""
    rows = await fetch_rows(conn, "SELECT title FROM threads WHERE id = ?", (thread_id,))
    if not rows:
        raise ThreadNotFoundError(thread_id)
    return rows[0][0]


async def delete_thread(conn: aiosqlite.Connection, thread_id: int) -> bool:
    # Foreign keys cascade to messages, sources, related questions, images and attachments;
    # the FTS triggers fire for every cascaded row.
    cursor = await conn.execute("DELETE FROM threads WHERE id = ?", (thread_id,))
    return cursor.rowcount > 0


# ---------------------------------------------------------------------- messages
async def insert_user_message(
    conn: aiosqlite.Connection,
    thread_id: int,
    content: str,
    attachments: Sequence[AttachmentLike | AttachmentRecord],
    keep_bytes: bool,
    now: float,
) -> int:
    cursor = await conn.execute(
        "INSERT INTO messages (thread_id, role, content, status, created_at, finished_at)"
        " VALUES (?, 'user', ?, 'complete', ?, ?)",
        (thread_id, codec.text(content), now, now),
    )
    message_id = inserted_id(cursor)
    await insert_attachments(conn, message_id, attachments, keep_bytes)
    return message_id


async def insert_attachments(
    conn: aiosqlite.Connection,
    message_id: int,
    attachments: Iterable[AttachmentLike | AttachmentRecord],
    keep_bytes: bool,
) -> None:
    params = []
    for position, attachment in enumerate(attachments):
        data = getattr(attachment, "data", None)
        if data is not None:
            data = bytes(data)
            size, sha256 = len(data), hashlib.sha256(data).hexdigest()
        else:
            size = int(getattr(attachment, "size", 0))
            sha256 = str(getattr(attachment, "sha256", ""))
        params.append((message_id, position, codec.text(str(attachment.name)),
                       codec.text(str(attachment.mime)), size, codec.text(sha256),
                       data if keep_bytes else None))
    if params:
        await conn.executemany(
            "INSERT INTO attachments (message_id, position, name, mime, size, sha256, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", params)


async def insert_answer(
    conn: aiosqlite.Connection,
    thread_id: int,
    settings: Mapping[str, Any],
    model: str | None,
    api: str | None,
    writer_session: str,
    now: float,
) -> int:
    cursor = await conn.execute(
        "INSERT INTO messages (thread_id, role, status, settings, model, api, created_at,"
        " writer_session, checkpoint_at) VALUES (?, 'assistant', 'streaming', ?, ?, ?, ?, ?, ?)",
        (thread_id, codec.dump_json(dict(settings or {})), codec.opt_text(model),
         codec.opt_text(api), now, writer_session, now),
    )
    return inserted_id(cursor)


async def checkpoint_answer(
    conn: aiosqlite.Connection,
    message_id: int,
    content: str,
    reasoning: str,
    writer_session: str,
    now: float,
) -> bool:
    """Save the partial answer. A row another instance wrongly recovered as interrupted
    (this process was suspended past the heartbeat limit) is taken back to streaming; a
    finished row is never overwritten by a late checkpoint."""
    cursor = await conn.execute(
        "UPDATE messages SET content = ?, reasoning = ?, checkpoint_at = ?, status = 'streaming'"
        " WHERE id = ? AND (status = 'streaming'"
        "   OR (status = 'interrupted' AND writer_session = ?))",
        (codec.text(content), codec.text(reasoning), now, message_id, writer_session),
    )
    if cursor.rowcount == 0 and not await conn.execute_fetchall(
            "SELECT 1 FROM messages WHERE id = ?", (message_id,)):
        raise MessageNotFoundError(message_id)  # deleted (by another instance, with its thread)
    return cursor.rowcount > 0


async def finish_answer(conn: aiosqlite.Connection, message_id: int, final: FinalAnswer,
                        now: float) -> int:
    """Finalise the answer and replace its children; returns the thread id."""
    rows = await fetch_rows(
        conn, "SELECT thread_id, model, api FROM messages WHERE id = ? AND role = 'assistant'",
        (message_id,))
    if not rows:
        raise MessageNotFoundError(message_id)
    thread_id = rows[0]["thread_id"]
    model = final.model if final.model is not None else rows[0]["model"]
    api = final.api if final.api is not None else rows[0]["api"]
    await conn.execute(
        "UPDATE messages SET status = ?, content = ?, reasoning = ?, steps = ?, error = ?,"
        " model = ?, api = ?, usage = ?, cost = ?, finish_reason = ?, finished_at = ?,"
        " checkpoint_at = ?, response_id = ?, response_endpoint = ? WHERE id = ?",
        (final.status, codec.text(final.content), codec.text(final.reasoning),
         codec.dump_json(list(final.steps)),
         codec.dump_json_or_none(dict(final.error) if final.error is not None else None),
         codec.opt_text(model), codec.opt_text(api),
         codec.dump_json_or_none(dict(final.usage) if final.usage is not None else None),
         final.cost, codec.opt_text(final.finish_reason), now, now,
         codec.opt_text(final.response_id), codec.opt_text(final.response_endpoint),
         message_id),
    )
    await replace_children(conn, message_id, sources=list(final.sources),
                           related=list(final.related), images=list(final.images))
    await conn.execute(
        "UPDATE threads SET updated_at = ?, last_model = coalesce(?, last_model),"
        " last_api = coalesce(?, last_api) WHERE id = ?",
        (now, codec.opt_text(model), codec.opt_text(api), thread_id))
    return thread_id


async def replace_children(
    conn: aiosqlite.Connection,
    message_id: int,
    *,
    sources: Sequence[Mapping[str, Any]],
    related: Sequence[str],
    images: Sequence[Mapping[str, Any]],
) -> None:
    # Deleting first makes a repeated finish (or an import) idempotent.
    for table in ("related_questions", "images"):
        await conn.execute(f"DELETE FROM {table} WHERE message_id = ?", (message_id,))
    await replace_sources(conn, message_id, sources)
    if related:
        await conn.executemany(
            "INSERT INTO related_questions (message_id, position, question) VALUES (?, ?, ?)",
            [(message_id, i, codec.text(str(q))) for i, q in enumerate(related)])
    if images:
        await conn.executemany(
            "INSERT INTO images (message_id, position, url, origin_url, width, height, title)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", codec.image_params(message_id, images))


async def replace_sources(conn: aiosqlite.Connection, message_id: int,
                          sources: Sequence[Mapping[str, Any]]) -> None:
    """The message's sources become ``sources`` (a checkpoint's list so far, or the final)."""
    await conn.execute("DELETE FROM sources WHERE message_id = ?", (message_id,))
    if sources:
        await conn.executemany(
            "INSERT INTO sources (message_id, position, number, url, title, date, last_updated,"
            " snippet, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            codec.source_params(message_id, sources))


async def insert_full_message(conn: aiosqlite.Connection, thread_id: int, m: MessageRecord,
                              created_at: float) -> int:
    """An already-finished message as it stands (import)."""
    cursor = await conn.execute(
        "INSERT INTO messages (thread_id, role, content, reasoning, steps, status, error, model,"
        " api, settings, usage, cost, finish_reason, created_at, finished_at, response_id,"
        " response_endpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (thread_id, m.role, codec.text(m.content), codec.text(m.reasoning),
         codec.dump_json(m.steps), m.status, codec.dump_json_or_none(m.error),
         codec.opt_text(m.model), codec.opt_text(m.api), codec.dump_json(m.settings),
         codec.dump_json_or_none(m.usage), m.cost, codec.opt_text(m.finish_reason), created_at,
         m.finished_at, codec.opt_text(m.response_id), codec.opt_text(m.response_endpoint)),
    )
    message_id = inserted_id(cursor)
    await replace_children(conn, message_id, sources=m.sources, related=m.related, images=m.images)
    await insert_attachments(conn, message_id, m.attachments, keep_bytes=True)
    return message_id


async def touch_thread(conn: aiosqlite.Connection, thread_id: int, now: float,
                       **columns: Any) -> None:
    await update_thread(conn, thread_id, updated_at=now, **columns)


async def delete_message(conn: aiosqlite.Connection, message_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
    return cursor.rowcount > 0


async def count_messages(conn: aiosqlite.Connection, thread_id: int) -> int:
    rows = await fetch_rows(
        conn, "SELECT count(*) FROM messages WHERE thread_id = ?", (thread_id,))
    return int(rows[0][0])


async def load_messages(
    conn: aiosqlite.Connection,
    thread_id: int,
    limit: int | None,
    before_id: int | None,
    attachment_data: bool,
) -> list[MessageRecord]:
    """Oldest first. With ``limit``: the newest ``limit`` messages older than ``before_id``
    (pass the first id of the previous page to get the page before it)."""
    where, params = "thread_id = ?", [thread_id]
    if before_id is not None:
        where += " AND id < ?"
        params.append(before_id)
    if limit is None:
        rows = await fetch_rows(
            conn, f"SELECT * FROM messages WHERE {where} ORDER BY id", params)
    else:
        rows = await fetch_rows(
            conn, f"SELECT * FROM messages WHERE {where} ORDER BY id DESC LIMIT ?",
            (*params, max(0, int(limit))))
        rows = list(reversed(rows))
    messages = [codec.message_from_row(row) for row in rows]
    await attach_children(conn, messages, attachment_data)
    return messages


async def get_message(conn: aiosqlite.Connection, message_id: int,
                      attachment_data: bool) -> MessageRecord | None:
    rows = await fetch_rows(conn, "SELECT * FROM messages WHERE id = ?", (message_id,))
    if not rows:
        return None
    message = codec.message_from_row(rows[0])
    await attach_children(conn, [message], attachment_data)
    return message


async def attach_children(conn: aiosqlite.Connection, messages: list[MessageRecord],
                          attachment_data: bool) -> None:
    """Sources, related questions, images and attachments: one query per table for the
    whole page (the ids travel as one JSON array, so no limit on bound parameters)."""
    if not messages:
        return
    by_id = {m.id: m for m in messages}
    ids = json.dumps(list(by_id))
    in_page = "message_id IN (SELECT value FROM json_each(?))"
    for row in await conn.execute_fetchall(
            f"SELECT * FROM sources WHERE {in_page} ORDER BY message_id, position", (ids,)):
        by_id[row["message_id"]].sources.append(codec.source_from_row(row))
    for row in await conn.execute_fetchall(
            f"SELECT message_id, question FROM related_questions WHERE {in_page}"
            " ORDER BY message_id, position", (ids,)):
        by_id[row["message_id"]].related.append(row["question"])
    for row in await conn.execute_fetchall(
            f"SELECT * FROM images WHERE {in_page} ORDER BY message_id, position", (ids,)):
        by_id[row["message_id"]].images.append(codec.image_from_row(row))
    data_column = "data" if attachment_data else "NULL AS data"
    for row in await conn.execute_fetchall(
            f"SELECT message_id, name, mime, size, sha256, {data_column} FROM attachments"
            f" WHERE {in_page} ORDER BY message_id, position", (ids,)):
        by_id[row["message_id"]].attachments.append(codec.attachment_from_row(row, attachment_data))
