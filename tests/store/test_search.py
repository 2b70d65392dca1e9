"""Full-text search: ranking, snippets, and any user text as a query."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonar_tui.store import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN, Store
from sonar_tui.store import search as search_module
from sonar_tui.store.search import MAX_TERMS, build_match_query, query_terms

from .conftest import full_exchange

HOSTILE = [
    "", " ", '"', '""', "'", "*", "-", "--", "^", ":", "(", ")", "())(", "((a", 'a"b',
    "NEAR", "NEAR(a b)", "NEAR/3", "AND", "OR", "NOT", "a AND", "OR b", "NOT NOT", "a OR OR b",
    "title:", "title:paris", "content:x", "{title content}: x", "- paris", "paris -lyon",
    "+", "a+b", "*paris", "paris*", '"unbalanced', "c++", "e.g.", "50%", "\\", "\x00", "\x02",
    "🙂", "日本語", "ça va", "naïve café", "x" * 5000, "word " * 500, "rowid", "rank:1",
    "MATCH", "'; DROP TABLE threads; --", "%_", "[a]", "{a}", "a:b:c", "é" * 3,
]


async def seeded(store: Store) -> dict[str, int]:
    ids = {}
    ids["paris"], _, ids["paris_answer"] = await full_exchange(
        store, None, "What is the capital of France?",
        "Paris is the capital of France, on the Seine [1].")
    ids["cafe"], ids["cafe_q"], _ = await full_exchange(
        store, None, "Best café in Zürich?", "Try the naïve little café near the lake.")
    ids["lyon"], _, _ = await full_exchange(
        store, None, "Lyon food", "Lyon is famous for food; quenelles and Lyonnaise potatoes.")
    await store.rename_thread(ids["lyon"], "Gastronomy in Lyon")
    return ids


async def test_finds_questions_answers_titles_and_sources(store):
    ids = await seeded(store)
    hits = await store.search("capital France")
    # One row per thread: its best match, and how many there are (question and answer).
    assert [h.thread_id for h in hits] == [ids["paris"]] and hits[0].matches >= 2
    title_hits = [h for h in await store.search("gastronomy") if h.message_id is None]
    assert [h.thread_id for h in title_hits] == [ids["lyon"]]
    assert title_hits[0].thread_title == "Gastronomy in Lyon"
    # "figures" appears only in a source title (every answer carries SOURCES).
    source_hits = await store.search("figures")
    assert source_hits and all(h.role == "assistant" for h in source_hits)
    assert all(HIGHLIGHT_OPEN + "figures" + HIGHLIGHT_CLOSE in h.snippet.lower()
               for h in source_hits)


async def test_snippets_are_highlighted_and_ranked(store):
    ids = await seeded(store)
    hits = await store.search("lyon")
    assert hits[0].thread_id == ids["lyon"]
    assert all(HIGHLIGHT_OPEN in h.snippet and HIGHLIGHT_CLOSE in h.snippet for h in hits)
    assert [h.rank for h in hits] == sorted(h.rank for h in hits)
    assert len({h.thread_id for h in hits}) == len(hits)
    every = await store.search("the")
    assert len(every) == 3 and len(await store.search("the", limit=2)) == 2


async def test_prefix_diacritics_and_phrases(store):
    ids = await seeded(store)
    assert any(h.thread_id == ids["paris"] for h in await store.search("capi"))  # still typing
    assert not any(h.thread_id == ids["paris"] for h in await store.search("capi "))
    (zurich,) = await store.search("zurich")  # the question and the title: one row
    assert zurich.thread_id == ids["cafe"] and zurich.matches == 2
    assert {h.thread_id for h in await store.search("cafe naive")} == {ids["cafe"]}
    # Words are ANDed: both must occur in the thread (every answer here cites a "Paris" source).
    assert await store.search("zurich quenelles") == []
    assert [h.thread_id for h in await store.search("paris quenelles")] == [ids["lyon"]]
    # Syntax characters are just separators, not operators.
    assert {h.thread_id for h in await store.search('"Lyon" -food')} == {ids["lyon"]}


def test_query_building_never_exposes_syntax():
    assert build_match_query("") is None and build_match_query(" *-() ") is None
    assert build_match_query('NEAR(a "b" c) OR title:xyz') == (
        '"NEAR" "a" "b" "c" "OR" "title" "xyz"*')
    assert build_match_query("done ") == '"done"'
    # Prefix matching starts at three characters (or one CJK character: no spaces there).
    assert build_match_query("ca") == '"ca"' and build_match_query("cap") == '"cap"*'
    assert build_match_query("日本") == '"日本"*'
    assert query_terms("l'été—déjà vu") == ["l", "été", "déjà", "vu"]
    long = " ".join(f"w{i}" for i in range(MAX_TERMS + 5))
    query = build_match_query(long)
    assert query.count('"') == 2 * MAX_TERMS and not query.endswith("*")


async def test_very_common_words_rank_the_newest_matches(store, monkeypatch):
    thread_id = (await store.create_thread("unrelated title")).id
    old = await store.add_user_message(thread_id, "common common common common")  # best bm25
    newer = [await store.add_user_message(thread_id, f"common word number {i}") for i in range(6)]
    (hit,) = await store.search("common", limit=3)
    assert hit.message_id == old.id and hit.matches == 7  # few matches: exact bm25 over all
    monkeypatch.setattr(search_module, "RANK_WINDOW", 4)
    (hit,) = await store.search("common", limit=3)
    # More matches than the window: the best of the newest four, the old one is not among them.
    assert hit.message_id in {m.id for m in newer[-4:]} and hit.matches == 4
    assert hit.snippet.count(HIGHLIGHT_OPEN) >= 1


async def test_words_may_match_anywhere_in_a_thread(store):
    ids = await seeded(store)
    other, _, _ = await full_exchange(store, None, "Is the Loire long?", "About 1006 km.")
    # "capital" is in the question, "Seine" in the answer: one thread holds both.
    hits = await store.search("capital seine")
    assert [h.thread_id for h in hits] == [ids["paris"]]
    # Asked in one message, answered in another: still found, after the together-matches.
    hits = await store.search("quenelles gastronomy")  # the answer, the title
    assert [h.thread_id for h in hits] == [ids["lyon"]]
    hits = await store.search("loire km")  # question and answer of the other thread
    assert [h.thread_id for h in hits] == [other]
    assert hits[0].matches == 2
    assert HIGHLIGHT_OPEN in hits[0].snippet
    assert [h.thread_id for h in await store.search("loire")] == [other]


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_never_raise(store, query):
    await seeded(store)
    hits = await store.search(query)
    assert isinstance(hits, list)


def test_any_text_is_a_valid_query(db_path):
    """Hypothesis: arbitrary unicode, and text dense in FTS5 syntax, never raises."""
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(Store.open(db_path))
    try:
        loop.run_until_complete(seeded(store))
        pieces = st.sampled_from(list('"*()-+^:{}. \t\n\x00\x02é🙂') +
                                 ["AND", "OR", "NOT", "NEAR", "NEAR/2", "title:", "paris"])
        syntax = st.lists(pieces, max_size=30).map("".join)

        @settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(st.one_of(st.text(max_size=200), syntax))
        def check(query: str) -> None:
            hits = loop.run_until_complete(store.search(query))
            assert isinstance(hits, list)

        check()
    finally:
        loop.run_until_complete(store.close())
        loop.close()
