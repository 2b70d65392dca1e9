"""``Store``: the one object per process through which the service reads and writes threads.

Every public method is one transaction: it either happened completely or not at all. Writes
that fail for a reason the user can fix raise :class:`StoreWriteError` (read-only file, full
disk, I/O error) and leave the database as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite

from sonar_tui.store import codec, session_state, threads, transfer, writers
from sonar_tui.store import jobs as background
from sonar_tui.store import search as fulltext
from sonar_tui.store.answer_writer import CHECKPOINT_CHARS, CHECKPOINT_INTERVAL_S, AnswerWriter
from sonar_tui.store.db import BUSY_TIMEOUT_S, Database
from sonar_tui.store.errors import MessageNotFoundError, StoreError, ThreadNotFoundError
from sonar_tui.store.models import (
    FinalAnswer,
    ImportResult,
    JobRecord,
    MessageRecord,
    SearchHit,
    ThreadData,
    ThreadRecord,
)
from sonar_tui.store.threads import FINAL_STATUSES, AttachmentLike

log = logging.getLogger(__name__)


class Store:
    def __init__(self, db: Database, schema_version: int) -> None:
        self._db = db
        self.schema_version = schema_version
        self.session_id = uuid.uuid4().hex
        self._me = writers.WriterIdentity.current(self.session_id)
        self.heartbeat_interval = writers.HEARTBEAT_INTERVAL_S
        self.stale_after = writers.STALE_AFTER_S
        # Answers this process is streaming; the AnswerWriter when there is one, so that a
        # close in the middle of a stream saves its unsaved tail.
        self._live: dict[int, AnswerWriter | None] = {}
        self._registered = False
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, read_only: bool = False,
                   busy_timeout: float = BUSY_TIMEOUT_S) -> Store:
        """Open (create, migrate) the database at ``path``; see ``paths.default_db_path()``.

        Raises ``StoreVersionError`` for a database from a newer sonar-tui (left untouched),
        ``StoreCorruptError`` for a file that is not one, ``StoreWriteError`` when it cannot
        be created.
        """
        db = await Database.open(path, read_only=read_only, busy_timeout=busy_timeout)
        return cls(db, await db.user_version())

    async def close(self) -> None:
        """Close; answers still streaming in this process are saved as ``interrupted``."""
        if self._closed:
            return
        self._closed = True
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        try:
            for message_id, writer in list(self._live.items()):
                if writer is not None and not writer.finished:
                    await writer.checkpoint()
                async def interrupt(conn: aiosqlite.Connection, mid: int = message_id) -> None:
                    await conn.execute(
                        "UPDATE messages SET status = 'interrupted', finish_reason = 'incomplete',"
                        " finished_at = ? WHERE id = ? AND status = 'streaming'",
                        (time.time(), mid))
                await self._db.write(interrupt)
            if self._registered:
                await self._db.write(lambda conn: writers.unregister(conn, self._me))
        except StoreError as exc:
            log.warning("could not record open answers as interrupted on close: %s", exc)
        finally:
            self._live.clear()
            await self._db.close()

    def abandon(self) -> None:
        """Last resort when :meth:`close` can no longer run (its event loop is gone): stop the
        database thread. Answers left ``streaming`` are recovered as ``interrupted`` on the next
        start, as after a crash."""
        if not self._closed:
            self._closed = True
            self._db.abandon()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def db(self) -> Database:
        """The database underneath, for diagnostics and tests."""
        return self._db

    # ------------------------------------------------------------------ threads
    async def create_thread(self, title: str = "", *,
                            overrides: Mapping[str, Any] | None = None) -> ThreadRecord:
        """An empty thread. Usually unnecessary: ``add_user_message(None, ...)`` creates the
        thread and its first question in one transaction."""
        async def body(conn: aiosqlite.Connection) -> ThreadRecord:
            thread_id = await threads.insert_thread(conn, title=title, overrides=overrides)
            thread = await threads.get_thread(conn, thread_id)
            if thread is None:  # just inserted, in this transaction
                raise ThreadNotFoundError(thread_id)
            return thread
        return await self._db.write(body)

    async def list_threads(self, limit: int = 200, offset: int = 0,
                           pinned_first: bool = True) -> list[ThreadRecord]:
        """Newest first (by last activity), pinned ones first unless ``pinned_first=False``."""
        return await self._db.read(
            lambda conn: threads.list_threads(conn, limit, offset, pinned_first))

    async def count_threads(self) -> int:
        return await self._db.read(threads.count_threads)

    async def get_thread(self, thread_id: int) -> ThreadRecord | None:
        return await self._db.read(lambda conn: threads.get_thread(conn, thread_id))

    async def get_thread_by_uid(self, uid: str) -> ThreadRecord | None:
        return await self._db.read(lambda conn: threads.get_thread_by_uid(conn, uid))

    async def rename_thread(self, thread_id: int, title: str) -> str:
        """Returns the title as stored (one line, at most ``codec.TITLE_MAX_CHARS``)."""
        clean = codec.title_from_text(title)
        if not clean:
            raise ValueError("a thread title cannot be empty")
        await self._db.write(lambda conn: threads.update_thread(conn, thread_id, title=clean))
        return clean

    async def set_pinned(self, thread_id: int, pinned: bool) -> None:
        await self._db.write(
            lambda conn: threads.update_thread(conn, thread_id, pinned=int(bool(pinned))))

    async def set_overrides(self, thread_id: int, overrides: Mapping[str, Any]) -> None:
        """The thread's settings overrides (secret-named keys are dropped)."""
        encoded = codec.dump_json(dict(overrides))
        await self._db.write(
            lambda conn: threads.update_thread(conn, thread_id, overrides=encoded))

    async def delete_thread(self, thread_id: int) -> bool:
        """Delete the thread and everything in it; False when there was no such thread."""
        async def body(conn: aiosqlite.Connection) -> tuple[bool, list[int]]:
            streaming = await conn.execute_fetchall(
                "SELECT id FROM messages WHERE thread_id = ? AND status = 'streaming'",
                (thread_id,))
            return await threads.delete_thread(conn, thread_id), [row[0] for row in streaming]

        deleted, gone = await self._db.write(body)
        for message_id in gone:
            self._live.pop(message_id, None)  # nothing left to checkpoint or heartbeat for
        return deleted

    # ------------------------------------------------------------------ where the user left off
    async def last_thread(self) -> int | None:
        """The thread open when the app last stopped (None: a new thread, or it is gone)."""
        return await self._db.read(session_state.last_thread)

    async def set_last_thread(self, thread_id: int | None) -> None:
        value = None if thread_id is None else str(int(thread_id))
        await self._db.write(
            lambda conn: session_state.set_value(conn, session_state.LAST_THREAD, value))

    async def get_draft(self, thread_id: int | None) -> str:
        """The unsent question typed in a thread (``None``: the new thread), or ""."""
        return await self._db.read(lambda conn: session_state.get_draft(conn, thread_id))

    async def set_draft(self, thread_id: int | None, text: str, *, remember: bool = False,
                        opening: int | None = None) -> None:
        """Keep ``text`` as the draft of ``thread_id``; with ``remember``, also record
        ``opening`` as the thread to open at the next start, in the same transaction."""
        async def body(conn: aiosqlite.Connection) -> None:
            await session_state.set_draft(conn, thread_id, text)
            if remember:
                await session_state.set_value(conn, session_state.LAST_THREAD,
                                              None if opening is None else str(int(opening)))
        await self._db.write(body)

    # ------------------------------------------------------------------ messages
    async def add_user_message(
        self,
        thread_id: int | None,
        content: str,
        *,
        attachments: Iterable[AttachmentLike] = (),
        keep_bytes: bool = False,
    ) -> MessageRecord:
        """Save a question (committed when this returns). ``thread_id=None`` starts a new
        thread in the same transaction. The first question titles an untitled thread.
        Attachments keep name, type, size and SHA-256; their bytes only with ``keep_bytes``."""
        files = list(attachments)
        title = codec.title_from_text(content) or (
            codec.title_from_text(files[0].name) if files else "")
        now = time.time()

        async def body(conn: aiosqlite.Connection) -> MessageRecord:
            tid = thread_id
            if tid is None:
                tid = await threads.insert_thread(conn, title=title, created_at=now)
                retitle = {}
            else:
                current = await threads.require_thread(conn, tid)
                retitle = {} if current or not title else {"title": title}
            message_id = await threads.insert_user_message(conn, tid, content, files, keep_bytes,
                                                           now)
            await threads.touch_thread(conn, tid, now, **retitle)
            message = await threads.get_message(conn, message_id, attachment_data=False)
            if message is None:  # just inserted, in this transaction
                raise MessageNotFoundError(message_id)
            return message

        return await self._db.write(body)

    async def start_answer(self, thread_id: int, settings: Mapping[str, Any] | None,
                           model: str | None, api: str | None, *,
                           replacing: int | None = None) -> int:
        """Create the answer row (status ``streaming``) owned by this process; returns its id.
        ``settings`` is the exact request settings used (secret-named keys are dropped).
        ``replacing``: an old answer deleted in the same transaction (regenerate), so the
        thread never holds both, nor neither."""
        now = time.time()

        async def body(conn: aiosqlite.Connection) -> int:
            await threads.require_thread(conn, thread_id)
            if replacing is not None:
                await threads.delete_message(conn, replacing)
            await writers.register(conn, self._me, now)
            message_id = await threads.insert_answer(
                conn, thread_id, settings or {}, model, api, self.session_id, now)
            last = {k: v for k, v in (("last_model", model), ("last_api", api)) if v is not None}
            await threads.touch_thread(conn, thread_id, now, **last)
            return message_id

        message_id = await self._db.write(body)
        self._registered = True
        if replacing is not None:
            self._live.pop(replacing, None)
        self._live.setdefault(message_id, None)
        self._ensure_heartbeat()
        return message_id

    def answer_writer(self, message_id: int, *, interval: float = CHECKPOINT_INTERVAL_S,
                      max_pending_chars: int = CHECKPOINT_CHARS) -> AnswerWriter:
        """The throttled writer for an answer started with :meth:`start_answer`."""
        writer = AnswerWriter(self, message_id, interval=interval,
                              max_pending_chars=max_pending_chars)
        self._live[message_id] = writer
        return writer

    async def checkpoint_answer(self, message_id: int, content: str, reasoning: str = "", *,
                                sources: Sequence[Mapping[str, Any]] | None = None) -> bool:
        """Save the partial answer now (prefer ``AnswerWriter``, which throttles). False
        when the row is no longer streaming (finished); ``MessageNotFoundError`` when it is
        gone (its thread deleted, perhaps by another instance). ``sources``, when given,
        replace the row's sources (the whole list so far)."""
        now = time.time()
        new_sources = None if sources is None else list(sources)

        async def body(conn: aiosqlite.Connection) -> bool:
            saved = await threads.checkpoint_answer(conn, message_id, content, reasoning,
                                                    self.session_id, now)
            if saved and new_sources is not None:
                await threads.replace_sources(conn, message_id, new_sources)
            await writers.heartbeat(conn, self._me, now)
            return saved

        return await self._db.write(body)

    async def finish_answer(self, message_id: int, final: FinalAnswer) -> None:
        """Finalise an answer in one transaction: status, text, steps, sources, related
        questions, images, usage (see ``FinalAnswer``)."""
        if final.status not in FINAL_STATUSES:
            raise ValueError(f"finish_answer needs a final status, not {final.status!r}")
        now = time.time()
        await self._db.write(lambda conn: threads.finish_answer(conn, message_id, final, now))
        self._live.pop(message_id, None)

    async def load_messages(self, thread_id: int, limit: int | None = None,
                            before_id: int | None = None, *,
                            attachment_data: bool = False) -> list[MessageRecord]:
        """Messages oldest first, with sources, related questions, images and attachments
        (bytes only with ``attachment_data``). Paging: ``limit=N`` gives the newest N; pass
        the first id of a page as ``before_id`` to get the page before it."""
        return await self._db.read(lambda conn: threads.load_messages(
            conn, thread_id, limit, before_id, attachment_data))

    async def get_message(self, message_id: int, *,
                          attachment_data: bool = True) -> MessageRecord | None:
        return await self._db.read(
            lambda conn: threads.get_message(conn, message_id, attachment_data))

    async def count_messages(self, thread_id: int) -> int:
        return await self._db.read(lambda conn: threads.count_messages(conn, thread_id))

    async def delete_message(self, message_id: int) -> bool:
        """Delete one message (e.g. an answer about to be regenerated)."""
        deleted = await self._db.write(lambda conn: threads.delete_message(conn, message_id))
        self._live.pop(message_id, None)
        return deleted

    # ------------------------------------------------------------------ background jobs
    async def add_job(self, thread_id: int, question_id: int, *, endpoint: str, path: str,
                      settings: Mapping[str, Any] | None, model: str | None,
                      replaces: int | None = None) -> JobRecord:
        """Record a question about to be sent as a background job (committed when this
        returns, before the request leaves). ``endpoint`` is the base URL without
        credentials; ``settings`` the exact request settings (secret-named keys dropped).
        ``replaces``: the answer a regenerating job replaces once it completes."""
        now = time.time()

        async def body(conn: aiosqlite.Connection) -> JobRecord:
            await threads.require_thread(conn, thread_id)
            job_id = await background.insert_job(
                conn, thread_id=thread_id, question_id=question_id, endpoint=endpoint,
                path=path, settings=settings or {}, model=model, now=now, replaces=replaces)
            await threads.touch_thread(conn, thread_id, now)
            job = await background.get_job(conn, job_id)
            assert job is not None
            return job
        return await self._db.write(body)

    async def job_submitted(self, job_id: int, response_id: str, status: str) -> bool:
        """The service accepted the job and gave it ``response_id``. False when the job has
        finished meanwhile."""
        now = time.time()
        return await self._db.write(
            lambda conn: background.set_submitted(conn, job_id, response_id, status, now))

    async def job_checked(self, job_id: int, *, status: str | None = None,
                          steps: Sequence[Mapping[str, Any]] | None = None,
                          sources: Sequence[Mapping[str, Any]] | None = None,
                          error: Mapping[str, Any] | None = None, polled: bool = True) -> bool:
        """What a check of an unfinished job found (see ``jobs.record_progress``)."""
        now = time.time()
        steps = None if steps is None else list(steps)
        sources = None if sources is None else list(sources)
        return await self._db.write(lambda conn: background.record_progress(
            conn, job_id, status=status, steps=steps, sources=sources, error=error,
            polled=polled, now=now))

    async def finish_job(self, job_id: int, job_status: str,
                         final: FinalAnswer) -> int | None:
        """End the job and write its answer (a finished message after its question) in one
        transaction. Returns the answer's id, or None when the job had already finished
        (another process wrote the answer; nothing is written)."""
        if final.status not in FINAL_STATUSES:
            raise ValueError(f"finish_job needs a final status, not {final.status!r}")
        now = time.time()
        answer = replace(final, api="agent")  # a job is always an Agent API answer
        return await self._db.write(lambda conn: background.finish_job(
            conn, job_id, job_status=job_status, answer=answer,
            writer_session=self.session_id, now=now))

    async def get_job(self, job_id: int) -> JobRecord | None:
        return await self._db.read(lambda conn: background.get_job(conn, job_id))

    async def thread_job(self, thread_id: int, *, unfinished: bool = False) -> JobRecord | None:
        """The thread's latest job (only an unfinished one with ``unfinished``)."""
        return await self._db.read(
            lambda conn: background.latest_job(conn, thread_id, unfinished))

    async def list_jobs(self, limit: int | None = 50, *,
                        unfinished: bool = False) -> list[JobRecord]:
        """Unfinished jobs first (oldest first), then finished ones (newest first)."""
        return await self._db.read(lambda conn: background.list_jobs(conn, limit, unfinished))

    # ------------------------------------------------------------------ recovery
    async def recover_interrupted(self) -> list[int]:
        """At startup: answers left ``streaming`` by a crashed run become ``interrupted``
        (their last checkpoint kept). Rows another live instance is streaming are left
        alone (see ``store.writers``). Returns the recovered message ids."""
        return await self._db.write(
            lambda conn: writers.recover(conn, self._me, time.time(), self.stale_after))

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_task = asyncio.get_running_loop().create_task(
                self._heartbeat_loop(), name="sonar-tui store heartbeat")

    async def _heartbeat_loop(self) -> None:
        # Keeps a silent stream (a model thinking for minutes) from looking crashed to
        # another instance's recover_interrupted().
        while self._live and not self._closed:
            await asyncio.sleep(self.heartbeat_interval)
            if not self._live or self._closed:
                return
            try:
                await self._db.write(lambda conn: writers.heartbeat(conn, self._me, time.time()))
            except StoreError as exc:
                log.warning("store heartbeat failed: %s", exc)

    # ------------------------------------------------------------------ search
    async def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Best matches first (bm25) over questions, finished answers, thread titles and
        source titles. Any text is a valid query; a query with no words returns []."""
        return await self._db.read(lambda conn: fulltext.search(conn, query, limit))

    # ------------------------------------------------------------------ export / import
    async def export_thread(self, thread_id: int) -> ThreadData:
        """Everything the database holds for the thread (attachment bytes included)."""
        async def body(conn: aiosqlite.Connection) -> ThreadData:
            thread = await threads.get_thread(conn, thread_id)
            if thread is None:
                raise ThreadNotFoundError(thread_id)
            messages = await threads.load_messages(conn, thread_id, None, None, True)
            return ThreadData(thread=thread, messages=messages)
        return await self._db.read(body)

    async def import_thread(self, data: Mapping[str, Any]) -> ImportResult:
        """Import a ``ThreadData.to_dict()`` document as a new thread with new ids. A thread
        whose ``uid`` is already here is not imported again (``created=False``). Raises
        ``StoreImportError`` for other formats, newer versions or malformed fields."""
        parsed = transfer.parse_export(data)
        t = parsed.thread

        async def body(conn: aiosqlite.Connection) -> ImportResult:
            existing = await threads.get_thread_by_uid(conn, t.uid)
            if existing is not None:
                return ImportResult(thread_id=existing.id, created=False)
            thread_id = await threads.insert_thread(
                conn, title=t.title, overrides=t.overrides, uid=t.uid, created_at=t.created_at,
                updated_at=t.updated_at, pinned=t.pinned, last_api=t.last_api,
                last_model=t.last_model)
            for message in parsed.messages:
                await threads.insert_full_message(conn, thread_id, message, message.created_at)
            return ImportResult(thread_id=thread_id, created=True)

        return await self._db.write(body)
