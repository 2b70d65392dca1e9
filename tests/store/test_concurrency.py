"""Two processes writing to one database at the same time (two terminals)."""

from __future__ import annotations

import asyncio

from sonar_tui.store import Store

from .conftest import assert_consistent
from .procs import expect, spawn

PAIRS = 50  # per process: 50 x (own thread + shared thread) x (question + answer) = 200 messages


async def test_two_writers_lose_nothing_and_never_see_locked(db_path):
    async with await Store.open(db_path) as store:
        shared = (await store.create_thread("shared")).id
    procs = [await spawn("burst", db_path, shared, PAIRS) for _ in range(2)]
    for proc in procs:
        await expect(proc, "ready")
    for proc in procs:  # release both together
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    done = [await expect(proc, "done") for proc in procs]
    own_threads = [int(own) for own, _retries in done]
    print("busy retries per process:", [r for _, r in done])
    results = await asyncio.gather(*(proc.communicate() for proc in procs))
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr.decode()
        assert b"locked" not in stderr

    assert_consistent(db_path)
    async with await Store.open(db_path) as store:
        assert await store.count_messages(shared) == 2 * PAIRS * 2
        for thread_id in own_threads:
            assert await store.count_messages(thread_id) == PAIRS * 2
        for thread_id in (shared, *own_threads):
            messages = await store.load_messages(thread_id)
            answers = [m for m in messages if m.role == "assistant"]
            assert all(m.status == "complete" for m in answers)
            assert all(m.content.endswith("part one part two") for m in answers)
            assert all(len(m.sources) == 1 for m in answers)
            # No question lost or written twice.
            questions = {m.content for m in messages if m.role == "user"}
            assert len(questions) == len(messages) // 2
        # One row per thread, counting its answers: every one is in the index.
        hits = await store.search("part two", limit=1000)
        assert {h.thread_id for h in hits} == {shared, *own_threads}
        assert sum(h.matches for h in hits) == 4 * PAIRS
