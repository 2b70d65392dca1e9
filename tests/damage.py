"""Damaged databases, made the way a bad sector or a torn copy makes them: real SQLite files
whose pages of one table are overwritten on disk."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sonar_tui.store import FinalAnswer, Store

ANSWER_WORDS = "lorem ipsum " * 400  # long answers: the threads span several table pages


async def fill(path: Path, threads: int = 6) -> list[int]:
    """``threads`` threads of one question and one long answer each; their ids."""
    store = await Store.open(path)
    ids = []
    try:
        for i in range(threads):
            question = await store.add_user_message(None, f"Question {i} " + "words " * 50)
            answer = await store.start_answer(question.thread_id, {}, "sonar", "sonar")
            await store.finish_answer(answer, FinalAnswer(
                "complete", f"Answer {i} {ANSWER_WORDS}",
                sources=[{"number": 1, "url": "https://example.com", "title": f"Source {i}"}]))
            ids.append(question.thread_id)
    finally:
        await store.close()  # checkpoints the WAL: every page is in the main file
    return ids


def damage(path: Path, table: str) -> int:
    """Overwrite the cells of the first leaf page of ``table`` (its header byte kept, so
    SQLite reads it as that page and finds it malformed). Returns the page number."""
    with sqlite3.connect(path) as conn:
        (page,), = conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'"
                                " ORDER BY pageno LIMIT 1", (table,)).fetchall()
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as handle:
        handle.seek((page - 1) * size + 8)
        handle.write(b"\xff" * (size - 16))
    return page


def damaged_database(path: Path, table: str) -> list[int]:
    ids = asyncio.run(fill(path))
    damage(path, table)
    return ids
