"""Threads and messages: titles, listing, paging, attachments, cascade delete."""

from __future__ import annotations

import hashlib

import pytest

from sonar_tui.store import AttachmentRecord, FinalAnswer, ThreadNotFoundError
from sonar_tui.store.codec import TITLE_MAX_CHARS, title_from_text

from .conftest import IMAGES, SOURCES, STEPS, USAGE, assert_consistent, full_exchange, raw


class Picture:
    """Shaped like api.conversation.Attachment (the store must not import it)."""

    def __init__(self, name: str, data: bytes, mime: str = "image/png"):
        self.name, self.mime, self.data = name, mime, data


def test_title_from_text():
    assert title_from_text("  What is\n\tthe  capital? ") == "What is the capital?"
    long = "word " * 40
    title = title_from_text(long)
    assert len(title) <= TITLE_MAX_CHARS and title.endswith("…") and "  " not in title
    assert title_from_text("x" * 200) == "x" * (TITLE_MAX_CHARS - 1) + "…"
    # Whole sequences go, not just their ESC: no "[31m" or "]0;…" left in a title.
    assert title_from_text("bell\x07and\x1b[31mescape") == "bellandescape"
    assert title_from_text("What is \x1b]0;pwned\x07DNS?") == "What is DNS?"
    assert title_from_text("   ") == ""


async def test_first_question_creates_and_titles_the_thread(store):
    question = await store.add_user_message(None, "How tall is\nMont Blanc?")
    thread = await store.get_thread(question.thread_id)
    assert thread.title == "How tall is Mont Blanc?"
    assert len(thread.uid) == 32 and int(thread.uid, 16) >= 0
    assert thread.message_count == 1 and not thread.has_streaming
    assert question.role == "user" and question.status == "complete"
    # A later question does not retitle; an explicit rename does.
    await store.add_user_message(thread.id, "And the Matterhorn?")
    assert (await store.get_thread(thread.id)).title == "How tall is Mont Blanc?"
    assert await store.rename_thread(thread.id, "  Alps\n") == "Alps"
    assert (await store.get_thread(thread.id)).title == "Alps"
    with pytest.raises(ValueError):
        await store.rename_thread(thread.id, " \n ")


async def test_untitled_thread_takes_the_first_question(store):
    thread = await store.create_thread()
    assert thread.title == ""
    await store.add_user_message(thread.id, "Now with a title")
    assert (await store.get_thread(thread.id)).title == "Now with a title"


async def test_missing_thread_is_a_typed_error(store):
    with pytest.raises(ThreadNotFoundError):
        await store.add_user_message(999, "where?")
    with pytest.raises(ThreadNotFoundError):
        await store.start_answer(999, {}, "sonar", "sonar")
    with pytest.raises(ThreadNotFoundError):
        await store.rename_thread(999, "x")
    assert await store.get_thread(999) is None
    assert await store.delete_thread(999) is False


async def test_full_answer_round_trips_every_field(store):
    thread_id, question_id, answer_id = await full_exchange(
        store, None, "Capital of France?", "Paris [1].",
        settings={"model": "sonar-pro", "search_mode": "web", "temperature": 0.1})
    question, answer = await store.load_messages(thread_id)
    assert question.id == question_id
    assert answer.id == answer_id and answer.role == "assistant"
    assert answer.content == "Paris [1]." and answer.reasoning == "thinking about it"
    assert answer.status == "complete" and answer.finish_reason == "stop"
    assert answer.settings == {"model": "sonar-pro", "search_mode": "web", "temperature": 0.1}
    assert answer.steps == STEPS and answer.sources == SOURCES and answer.images == IMAGES
    assert answer.related == ["And Lyon?"] and answer.usage == USAGE and answer.cost == 0.005
    assert answer.model == "sonar-pro" and answer.api == "sonar"
    assert answer.created_at <= answer.finished_at
    thread = await store.get_thread(thread_id)
    assert thread.last_model == "sonar-pro" and thread.last_api == "sonar"
    assert thread.message_count == 2 and thread.updated_at >= answer.finished_at
    assert await store.get_message(answer_id) == answer


async def test_listing_order_pinned_counts_and_streaming(store):
    ids = []
    for i in range(5):
        ids.append((await store.add_user_message(None, f"thread {i}")).thread_id)
    await store.set_pinned(ids[1], True)
    await store.add_user_message(ids[0], "bump the oldest")
    answer_id = await store.start_answer(ids[2], {}, "sonar", "sonar")

    listed = await store.list_threads()
    # pinned first, then by last activity: starting an answer in 2 is activity too.
    assert [t.id for t in listed] == [ids[1], ids[2], ids[0], ids[4], ids[3]]
    assert [t.id for t in await store.list_threads(pinned_first=False)] == [
        ids[2], ids[0], ids[4], ids[3], ids[1]]
    assert [t.id for t in await store.list_threads(limit=2, offset=1)] == [ids[2], ids[0]]
    by_id = {t.id: t for t in listed}
    assert by_id[ids[0]].message_count == 2 and by_id[ids[2]].message_count == 2
    assert by_id[ids[2]].has_streaming and not by_id[ids[0]].has_streaming
    assert by_id[ids[1]].pinned
    await store.finish_answer(answer_id, FinalAnswer("complete", "done"))
    assert not (await store.get_thread(ids[2])).has_streaming
    assert await store.count_threads() == 5


async def test_overrides_are_kept_without_secrets(store):
    thread = await store.create_thread("t")
    await store.set_overrides(thread.id, {"temperature": 0.3, "api_key": "pplx-SECRETSECRETSECRET",
                                          "nested": {"Authorization": "Bearer x"}})
    assert (await store.get_thread(thread.id)).overrides == {"temperature": 0.3, "nested": {}}


async def test_paging_a_long_thread(store):
    thread_id = (await store.add_user_message(None, "m0")).thread_id
    for i in range(1, 25):
        await store.add_user_message(thread_id, f"m{i}")
    assert await store.count_messages(thread_id) == 25
    newest = await store.load_messages(thread_id, limit=10)
    assert [m.content for m in newest] == [f"m{i}" for i in range(15, 25)]
    older = await store.load_messages(thread_id, limit=10, before_id=newest[0].id)
    assert [m.content for m in older] == [f"m{i}" for i in range(5, 15)]
    oldest = await store.load_messages(thread_id, limit=10, before_id=older[0].id)
    assert [m.content for m in oldest] == [f"m{i}" for i in range(5)]
    assert await store.load_messages(thread_id, limit=10, before_id=oldest[0].id) == []
    assert len(await store.load_messages(thread_id)) == 25


async def test_attachments_metadata_and_optional_bytes(store, db_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    kept = await store.add_user_message(None, "", attachments=[Picture("cat.png", png)],
                                        keep_bytes=True)
    assert (await store.get_thread(kept.thread_id)).title == "cat.png"
    dropped = await store.add_user_message(kept.thread_id, "again",
                                           attachments=[Picture("dog.png", png)])
    expected_sha = hashlib.sha256(png).hexdigest()
    [a] = (await store.get_message(kept.id)).attachments
    assert a == AttachmentRecord("cat.png", "image/png", len(png), expected_sha, png)
    [b] = (await store.get_message(dropped.id)).attachments
    assert b == AttachmentRecord("dog.png", "image/png", len(png), expected_sha, None)
    # load_messages leaves the bytes behind unless asked.
    assert all(a.data is None for m in await store.load_messages(kept.thread_id)
               for a in m.attachments)
    with raw(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM attachments WHERE data IS NOT NULL"
                            ).fetchone()[0] == 1
    conn.close()


async def test_delete_thread_cascades_everywhere(store, db_path):
    keep_id, _, _ = await full_exchange(store, None, "keep me about rivers", "Rhone")
    gone_id, _, _ = await full_exchange(store, None, "delete me about rivers", "Seine answer")
    await store.add_user_message(gone_id, "with file", attachments=[Picture("a.png", b"x" * 10)],
                                 keep_bytes=True)
    await store.start_answer(gone_id, {}, "sonar", "sonar")  # still streaming when deleted
    assert await store.delete_thread(gone_id)
    with raw(db_path) as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("threads", "messages", "sources", "related_questions", "images",
                                "attachments")}
    # Only the kept thread's question and answer remain, with their children.
    assert counts == {"threads": 1, "messages": 2, "sources": len(SOURCES),
                      "related_questions": 1, "images": len(IMAGES), "attachments": 0}
    conn.close()
    hits = await store.search("rivers")
    assert {h.thread_id for h in hits} == {keep_id}
    assert [h.thread_id for h in await store.search("Seine")] == [keep_id]  # its source title
    assert_consistent(db_path)


async def test_delete_message(store, db_path):
    thread_id, question_id, answer_id = await full_exchange(store, None, "q", "regenerate me")
    assert await store.delete_message(answer_id)
    assert [m.id for m in await store.load_messages(thread_id)] == [question_id]
    assert await store.search("regenerate") == []
    assert_consistent(db_path)
