"""Every recorded fixture, replayed byte for byte over loopback through PerplexityClient.

Responses are served exactly as stored (streams framed as on the real wire); the expected
answer is stated field by field. Error fixtures are served with their HTTP status.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import Retrying, Started
from sonar_tui.api.settings import RequestSettings

from .wire import (
    AGENT,
    KEY,
    RETIREMENT_403,
    SONAR,
    agent_wire,
    ask,
    chunks,
    raw,
    sonar_wire,
    split_events,
    sse,
)

SF_CITATIONS = [
    "https://populationstat.com/united-states/san-francisco",
    "https://en.wikipedia.org/wiki/San_Francisco",
    "https://fred.stlouisfed.org/graph/?g=4K5j",
    "https://www.california-demographics.com/cities_by_population",
    "https://worldpopulationreview.com/us-cities/california/san-francisco",
    "https://worldpopulationreview.com/us-counties/california/san-francisco-county",
    "https://www.worldometers.info/world-population/us-population/",
]
AGENT_STREAM_TEXT = (
    "The official TypeScript website is **typescriptlang.org**; TypeScript is a strongly typed "
    "programming language that builds on JavaScript and adds syntax for types.[7]")


def serving(response):
    async def handler(request):
        return response
    return handler


def usage_tuple(u):
    return (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cost)


# ----------------------------------------------------------------------------- Sonar streams

STREAMS = {
    "citations": (SONAR / "vercel-ai__sonar-stream-citations.chunks.jsonl",
                  "The current population of **[2][3]", SF_CITATIONS, (10, 336, 346, None),
                  "58cb9740-f356-49e9-b71e-a02a1376c1b9"),
    "usage-cost": (SONAR / "vercel-ai__sonar-stream-usage-cost.chunks.jsonl",
                   "OK", [], (6, 1, 7, 0.00501), "sanitized-live-stream-response"),
}


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("done", [True, False], ids=["DONE", "no-DONE"])
@pytest.mark.parametrize("framing", ["per-event", "one-write", "7-bytes"])
async def test_sonar_stream_fixture(serve, name, done, framing):
    path, text, urls, usage, response_id = STREAMS[name]
    wire = sonar_wire(path, done=done)
    pieces = {"per-event": split_events(wire), "one-write": [wire],
              "7-bytes": [wire[i:i + 7] for i in range(0, len(wire), 7)]}[framing]
    server = await serve(serving(sse(pieces)))
    events, answer = await ask(server.url)
    assert answer.text == text
    assert [s.url for s in answer.sources] == urls
    assert [s.number for s in answer.sources] == list(range(1, len(urls) + 1))
    assert usage_tuple(answer.usage) == usage
    assert (answer.model, answer.finish_reason, answer.api, answer.response_id) == (
        "sonar", "stop", "sonar", response_id)
    assert answer.error is None
    [request] = server.requests
    assert request.path == "/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json()["stream"] is True


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(STREAMS)), st.booleans(), st.lists(st.integers(0, 6000), max_size=25))
async def test_sonar_stream_any_http_chunking(serve, name, done, cuts):
    path, text, urls, usage, _ = STREAMS[name]
    wire = sonar_wire(path, done=done)
    server = await serve(serving(sse(chunks(wire, cuts))))
    _, answer = await ask(server.url)
    assert (answer.text, [s.url for s in answer.sources], usage_tuple(answer.usage)) == (
        text, urls, usage)
    assert answer.finish_reason == "stop"


# ----------------------------------------------------------------------------- Sonar bodies


def nonstream_text(path):
    return json.loads(path.read_text())["choices"][0]["message"]["content"]


SONAR_BODIES = {
    "unknown-repo__sonar-nonstream-2025-08-raw-wire-cost-search_results.json":
        (5, (13, 222, 235, 0.005), "16cb0bb2-c4c4-44e0-9573-3c2e0992207d"),
    "AgentPrice__sonar-nonstream-2025-04-citations-only.json":
        (5, (12, 209, 221, None), "e619a783-4b60-4434-ab8a-8b40c68f432c"),
    "vercel-ai__sonar-nonstream-citations.json":
        (7, (10, 251, 261, None), "702738a1-c1e0-4a7f-b9ab-0f6fe1b13514"),
    "vercel-ai__sonar-nonstream-text.json":
        (6, (11, 392, 403, None), "aec30d94-c6a5-4d30-935e-97dbe8de9f85"),
    "vercel-ai__sonar-nonstream-usage-cost.json":
        (0, (6, 1, 7, 0.00501), "sanitized-live-normal-response"),
}


@pytest.mark.parametrize("name", SONAR_BODIES)
async def test_sonar_non_streaming_fixture(serve, name):
    path = SONAR / name
    count, usage, response_id = SONAR_BODIES[name]
    server = await serve(serving(raw(200, path.read_bytes())))
    _, answer = await ask(server.url, AskRequest("q", stream=False))
    assert answer.text == nonstream_text(path)
    assert len(answer.sources) == count
    assert usage_tuple(answer.usage) == usage
    assert (answer.finish_reason, answer.model, answer.api, answer.response_id) == (
        "stop", "sonar", "sonar", response_id)
    assert server.requests[0].json()["stream"] is False


async def test_2025_search_results_enrich_the_citations(serve):
    path = SONAR / "unknown-repo__sonar-nonstream-2025-08-raw-wire-cost-search_results.json"
    server = await serve(serving(raw(200, path.read_bytes())))
    _, answer = await ask(server.url, AskRequest("q", stream=False))
    assert [(s.number, s.title, s.date, s.last_updated) for s in answer.sources[:3]] == [
        (1, "Men's Tennis ATP Rankings 2025", "2025-08-11", "2025-08-11"),
        (2, "List of ATP number 1 ranked singles tennis players - Wikipedia", "2005-08-30",
         "2025-08-14"),
        (3, "ATP 2025 World Ranking - Tennis", None, None)]
    assert answer.usage.search_context_size == "low"
    assert answer.usage.cost_details["request_cost"] == 0.005


async def test_2025_04_citations_without_search_results(serve):
    path = SONAR / "AgentPrice__sonar-nonstream-2025-04-citations-only.json"
    server = await serve(serving(raw(200, path.read_bytes())))
    _, answer = await ask(server.url, AskRequest("q", stream=False))
    assert answer.sources[4].url == "https://cpl.thalesgroup.com/software-monetization/saas-pricing-models"
    assert answer.sources[4].number == 5 and answer.sources[4].title == ""


# ----------------------------------------------------------------------------- errors

ERRORS = [
    # (folder, file, status, content type, api mode, kind, message start, exit code)
    (SONAR, "AgentPrice__error-400-invalid-model.json", 400, "application/json", "sonar",
     ErrorKind.INVALID_REQUEST, "Invalid model 'sonar-large-online'. Permitted models", 1),
    (SONAR, "unknown-repo__error-400-invalid-message-alternation.json", 400, "application/json",
     "sonar", ErrorKind.INVALID_REQUEST,
     "After the (optional) system message(s), user and assistant roles should be alternating.", 1),
    (SONAR, "openclaw-36182__error-401-json-invalid-api-key.json", 401, "application/json", "sonar",
     ErrorKind.AUTH, "Invalid API key provided. You can find your API key at", 3),
    (SONAR, "api-discussion-284__error-502-html-cloudflare.html", 502, "text/html", "sonar",
     ErrorKind.SERVER, "502 Bad Gateway", 1),
    (AGENT, RETIREMENT_403.name, 403, "application/json", "sonar", ErrorKind.RETIRED,
     "Sonar is now the Agent API. Use /v1/responses instead of /v1/sonar.", 3),
    (AGENT, "cfdude-mcp-perplexity-pro__error-400-anthropic-needs-max-output-tokens.json", 400,
     "application/json", "agent", ErrorKind.INVALID_REQUEST,
     "validation failed: max_output_tokens is required when using Anthropic models", 1),
    (AGENT, "cfdude-mcp-perplexity-pro__error-400-bad-previous-response-id.json", 400,
     "application/json", "agent", ErrorKind.INVALID_REQUEST, "invalid request", 1),
    (AGENT, "cfdude-mcp-perplexity-pro__error-400-empty-input.json", 400, "application/json",
     "agent", ErrorKind.INVALID_REQUEST, "validation failed: input cannot be empty", 1),
    (AGENT, "cfdude-mcp-perplexity-pro__error-400-max-steps-zero.json", 400, "application/json",
     "agent", ErrorKind.INVALID_REQUEST, "validation failed: max steps must be at least 1", 1),
    (AGENT, "cfdude-mcp-perplexity-pro__error-404-get-store-false.json", 404, "application/json",
     "agent", ErrorKind.NOT_FOUND, "resource not found", 1),
]


@pytest.mark.parametrize("folder, name, status, ctype, mode, kind, message, exit_code", ERRORS,
                         ids=[e[1].split("__")[1] for e in ERRORS])
async def test_error_fixture(serve, folder, name, status, ctype, mode, kind, message, exit_code):
    server = await serve(serving(raw(status, (folder / name).read_bytes(), ctype)))
    events, answer = await ask(server.url, api_mode=mode, max_attempts=1)
    error = answer.error
    assert (error.kind, error.status, error.exit_code) == (kind, status, exit_code)
    assert error.message.startswith(message)
    assert answer.finish_reason == "failed"
    assert len(events) == 1 and len(server.requests) == 1
    assert server.requests[0].path == ("/v1/responses" if mode == "agent" else "/chat/completions")


async def test_502_html_is_retried_then_reported_in_the_servers_words(serve):
    page = (SONAR / "api-discussion-284__error-502-html-cloudflare.html").read_bytes()
    server = await serve(serving(raw(502, page, "text/html")))
    events, answer = await ask(server.url)
    assert len(server.requests) == 3
    assert [type(e) for e in events] == [Retrying, Retrying, type(events[-1])]
    assert answer.error.message == "502 Bad Gateway 502 Bad Gateway cloudflare"


# ----------------------------------------------------------------------------- Agent


@pytest.mark.parametrize("framing", ["per-event", "one-write", "5-bytes", "no-event-lines",
                                     "with-DONE"])
async def test_agent_stream_fixture(serve, framing):
    path = AGENT / "vercel-ai__agent-stream-web-search-fast.chunks.jsonl"
    wire = agent_wire(path, event_lines=framing != "no-event-lines", done=framing == "with-DONE")
    pieces = {"one-write": [wire], "5-bytes": [wire[i:i + 5] for i in range(0, len(wire), 5)]}
    server = await serve(serving(sse(pieces.get(framing) or split_events(wire))))
    events, answer = await ask(server.url, AskRequest("q", RequestSettings(max_tokens=1024)),
                               api_mode="agent")
    assert answer.text == AGENT_STREAM_TEXT
    assert [(s.number, s.url) for s in answer.sources][6] == (7, "https://www.typescriptlang.org/")
    assert len(answer.sources) == 10 and answer.sources[6].title == (
        "TypeScript: JavaScript With Syntax For Types.")
    assert usage_tuple(answer.usage) == (3007, 37, 3044, 0.00105)
    assert (answer.model, answer.finish_reason, answer.api) == (
        "openai/gpt-6-luna", "stop", "agent")
    assert answer.response_id == "resp_5619693e-4309-4fec-b395-5e21e59aba39"
    assert events[0] == Started("agent", "fast", "resp_5619693e-4309-4fec-b395-5e21e59aba39")
    [request] = server.requests
    assert request.path == "/v1/responses"
    assert request.json() == {"effort": "fast", "input": "q", "max_output_tokens": 1024,
                              "stream": True}


AGENT_BODIES = {
    "vercel-ai__agent-nonstream-web-search-fast.json": (
        "The official TypeScript website is **typescriptlang.org**; TypeScript is a strongly "
        "typed programming language that builds on JavaScript with syntax for types.[7]",
        (3007, 36, 3043, 0.00119), "resp_8762b9bb-2d06-44a4-b68c-412dc85b24db",
        (7, "https://www.typescriptlang.org/")),
    "cfdude-mcp-perplexity-pro__nonstream-fast-preset-search.json": (
        "Python 3.14.8 is the current stable release, released September 30, 2026.[1][3]",
        (3426, 30, 3456, 0.00125), "resp_8eead91b-1612-4fc7-b7d2-c15e903da865",
        (3, "https://www.python.org/downloads/")),
}


@pytest.mark.parametrize("name", AGENT_BODIES)
async def test_agent_non_streaming_fixture(serve, name):
    text, usage, response_id, (number, url) = AGENT_BODIES[name]
    server = await serve(serving(raw(200, (AGENT / name).read_bytes())))
    _, answer = await ask(server.url, AskRequest("q", stream=False), api_mode="agent")
    assert answer.text == text
    assert usage_tuple(answer.usage) == usage
    assert (answer.model, answer.finish_reason, answer.api, answer.response_id) == (
        "openai/gpt-6-luna", "stop", "agent", response_id)
    assert answer.sources[number - 1].url == url and len(answer.sources) == 10


async def test_agent_response_headers_fixture(serve):
    recorded = json.loads((AGENT / "cfdude-mcp-perplexity-pro__response-headers-200-ratelimit.json")
                          .read_text())["headers"]
    headers = {k: v for k, v in recorded.items()
               if isinstance(v, str) and k not in ("content-type", "date")}
    body = (AGENT / "cfdude-mcp-perplexity-pro__nonstream-fast-preset-search.json").read_bytes()
    server = await serve(serving(raw(200, body, recorded["content-type"], headers)))
    _, answer = await ask(server.url, AskRequest("q", stream=False), api_mode="agent")
    assert answer.finish_reason == "stop" and answer.text.startswith("Python 3.14.8")


async def test_agent_retirement_body_on_the_agent_path_is_reported(serve):
    server = await serve(serving(raw(403, RETIREMENT_403.read_bytes())))
    _, answer = await ask(server.url, api_mode="agent")
    assert answer.error.kind is ErrorKind.RETIRED and len(server.requests) == 1


# ----------------------------------------------------------------------------- coverage

CHECKED_ELSEWHERE = {  # request captures, checked against the builders in test_agent_body.py
    "cfdude-mcp-perplexity-pro__request-chat-replay-history.meta.json",
    "cfdude-mcp-perplexity-pro__request-chat-turn-b-previous-response-id.meta.json",
    "cfdude-mcp-perplexity-pro__request-fast-filters.meta.json",
}


def test_every_fixture_file_is_replayed_or_checked():
    covered = {path.name for path, *_ in STREAMS.values()} | set(SONAR_BODIES) | set(AGENT_BODIES)
    covered |= {name for _, name, *_ in ERRORS} | CHECKED_ELSEWHERE | {
        "vercel-ai__agent-stream-web-search-fast.chunks.jsonl",
        "cfdude-mcp-perplexity-pro__response-headers-200-ratelimit.json"}
    present = {p.name for folder in (SONAR, AGENT) for p in folder.iterdir()
               if p.name != "SOURCES.md"}
    assert present - covered == set()
