"""Background jobs: the SQL. Every function runs inside a transaction it is given.

A job is unfinished while ``finished_at`` is NULL. Every change to an unfinished job checks
that it still is, in the same statement: two processes may follow one job (the app and
``sonar-tui wait``), and whichever finishes it first writes the answer; the other finds it
finished and reads that answer instead of writing a second one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiosqlite

from sonar_tui.store import codec, threads
from sonar_tui.store.models import FinalAnswer, JobRecord

_SELECT = ("SELECT j.*, coalesce(m.content, '') AS question, t.title AS thread_title"
           " FROM jobs j JOIN threads t ON t.id = j.thread_id"
           " LEFT JOIN messages m ON m.id = j.question_id")


async def insert_job(conn: aiosqlite.Connection, *, thread_id: int, question_id: int,
                     endpoint: str, path: str, settings: Mapping[str, Any],
                     model: str | None, now: float, replaces: int | None = None) -> int:
    cursor = await conn.execute(
        "INSERT INTO jobs (thread_id, question_id, endpoint, path, settings, model,"
        " created_at, updated_at, replaces_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (thread_id, question_id, endpoint, path, codec.dump_json(dict(settings)), model, now,
         now, replaces))
    return int(cursor.lastrowid or 0)


async def get_job(conn: aiosqlite.Connection, job_id: int) -> JobRecord | None:
    rows = list(await conn.execute_fetchall(f"{_SELECT} WHERE j.id = ?", (job_id,)))
    return codec.job_from_row(rows[0]) if rows else None


async def latest_job(conn: aiosqlite.Connection, thread_id: int,
                     unfinished: bool) -> JobRecord | None:
    only = " AND j.finished_at IS NULL" if unfinished else ""
    rows = list(await conn.execute_fetchall(
        f"{_SELECT} WHERE j.thread_id = ?{only} ORDER BY j.id DESC LIMIT 1", (thread_id,)))
    return codec.job_from_row(rows[0]) if rows else None


async def list_jobs(conn: aiosqlite.Connection, limit: int | None,
                    unfinished: bool) -> list[JobRecord]:
    """Unfinished jobs first (oldest first: they were asked first), then the others, newest
    first."""
    where = " WHERE j.finished_at IS NULL" if unfinished else ""
    rows = await conn.execute_fetchall(
        f"{_SELECT}{where} ORDER BY j.finished_at IS NOT NULL,"
        " CASE WHEN j.finished_at IS NULL THEN j.id ELSE -j.id END LIMIT ?",
        (-1 if limit is None else max(0, int(limit)),))
    return [codec.job_from_row(row) for row in rows]


async def set_submitted(conn: aiosqlite.Connection, job_id: int, response_id: str,
                        status: str, now: float) -> bool:
    cursor = await conn.execute(
        "UPDATE jobs SET response_id = ?, status = ?, updated_at = ?, checked_at = ?"
        " WHERE id = ? AND finished_at IS NULL", (response_id, status, now, now, job_id))
    return cursor.rowcount > 0


async def record_progress(conn: aiosqlite.Connection, job_id: int, *, status: str | None,
                          steps: Sequence[Mapping[str, Any]] | None,
                          sources: Sequence[Mapping[str, Any]] | None,
                          error: Mapping[str, Any] | None, polled: bool, now: float) -> bool:
    """What a check found: the status and progress (None: unchanged) and the problem met
    (None clears it). False when the job has finished meanwhile."""
    columns: dict[str, Any] = {"updated_at": now, "checked_at": now,
                               "error": codec.dump_json_or_none(
                                   dict(error) if error is not None else None)}
    if status is not None:
        columns["status"] = status
    if steps is not None:
        columns["steps"] = codec.dump_json(list(steps))
    if sources is not None:
        columns["sources"] = codec.dump_json(list(sources))
    assignments = ", ".join(f"{name} = ?" for name in columns)
    increment = ", polls = polls + 1" if polled else ""
    cursor = await conn.execute(
        f"UPDATE jobs SET {assignments}{increment} WHERE id = ? AND finished_at IS NULL",
        (*columns.values(), job_id))
    return cursor.rowcount > 0


async def finish_job(conn: aiosqlite.Connection, job_id: int, *, job_status: str,
                     answer: FinalAnswer, writer_session: str, now: float) -> int | None:
    """End the job and write its answer as a finished message, at once. Returns the
    answer's message id; None when the job had already finished (another process got there
    first), and then nothing is written."""
    job = await get_job(conn, job_id)
    if job is None or job.finished:
        return None
    message_id = await threads.insert_answer(
        conn, job.thread_id, job.settings, answer.model or job.model, "agent",
        writer_session, job.created_at)
    await threads.finish_answer(conn, message_id, answer, now)
    if answer.status == "complete":  # a regenerated answer replaces its predecessor
        await conn.execute(
            "DELETE FROM messages WHERE id = (SELECT replaces_id FROM jobs WHERE id = ?)",
            (job_id,))
    error = answer.error
    await conn.execute(
        "UPDATE jobs SET status = ?, answer_id = ?, finished_at = ?, updated_at = ?,"
        " error = ? WHERE id = ?",
        (job_status, message_id, now, now,
         codec.dump_json_or_none(dict(error) if error is not None else None), job_id))
    return message_id


__all__ = ["finish_job", "get_job", "insert_job", "latest_job", "list_jobs", "record_progress",
           "set_submitted"]
