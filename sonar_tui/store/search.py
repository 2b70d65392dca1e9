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
    terms = query_terms(text)
    if not terms:
        return None
    truncated = len(terms) > MAX_TERMS
    # Word characters never include '"', so no escaping is needed; doubling would be the rule.
    quoted = [f'"{term}"' for term in terms[:MAX_TERMS]]
    last = terms[-1]
    still_typing = not truncated and not text[-1].isspace()
    if still_typing and (len(last) >= MIN_PREFIX_CHARS or any(ord(c) >= _CJK_START for c in last)):
        quoted[-1] += "*"
    return " ".join(quoted)


@dataclass(slots=True)
class _Ranked:
    score: float
    index: str  # which FTS table
    rowid: int
    snippet: str = ""


_INDEXES = ("message_fts", "thread_fts", "source_fts")  # fixed names, never user input


async def _rank(conn: aiosqlite.Connection, index: str, query: str, limit: int) -> list[_Ranked]:
    top = await conn.execute_fetchall(
        f"SELECT id, score FROM (SELECT rowid AS id, bm25({index}) AS score FROM {index}"
        f" WHERE {index} MATCH ? ORDER BY rowid DESC LIMIT ?) ORDER BY score, id DESC LIMIT ?",
        (query, RANK_WINDOW, limit))
    return [_Ranked(score=row[1], index=index, rowid=row[0]) for row in top]


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


async def search(conn: aiosqlite.Connection, text: str, limit: int) -> list[SearchHit]:
    query = build_match_query(text)
    if query is None or limit <= 0:
        return []
    ranked: list[_Ranked] = []
    for index in _INDEXES:
        ranked.extend(await _rank(conn, index, query, limit))
    ranked.sort(key=lambda r: (r.score, -r.rowid))
    ranked = ranked[:limit]
    hits: list[SearchHit] = []
    context: dict[tuple[str, int], tuple] = {}
    for index in _INDEXES:
        mine = [r for r in ranked if r.index == index]
        if not mine:
            continue
        await _add_snippets(conn, index, query, mine)
        rows = await conn.execute_fetchall(_CONTEXT_SQL[index],
                                           (json.dumps([r.rowid for r in mine]),))
        context.update({(index, row[0]): tuple(row[1:]) for row in rows})
    for r in ranked:
        found = context.get((r.index, r.rowid))
        if found is None:
            continue  # cannot happen inside one read transaction; never crash a search on it
        thread_id, thread_title, message_id, role = found
        hits.append(SearchHit(thread_id=thread_id, thread_title=thread_title,
                              message_id=message_id, role=role, snippet=r.snippet, rank=r.score))
    return hits
