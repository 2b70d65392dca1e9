"""Where the user left off: the last thread open and the unsent drafts (schema v6)."""

from __future__ import annotations

import time

import aiosqlite

LAST_THREAD = "last_thread"
NEW_THREAD_DRAFT = "new_thread_draft"


async def get_value(conn: aiosqlite.Connection, key: str) -> str | None:
    rows = list(await conn.execute_fetchall("SELECT value FROM app_state WHERE key = ?", (key,)))
    return rows[0][0] if rows else None


async def set_value(conn: aiosqlite.Connection, key: str, value: str | None) -> None:
    if value is None:
        await conn.execute("DELETE FROM app_state WHERE key = ?", (key,))
    else:
        await conn.execute("INSERT INTO app_state (key, value) VALUES (?, ?) ON CONFLICT(key)"
                           " DO UPDATE SET value = excluded.value", (key, value))


async def last_thread(conn: aiosqlite.Connection) -> int | None:
    """The last thread open, if it still exists."""
    value = await get_value(conn, LAST_THREAD)
    if value is None or not value.isdigit():
        return None
    rows = list(await conn.execute_fetchall("SELECT id FROM threads WHERE id = ?", (int(value),)))
    return rows[0][0] if rows else None


async def get_draft(conn: aiosqlite.Connection, thread_id: int | None) -> str:
    if thread_id is None:
        return await get_value(conn, NEW_THREAD_DRAFT) or ""
    rows = list(await conn.execute_fetchall("SELECT text FROM drafts WHERE thread_id = ?",
                                            (thread_id,)))
    return rows[0][0] if rows else ""


async def set_draft(conn: aiosqlite.Connection, thread_id: int | None, text: str) -> None:
    """An empty ``text`` removes the draft; a thread that no longer exists keeps none."""
    if thread_id is None:
        await set_value(conn, NEW_THREAD_DRAFT, text or None)
    elif not text:
        await conn.execute("DELETE FROM drafts WHERE thread_id = ?", (thread_id,))
    else:
        await conn.execute(
            "INSERT INTO drafts (thread_id, text, updated_at) SELECT id, ?, ? FROM threads"
            " WHERE id = ? ON CONFLICT(thread_id) DO UPDATE SET text = excluded.text,"
            " updated_at = excluded.updated_at", (text, time.time(), thread_id))
