"""Checkpoints carry the sources received so far, so a power cut keeps what [n] points at."""

from __future__ import annotations

import sqlite3

from sonar_tui.config import load_config
from sonar_tui.mock import start_mock
from sonar_tui.service import AnswerStarted, ChatService
from sonar_tui.api.events import SourcesUpdate, TextDelta
from sonar_tui.store import Store
from sonar_tui.store.answer_writer import AnswerWriter

from .test_answers import FakeClock, started

SOURCES = [{"number": 1, "url": "https://example.com/a", "title": "A"},
           {"number": 2, "url": "https://example.com/b", "title": "B"}]


async def test_a_checkpoint_saves_the_sources_so_far(store):
    _, message_id = await started(store)
    clock = FakeClock()
    writer = AnswerWriter(store, message_id, clock=clock)
    writer.set_sources(SOURCES[:1])
    clock.now += 1
    assert await writer.maybe_checkpoint() is True  # new sources alone make one due
    assert (await store.get_message(message_id)).sources[0]["url"] == SOURCES[0]["url"]
    writer.append_text("Text [1][2].")
    writer.set_sources(SOURCES)
    clock.now += 1
    assert await writer.maybe_checkpoint() is True
    saved = await store.get_message(message_id)
    assert saved.status == "streaming" and saved.content == "Text [1][2]."
    assert [s["title"] for s in saved.sources] == ["A", "B"]
    writer.set_sources(SOURCES)  # the same again: nothing new to write
    clock.now += 1
    assert await writer.maybe_checkpoint() is False


async def test_recovery_after_a_crash_keeps_the_checkpointed_sources(tmp_path):
    path = tmp_path / "t.db"
    crashed = await Store.open(path)
    _, message_id = await started(crashed)
    await crashed.checkpoint_answer(message_id, "Partial [2].", "", sources=SOURCES)
    crashed.abandon()  # the process dies: no close, no final save
    crashed.session_id = "gone"
    store = await Store.open(path)
    try:
        store.stale_after = 0  # the dead session is recognised at once
        assert await store.recover_interrupted() == [message_id]
        answer = await store.get_message(message_id)
    finally:
        await store.close()
    assert answer.status == "interrupted" and answer.content == "Partial [2]."
    assert [s["number"] for s in answer.sources] == [1, 2]


async def test_the_service_checkpoints_sources_while_an_answer_streams(tmp_path):
    mock = start_mock("default", chunks=600, pace=200)  # ~3 s, sources from the first chunk
    db = tmp_path / "t.db"
    store = await Store.open(db)
    config = load_config(tmp_path / "c.toml", env={"PERPLEXITY_API_KEY": "pplx-test-key-123",
                                                    "PERPLEXITY_BASE_URL": mock.url})
    service = ChatService(store, config)
    events = service.ask("What does the checkpoint keep?")
    message_id, seen_sources, text = None, 0, 0
    try:
        async for event in events:
            if isinstance(event, AnswerStarted):
                message_id = event.message_id
            elif isinstance(event, SourcesUpdate):
                seen_sources = len(event.sources)
            elif isinstance(event, TextDelta):
                text += len(event.text)
                if text > 2500:  # over a second of streaming: checkpoints were due
                    break
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            status, = conn.execute("SELECT status FROM messages WHERE id = ?",
                                   (message_id,)).fetchone()
            saved = conn.execute("SELECT count(*) FROM sources WHERE message_id = ?",
                                 (message_id,)).fetchone()[0]
        assert status == "streaming" and seen_sources and saved == seen_sources
    finally:
        await events.aclose()
        await service.aclose()
        await store.close()
        mock.stop()
