"""Store benchmark: a 10,000-thread / 100,000-message database and the reads the UI does.

    python bench/store.py [--threads 10000] [--messages 100000] [--runs 9] [--keep DIR]

Builds the database in a temporary directory (schema from ``Store.open``, rows bulk-inserted
in one transaction through the same tables and FTS triggers the app uses), then prints the
median of ``--runs`` runs for each operation next to its goal, and the file size. Answers are
1-3 KB of Zipf-distributed words with 5 sources each, questions a sentence; one thread holds
1,000 messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sonar_tui.store import FinalAnswer, Store

COMMON = (
    "the of and to in is a that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if "
    "can more no out do so what about up into than them time could only other new some"
).split()
TOPICS = ("volcano eruption magma climate ocean river capital france paris lyon python rust "
          "sqlite database index query search engine model reasoning citation source energy "
          "battery solar nuclear economy inflation market history empire roman greek").split()


class TextMaker:
    def __init__(self, seed: int = 42) -> None:
        self.rng = random.Random(seed)
        syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
        syllables += ["ar", "en", "or", "is"]
        synthetic = {"".join(self.rng.choices(syllables, k=self.rng.randint(2, 4)))
                     for _ in range(40_000)}
        self.words = COMMON + TOPICS + sorted(synthetic)
        # Zipf: the word of rank r appears with weight 1/r, as in real prose.
        weights = [1 / (rank + 1) for rank in range(len(self.words))]
        total, acc, self.cum = sum(weights), 0.0, []
        for w in weights:
            acc += w / total
            self.cum.append(acc)

    def words_n(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=n))

    def answer(self) -> str:
        # ~6 characters per word: 170-500 words is 1-3 KB.
        body = self.words_n(self.rng.randint(170, 500))
        return f"{body} [1][2]. {self.rng.choice(TOPICS)} {self.words_n(8)} [3]."

    def question(self) -> str:
        return f"What about {self.rng.choice(TOPICS)} {self.words_n(self.rng.randint(4, 14))}?"


def distribute(threads: int, messages: int, big: int) -> list[int]:
    """Messages per thread: one thread with ``big``, the rest spread as whole Q/A pairs."""
    pairs_left = (messages - big) // 2
    base, extra = divmod(pairs_left, threads - 1)
    return [big] + [2 * (base + (1 if i < extra else 0)) for i in range(threads - 1)]


def build(path: Path, threads: int, messages: int, big: int) -> tuple[int, float]:
    """Bulk-load the database; returns the id of the big thread and the seconds taken."""
    asyncio.run(_create_schema(path))
    text = TextMaker()
    rng = text.rng
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN IMMEDIATE")
    counts = distribute(threads, messages, big)
    now = time.time() - 86_400 * 365
    message_id = source_id = 0
    settings = json.dumps({"model": "sonar-pro", "search_mode": "web", "temperature": 0.2})
    usage = json.dumps({"prompt_tokens": 12, "completion_tokens": 480, "total_tokens": 492,
                        "cost": 0.006})
    thread_rows, message_rows, source_rows = [], [], []
    for thread_id, count in enumerate(counts, start=1):
        created = now + thread_id * 3000
        first_question = text.question()
        thread_rows.append((thread_id, f"{thread_id:032x}", first_question[:80], created,
                            created + count * 60, int(thread_id % 500 == 0), "{}", "sonar",
                            "sonar-pro"))
        for i in range(count):
            message_id += 1
            at = created + i * 60
            if i % 2 == 0:
                message_rows.append((message_id, thread_id, "user",
                                     first_question if i == 0 else text.question(), "", "[]",
                                     "complete", None, None, "{}", None, None, None, at, at))
            else:
                message_rows.append((message_id, thread_id, "assistant", text.answer(), "",
                                     "[]", "complete", "sonar-pro", "sonar", settings, usage,
                                     0.006, "stop", at, at + 5))
                for n in range(1, 6):
                    source_id += 1
                    source_rows.append((source_id, message_id, n - 1, n,
                                        f"https://site{rng.randint(1, 5000)}.example/{source_id}",
                                        text.words_n(rng.randint(3, 9)).title(), "2024-05-01",
                                        None, text.words_n(25), "web"))
        if len(message_rows) > 5000:
            _flush(conn, thread_rows, message_rows, source_rows)
    _flush(conn, thread_rows, message_rows, source_rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return 1, time.perf_counter() - started


def _flush(conn: sqlite3.Connection, thread_rows: list, message_rows: list,
           source_rows: list) -> None:
    conn.executemany("INSERT INTO threads (id, uid, title, created_at, updated_at, pinned,"
                     " overrides, last_api, last_model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     thread_rows)
    conn.executemany("INSERT INTO messages (id, thread_id, role, content, reasoning, steps, status,"
                     " model, api, settings, usage, cost, finish_reason, created_at, finished_at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", message_rows)
    conn.executemany("INSERT INTO sources (id, message_id, position, number, url, title, date,"
                     " last_updated, snippet, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     source_rows)
    thread_rows.clear()
    message_rows.clear()
    source_rows.clear()


async def _create_schema(path: Path) -> None:
    async with await Store.open(path):
        pass


async def median_ms(op: Callable[[], Awaitable[object]], runs: int) -> tuple[float, object]:
    await op()  # warm the page cache the way a running app has it
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await op()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def line(label: str, ms: float, goal: float | None, extra: str = "") -> None:
    verdict = "" if goal is None else ("ok" if ms <= goal else "OVER")
    goal_text = "" if goal is None else f"goal <= {goal:>4.0f} ms  {verdict}"
    print(f"  {label:<52} {ms:8.2f} ms   {goal_text} {extra}".rstrip())


async def measure(path: Path, big_thread: int, runs: int) -> None:
    async with await Store.open(path) as store:
        print(f"\nmedians of {runs} runs (after one warm-up run)")
        ms, rows = await median_ms(lambda: store.list_threads(200), runs)
        line("list newest 200 threads (pinned first)", ms, 20, f"[{len(rows)} rows]")
        ms, _ = await median_ms(lambda: store.list_threads(200, pinned_first=False), runs)
        line("list newest 200 threads (by activity)", ms, 20)
        ms, _ = await median_ms(lambda: store.list_threads(200, offset=9000), runs)
        line("list 200 threads at offset 9000", ms, 20)

        # A query without a trailing space prefix-matches its last word (from 3 letters on).
        queries = {
            "topic word": "sqlite ",
            "two words": "volcano magma ",
            # Words that a thread may hold in different messages (question / answer):
            # every thread holding both is found, not only messages holding both.
            "two topic words, rarely together": "paris battery ",
            "three topic words": "roman solar inflation ",
            "common word + absent word (spread check)": "the zzzqqqxxx ",
            "two common words (spread check)": "the of ",
            "very common word": "the ",
            "three very common words": "the of and ",
            "typing: common 3-letter prefix": "the",
            "typing: 4-letter prefix": "erup",
            "typing: 2 letters (exact)": "ca",
            "hostile text": 'title:"NEAR( -paris* OR',
            "no match": "zzzqqqxxx",
        }
        for kind, query in queries.items():
            ms, hits = await median_ms(lambda q=query: store.search(q, limit=50), runs)
            line(f"search {kind} {query!r}", ms, 50, f"[{len(hits)} hits]")

        ms, rows = await median_ms(lambda: store.load_messages(big_thread), runs)
        line("load a 1,000-message thread (all)", ms, 100, f"[{len(rows)} messages]")
        ms, rows = await median_ms(lambda: store.load_messages(big_thread, limit=50), runs)
        line("load its newest 50 messages", ms, None, f"[{len(rows)} messages]")
        ms, _ = await median_ms(lambda: store.count_messages(big_thread), runs)
        line("count_messages (1,000-message thread)", ms, None)

        print("\nwrites on the full database (each one committed)")
        small = (await store.list_threads(1, pinned_first=False))[0].id
        ms, _ = await median_ms(lambda: store.add_user_message(small, "a new question"), runs)
        line("add_user_message", ms, None)
        answer_id = await store.start_answer(small, {"model": "sonar"}, "sonar", "sonar")
        partial = TextMaker(7).answer()
        ms, _ = await median_ms(lambda: store.checkpoint_answer(answer_id, partial, ""), runs)
        line(f"checkpoint_answer ({len(partial)} chars)", ms, None)
        await store.finish_answer(answer_id, FinalAnswer("complete", partial))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000, help="messages in the big thread")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it")
    args = parser.parse_args()
    if args.runs < 7:
        parser.error("--runs must be at least 7")

    with tempfile.TemporaryDirectory(prefix="sonar-store-bench-") as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "bench.db"
        path.unlink(missing_ok=True)
        print(f"sonar-tui store benchmark  (SQLite {sqlite3.sqlite_version}, Python "
              f"{sys.version.split()[0]})")
        print(f"building {args.threads:,} threads / {args.messages:,} messages ...", flush=True)
        big_thread, seconds = build(path, args.threads, args.messages, args.big)
        size = path.stat().st_size
        with sqlite3.connect(path) as conn:
            fts_pages = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE '%fts%'").fetchone()[0] \
                if _has_dbstat(conn) else None
            text_bytes = conn.execute("SELECT sum(length(content)) FROM messages").fetchone()[0]
        print(f"  built in {seconds:.1f} s; file {size / 2**20:.1f} MiB "
              f"({text_bytes / 2**20:.1f} MiB of message text"
              + (f", full-text index {fts_pages / 2**20:.1f} MiB" if fts_pages else "") + ")")
        asyncio.run(measure(path, big_thread, args.runs))
    return 0


def _has_dbstat(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1 FROM dbstat LIMIT 1")
        return True
    except sqlite3.Error:
        return False


if __name__ == "__main__":
    sys.exit(main())
