"""Opening: creation, pragmas, the schema-version gate, files that are not databases."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from sonar_tui.paths import default_db_path
from sonar_tui.store import Store, StoreCorruptError, StoreError, StoreVersionError
from sonar_tui.store.migrations import LATEST_VERSION

from .conftest import raw


async def test_creates_private_directory_and_file(db_path):
    assert not db_path.parent.exists()
    async with await Store.open(db_path) as store:
        assert store.schema_version == LATEST_VERSION
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


async def test_pragmas_wal_and_foreign_keys(store, db_path):
    conn = store.db.connection
    assert (await conn.execute_fetchall("PRAGMA journal_mode"))[0][0] == "wal"
    assert (await conn.execute_fetchall("PRAGMA foreign_keys"))[0][0] == 1
    assert (await conn.execute_fetchall("PRAGMA busy_timeout"))[0][0] >= 1000
    with raw(db_path) as other:
        assert other.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION


async def test_default_path_honours_env(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere" / "my.db"
    monkeypatch.setenv("SONAR_TUI_DB", str(target))
    async with await Store.open(default_db_path()):
        pass
    assert target.exists()


async def test_reopen_keeps_data(db_path):
    async with await Store.open(db_path) as store:
        question = await store.add_user_message(None, "kept?")
    async with await Store.open(db_path) as store:
        [thread] = await store.list_threads()
        assert thread.id == question.thread_id and thread.title == "kept?"


async def test_newer_database_is_refused_untouched(db_path):
    async with await Store.open(db_path):
        pass
    with raw(db_path) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")  # as a future version might leave it
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    conn.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with pytest.raises(StoreVersionError) as caught:
        await Store.open(db_path)
    message = str(caught.value)
    assert "newer sonar-tui" in message and str(LATEST_VERSION + 5) in message
    assert str(db_path) in message and "not modified" in message
    assert caught.value.found == LATEST_VERSION + 5 and caught.value.supported == LATEST_VERSION
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    assert not os.path.exists(f"{db_path}-wal")


async def test_read_only_open_refuses_an_old_schema(db_path):
    from sonar_tui.store.db import Database
    from sonar_tui.store.migrations import MIGRATIONS

    db = await Database.open(db_path, migrations=MIGRATIONS[:1])
    await db.close()
    with pytest.raises(StoreVersionError, match="read-only open cannot"):
        await Store.open(db_path, read_only=True)


async def test_not_a_database(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(StoreCorruptError, match="not a sonar-tui database"):
        await Store.open(db_path)


async def test_read_only_missing_file(db_path):
    with pytest.raises(StoreError, match="no database"):
        await Store.open(db_path, read_only=True)


def test_an_abandoned_store_lets_the_process_exit(db_path):
    """aiosqlite's worker thread is not a daemon: when the loop that opened the store is gone
    without close() (the app died), abandon() is what lets the process exit at all."""
    script = textwrap.dedent(f"""
        import asyncio
        from sonar_tui.store import Store

        async def open_it():
            return await Store.open({str(db_path)!r})

        store = asyncio.run(open_it())  # its loop is gone; close() never ran
        store.abandon()
    """)
    # the timeout only guards the hang this test is about
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert db_path.exists()
