"""Lone UTF-16 surrogates (JSON ``"\\ud800"``) never reach an encoder: they become U+FFFD.

JSON allows the escape, and a gateway that cuts strings by UTF-16 units sends it; Python
decodes it into a code point that UTF-8 cannot encode, so SQLite, stdout and the request
body all raised ``UnicodeEncodeError`` far from the cause. Tested through the real CLI
against the real mock behind a gateway that puts one in every string it answers, through the
store directly, and through ``import``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sonar_tui.api.sse import load_json
from sonar_tui.store import FinalAnswer, Store
from tests.gateways import lone_surrogates, start_gateway

KEY = "pplx-FAKE0123456789abcdefSURROGATEKEY"
QUESTION = "What is zqxw?"
REPLACEMENT = "\ufffd"


def run(*args: str | bytes, env: dict[str, str] | None = None, stdin: bytes | None = None):
    environment = {**os.environ, "PERPLEXITY_API_KEY": KEY, "PYTHONDONTWRITEBYTECODE": "1",
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "sonar_tui", *args], capture_output=True,
                          env=environment, input=stdin, timeout=60)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_load_json_replaces_lone_surrogates_and_keeps_pairs():
    data = load_json('{"a": "x\\ud800y", "b": ["\\udfff"], "\\ud801k": "\\ud83d\\ude00"}')
    assert data == {"a": f"x{REPLACEMENT}y", "b": [REPLACEMENT], f"{REPLACEMENT}k": "😀"}
    assert load_json('"\\ud800"') == REPLACEMENT
    assert load_json('  {"a": "\\udc00"}  ') == {"a": REPLACEMENT}  # the whitespace path
    assert load_json('{"n": 18446744073709551616, "s": "\\ud800"}')["s"] == REPLACEMENT


@pytest.fixture(params=["sonar", "agent"])
def gateway(request):
    server = start_gateway(lone_surrogates, "related", chunks=60)
    server.api_mode = request.param
    yield server
    server.stop()


def test_ask_through_a_gateway_that_sends_lone_surrogates(gateway, tmp_path):
    db = tmp_path / "t.db"
    done = run("ask", "--db", str(db), "--base-url", gateway.url, "--api-mode",
               gateway.api_mode, "--model", "sonar-reasoning-pro", QUESTION)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 0, err
    assert "Traceback" not in err
    out = done.stdout.decode("utf-8")  # strict: every byte written is valid UTF-8
    assert REPLACEMENT in out and "Sources:" in out
    (status, content, reasoning), = rows(db, "SELECT status, content, reasoning FROM messages"
                                             " WHERE role = 'assistant'")
    assert status == "complete"
    assert f"{REPLACEMENT}qxw" in content or f"{REPLACEMENT}qxw" in content.lower()
    if gateway.api_mode == "sonar":
        assert f"{REPLACEMENT}qxw" in reasoning
    titles_urls = rows(db, "SELECT title, url FROM sources")
    assert titles_urls and all(REPLACEMENT in t + u for t, u in titles_urls)
    if gateway.api_mode == "sonar":
        related = rows(db, "SELECT question FROM related_questions")
        assert related and all(REPLACEMENT in q for (q,) in related)
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_ask_json_through_a_gateway_that_sends_lone_surrogates(gateway):
    done = run("ask", "--no-save", "--json", "--base-url", gateway.url, "--api-mode",
               gateway.api_mode, QUESTION)
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout.decode("utf-8"))
    assert REPLACEMENT in data["text"] and REPLACEMENT in data["search_results"][0]["title"]


def test_a_question_with_bytes_that_are_not_utf8_is_asked_not_crashed(tmp_path):
    server = start_gateway(lambda s: s, "default", chunks=10)
    try:
        db = tmp_path / "t.db"
        # The shell passes raw bytes; Python decodes argv with surrogateescape, so b"\xff"
        # arrives as the lone surrogate U+DCFF.
        done = run("ask", "--db", str(db), "--base-url", server.url, b"caf\xe9 \xff?")
        assert done.returncode == 0, done.stderr.decode()
        piped = run("ask", "--db", str(db), "--base-url", server.url, "-",
                    stdin=b"piped caf\xe9 \xff?\n")
        assert piped.returncode == 0, piped.stderr.decode()
    finally:
        server.stop()
    questions = [q for (q,) in rows(db, "SELECT content FROM messages WHERE role = 'user'"
                                        " ORDER BY id")]
    asked = f"caf{REPLACEMENT} {REPLACEMENT}?"
    assert questions == [asked, f"piped {asked}"]
    sent = [json.loads(r.body)["messages"][-1]["content"] for r in server.requests]
    assert sent == questions


# ----------------------------------------------------------------------------- the store


async def test_the_store_replaces_lone_surrogates_wherever_text_goes_in(tmp_path):
    bad = "a\ud800b\udfffc"
    good = f"a{REPLACEMENT}b{REPLACEMENT}c"
    store = await Store.open(tmp_path / "t.db")
    try:
        question = await store.add_user_message(None, f"question {bad}")
        message_id = await store.start_answer(question.thread_id, {"system_prompt": bad},
                                              f"model {bad}", "sonar")
        await store.checkpoint_answer(message_id, f"partial {bad}", f"thinking {bad}")
        await store.finish_answer(message_id, FinalAnswer(
            "error", f"text {bad}", f"reasoning {bad}",
            steps=[{"kind": "web_search", "thought": bad}],
            sources=[{"number": 1, "url": f"https://example.com/{bad}", "title": bad,
                      "snippet": bad, "date": bad}],
            related=[bad], images=[{"url": f"https://img.example/{bad}", "title": bad}],
            usage={"note": bad}, model=bad, finish_reason=bad,
            error={"kind": "server", "message": bad}))
        await store.rename_thread(question.thread_id, f"title {bad}")
        await store.set_overrides(question.thread_id, {"system_prompt": bad})
        (answer,) = [m for m in await store.load_messages(question.thread_id)
                     if m.role == "assistant"]
        (thread,) = await store.list_threads()
        data = (await store.export_thread(question.thread_id)).to_dict()
    finally:
        await store.close()
    assert answer.content == f"text {good}" and answer.reasoning == f"reasoning {good}"
    assert answer.sources[0]["title"] == good and answer.sources[0]["url"].endswith(good)
    assert answer.related == [good] and answer.images[0]["title"] == good
    assert answer.error["message"] == good and answer.steps[0]["thought"] == good
    assert answer.model == good and answer.settings == {"system_prompt": good}
    assert thread.title == f"title {good}" and thread.overrides == {"system_prompt": good}
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # the export encodes too


def export_document(tmp_path: Path) -> dict:
    """A real export: one thread with a question and a complete answer with a source."""
    async def main() -> dict:
        store = await Store.open(tmp_path / "source.db")
        try:
            question = await store.add_user_message(None, "An exported question")
            answer = await store.start_answer(question.thread_id, {}, "sonar", "sonar")
            await store.finish_answer(answer, FinalAnswer(
                "complete", "An exported answer [1].",
                sources=[{"number": 1, "url": "https://example.com/a", "title": "A source"}],
                related=["A related question?"]))
            return (await store.export_thread(question.thread_id)).to_dict()
        finally:
            await store.close()
    return asyncio.run(main())


def test_import_of_a_file_with_lone_surrogates(tmp_path):
    document = export_document(tmp_path)
    text = json.dumps(document, ensure_ascii=True)
    # As JSON escapes in the file, the way a tool that cut a string mid-pair writes them.
    for field in ("content", "title", "question", "url"):
        text = text.replace(f'"{field}": "', f'"{field}": "\\ud800')
    source = tmp_path / "surrogates.json"
    source.write_text(text, encoding="ascii")
    assert "\\ud800" in text
    db = tmp_path / "t.db"
    done = run("import", "--db", str(db), str(source))
    assert done.returncode == 0, done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()
    contents = [c for (c,) in rows(db, "SELECT content FROM messages ORDER BY id")]
    assert contents and all(c.startswith(REPLACEMENT) for c in contents)
    assert all(REPLACEMENT in t for (t,) in rows(db, "SELECT title FROM sources"))
    listed = run("threads", "--db", str(db))
    assert listed.returncode == 0 and REPLACEMENT in listed.stdout.decode("utf-8")
    exported = run("export", "--all", "--db", str(db))
    assert exported.returncode == 0 and REPLACEMENT in exported.stdout.decode("utf-8")


async def test_lone_surrogates_in_an_import_reach_the_store_as_replacements(tmp_path):
    document = await asyncio.to_thread(export_document, tmp_path)
    document["thread"]["uid"] = "surrogate-import"
    document["messages"][0]["content"] = "\ud800 lone"
    document["messages"][1]["sources"][0]["title"] = "\udfff"
    store = await Store.open(tmp_path / "t.db")
    try:
        result = await store.import_thread(document)
        question, answer = await store.load_messages(result.thread_id)
    finally:
        await store.close()
    assert question.content == f"{REPLACEMENT} lone"
    assert answer.sources[0]["title"] == REPLACEMENT


def test_an_import_file_that_is_not_utf8_is_refused_plainly(tmp_path):
    source = tmp_path / "latin1.json"
    source.write_bytes('{"format": "sonar-tui.thread", "title": "caf\xe9"}'.encode("latin-1"))
    done = run("import", "--db", str(tmp_path / "t.db"), str(source))
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err
    assert "UTF-8" in err and str(source) in err


def test_an_import_file_nested_too_deeply_is_refused_plainly(tmp_path):
    source = tmp_path / "deep.json"
    source.write_text("[" * 100_000 + "]" * 100_000)
    done = run("import", "--db", str(tmp_path / "t.db"), str(source))
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err and "nested too deeply" in err
