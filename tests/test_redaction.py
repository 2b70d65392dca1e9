"""A server that echoes the key — without its ``pplx-`` prefix, or any long piece of it, split
across streamed deltas — never gets it stored or shown: not in the database, an export,
stderr, ``--json``, nor on the screen. Every run of 8+ characters of the key is redacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sonar_tui.key_redaction import REDACTED, KeyRedactor, StreamRedactor
from sonar_tui.mock.http import Response, ServerThread, _iterate
from sonar_tui.mock.service import MockService

KEY = "pplx-FAKE0test1KEY2not3a4real5key6for7redaction8tests9"
LEAK = KEY[5:]  # the key as a careless server repeats it: without its prefix
PIECES = [1, 5, 2, 7, 3, 4]  # delta sizes for the leak: every kind of split


def grams(key: str = KEY, size: int = 8) -> list[str]:
    return [key[i:i + size] for i in range(len(key) - size + 1)]


def leaks(text: str | bytes) -> list[str]:
    """The 8-character pieces of the key found in ``text``."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    return [g for g in grams() if g.encode() in data]


def files_leaking(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and leaks(p.read_bytes()))


# ----------------------------------------------------------------------------- the redactor


def test_every_run_of_eight_or_more_characters_is_redacted():
    r = KeyRedactor(KEY)
    assert r.redact(f"key: {KEY}.") == f"key: {REDACTED}."
    assert r.redact(f"echo {LEAK}") == f"echo {REDACTED}"
    assert r.redact(f"mid {KEY[11:19]} end") == f"mid {REDACTED} end"
    assert r.redact(f"short {KEY[11:18]} stays") == f"short {KEY[11:18]} stays"
    assert r.redact(f"{LEAK}{LEAK}") == REDACTED * 2 or leaks(r.redact(f"{LEAK}{LEAK}")) == []
    assert r.redact("nothing of it here") == "nothing of it here"
    assert KeyRedactor(None).redact(LEAK) == LEAK and not KeyRedactor("")


@given(st.lists(st.integers(0, 120), min_size=0, max_size=6),
       st.sampled_from([LEAK, KEY, KEY[9:30], f"{KEY[4:20]} {KEY[20:40]}"]))
def test_a_key_split_anywhere_across_deltas_never_survives(cuts, secret):
    text = f"Answer: the key is {secret}, as you asked. And {secret[:7]} is fine."
    r = KeyRedactor(KEY)
    bounds = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    stream = StreamRedactor(r)
    out = "".join(stream.feed(p) for p in pieces) + stream.flush()
    assert out == r.redact(text)  # the same as redacting the whole text at once
    assert leaks(out) == [] and "as you asked" in out


# ----------------------------------------------------------------------------- a leaking gateway


class LeakingGateway:
    """The real mock, with the key (no prefix) echoed into everything it answers: split
    over consecutive text and reasoning deltas, and whole in source titles, URLs, snippets,
    image titles, related questions, and error messages."""

    def __init__(self, profile: str = "related", **options) -> None:
        self.mock = MockService(profile, **options)
        self.requests = self.mock.requests

    @staticmethod
    def _leak_pieces() -> list[str]:
        pieces, pos, i = [], 0, 0
        while pos < len(LEAK):
            size = PIECES[i % len(PIECES)]
            pieces.append(LEAK[pos:pos + size])
            pos, i = pos + size, i + 1
        return pieces

    def _rewrite(self, data, state: dict):
        if isinstance(data, dict):
            for choice in data.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    delta["content"] = self._next(delta["content"], state)
            if data.get("type") == "response.output_text.delta" and data.get("delta"):
                data["delta"] = self._next(data["delta"], state)
            if isinstance(data.get("text"), str) and data["text"]:  # Agent API final text
                data["text"] += f" {LEAK}"
            for result in (data.get("search_results") or []) + (data.get("results") or []):
                result["title"] += f" {LEAK}"
                result["snippet"] = f"{LEAK} {result.get('snippet') or ''}"
                result["url"] += f"?k={LEAK}"
            if data.get("related_questions"):
                data["related_questions"] = [f"{q} {LEAK}" for q in data["related_questions"]]
            for image in data.get("images") or []:
                image["title"] = f"{image.get('title') or ''} {LEAK}"
            for value in data.values():
                if isinstance(value, (dict, list)):
                    self._rewrite(value, state)
        elif isinstance(data, list):
            for item in data:
                self._rewrite(item, state)
        return data

    def _next(self, content: str, state: dict) -> str:
        """Deltas 4.. and 70.. of the stream carry the leak, a piece each, instead of
        their text: in the reasoning (a reasoning model thinks first) and in the answer."""
        state["n"] = state.get("n", 0) + 1
        for start in (4, 70):
            index = state["n"] - start
            if 0 <= index < len(self.pieces):
                return self.pieces[index]
        return content

    async def __call__(self, request):
        self.pieces = self._leak_pieces()
        if request.headers.get("x-test-fail"):
            return Response.json({"error": {"message": f"bad key {LEAK}", "code": 401,
                                            "type": "invalid_api_key"}}, status=401)
        response = await self.mock(request)
        if not isinstance(response, Response) or not response.streaming:
            return response
        body, state = response.body, {}

        async def leaking():
            async for item in _iterate(body):  # type: ignore[arg-type]
                if isinstance(item, bytes) and item.startswith((b"data: {", b"event:")):
                    lines = item.split(b"\n")
                    for i, line in enumerate(lines):
                        if line.startswith(b"data: {"):
                            data = self._rewrite(json.loads(line[6:]), state)
                            lines[i] = b"data: " + json.dumps(data).encode()
                    item = b"\n".join(lines)
                yield item
        response.body = leaking()
        return response


@pytest.fixture
def gateway():
    server = ServerThread(LeakingGateway(chunks=120))
    server.start()
    yield server
    server.stop()


def run(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PERPLEXITY_API_KEY": KEY, "PERPLEXITY_BASE_URL": url,
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "sonar_tui", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize("api_mode", ["sonar", "agent"])
def test_the_cli_never_shows_or_stores_a_piece_of_an_echoed_key(gateway, tmp_path, api_mode):
    db = tmp_path / "t.db"
    done = run("ask", "--db", str(db), "--api-mode", api_mode, "--model",
               "sonar-reasoning-pro", "--related", "What is zqxw?", url=gateway.url)
    assert done.returncode == 0, done.stderr
    assert leaks(done.stdout) == [] and leaks(done.stderr) == []
    assert REDACTED in done.stdout  # it was there, and it was replaced
    as_json = run("ask", "--no-save", "--json", "--api-mode", api_mode, "What is zqxw?",
                  url=gateway.url)
    assert as_json.returncode == 0 and leaks(as_json.stdout + as_json.stderr) == []
    assert REDACTED in json.loads(as_json.stdout)["text"]
    for fmt in ("md", "json"):
        exported = run("export", "--all", "--format", fmt, "--db", str(db), url=gateway.url)
        assert exported.returncode == 0 and leaks(exported.stdout) == []
    assert files_leaking(tmp_path) == []  # the database, its WAL: nowhere


def test_an_error_that_echoes_a_piece_of_the_key_is_redacted(tmp_path):
    class Echo:
        async def __call__(self, request):
            return Response.json({"error": {"message": f"bad key {LEAK[3:30]}", "code": 401,
                                            "type": "invalid_api_key"}}, status=401)
    server = ServerThread(Echo())
    server.start()
    try:
        done = run("ask", "--db", str(tmp_path / "t.db"), "Who am I?", url=server.url)
        as_json = run("ask", "--no-save", "--json", "Who am I?", url=server.url)
    finally:
        server.stop()
    assert done.returncode == 3 and "bad key [redacted]" in done.stderr
    assert leaks(done.stderr + done.stdout + as_json.stdout + as_json.stderr) == []
    assert files_leaking(tmp_path) == []


async def test_the_app_never_shows_or_stores_a_piece_of_an_echoed_key(gateway, tmp_path):
    from sonar_tui.config import load_config
    from tests.ui.appkit import Harness, ask_and_wait, last_answer, ready, screen_text

    harness = Harness(tmp_path)
    try:
        config = load_config(harness.config_path, env={
            "PERPLEXITY_API_KEY": KEY, "PERPLEXITY_BASE_URL": gateway.url,
            "SONAR_TUI_MODEL": "sonar-reasoning-pro", "SONAR_TUI_RETURN_RELATED_QUESTIONS": "1"})
        app = harness.app(config=config)
        async with app.run_test(size=(160, 50)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "What is zqxw?")
            view = last_answer(app)
            assert view.status == "complete"
            assert REDACTED in view.body.source and leaks(view.body.source) == []
            shown = screen_text(app)
            assert leaks(shown) == []
            assert leaks(json.dumps([s.to_dict() for s in view.sources])) == [] and view.sources
    finally:
        harness.close()
    assert files_leaking(tmp_path) == []
