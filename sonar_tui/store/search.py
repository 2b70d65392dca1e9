"""Full-text search: any user text in, ranked hits with highlighted snippets out.

User text is never handed to FTS5's query syntax. We split it into words ourselves (runs of
letters, digits and combining marks, like the ``unicode61`` tokenizer), quote every word as
an FTS5 string and AND them, so quotes, ``*``, ``-``, parentheses, ``NEAR``, ``AND``/``OR``/
``NOT`` and ``column:`` filters are plain words and no input can produce a syntax error. The
last word is a prefix match while the user is still typing it (no trailing space).
"""

from __future__ import annotations

import unicodedata

import aiosqlite

from sonar_tui.store.models import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN, SearchHit

MAX_TERMS = 16  # beyond this a query is pasted text, not a search; the rest adds nothing
SNIPPET_TOKENS = 14
ELLIPSIS = "…"


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
    still_typing = not truncated and not text[-1].isspace()
    if still_typing:
        quoted[-1] += "*"
    return " ".join(quoted)


# Each branch asks FTS5 for its own best ``limit`` rows (ORDER BY rank is done inside FTS5,
# and snippets are only built for the rows kept); the outer query merges them by bm25.
_SEARCH_SQL = """
SELECT * FROM (
    SELECT m.thread_id, t.title AS thread_title, m.id AS message_id, m.role,
           hit.snippet, hit.rank
    FROM (SELECT rowid, snippet(message_fts, 0, :open, :close, :ellipsis, :tokens) AS snippet,
                 rank
          FROM message_fts WHERE message_fts MATCH :query ORDER BY rank LIMIT :limit) AS hit
    JOIN messages m ON m.id = hit.rowid
    JOIN threads t ON t.id = m.thread_id
)
UNION ALL
SELECT * FROM (
    SELECT t.id AS thread_id, t.title AS thread_title, NULL AS message_id, NULL AS role,
           hit.snippet, hit.rank
    FROM (SELECT rowid, snippet(thread_fts, 0, :open, :close, :ellipsis, :tokens) AS snippet,
                 rank
          FROM thread_fts WHERE thread_fts MATCH :query ORDER BY rank LIMIT :limit) AS hit
    JOIN threads t ON t.id = hit.rowid
)
UNION ALL
SELECT * FROM (
    SELECT m.thread_id, t.title AS thread_title, m.id AS message_id, m.role,
           hit.snippet, hit.rank
    FROM (SELECT rowid, snippet(source_fts, 0, :open, :close, :ellipsis, :tokens) AS snippet,
                 rank
          FROM source_fts WHERE source_fts MATCH :query ORDER BY rank LIMIT :limit) AS hit
    JOIN sources s ON s.id = hit.rowid
    JOIN messages m ON m.id = s.message_id
    JOIN threads t ON t.id = m.thread_id
)
ORDER BY rank, thread_id DESC, message_id DESC
LIMIT :limit
"""


async def search(conn: aiosqlite.Connection, text: str, limit: int) -> list[SearchHit]:
    query = build_match_query(text)
    if query is None or limit <= 0:
        return []
    rows = await conn.execute_fetchall(_SEARCH_SQL, {
        "query": query, "limit": int(limit), "open": HIGHLIGHT_OPEN, "close": HIGHLIGHT_CLOSE,
        "ellipsis": ELLIPSIS, "tokens": SNIPPET_TOKENS,
    })
    return [
        SearchHit(thread_id=row["thread_id"], thread_title=row["thread_title"],
                  message_id=row["message_id"], role=row["role"], snippet=row["snippet"],
                  rank=row["rank"])
        for row in rows
    ]
