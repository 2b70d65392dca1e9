"""Writing an answer: throttled checkpoints, finishing, errors and cancellation."""

from __future__ import annotations

import pytest

from sonar_tui.store import FinalAnswer, Store
from sonar_tui.store.answer_writer import CHECKPOINT_CHARS, AnswerWriter

from .conftest import SOURCES, assert_consistent


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def started(store: Store) -> tuple[int, int]:
    question = await store.add_user_message(None, "stream something")
    return question.thread_id, await store.start_answer(question.thread_id, {}, "sonar", "sonar")


async def saved_content(store: Store, message_id: int) -> str:
    return (await store.get_message(message_id)).content


async def test_per_token_calls_do_not_write_until_due(store):
    _, message_id = await started(store)
    clock = FakeClock()
    writer = AnswerWriter(store, message_id, clock=clock)
    for _ in range(CHECKPOINT_CHARS - 1):  # one character per "token", time frozen
        writer.append_text("a")
        assert await writer.maybe_checkpoint() is False
    assert writer.checkpoints == 0
    assert await saved_content(store, message_id) == ""  # nothing touched the database

    writer.append_text("b")  # the 4096th character: size triggers
    assert await writer.maybe_checkpoint() is True
    assert await saved_content(store, message_id) == "a" * (CHECKPOINT_CHARS - 1) + "b"

    writer.append_reasoning("hmm")  # small, but time passes
    assert await writer.maybe_checkpoint() is False
    clock.now += 0.5
    assert await writer.maybe_checkpoint() is True
    assert (await store.get_message(message_id)).reasoning == "hmm"
    assert await writer.maybe_checkpoint() is False  # nothing new
    clock.now += 10
    assert await writer.maybe_checkpoint() is False  # time alone does not write
    assert writer.checkpoints == 2


async def test_a_long_stream_checkpoints_rarely(store):
    _, message_id = await started(store)
    clock = FakeClock()
    writer = AnswerWriter(store, message_id, clock=clock)
    for _ in range(20_000):  # 20k tokens of 5 chars, fast: 0.1 ms apart (2 s in all)
        writer.append_text("word ")
        clock.now += 0.0001
        await writer.maybe_checkpoint()
    # Size wins: a write each time 4096 characters are pending, i.e. every 820th token.
    assert writer.checkpoints == 20_000 // 820
    assert len(await saved_content(store, message_id)) >= 100_000 - CHECKPOINT_CHARS


async def test_checkpoint_refreshes_the_writer_heartbeat(store, db_path):
    _, message_id = await started(store)
    from .conftest import raw
    with raw(db_path) as conn:
        conn.execute("UPDATE writers SET last_seen = 1")
    conn.close()
    await store.checkpoint_answer(message_id, "x", "")
    with raw(db_path) as conn:
        assert conn.execute("SELECT last_seen FROM writers").fetchone()[0] > 1
    conn.close()


@pytest.mark.parametrize("status", ["error", "cancelled"])
async def test_error_and_cancel_keep_the_partial_text(store, db_path, status):
    thread_id, message_id = await started(store)
    writer = store.answer_writer(message_id)
    writer.append_text("partial answer before the failure")
    await writer.checkpoint()
    writer.append_text(" plus an unsaved tail")
    error = {"kind": "network", "message": "connection reset"} if status == "error" else None
    await writer.finish(FinalAnswer(status, writer.content, writer.reasoning, error=error,
                                    finish_reason="failed" if error else "cancelled"))
    message = await store.get_message(message_id)
    assert message.status == status
    assert message.content == "partial answer before the failure plus an unsaved tail"
    assert message.error == error
    assert not (await store.get_thread(thread_id)).has_streaming
    assert [h.message_id for h in await store.search("failure")] == [message_id]
    assert_consistent(db_path)


async def test_streaming_text_is_searchable_only_once_finished(store):
    _, message_id = await started(store)
    await store.checkpoint_answer(message_id, "zeppelin airships", "")
    assert await store.search("zeppelin") == []
    await store.finish_answer(message_id,
                              FinalAnswer("complete", "zeppelin airships", sources=SOURCES))
    assert [h.message_id for h in await store.search("zeppelin")] == [message_id]


async def test_late_checkpoint_never_overwrites_a_finished_answer(store):
    _, message_id = await started(store)
    await store.finish_answer(message_id, FinalAnswer("complete", "final text"))
    assert await store.checkpoint_answer(message_id, "stale partial", "") is False
    assert (await store.get_message(message_id)).content == "final text"


async def test_finish_is_idempotent_and_replaces_children(store):
    _, message_id = await started(store)
    await store.finish_answer(message_id, FinalAnswer("complete", "v1", sources=SOURCES,
                                                      related=["a", "b"]))
    await store.finish_answer(message_id, FinalAnswer("complete", "v2", sources=SOURCES[:1],
                                                      related=["c"]))
    message = await store.get_message(message_id)
    assert message.content == "v2" and message.sources == SOURCES[:1] and message.related == ["c"]


async def test_the_response_id_is_kept_with_the_answer(store):
    _, message_id = await started(store)
    writer = store.answer_writer(message_id)
    writer.append_text("Answered.")
    await writer.finish(FinalAnswer("complete", writer.content, writer.reasoning,
                                    finish_reason="stop", response_id="resp_1",
                                    response_endpoint="https://api.perplexity.ai"))
    saved = await store.get_message(message_id)
    assert (saved.response_id, saved.response_endpoint) == ("resp_1", "https://api.perplexity.ai")
    assert saved.to_dict()["response_id"] == "resp_1"


async def test_finish_needs_a_final_status(store):
    _, message_id = await started(store)
    with pytest.raises(ValueError):
        await store.finish_answer(message_id, FinalAnswer("streaming", "x"))


async def test_close_mid_stream_saves_the_tail_as_interrupted(db_path):
    store = await Store.open(db_path)
    _, message_id = await started(store)
    writer = store.answer_writer(message_id)
    writer.append_text("never checkpointed")
    await store.close()
    async with await Store.open(db_path) as again:
        message = await again.get_message(message_id)
        assert message.status == "interrupted" and message.content == "never checkpointed"
        assert await again.recover_interrupted() == []
    assert_consistent(db_path)


async def test_heartbeat_task_keeps_a_silent_stream_alive(store, db_path):
    import asyncio

    from .conftest import raw
    store.heartbeat_interval = 0.01
    await started(store)
    with raw(db_path) as conn:
        conn.execute("UPDATE writers SET last_seen = 1")
        for _ in range(2000):  # wait on the condition, bounded
            if conn.execute("SELECT last_seen FROM writers").fetchone()[0] > 1:
                break
            await asyncio.sleep(0.01)
        assert conn.execute("SELECT last_seen FROM writers").fetchone()[0] > 1
    conn.close()
