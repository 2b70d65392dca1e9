"""Every earlier schema, filled with data, upgrades to the latest with the data intact."""

from __future__ import annotations

import pytest

from sonar_tui.store import FinalAnswer, Store, StoreError
from sonar_tui.store.db import Database
from sonar_tui.store.migrations import LATEST_VERSION, MIGRATIONS, Migration

from .conftest import assert_consistent, raw


async def build_old(path, version: int) -> None:
    """A database at ``version``, made by that version's own migrations, then filled the
    way that version of the app wrote it."""
    db = await Database.open(path, migrations=MIGRATIONS[:version])
    assert await db.user_version() == version
    await db.close()
    with raw(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO threads (id, uid, title, created_at, updated_at, pinned,"
                     " overrides, last_api, last_model) VALUES (1, 'aaaa', 'Old volcano thread',"
                     " 100, 200, 1, '{\"temperature\":0.2}', 'sonar', 'sonar-pro')")
        conn.execute("INSERT INTO threads (id, uid, title, created_at, updated_at) VALUES"
                     " (2, 'bbbb', 'Second', 50, 60)")
        conn.execute("INSERT INTO messages (id, thread_id, role, content, created_at) VALUES"
                     " (1, 1, 'user', 'Why do volcanoes erupt?', 100)")
        conn.execute("INSERT INTO messages (id, thread_id, role, content, status, steps, model,"
                     " api, settings, usage, cost, finish_reason, created_at, finished_at) VALUES"
                     " (2, 1, 'assistant', 'Magma pressure builds up [1].', 'complete',"
                     " '[{\"kind\":\"search\"}]', 'sonar-pro', 'sonar',"
                     " '{\"model\":\"sonar-pro\"}',"
                     " '{\"total_tokens\":5}', 0.01, 'stop', 101, 102)")
        conn.execute("INSERT INTO messages (id, thread_id, role, content, status, created_at)"
                     " VALUES (3, 1, 'assistant', 'Half an answer about lava', 'streaming', 103)")
        conn.execute("INSERT INTO messages (id, thread_id, role, content, created_at) VALUES"
                     " (4, 2, 'user', 'Another question', 55)")
        conn.execute("INSERT INTO sources (message_id, position, number, url, title) VALUES"
                     " (2, 0, 1, 'https://volcano.example', 'Eruption mechanics explained')")
        conn.execute("INSERT INTO related_questions VALUES (2, 0, 'What is magma?')")
        conn.execute("INSERT INTO images (message_id, position, url, width, height) VALUES"
                     " (2, 0, 'https://img.example/v.jpg', 10, 20)")
        conn.execute("COMMIT")
    conn.close()


async def check_data(store: Store) -> None:
    threads = await store.list_threads()
    assert [(t.id, t.title, t.pinned, t.message_count) for t in threads] == [
        (1, "Old volcano thread", True, 3), (2, "Second", False, 1)]
    assert threads[0].overrides == {"temperature": 0.2}
    messages = await store.load_messages(1)
    assert [m.content for m in messages] == [
        "Why do volcanoes erupt?", "Magma pressure builds up [1].", "Half an answer about lava"]
    answer = messages[1]
    assert answer.steps == [{"kind": "search"}] and answer.usage == {"total_tokens": 5}
    assert answer.sources[0]["title"] == "Eruption mechanics explained"
    assert answer.related == ["What is magma?"]
    assert answer.images[0]["width"] == 10
    assert answer.attachments == []
    assert (answer.response_id, answer.response_endpoint) == (None, None)


@pytest.mark.parametrize("start", range(1, LATEST_VERSION))
async def test_upgrade_from_every_earlier_version(db_path, start):
    await build_old(db_path, start)
    async with await Store.open(db_path) as store:
        assert store.schema_version == LATEST_VERSION
        await check_data(store)
        # Search covers what the old version wrote: questions, answers, titles, sources.
        assert {h.message_id for h in await store.search("volcanoes")} == {1}
        assert {h.message_id for h in await store.search("magma pressure")} == {2}
        # (a whole word: "volcano" typed is also a prefix of the question's "volcanoes")
        assert [(h.thread_id, h.message_id) for h in await store.search("volcano ")] == [(1, None)]
        assert any(h.message_id == 2 for h in await store.search("mechanics"))
        # The streaming row has no writer: a crash of the old version. Not indexed until
        # recovered, then kept and searchable.
        assert await store.search("lava") == []
        assert await store.recover_interrupted() == [3]
        assert (await store.get_message(3)).status == "interrupted"
        assert [h.message_id for h in await store.search("lava")] == [3]
        # New features work on the old data.
        await store.add_user_message(1, "with a picture", attachments=[_Image()], keep_bytes=True)
        assert (await store.load_messages(1, limit=1))[0].attachments[0].name == "v.png"
        assert await store.delete_thread(1)
        assert await store.search("volcanoes") == []
    assert_consistent(db_path)


async def test_v1_to_v2_indexes_existing_rows(db_path):
    await build_old(db_path, 1)
    db = await Database.open(db_path, migrations=MIGRATIONS[:1])
    assert await db.migrate(MIGRATIONS, target=2) == 2
    await db.close()
    with raw(db_path) as conn:
        hits = conn.execute("SELECT rowid FROM message_fts WHERE message_fts MATCH 'magma OR"
                            " volcanoes OR lava' ORDER BY rowid").fetchall()
        assert [h[0] for h in hits] == [1, 2]  # the streaming row stays out of the index
        assert conn.execute("SELECT count(*) FROM thread_fts WHERE thread_fts MATCH 'second'"
                            ).fetchone()[0] == 1
        conn.execute("INSERT INTO message_fts (message_fts) VALUES ('integrity-check')")
    conn.close()


async def test_v2_to_v3_adds_tracking_and_indexes(db_path):
    await build_old(db_path, 2)
    async with await Store.open(db_path):
        pass
    with raw(db_path) as conn:
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"threads_by_pinned", "messages_streaming", "attachments_by_message"} <= indexes
        columns = {r[1] for r in conn.execute("PRAGMA table_info(messages)")}
        assert {"writer_session", "checkpoint_at"} <= columns
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM threads ORDER BY pinned DESC, updated_at DESC,"
            " id DESC LIMIT 200"))
        assert "threads_by_pinned" in plan and "TEMP B-TREE" not in plan
    conn.close()
    assert_consistent(db_path)


async def test_v3_to_v4_keeps_response_ids_for_continuing_a_thread(db_path):
    await build_old(db_path, 3)
    async with await Store.open(db_path) as store:
        assert store.schema_version >= 4
        answer = await store.start_answer(2, {}, "fast", "agent")
        await store.finish_answer(answer, FinalAnswer(
            "complete", "Yes.", finish_reason="stop", response_id="resp_42",
            response_endpoint="https://x.example/v1"))
        saved = (await store.load_messages(2))[-1]
        assert (saved.response_id, saved.response_endpoint) == ("resp_42",
                                                                "https://x.example/v1")
        old = (await store.load_messages(1))[1]  # written by v3: nothing to continue from
        assert (old.response_id, old.response_endpoint) == (None, None)
    with raw(db_path) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(messages)")}
        assert {"response_id", "response_endpoint"} <= columns
    conn.close()
    assert_consistent(db_path)


async def test_v4_to_v5_adds_background_jobs_to_old_threads(db_path):
    await build_old(db_path, 4)
    async with await Store.open(db_path) as store:
        assert store.schema_version >= 5
        threads = await store.list_threads()
        assert [t.job_status for t in threads] == [None, None]  # old threads have no jobs
        job = await store.add_job(2, 4, endpoint="https://api.perplexity.ai",
                                  path="/v1/responses", settings={}, model="sonar")
        assert (await store.get_thread(2)).job_status == "submitting"
        answer = await store.finish_job(job.id, "completed", FinalAnswer("complete", "Yes."))
        assert [m.id for m in await store.load_messages(2)] == [4, answer]
        assert await store.list_jobs(unfinished=True) == []
    with raw(db_path) as conn:
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"jobs_by_thread", "jobs_unfinished"} <= indexes
    conn.close()
    assert_consistent(db_path)


async def test_failed_migration_leaves_previous_version(db_path):
    async with await Store.open(db_path) as store:
        await store.add_user_message(None, "survives a bad upgrade")
    broken = (*MIGRATIONS, Migration(LATEST_VERSION + 1, "broken",
                                     ("CREATE TABLE half_done (x)", "THIS IS NOT SQL")))
    with pytest.raises(StoreError, match="syntax error"):
        await Database.open(db_path, migrations=broken)
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"
                            ).fetchone()[0] == 0
    conn.close()
    async with await Store.open(db_path) as store:
        assert (await store.list_threads())[0].title == "survives a bad upgrade"


async def test_two_openers_migrate_once(db_path):
    await build_old(db_path, 1)
    import asyncio
    first, second = await asyncio.gather(Store.open(db_path), Store.open(db_path))
    try:
        assert first.schema_version == second.schema_version == LATEST_VERSION
        await check_data(first)
    finally:
        await first.close()
        await second.close()


class _Image:
    name = "v.png"
    mime = "image/png"
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


async def test_v5_to_v6_keeps_where_the_user_left_off(db_path):
    await build_old(db_path, 5)
    async with await Store.open(db_path) as store:
        assert store.schema_version >= 6
        assert await store.last_thread() is None
        assert await store.get_draft(1) == "" and await store.get_draft(None) == ""
        await store.set_draft(1, "Half a question about", remember=True, opening=1)
        await store.set_draft(None, "A new thread's first words")
        await store.set_draft(2, "Another draft")
        await store.set_draft(99, "a thread that is gone keeps no draft")
    async with await Store.open(db_path) as store:
        assert await store.last_thread() == 1
        assert await store.get_draft(1) == "Half a question about"
        assert await store.get_draft(None) == "A new thread's first words"
        await store.set_draft(2, "")  # sent, or erased
        assert await store.get_draft(2) == ""
        assert await store.delete_thread(1)
        assert await store.last_thread() is None  # the thread is gone: open a new one
        assert await store.get_draft(1) == ""
        await store.set_draft(2, "x", remember=True, opening=None)
        assert await store.last_thread() is None
    with raw(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM drafts").fetchone()[0] == 1
    conn.close()
    assert_consistent(db_path)
