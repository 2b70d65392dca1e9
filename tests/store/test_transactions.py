"""Transactions: cancellation never leaves one open; SQLITE_BUSY is retried, then typed."""

from __future__ import annotations

import asyncio

import pytest

from sonar_tui.store import Store, StoreBusyError

from .conftest import assert_consistent, raw


async def test_cancelled_callers_never_leave_a_transaction_open(store, db_path):
    # Cancel a write after 0, 1, 2, ... loop turns: that lands in BEGIN, in the body and in
    # COMMIT. Each question then exists completely (with its thread) or not at all.
    for turns in range(40):
        task = asyncio.create_task(store.add_user_message(None, f"cancel after {turns}"))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.add_user_message(None, f"after {turns}")  # the connection still works
    titles = [t.title for t in await store.list_threads(limit=1000)]
    assert all(f"after {turns}" in titles for turns in range(40))
    for thread in await store.list_threads(limit=1000):
        assert thread.message_count == 1
    assert_consistent(db_path)


async def test_busy_writer_is_waited_for_and_retried(db_path):
    store = await Store.open(db_path, busy_timeout=0.01)
    blocker = raw(db_path)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.create_task(store.add_user_message(None, "waits its turn"))
        while store.db.busy_retries < 3 and not write.done():
            await asyncio.sleep(0.005)
        assert not write.done()
        blocker.execute("COMMIT")
        question = await write
        assert (await store.get_thread(question.thread_id)).title == "waits its turn"
    finally:
        blocker.close()
        await store.close()


async def test_busy_past_the_deadline_is_a_typed_error(db_path):
    store = await Store.open(db_path, busy_timeout=0.01)
    store.db.busy_deadline = 0.1
    blocker = raw(db_path)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreBusyError, match="busy"):
            await store.add_user_message(None, "gives up")
        blocker.execute("COMMIT")
        assert await store.list_threads() == []
        await store.add_user_message(None, "works again")
    finally:
        blocker.close()
        await store.close()
