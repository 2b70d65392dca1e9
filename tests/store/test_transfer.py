"""Export and import: complete, round-trippable, idempotent, strict about what it reads."""

from __future__ import annotations

import copy
import json

import pytest

from sonar_tui.store import FinalAnswer, Store, StoreImportError, ThreadNotFoundError
from sonar_tui.store.models import EXPORT_FORMAT, EXPORT_VERSION

from .conftest import assert_consistent, full_exchange
from .test_threads import Picture


def without_ids(document: dict) -> dict:
    document = copy.deepcopy(document)
    document["thread"].pop("id")
    for message in document["messages"]:
        message.pop("id")
        message.pop("thread_id")
    return document


async def rich_thread(store: Store) -> int:
    thread_id, _, _ = await full_exchange(store, None, "Export me", "An answer with sources [1].")
    await store.add_user_message(thread_id, "and a picture",
                                 attachments=[Picture("p.png", b"\x89PNG\r\n\x1a\nbytes")],
                                 keep_bytes=True)
    agent = await store.start_answer(thread_id, {"model": "sonar"}, "fast", "agent")
    await store.finish_answer(agent, FinalAnswer(
        "complete", "Continued on the Agent API.", finish_reason="stop",
        response_id="resp_0123", response_endpoint="https://api.perplexity.ai"))
    await store.add_user_message(thread_id, "one more")
    failed = await store.start_answer(thread_id, {"model": "sonar"}, "sonar", "sonar")
    await store.finish_answer(failed, FinalAnswer("error", "partial",
                                                  error={"kind": "network", "message": "x"},
                                                  finish_reason="failed"))
    await store.set_pinned(thread_id, True)
    await store.set_overrides(thread_id, {"search_mode": "academic"})
    return thread_id


async def test_round_trip_into_another_database(store, tmp_path):
    thread_id = await rich_thread(store)
    exported = (await store.export_thread(thread_id)).to_dict()
    assert exported["format"] == EXPORT_FORMAT and exported["version"] == EXPORT_VERSION
    text = json.dumps(exported)  # the document is plain JSON

    async with await Store.open(tmp_path / "other.db") as other:
        await other.add_user_message(None, "something already there")  # ids will differ
        result = await other.import_thread(json.loads(text))
        assert result.created and result.thread_id != thread_id
        again = (await other.export_thread(result.thread_id)).to_dict()
        assert without_ids(again) == without_ids(exported)
        assert again["messages"][2]["attachments"][0]["data_base64"]  # bytes came along
        assert (again["messages"][3]["response_id"], again["messages"][3]["response_endpoint"]
                ) == ("resp_0123", "https://api.perplexity.ai")
        # Importing the same document again is a no-op that points at the first import.
        second = await other.import_thread(json.loads(text))
        assert (second.thread_id, second.created) == (result.thread_id, False)
        assert await other.count_threads() == 2
        assert {h.thread_id for h in await other.search("sources")} == {result.thread_id}
    assert_consistent(tmp_path / "other.db")


async def test_import_into_the_same_database_is_deduplicated(store):
    thread_id = await rich_thread(store)
    result = await store.import_thread((await store.export_thread(thread_id)).to_dict())
    assert (result.thread_id, result.created) == (thread_id, False)
    assert await store.count_threads() == 1


async def test_export_of_a_missing_thread(store):
    with pytest.raises(ThreadNotFoundError):
        await store.export_thread(42)


async def test_streaming_messages_import_as_interrupted(store, tmp_path):
    question = await store.add_user_message(None, "mid-stream export")
    answer_id = await store.start_answer(question.thread_id, {}, "sonar", "sonar")
    await store.checkpoint_answer(answer_id, "half", "")
    document = (await store.export_thread(question.thread_id)).to_dict()
    async with await Store.open(tmp_path / "other.db") as other:
        result = await other.import_thread(document)
        answer = (await other.load_messages(result.thread_id))[-1]
        assert answer.status == "interrupted" and answer.content == "half"
        assert not (await other.get_thread(result.thread_id)).has_streaming


def _valid() -> dict:
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
            "thread": {"uid": "abc123", "title": "t", "created_at": 1.0, "updated_at": 2.0},
            "messages": [{"role": "user", "content": "hi", "created_at": 1.0}]}


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="something-else"), "not a sonar-tui thread export"),
    (lambda d: d.update(version=EXPORT_VERSION + 1), "newer than this sonar-tui reads"),
    (lambda d: d.update(version="1"), "version '1' is not valid"),
    (lambda d: d["thread"].update(uid="../../etc"), "thread.uid"),
    (lambda d: d.update(messages={}), "messages: expected a list"),
    (lambda d: d["messages"][0].update(role="system"), r"messages\[0\].role"),
    (lambda d: d["messages"][0].update(status="weird"), r"messages\[0\].status"),
    (lambda d: d["messages"][0].update(content=7), r"messages\[0\].content: expected a string"),
    (lambda d: d["messages"][0].update(sources=[{"number": 1}]), r"sources\[0\].url"),
    (lambda d: d["messages"][0].update(attachments=[{"name": "a", "mime": "image/png",
                                                     "data_base64": "!!"}]), "base64"),
    (lambda d: d["messages"][0].update(created_at=float("nan")), "created_at"),
    (lambda d: d["messages"][0].update(response_id=7), r"messages\[0\].response_id"),
    (lambda d: d["messages"][0].update(steps=[None]), r"messages\[0\].steps\[0\]: expected"),
])
async def test_malformed_documents_are_refused_clearly(store, mutate, message):
    document = _valid()
    mutate(document)
    with pytest.raises(StoreImportError, match=message):
        await store.import_thread(document)
    assert await store.count_threads() == 0


async def test_minimal_valid_document(store):
    result = await store.import_thread(_valid())
    assert result.created
    [message] = await store.load_messages(result.thread_id)
    assert message.content == "hi"
    assert (await store.get_thread(result.thread_id)).uid == "abc123"


async def test_not_a_dict(store):
    with pytest.raises(StoreImportError):
        await store.import_thread(["not", "a", "dict"])  # type: ignore[arg-type]
