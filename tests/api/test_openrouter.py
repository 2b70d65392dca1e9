"""OpenRouter's wire shape, from real recordings replayed byte for byte over loopback.

OpenRouter sends sources as ``url_citation`` annotations (``message.annotations`` or
``delta.annotations``) instead of Perplexity's ``citations``, opens streams with
``: OPENROUTER PROCESSING`` comments, adds ``native_finish_reason`` and reports a numeric
``usage.cost`` with ``cost_details``. Provenance: ``tests/fixtures/openrouter/SOURCES.md``.
"""

from __future__ import annotations

import json

import pytest

from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import SourcesUpdate
from sonar_tui.api.sonar import parse_sonar_response

from .wire import FIXTURES, ask, chunks, raw, split_events, sse

OPENROUTER = FIXTURES / "openrouter"
STREAM = OPENROUTER / "pydantic-ai__openrouter-stream-web-search-annotations.sse"
BODY = OPENROUTER / "pydantic-ai__openrouter-nonstream-web-search-annotations.json"
STREAM_ERROR = OPENROUTER / "pydantic-ai__openrouter-stream-error-token-limit.sse"
ERROR_429 = OPENROUTER / "pydantic-ai__openrouter-error-429-provider-returned-error.json"

URLS = [
    "https://github.com/pydantic/pydantic-ai",
    "https://pydantic.dev/pydantic-ai",
    "https://github.com/pydantic/pydantic-ai/releases/tag/v2.0.0",
    "https://pydantic.dev/docs/ai/overview/",
    "https://github.com/pydantic/pydantic-ai/tree/refs/tags/v1.44.0",
]
STREAM_TEXT = ("The URL for Pydantic AI's GitHub repository is:  \n\n"
               "https://github.com/pydantic/pydantic-ai")


def serving(response):
    async def handler(request):
        return response
    return handler


def annotations_of(path) -> list[dict]:
    """The url_citation entries as the recording holds them, in wire order."""
    if path.suffix == ".json":
        return [a["url_citation"] for a in
                json.loads(path.read_bytes())["choices"][0]["message"]["annotations"]]
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                found += [a["url_citation"] for a in choice["delta"].get("annotations", [])]
    return found


# ----------------------------------------------------------------------------- recordings


@pytest.mark.parametrize("framing", ["per-event", "one-write", "7-bytes"])
async def test_openrouter_stream_gives_its_sources(serve, framing):
    wire = STREAM.read_bytes()
    pieces = {"per-event": split_events(wire), "one-write": [wire],
              "7-bytes": [wire[i:i + 7] for i in range(0, len(wire), 7)]}[framing]
    server = await serve(serving(sse(pieces)))
    events, answer = await ask(server.url, AskRequest("q"))
    assert answer.error is None and answer.finish_reason == "stop"
    assert answer.text == STREAM_TEXT
    assert [s.url for s in answer.sources] == URLS
    assert [s.number for s in answer.sources] == [1, 2, 3, 4, 5]
    recorded = annotations_of(STREAM)
    assert [s.title for s in answer.sources] == [a["title"] for a in recorded]
    for source, annotation in zip(answer.sources, recorded, strict=True):
        assert source.snippet and annotation["content"].startswith(source.snippet[:200])
    assert answer.usage.cost == 0.0076509169000000005
    assert answer.usage.cost_details == {
        "upstream_inference_cost": 0.0006509169,
        "upstream_inference_prompt_cost": 0.0005963957999999999,
        "upstream_inference_completions_cost": 5.45211e-05}
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens,
            answer.usage.total_tokens) == (2317, 53, 2370)
    assert answer.model == "deepseek/deepseek-chat"
    assert answer.response_id.startswith("gen-")
    # Sources grow one annotation per chunk: each update carries the whole list so far.
    updates = [e.sources for e in events if isinstance(e, SourcesUpdate)]
    assert [len(u) for u in updates] == [1, 2, 3, 4, 5]


async def test_openrouter_stream_any_http_chunking(serve):
    wire = STREAM.read_bytes()
    for cuts in ([1, 2, 3, 24, 25, 26, 500, 501], list(range(0, len(wire), 97)),
                 [len(wire) - 3, len(wire) - 1]):
        server = await serve(serving(sse(chunks(wire, cuts))))
        _, answer = await ask(server.url, AskRequest("q"))
        assert (answer.text, [s.url for s in answer.sources]) == (STREAM_TEXT, URLS)


async def test_openrouter_body_gives_its_sources(serve):
    server = await serve(serving(raw(200, BODY.read_bytes())))
    _, answer = await ask(server.url, AskRequest("q", stream=False))
    assert answer.error is None and answer.finish_reason == "stop"
    assert answer.text == "https://github.com/pydantic/pydantic-ai"
    assert [s.url for s in answer.sources] == URLS
    recorded = annotations_of(BODY)
    assert [s.title for s in answer.sources] == [a["title"] for a in recorded]
    assert answer.sources[0].snippet.startswith("# pydantic/pydantic-ai")
    assert answer.usage.cost == 0.007637029
    assert answer.usage.cost_details["upstream_inference_cost"] == 0.000637029
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens,
            answer.usage.total_tokens) == (2315, 40, 2355)


async def test_openrouter_mid_stream_error_next_to_choices_ends_the_answer(serve):
    server = await serve(serving(sse(split_events(STREAM_ERROR.read_bytes()))))
    _, answer = await ask(server.url, AskRequest("q"))
    assert answer.finish_reason == "failed"
    assert answer.error.message == "Token limit reached"
    assert answer.error.kind is ErrorKind.INVALID_REQUEST
    # OpenRouter's reasoning deltas are the model's reasoning, kept as such.
    assert answer.reasoning == "We need to respond to a greeting. The user"


async def test_openrouter_429_names_the_provider_and_its_words(serve):
    server = await serve(serving(raw(429, ERROR_429.read_bytes())))
    _, answer = await ask(server.url, AskRequest("q"), max_attempts=1)
    error = answer.error
    assert error.kind is ErrorKind.RATE_LIMIT and error.status == 429
    assert "Provider returned error" in error.message
    assert "Google" in error.message
    assert "temporarily rate-limited upstream" in error.message


def test_every_openrouter_fixture_is_replayed():
    used = {STREAM.name, BODY.name, STREAM_ERROR.name, ERROR_429.name}
    present = {p.name for p in OPENROUTER.iterdir() if p.name != "SOURCES.md"}
    assert present == used


# ----------------------------------------------------------------------------- the shape


def chunk(delta=None, message=None, **top) -> dict:
    choice = {"index": 0}
    if delta is not None:
        choice["delta"] = delta
    if message is not None:
        choice["message"] = message
    return {"id": "gen-1", "model": "perplexity/sonar", "choices": [choice], **top}


def cite(url, title="", content=None) -> dict:
    body = {"url": url, "title": title, "start_index": 0, "end_index": 0}
    if content is not None:
        body["content"] = content
    return {"type": "url_citation", "url_citation": body}


def test_citations_and_annotations_for_the_same_urls_do_not_double():
    body = chunk(message={"role": "assistant", "content": "A[1] B[2]",
                          "annotations": [cite("https://a.example/", "A title", "A text"),
                                          cite("https://b.example/x", "B title")]},
                 citations=["https://a.example/", "https://b.example/x"])
    body["choices"][0]["finish_reason"] = "stop"
    sources = [e for e in parse_sonar_response(json.dumps(body))
               if isinstance(e, SourcesUpdate)][-1].sources
    assert [(s.number, s.url, s.title, s.snippet) for s in sources] == [
        (1, "https://a.example/", "A title", "A text"),
        (2, "https://b.example/x", "B title", None)]


def test_citations_keep_the_numbering_and_extra_annotations_follow():
    body = chunk(message={"role": "assistant", "content": "x[1][2]",
                          "annotations": [cite("https://b.example/", "B"),
                                          cite("https://c.example/", "C")]},
                 citations=["https://a.example/", "https://b.example"])
    body["choices"][0]["finish_reason"] = "stop"
    sources = [e for e in parse_sonar_response(json.dumps(body))
               if isinstance(e, SourcesUpdate)][-1].sources
    assert [(s.number, s.url, s.title) for s in sources] == [
        (1, "https://a.example/", ""), (2, "https://b.example", "B"),
        (3, "https://c.example/", "C")]


def test_duplicate_annotations_merge_by_url_and_keep_first_order():
    body = chunk(message={"role": "assistant", "content": "x",
                          "annotations": [cite("https://a.example/", ""),
                                          cite("https://b.example/", "B"),
                                          cite("https://a.example/", "A late title", "A text"),
                                          {"type": "file_citation", "file_citation": {}},
                                          {"type": "url_citation", "url_citation": {"url": 5}},
                                          "junk"]})
    body["choices"][0]["finish_reason"] = "stop"
    sources = [e for e in parse_sonar_response(json.dumps(body))
               if isinstance(e, SourcesUpdate)][-1].sources
    assert [(s.number, s.url, s.title, s.snippet) for s in sources] == [
        (1, "https://a.example/", "A late title", "A text"), (2, "https://b.example/", "B", None)]


def test_search_results_and_annotations_together_do_not_double():
    body = chunk(message={"role": "assistant", "content": "x",
                          "annotations": [cite("https://a.example/", "A")]},
                 search_results=[{"url": "https://a.example/", "title": "A result",
                                  "date": "2026-01-02"}])
    body["choices"][0]["finish_reason"] = "stop"
    sources = [e for e in parse_sonar_response(json.dumps(body))
               if isinstance(e, SourcesUpdate)][-1].sources
    assert [(s.number, s.url, s.title, s.date) for s in sources] == [
        (1, "https://a.example/", "A result", "2026-01-02")]
