"""Fixtures for store tests: real SQLite files under tmp_path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sonar_tui.store import FinalAnswer, Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "threads.db"


@pytest.fixture
async def store(db_path: Path):
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection to inspect (or age) what the store wrote."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def assert_consistent(path: Path) -> None:
    """SQLite's own integrity check and every FTS index against its content."""
    with raw(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for table in ("message_fts", "thread_fts", "source_fts"):
            # Raises sqlite3.DatabaseError ("database disk image is malformed") on a mismatch.
            conn.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
    conn.close()


SOURCES = [
    {"number": 1, "url": "https://example.org/paris", "title": "Paris facts and figures",
     "date": "2024-01-02", "last_updated": "2024-02-03", "snippet": "Paris is big",
     "origin": "web"},
    {"number": 2, "url": "https://example.com/seine", "title": "The Seine river",
     "date": None, "last_updated": None, "snippet": None, "origin": None},
]
IMAGES = [{"url": "https://img.example/1.png", "origin_url": "https://example.org/p",
           "width": 640, "height": 480, "title": "Eiffel tower"}]
STEPS = [{"kind": "search", "thought": "look it up", "keywords": ["paris"], "results": [],
          "urls": ["https://example.org/paris"], "code": None, "output": None}]
USAGE = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
         "reasoning_tokens": None, "citation_tokens": None, "search_queries": 1,
         "search_context_size": "low", "cost": 0.005, "cost_details": {"total": 0.005}}


async def full_exchange(store: Store, thread_id: int | None, question: str, answer: str,
                        *, settings: dict | None = None) -> tuple[int, int, int]:
    """A question and a finished answer with everything an answer can carry.
    Returns (thread_id, question_id, answer_id)."""
    q = await store.add_user_message(thread_id, question)
    answer_id = await store.start_answer(q.thread_id, settings or {"model": "sonar-pro"},
                                         "sonar-pro", "sonar")
    writer = store.answer_writer(answer_id)
    writer.append_reasoning("thinking about it")
    writer.append_text(answer)
    await writer.checkpoint()
    await writer.finish(FinalAnswer("complete", writer.content, writer.reasoning, steps=STEPS,
                                    sources=SOURCES, related=["And Lyon?"], images=IMAGES,
                                    usage=USAGE, cost=0.005, finish_reason="stop"))
    return q.thread_id, q.id, answer_id
