"""The SQLite connection: pragmas, the schema-version gate, migrations and transactions.

One :class:`Database` per process wraps one aiosqlite connection. Every statement runs in a
transaction opened by :meth:`Database.write` (``BEGIN IMMEDIATE``) or :meth:`Database.read`
(``BEGIN``), serialised by an asyncio lock so that coroutines sharing the connection never
see each other's half-done work.

Two processes on one file (two terminals): WAL lets readers and the writer proceed together;
``BEGIN IMMEDIATE`` takes the write lock up front, where the busy timeout applies (a deferred
transaction that upgrades to a writer later fails at once with SQLITE_BUSY and no wait); and
:meth:`Database.write` re-runs the whole transaction with backoff for the rare SQLITE_BUSY
the busy handler does not cover, so "database is locked" never reaches the caller before a
generous deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from sonar_tui.store.errors import (
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreVersionError,
    StoreWriteError,
)
from sonar_tui.store.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

T = TypeVar("T")
Body = Callable[[aiosqlite.Connection], Awaitable[T]]

BUSY_TIMEOUT_S = 5.0  # SQLite's own wait for a lock, per statement
BUSY_DEADLINE_S = 30.0  # our retry loop on top of it, per transaction

# Primary SQLite result codes (the extended code's low byte).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED = 3, 5, 6
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26

_WRITE_REASONS = {
    _SQLITE_READONLY: "the database is read-only",
    _SQLITE_FULL: "the disk is full",
    _SQLITE_IOERR: "a disk I/O error occurred",
    _SQLITE_CANTOPEN: "the database file cannot be opened for writing",
    _SQLITE_PERM: "permission denied",
}


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = _primary_code(exc)
    if code is not None:
        return code in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def translate(exc: sqlite3.Error, path: Path) -> Exception:
    """A typed store error for failures the user can do something about; other errors are
    bugs and are returned unchanged so that they stay loud."""
    code = _primary_code(exc)
    if code in _WRITE_REASONS:
        return StoreWriteError(path, _WRITE_REASONS[code], str(exc))
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreCorruptError(f"{path} is damaged or is not a sonar-tui database ({exc})",
                                 path)
    if is_busy(exc):
        return StoreBusyError(path, "another sonar-tui kept the database busy for too long",
                              str(exc))
    return exc


def _backoff(attempt: int) -> float:
    # Jittered exponential backoff so that two processes do not retry in lock-step.
    return min(0.5, 0.005 * (2**attempt)) * (0.5 + random.random())


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: Path, *, read_only: bool) -> None:
        self._conn = conn
        self.path = path
        self.read_only = read_only
        self.busy_deadline = BUSY_DEADLINE_S
        self.busy_retries = 0  # transactions re-run after SQLITE_BUSY (diagnostics)
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ opening
    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_S,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``path``.

        A database from a newer sonar-tui raises :class:`StoreVersionError` before anything
        is written to it (the version is read before the journal mode is set).
        """
        path = Path(path).expanduser()
        if read_only:
            if not path.exists():
                raise StoreError(f"no database at {path}")
            conn, found = await _connect_read_only(path, busy_timeout)
        else:
            _create_private(path)
            conn, found = await _connect(str(path), False, path, busy_timeout)
        supported = migrations[-1].version if migrations else 0
        try:
            if found > supported or (read_only and found < supported):
                raise StoreVersionError(path, found, supported, read_only=read_only)
            if not read_only:
                # WAL survives in the file; synchronous=NORMAL in WAL is crash-safe (a killed
                # process never corrupts or half-writes) and only an OS crash or power cut
                # can drop the last commits: the usual trade-off, at one fsync per
                # checkpoint instead of one per commit.
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            db = cls(conn, path, read_only=read_only)
            if not read_only:
                await db.migrate(migrations)
            return db
        except BaseException as exc:
            await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise _open_error(exc, path) from exc
            raise

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    def abandon(self) -> None:
        """Stop the connection's worker thread without the event loop that opened it.

        For when that loop ended without closing us (the app died). aiosqlite's thread is not
        a daemon: left running, it would keep the process from ever exiting.
        """
        self._conn.stop()

    @property
    def connection(self) -> aiosqlite.Connection:
        """The raw connection, for diagnostics and tests (pragmas); use :meth:`write` /
        :meth:`read`."""
        return self._conn

    async def user_version(self) -> int:
        return await self.read(_user_version)

    # ------------------------------------------------------------------ migrations
    async def migrate(self, migrations: Sequence[Migration] = MIGRATIONS,
                      target: int | None = None) -> int:
        """Apply the pending migrations up to ``target`` (default: the last), each in its own
        transaction together with its ``user_version`` bump, so a failure leaves the previous
        version intact. Safe when two processes start on an old file at once: the version is
        re-read under the write lock."""
        target = migrations[-1].version if target is None else target
        for migration in migrations:
            if migration.version > target:
                break

            async def apply(conn: aiosqlite.Connection, migration: Migration = migration) -> None:
                if await _user_version(conn) >= migration.version:
                    return  # another process got there first
                for statement in migration.statements:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {int(migration.version)}")

            await self.write(apply)
        return await self.user_version()

    # ------------------------------------------------------------------ transactions
    async def write(self, body: Body[T]) -> T:
        """Run ``body`` in a ``BEGIN IMMEDIATE`` transaction and commit.

        ``body`` may be re-run after SQLITE_BUSY, so it must only touch the database (keep
        Python-side bookkeeping for after this returns). Any error rolls back everything.
        """
        return await self._transaction("BEGIN IMMEDIATE", body)

    async def read(self, body: Body[T]) -> T:
        """Run ``body`` in a read transaction: one consistent snapshot across its queries."""
        return await self._transaction("BEGIN", body)

    async def _transaction(self, begin: str, body: Body[T]) -> T:
        # A cancelled caller (the user pressed Esc mid-checkpoint) must not leave a BEGIN
        # executed on the connection's thread with nobody to COMMIT or ROLLBACK it: the
        # transaction runs as its own task and always completes; the caller is released
        # at once and the lock orders whatever comes next after it.
        task = asyncio.ensure_future(self._run_transaction(begin, body))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_consume_outcome)
            raise

    async def _run_transaction(self, begin: str, body: Body[T]) -> T:
        deadline = time.monotonic() + self.busy_deadline
        attempt = 0
        async with self._lock:
            while True:
                try:
                    await self._conn.execute(begin)
                    try:
                        result = await body(self._conn)
                        await self._conn.execute("COMMIT")
                    except BaseException:
                        await self._rollback()
                        raise
                    return result
                except sqlite3.Error as exc:
                    if is_busy(exc) and time.monotonic() < deadline:
                        attempt += 1
                        self.busy_retries += 1
                        await asyncio.sleep(_backoff(attempt))
                        continue
                    translated = translate(exc, self.path)
                    if translated is exc:
                        raise
                    raise translated from exc

    async def _rollback(self) -> None:
        # SQLite rolls back by itself on some errors (SQLITE_FULL, for one).
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # nothing left to roll back
                await self._conn.execute("ROLLBACK")


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a transaction whose caller was cancelled failed: %s", task.exception())


async def _connect(target: str, uri: bool, path: Path,
                   busy_timeout: float) -> tuple[aiosqlite.Connection, int]:
    """A connection and the schema version, read before anything could be written."""
    try:
        conn = await aiosqlite.connect(target, uri=uri, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise _open_error(exc, path) from exc
    conn.row_factory = sqlite3.Row
    try:
        return conn, await _user_version(conn)
    except BaseException as exc:
        await conn.close()
        if isinstance(exc, sqlite3.Error):
            raise _open_error(exc, path) from exc
        raise


async def _connect_read_only(path: Path, busy_timeout: float) -> tuple[aiosqlite.Connection, int]:
    base = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        return await _connect(base, True, path, busy_timeout)
    except StoreWriteError:
        # A WAL database needs its -shm file, which a read-only directory cannot hold. With
        # no WAL content pending, nobody is writing: the file alone is the whole truth and
        # can be read as immutable (browsing a backup or a read-only mount).
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
        return await _connect(f"{base}&immutable=1", True, path, busy_timeout)


async def _user_version(conn: aiosqlite.Connection) -> int:
    rows = await conn.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])


def _create_private(path: Path) -> None:
    """The directory (0700) and an empty file (0600) before SQLite creates them with the
    umask's defaults: the database holds the user's questions."""
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreWriteError(path, "cannot create its directory", str(exc)) from exc
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreWriteError(path, "cannot create the database file", str(exc)) from exc
    os.close(fd)


def _open_error(exc: sqlite3.Error, path: Path) -> Exception:
    translated = translate(exc, path)
    if isinstance(translated, StoreWriteError):
        hint = "" if translated.reason != _WRITE_REASONS[_SQLITE_READONLY] else \
            "; open it read-only to browse it"
        return StoreWriteError(path, translated.reason + hint, translated.detail, opening=True)
    if translated is exc:
        return StoreError(f"cannot open {path}: {exc}")
    return translated

