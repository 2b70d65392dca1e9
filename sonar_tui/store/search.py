"""Full-text search: any user text in, ranked hits with highlighted snippets out.

Safety: user text is never handed to FTS5's query syntax. We split it into words ourselves
(runs of letters, digits and combining marks, like the ``unicode61`` tokenizer), quote every
word as an FTS5 string and AND them, so quotes, ``*``, ``-``, parentheses, ``NEAR``,
``AND``/``OR``/``NOT`` and ``column:`` filters are plain words and no input can produce a
syntax error. The last word is a prefix match while the user is still typing it (no
trailing space), once it has ``MIN_PREFIX_CHARS`` characters: a one- or two-letter prefix
expands to thousands of terms and would cost a full scan per keystroke.

Speed: bm25 has to score every match before it can sort, which for a word found in every
answer of a 100,000-message history costs hundreds of milliseconds. Each index therefore
ranks its newest ``RANK_WINDOW`` matches (FTS5 walks a doclist newest-first and stops): the
ranking is exact whenever a query matches fewer documents than that, and favours recent
conversations when it matches more. Snippets are then built for the kept rows only, in a
single pass over their rowid range (a lookup per row would re-expand a prefix term each time).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

import aiosqlite

from sonar_tui.store.models import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN, SearchHit

MAX_TERMS = 16  # beyond this a query is pasted text, not a search; the rest adds nothing
MIN_PREFIX_CHARS = 3
RANK_WINDOW = 2000
SNIPPET_TOKENS = 14
ELLIPSIS = "…"
_CJK_START = 0x2E80  # scripts written without spaces: one "word" is a whole run


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch)[0] == "M"


def query_terms(text: str) -> list[str]:
    terms: list[str] = []
    word: list[str] = []
    for ch in text:
        if _is_word_char(ch):
            word.append(ch)
        elif word:
            terms.append("".join(word))
            word = []
    if word:
        terms.append("".join(word))
    return terms


def build_match_query(text: str) -> str | None:
    """The FTS5 MATCH expression for ``text``, or None when it holds no word at all."""
    words = match_words(text)
    return " ".join(words) if words else None


def match_words(text: str) -> list[str]:
    """Each word of ``text`` as an FTS5 string (the last one a prefix while being typed)."""
    terms = query_terms(text)
    if not terms:
        return []
    truncated = len(terms) > MAX_TERMS
    # Word characters never include '"', so no escaping is needed; doubling would be the rule.
    quoted = [f'"{term}"' for term in terms[:MAX_TERMS]]
    last = terms[-1]
    still_typing = not truncated and not text[-1].isspace()
    if still_typing and (len(last) >= MIN_PREFIX_CHARS or any(ord(c) >= _CJK_START for c in last)):
        quoted[-1] += "*"
    return quoted


@dataclass(slots=True)
class _Ranked:
    score: float
    index: str  # which FTS table
    rowid: int
    snippet: str = ""


_INDEXES = ("message_fts", "thread_fts", "source_fts")  # fixed names, never user input


async def _add_snippets(conn: aiosqlite.Connection, index: str, query: str,
                        ranked: list[_Ranked]) -> None:
    by_id = {r.rowid: r for r in ranked}
    rows = await conn.execute_fetchall(
        f"SELECT rowid, CASE WHEN rowid IN (SELECT value FROM json_each(:ids))"
        f" THEN snippet({index}, 0, :open, :close, :ellipsis, :tokens) END"
        f" FROM {index} WHERE {index} MATCH :query AND rowid BETWEEN :low AND :high",
        {"ids": json.dumps(list(by_id)), "open": HIGHLIGHT_OPEN, "close": HIGHLIGHT_CLOSE,
         "ellipsis": ELLIPSIS, "tokens": SNIPPET_TOKENS, "query": query,
         "low": min(by_id), "high": max(by_id)})
    for rowid, snippet in rows:
        if snippet is not None:
            by_id[rowid].snippet = snippet


_CONTEXT_SQL = {
    # -> (rowid, thread_id, thread_title, message_id, role)
    "message_fts": "SELECT m.id, m.thread_id, t.title, m.id, m.role FROM messages m"
                   " JOIN threads t ON t.id = m.thread_id"
                   " WHERE m.id IN (SELECT value FROM json_each(?))",
    "thread_fts": "SELECT t.id, t.id, t.title, NULL, NULL FROM threads t"
                  " WHERE t.id IN (SELECT value FROM json_each(?))",
    "source_fts": "SELECT s.id, m.thread_id, t.title, m.id, m.role FROM sources s"
                  " JOIN messages m ON m.id = s.message_id JOIN threads t ON t.id = m.thread_id"
                  " WHERE s.id IN (SELECT value FROM json_each(?))",
}


_THREAD_OF = {
    # joins a window of (id, score) rows of an index to the thread each row belongs to
    "message_fts": "JOIN messages m ON m.id = w.id",
    "thread_fts": "JOIN threads m ON m.id = w.id",  # m.id is the thread: see the select
    "source_fts": "JOIN sources s ON s.id = w.id JOIN messages m ON m.id = s.message_id",
}


async def _rank_threads(conn: aiosqlite.Connection, index: str,
                        query: str) -> list[tuple[int, _Ranked, int]]:
    """(thread, its best match in this index, its matches) among the index's newest
    ``RANK_WINDOW`` matches, grouped in SQL (a bare column next to min() comes from the
    row holding the minimum)."""
    thread = "m.id" if index == "thread_fts" else "m.thread_id"
    rows = await conn.execute_fetchall(
        f"SELECT {thread}, w.id, min(w.score), count(*) FROM (SELECT rowid AS id,"
        f" bm25({index}) AS score FROM {index} WHERE {index} MATCH ? ORDER BY rowid DESC"
        f" LIMIT ?) w {_THREAD_OF[index]} GROUP BY {thread}", (query, RANK_WINDOW))
    return [(row[0], _Ranked(score=row[2], index=index, rowid=row[1]), row[3]) for row in rows]


_THREADS_MATCHING_SQL = {
    # the threads where one word occurs in this index
    "message_fts": "SELECT DISTINCT m.thread_id FROM message_fts f JOIN messages m"
                   " ON m.id = f.rowid WHERE message_fts MATCH ?",
    "thread_fts": "SELECT rowid FROM thread_fts WHERE thread_fts MATCH ?",
    "source_fts": "SELECT DISTINCT m.thread_id FROM source_fts f JOIN sources s ON s.id = f.rowid"
                  " JOIN messages m ON m.id = s.message_id WHERE source_fts MATCH ?",
}
_AMONG_THREADS_SQL = {
    # the same, among a few candidate threads: their rows are looked up, not the word's
    "message_fts": "SELECT DISTINCT m.thread_id FROM messages m WHERE m.thread_id IN"
                   " (SELECT value FROM json_each(?)) AND m.id IN"
                   " (SELECT rowid FROM message_fts WHERE message_fts MATCH ?)",
    "thread_fts": "SELECT t.id FROM threads t WHERE t.id IN (SELECT value FROM json_each(?))"
                  " AND t.id IN (SELECT rowid FROM thread_fts WHERE thread_fts MATCH ?)",
    "source_fts": "SELECT DISTINCT m.thread_id FROM messages m JOIN sources s"
                  " ON s.message_id = m.id WHERE m.thread_id IN (SELECT value FROM json_each(?))"
                  " AND s.id IN (SELECT rowid FROM source_fts WHERE source_fts MATCH ?)",
}
RARITY_CAP = 5000  # documents counted per word to order the words, rarest first


async def _threads_with_every_word(conn: aiosqlite.Connection, words: list[str]) -> set[int]:
    """Threads in which each word occurs somewhere (a question, an answer, the title, a
    source), not necessarily together. Rarest word first: a word found nowhere ends it at
    once, and the next words are only looked for in the threads still in the running."""
    sized = []
    for word in dict.fromkeys(words):
        found = 0
        for index in _INDEXES:
            counted = list(await conn.execute_fetchall(
                f"SELECT count(*) FROM (SELECT 1 FROM {index} WHERE {index} MATCH ?"
                f" LIMIT {RARITY_CAP})", (word,)))
            found += counted[0][0]
        if not found:
            return set()
        sized.append((found, word))
    sized.sort()
    threads: set[int] | None = None
    for _, word in sized:
        here: set[int] = set()
        for index in _INDEXES:
            if threads is None:
                rows = await conn.execute_fetchall(_THREADS_MATCHING_SQL[index], (word,))
            else:
                rows = await conn.execute_fetchall(_AMONG_THREADS_SQL[index],
                                                   (json.dumps(sorted(threads)), word))
            here.update(row[0] for row in rows)
        threads = here if threads is None else threads & here
        if not threads:
            return set()
    return threads or set()


async def _best_in_threads(conn: aiosqlite.Connection, words: list[str],
                           threads: list[int]) -> list[tuple[int, _Ranked, int]]:
    """For threads matched word by word: (thread, its best message for any of the words,
    how many of its messages hold one)."""
    if not threads:
        return []
    rows = await conn.execute_fetchall(
        "SELECT f.rowid, bm25(message_fts), m.thread_id FROM message_fts f JOIN messages m"
        " ON m.id = f.rowid WHERE message_fts MATCH ? AND m.thread_id IN"
        " (SELECT value FROM json_each(?)) ORDER BY 2", (" OR ".join(words), json.dumps(threads)))
    best: dict[int, _Ranked] = {}
    count: dict[int, int] = {}
    for rowid, score, thread_id in rows:
        best.setdefault(thread_id, _Ranked(score=score, index="message_fts", rowid=rowid))
        count[thread_id] = count.get(thread_id, 0) + 1
    return [(t, best[t], count[t]) for t in threads if t in best]


async def search(conn: aiosqlite.Connection, text: str, limit: int) -> list[SearchHit]:
    """One hit per thread, best first: its best-ranked match, and how many matches it has.

    Threads where one message (or the title, or a source) holds every word rank first;
    then, when there is room, threads that hold every word only spread over several
    messages (asked in one, answered in another), newest first."""
    words = match_words(text)
    if not words or limit <= 0:
        return []
    query = " ".join(words)
    best: dict[int, _Ranked] = {}
    matches: dict[int, int] = {}
    for index in _INDEXES:
        for thread_id, r, count in await _rank_threads(conn, index, query):
            matches[thread_id] = matches.get(thread_id, 0) + count
            known = best.get(thread_id)
            if known is None or (r.score, -r.rowid) < (known.score, -known.rowid):
                best[thread_id] = r
    chosen = sorted(best.items(), key=lambda item: (item[1].score, -item[1].rowid))[:limit]
    if len(chosen) < limit and len(set(words)) > 1:
        spread = await _threads_with_every_word(conn, words)
        others = sorted(spread - set(best), reverse=True)[:limit - len(chosen)]
        for thread_id, r, count in await _best_in_threads(conn, words, others):
            chosen.append((thread_id, r))
            matches[thread_id] = count
        words_for_snippets = " OR ".join(words)
    else:
        words_for_snippets = query
    hits: list[SearchHit] = []
    picked = [r for _, r in chosen]
    context: dict[tuple[str, int], tuple] = {}
    for index in _INDEXES:
        mine = [r for r in picked if r.index == index]
        if not mine:
            continue
        # OR: a message of a spread match holds only some of the words, each highlighted.
        await _add_snippets(conn, index, words_for_snippets, mine)
        rows = await conn.execute_fetchall(_CONTEXT_SQL[index],
                                           (json.dumps([r.rowid for r in mine]),))
        context.update({(index, row[0]): tuple(row[1:]) for row in rows})
    for thread_id, r in chosen:
        found = context.get((r.index, r.rowid))
        if found is None:
            continue  # cannot happen inside one read transaction; never crash a search on it
        _, thread_title, message_id, role = found
        hits.append(SearchHit(thread_id=thread_id, thread_title=thread_title,
                              message_id=message_id, role=role, snippet=r.snippet, rank=r.score,
                              matches=matches.get(thread_id, 1)))
    return hits
