"""Crash recovery: a killed writer's answer becomes interrupted; a live writer's never does."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from sonar_tui.store import FinalAnswer, Store

from .conftest import assert_consistent, raw
from .procs import expect, kill, spawn


async def test_sigkill_mid_stream_keeps_question_and_checkpoint(db_path):
    proc = await spawn("stream", db_path)
    thread_id, message_id = map(int, await expect(proc, "ready"))
    await kill(proc)
    assert proc.returncode == -9

    assert_consistent(db_path)
    async with await Store.open(db_path) as store:
        question, answer = await store.load_messages(thread_id)
        assert question.content == "What survives a crash?" and question.status == "complete"
        assert answer.id == message_id and answer.status == "streaming"
        assert answer.content == "Checkpointed partial answer"  # the unsaved tail is lost
        assert (await store.get_thread(thread_id)).has_streaming

        assert await store.recover_interrupted() == [message_id]
        answer = await store.get_message(message_id)
        assert answer.status == "interrupted" and answer.finish_reason == "incomplete"
        assert answer.content == "Checkpointed partial answer"
        assert not (await store.get_thread(thread_id)).has_streaming
        assert [h.message_id for h in await store.search("checkpointed")] == [message_id]
        assert await store.recover_interrupted() == []
        with raw(db_path) as conn:  # the dead session is forgotten
            assert conn.execute("SELECT count(*) FROM writers").fetchone()[0] == 0
        conn.close()
    assert_consistent(db_path)


async def test_recovery_leaves_a_live_writer_alone(db_path):
    proc = await spawn("stream", db_path)
    try:
        thread_id, message_id = map(int, await expect(proc, "ready"))
        async with await Store.open(db_path) as store:
            assert await store.recover_interrupted() == []
            assert (await store.get_message(message_id)).status == "streaming"
            assert (await store.get_thread(thread_id)).has_streaming
            await kill(proc)
            assert await store.recover_interrupted() == [message_id]
    finally:
        if proc.returncode is None:
            await kill(proc)


async def test_a_clean_exit_mid_stream_is_recorded_as_interrupted(db_path):
    proc = await spawn("stream", db_path)
    _, message_id = map(int, await expect(proc, "ready"))
    proc.stdin.close()  # the child closes its store and exits normally
    assert await proc.wait() == 0
    async with await Store.open(db_path) as store:
        answer = await store.get_message(message_id)
        assert answer.status == "interrupted"
        assert answer.content == "Checkpointed partial answer and an unsaved tail"
        assert await store.recover_interrupted() == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_crash_rules_for_other_sessions(store, db_path):
    """pid gone on this host, or heartbeat too old anywhere: crashed. Otherwise: alive."""
    host = socket.gethostname()
    now = time.time()
    stale = now - store.stale_after - 10
    sessions = {
        # name: (pid, host, last_seen, expected to be recovered)
        "same-host-alive-fresh": (1, host, now, False),
        "same-host-alive-stale": (1, host, stale, True),  # pid reused or suspended for long
        "same-host-dead-fresh": (_dead_pid(), host, now, True),
        "other-host-fresh": (_dead_pid(), "another-machine", now, False),  # cannot ask its pid
        "other-host-stale": (1, "another-machine", stale, True),
        "unknown-session": None,
    }
    thread_id = (await store.add_user_message(None, "many writers")).thread_id
    expected = set()
    with raw(db_path) as conn:
        for name, info in sessions.items():
            if info is not None:
                pid, h, seen, _ = info
                conn.execute("INSERT INTO writers VALUES (?, ?, ?, ?, ?)",
                             (name, pid, h, seen, seen))
            cursor = conn.execute(
                "INSERT INTO messages (thread_id, role, content, status, created_at,"
                " writer_session) VALUES (?, 'assistant', ?, 'streaming', ?, ?)",
                (thread_id, name, now, name))
            if info is None or info[3]:
                expected.add(cursor.lastrowid)
    conn.close()
    mine = await store.start_answer(thread_id, {}, "sonar", "sonar")

    assert set(await store.recover_interrupted()) == expected
    for message in await store.load_messages(thread_id):
        if message.role == "assistant":
            want = "interrupted" if message.id in expected else "streaming"
            assert message.status == want, message.content
    assert (await store.get_message(mine)).status == "streaming"  # never our own
    with raw(db_path) as conn:
        left = {row[0] for row in conn.execute("SELECT session FROM writers")}
    conn.close()
    assert left == {"same-host-alive-fresh", "other-host-fresh", store.session_id}
    assert_consistent(db_path)


async def test_a_suspended_writer_takes_its_row_back(db_path):
    """Instance A stalls past the heartbeat limit; B recovers A's row; A resumes and wins."""
    async with await Store.open(db_path) as a, await Store.open(db_path) as b:
        thread_id = (await a.add_user_message(None, "slow one")).thread_id
        message_id = await a.start_answer(thread_id, {}, "sonar", "sonar")
        assert await b.recover_interrupted() == []  # A is alive and fresh
        with raw(db_path) as conn:
            conn.execute("UPDATE writers SET last_seen = 0 WHERE session = ?", (a.session_id,))
        conn.close()
        assert await b.recover_interrupted() == [message_id]
        assert (await b.get_message(message_id)).status == "interrupted"

        writer = a.answer_writer(message_id)
        writer.append_text("resumed")
        await writer.checkpoint()
        assert (await b.get_message(message_id)).status == "streaming"
        assert await b.recover_interrupted() == []  # the checkpoint refreshed A's heartbeat
        await writer.finish(FinalAnswer("complete", writer.content, writer.reasoning))
        answer = await b.get_message(message_id)
        assert answer.status == "complete" and answer.content == "resumed"
    assert_consistent(db_path)
