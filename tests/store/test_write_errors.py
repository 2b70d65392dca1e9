"""Read-only databases and full disks: a typed StoreWriteError, nothing half-written."""

from __future__ import annotations

import os

import pytest

from sonar_tui.store import FinalAnswer, Store, StoreWriteError
from sonar_tui.store.answer_writer import AnswerWriter

from .conftest import SOURCES, assert_consistent, full_exchange
from .test_answers import FakeClock


async def snapshot(store: Store) -> list:
    threads = await store.list_threads(limit=1000)
    return [(t, await store.load_messages(t.id, attachment_data=True)) for t in threads]


async def every_write_is_refused(store: Store, thread_id: int, reason: str) -> None:
    writes = [
        lambda: store.add_user_message(None, "new thread"),
        lambda: store.add_user_message(thread_id, "more"),
        lambda: store.create_thread("x"),
        lambda: store.rename_thread(thread_id, "renamed"),
        lambda: store.set_pinned(thread_id, True),
        lambda: store.set_overrides(thread_id, {"a": 1}),
        lambda: store.delete_thread(thread_id),
        lambda: store.start_answer(thread_id, {}, "sonar", "sonar"),
        lambda: store.import_thread({"format": "sonar-tui.thread", "version": 1,
                                     "thread": {"uid": "new"}, "messages": []}),
    ]
    for write in writes:
        with pytest.raises(StoreWriteError) as caught:
            await write()
        assert reason in str(caught.value) and str(store.path) in str(caught.value)
        assert "Nothing was half-written" in str(caught.value)


async def test_read_only_open(db_path):
    async with await Store.open(db_path) as store:
        thread_id, _, _ = await full_exchange(store, None, "read me later", "ok")
        before = await snapshot(store)
    async with await Store.open(db_path, read_only=True) as store:
        assert await snapshot(store) == before  # reads work
        assert await store.search("later")
        await every_write_is_refused(store, thread_id, "read-only")
        assert await snapshot(store) == before
    assert_consistent(db_path)


async def test_recovery_on_a_read_only_database_is_a_typed_error(db_path):
    async with await Store.open(db_path) as store:
        question = await store.add_user_message(None, "q")
        await store.start_answer(question.thread_id, {}, "sonar", "sonar")
        # Leave it streaming with no writer, as a crash would.
        await store.db.write(lambda conn: conn.execute("DELETE FROM writers"))
        store._live.clear()
    async with await Store.open(db_path, read_only=True) as store:
        with pytest.raises(StoreWriteError, match="read-only"):
            await store.recover_interrupted()


async def test_database_turning_read_only_mid_session(store, db_path):
    thread_id, _, _ = await full_exchange(store, None, "before", "fine")
    question = await store.add_user_message(thread_id, "then streaming")
    answer_id = await store.start_answer(thread_id, {}, "sonar", "sonar")
    await store.checkpoint_answer(answer_id, "saved part", "")
    before = await snapshot(store)
    # What a chmod does for a normal user; tests may run as root, where chmod would not stop
    # SQLite, so the connection is made read-only instead.
    await store.db.connection.execute("PRAGMA query_only = 1")
    await every_write_is_refused(store, thread_id, "read-only")
    with pytest.raises(StoreWriteError):
        await store.checkpoint_answer(answer_id, "saved part and more", "")
    with pytest.raises(StoreWriteError):
        await store.finish_answer(answer_id, FinalAnswer("complete", "all of it", sources=SOURCES))
    assert await snapshot(store) == before
    await store.db.connection.execute("PRAGMA query_only = 0")
    await store.finish_answer(answer_id, FinalAnswer("complete", "all of it", sources=SOURCES))
    assert (await store.get_message(answer_id)).content == "all of it"
    assert question.id in [m.id for m in await store.load_messages(thread_id)]
    assert_consistent(db_path)


def permissions_enforced(tmp_path) -> bool:
    """False for root with CAP_DAC_OVERRIDE, which writes through chmod 0444."""
    probe = tmp_path / "probe"
    probe.touch()
    os.chmod(probe, 0o444)
    try:
        with open(probe, "a"):
            return False
    except PermissionError:
        return True


async def test_chmod_read_only_file(db_path, tmp_path):
    if not permissions_enforced(tmp_path):
        pytest.skip("file permissions are not enforced for this user (root); "
                    "the query_only test covers the same path")
    async with await Store.open(db_path) as store:
        thread_id, _, _ = await full_exchange(store, None, "q", "a")
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["threads.db"]  # clean close
    os.chmod(db_path, 0o444)
    os.chmod(db_path.parent, 0o555)  # a read-only mount: not even a -shm can be created
    try:
        with pytest.raises(StoreWriteError, match="Could not open .*read-only"):
            await Store.open(db_path)
        async with await Store.open(db_path, read_only=True) as store:  # browsing still works
            assert [t.id for t in await store.list_threads()] == [thread_id]
            assert await store.search("q")
            await every_write_is_refused(store, thread_id, "read-only")
        os.chmod(db_path.parent, 0o700)  # only the file is read-only: it opens, writes fail
        async with await Store.open(db_path) as store:
            assert [t.id for t in await store.list_threads()] == [thread_id]
            await every_write_is_refused(store, thread_id, "read-only")
    finally:
        os.chmod(db_path.parent, 0o700)
        os.chmod(db_path, 0o600)


async def test_disk_full_leaves_the_last_good_state(store, db_path):
    thread_id, _, _ = await full_exchange(store, None, "fill the disk", "small")
    question = await store.add_user_message(thread_id, "a big answer is coming")
    answer_id = await store.start_answer(thread_id, {}, "sonar", "sonar")
    await store.checkpoint_answer(answer_id, "last good checkpoint", "")
    before = await snapshot(store)
    conn = store.db.connection
    pages = (await conn.execute_fetchall("PRAGMA page_count"))[0][0]
    await conn.execute(f"PRAGMA max_page_count = {pages}")  # no room to grow: SQLITE_FULL

    big = "lorem ipsum " * 200_000  # 2.4 MB
    with pytest.raises(StoreWriteError, match="disk is full"):
        await store.finish_answer(answer_id, FinalAnswer("complete", big, sources=SOURCES * 50))
    with pytest.raises(StoreWriteError, match="disk is full"):
        await store.add_user_message(None, big)  # would create a thread: it must not
    with pytest.raises(StoreWriteError, match="disk is full"):
        await store.checkpoint_answer(answer_id, big, "")
    assert await snapshot(store) == before
    answer = await store.get_message(answer_id)
    assert answer.status == "streaming" and answer.content == "last good checkpoint"
    assert answer.sources == []
    assert_consistent(db_path)

    await conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    await store.finish_answer(answer_id, FinalAnswer("complete", big, sources=SOURCES))
    assert (await store.get_message(answer_id)).content == big
    assert question.id in [m.id for m in await store.load_messages(thread_id)]
    assert_consistent(db_path)


async def test_a_failing_checkpoint_retries_only_after_the_interval(store, db_path):
    question = await store.add_user_message(None, "q")
    answer_id = await store.start_answer(question.thread_id, {}, "sonar", "sonar")
    clock = FakeClock()
    writer = AnswerWriter(store, answer_id, clock=clock)
    await store.db.connection.execute("PRAGMA query_only = 1")
    writer.append_text("x" * 5000)
    with pytest.raises(StoreWriteError):
        await writer.maybe_checkpoint()
    for _ in range(1000):  # tokens keep coming: no write attempt per token
        writer.append_text("y")
        assert not writer.due
    clock.now += 0.5
    assert writer.due
    await store.db.connection.execute("PRAGMA query_only = 0")
    assert await writer.maybe_checkpoint()
    assert (await store.get_message(answer_id)).content == "x" * 5000 + "y" * 1000
