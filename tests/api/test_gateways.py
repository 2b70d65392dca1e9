"""Any OpenAI-compatible gateway in front of Perplexity (LiteLLM, Portkey, one's own).

What the client sends to a gateway (the usage chunk request), how gateway errors read
(LiteLLM's and OpenRouter's envelopes, plain text, redirects, web pages answering in place of
the API, absurd Retry-After values) and the cost of one huge SSE line. Real HTTP over
loopback; a transport that reroutes ``api.perplexity.ai`` to the loopback server shows what
Perplexity's own host receives.
"""

from __future__ import annotations

import math

import httpx
import pytest

from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.errors import ErrorKind, format_wait, is_perplexity_url, parse_retry_after
from sonar_tui.api.events import Retrying, build_answer
from sonar_tui.api.settings import validate_connection_settings
from sonar_tui.api.sse import MAX_LINE_BYTES
from sonar_tui.mock.http import Response

from .wire import KEY, SONAR, SleepRecorder, ask, client_for, collect, raw, sonar_wire, sse

COST_STREAM = sonar_wire(SONAR / "vercel-ai__sonar-stream-usage-cost.chunks.jsonl")


def serving(response):
    async def handler(request):
        return response
    return handler


class ToLoopback(httpx.AsyncBaseTransport):
    """Sends every request to the loopback server whatever its host (the Host header and URL
    the client built are what the server sees)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


# ----------------------------------------------------------------------------- usage chunk


async def test_a_gateway_is_asked_for_the_usage_chunk_when_streaming(serve):
    server = await serve(serving(sse([COST_STREAM])))
    await ask(server.url, AskRequest("q"))
    assert server.requests[0].json()["stream_options"] == {"include_usage": True}


async def test_a_non_streaming_request_never_carries_stream_options(serve):
    body = (SONAR / "vercel-ai__sonar-nonstream-usage-cost.json").read_bytes()
    server = await serve(serving(raw(200, body)))
    await ask(server.url, AskRequest("q", stream=False))
    assert "stream_options" not in server.requests[0].json()


async def test_the_usage_chunk_request_can_be_turned_off(serve):
    server = await serve(serving(sse([COST_STREAM])))
    await ask(server.url, AskRequest("q"), stream_usage=False)
    assert "stream_options" not in server.requests[0].json()


@pytest.mark.parametrize("base", ["https://api.perplexity.ai", "https://API.Perplexity.AI/",
                                  "https://eu.api.perplexity.ai"])
async def test_perplexitys_own_host_gets_only_what_its_reference_lists(serve, base):
    server = await serve(serving(sse([COST_STREAM])))
    from sonar_tui.api.client import PerplexityClient
    from sonar_tui.api.settings import ConnectionSettings
    async with PerplexityClient(ConnectionSettings(base_url=base), KEY,
                                transport=ToLoopback(server.port)) as client:
        answer = build_answer(await collect(client, AskRequest("q")))
    assert answer.error is None
    request = server.requests[0]
    assert request.headers["host"].lower().rstrip(".").endswith("perplexity.ai")
    assert "stream_options" not in request.json()


def test_what_counts_as_perplexitys_own_host():
    assert is_perplexity_url("https://api.perplexity.ai")
    assert is_perplexity_url("https://api.perplexity.ai./v1")
    for other in ("https://openrouter.ai/api", "http://127.0.0.1:4000",
                  "https://perplexity.ai.evil.example", "https://notperplexity.ai", "nonsense"):
        assert not is_perplexity_url(other), other


def test_stream_usage_is_a_validated_connection_setting():
    from sonar_tui.api.settings import ConnectionSettings
    assert ConnectionSettings().stream_usage is True
    problems = validate_connection_settings(ConnectionSettings(stream_usage="yes"))
    assert [p.field for p in problems] == ["stream_usage"]


# ----------------------------------------------------------------------------- error bodies

LITELLM_RATE = (b'{"error":{"message":"litellm.RateLimitError: RateLimitError: PerplexityException'
                b' - rate limit exceeded\\n\\nLiteLLM: model group \'sonar\' failed with the error'
                b' above. No fallback was attempted.","type":"throttling_error","param":null,'
                b'"code":"429"}}')
LITELLM_NO_DB = (b'{"error":{"message":"No connected db.","type":"no_db_connection",'
                 b'"param":null,"code":"400"}}')
LITELLM_BAD_MODEL = (b'{"error":{"message":"/chat/completions: Invalid model name passed in '
                     b'model=nope. Call `/v1/models` to view available models for your key.",'
                     b'"type":"invalid_request_error","param":null,"code":"400"}}')


@pytest.mark.parametrize("status, body, ctype, kind, words, code", [
    (429, LITELLM_RATE, "application/json", ErrorKind.RATE_LIMIT, "rate limit exceeded", 1),
    (400, LITELLM_NO_DB, "application/json", ErrorKind.AUTH,
     "accepts only its master key", 3),
    (400, LITELLM_BAD_MODEL, "application/json", ErrorKind.INVALID_REQUEST,
     "Invalid model name passed in model=nope", 1),
    (500, b"Internal Server Error", "text/plain", ErrorKind.SERVER, "Internal Server Error", 1),
    (401, b'{"error":{"code":401,"message":"No auth credentials found"}}', "application/json",
     ErrorKind.AUTH, "No auth credentials found", 3),
])
async def test_gateway_error_bodies_give_their_message(serve, status, body, ctype, kind, words,
                                                      code):
    server = await serve(serving(raw(status, body, ctype)))
    _, answer = await ask(server.url, max_attempts=1)
    error = answer.error
    assert (error.kind, error.status, error.exit_code) == (kind, status, code)
    assert words in error.message
    assert not error.message.startswith("litellm.") and "model group" not in error.message
    assert error.error_type != "None"
    assert error.field is None


async def test_auth_refused_by_a_gateway_names_the_host_not_only_the_env_variable(serve):
    server = await serve(serving(raw(401, b'{"error":{"message":"Invalid proxy server token",'
                                          b'"type":"auth_error","param":"None","code":"401"}}')))
    _, answer = await ask(server.url)
    error = answer.error
    assert error.kind is ErrorKind.AUTH and error.field is None
    assert f"127.0.0.1:{server.port}" in error.hint
    assert "gateway" in error.hint


# ----------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after-ms": "1500"}, 1.5),
    ({"llm_provider-retry-after": "2"}, 2.0),
    ({"retry-after": "3", "llm_provider-retry-after": "9"}, 3.0),
    ({"retry-after-ms": "nan", "retry-after": "4"}, 4.0),
    ({"retry-after": "1e21"}, None),
    ({"retry-after": "inf"}, None),
    ({"retry-after": "-inf"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "-5"}, None),
    ({"retry-after-ms": "1e300"}, None),
    ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, None),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ({"retry-after": "soon"}, None),
])
def test_retry_after_sources_and_absurd_values(headers, expected):
    assert parse_retry_after(httpx.Headers(headers)) == expected


@pytest.mark.parametrize("value", ["1e21", "inf", "nan", "-1", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_an_absurd_retry_after_is_no_hint_and_never_shown(serve, value):
    server = await serve(serving(raw(429, b'{"error":{"message":"slow down","type":"t"}}',
                                     headers={"Retry-After": value})))
    sleep = SleepRecorder()
    async with client_for(server.url, sleep=sleep) as client:
        events = await collect(client, AskRequest("q"))
    answer = build_answer(events)
    assert len(server.requests) == 3  # backed off as without a hint
    assert all(0 < d <= 8 for d in sleep.delays)
    assert [e.delay for e in events if isinstance(e, Retrying)] == sleep.delays
    assert answer.error.retry_after is None
    shown = answer.error.describe()
    assert "inf" not in shown and "nan" not in shown and "e+" not in shown
    assert "Wait a moment" in shown


def test_waits_are_said_as_people_say_them():
    assert [format_wait(s) for s in (0.2, 1, 59.5, 119, 120, 3599, 7200, 7260)] == [
        "1 s", "1 s", "60 s", "119 s", "2 min", "60 min", "2 h", "2 h 1 min"]
    assert not any(math.isinf(float(w.split()[0])) for w in [format_wait(86400)])


# ----------------------------------------------------------------------------- redirects, pages


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_never_followed_and_names_its_location(serve, status):
    target_hits = []

    async def target(request):
        target_hits.append(request)
        return Response(200, b"{}")
    elsewhere = await serve(target)
    location = f"{elsewhere.url}/steal?x=1"
    server = await serve(serving(raw(status, b"", "text/html", headers={"Location": location})))
    events, answer = await ask(server.url)
    assert target_hits == [] and len(server.requests) == 1
    error = answer.error
    assert error.kind is ErrorKind.PROTOCOL and error.status == status
    assert location in error.message and "redirect" in error.message
    assert error.field == "base_url" and error.exit_code == 1


CAPTIVE = (b"<!DOCTYPE html><html><head><meta charset=utf-8><title>Hotel  Wi-Fi &amp; Login"
           b"</title><script>alert(1)</script></head><body><form>Room number <input></form>"
           + b"<p>lorem</p>" * 5000 + b"</body></html>")


@pytest.mark.parametrize("stream", [True, False])
async def test_a_web_page_answering_instead_of_the_api_is_named_not_shown(serve, stream):
    server = await serve(serving(raw(200, CAPTIVE, "text/html; charset=utf-8")))
    _, answer = await ask(server.url, AskRequest("q", stream=stream))
    error = answer.error
    assert error.kind is ErrorKind.PROTOCOL and error.field == "base_url"
    assert "web page answered instead of the API" in error.message
    assert "\u201cHotel Wi-Fi & Login\u201d" in error.message
    assert "<" not in error.message and "Room number" not in error.message
    assert "login page" in error.message
    assert answer.text == ""


async def test_a_web_page_without_a_title(serve):
    server = await serve(serving(raw(200, b"<html><body>Sign in</body></html>", "text/html")))
    _, answer = await ask(server.url)
    assert answer.error.message.startswith("A web page answered instead of the API.")


# ----------------------------------------------------------------------------- a huge line


def huge_line_stream(size: int):
    first = (b'data: {"id":"x","model":"sonar","choices":[{"index":0,"delta":'
             b'{"content":"Before the flood. "}}]}\n\n')
    piece = b"y" * (64 * 1024)
    yield first
    yield b'data: {"id":"x","model":"sonar","choices":[{"index":0,"delta":{"content":"'
    for _ in range(size // len(piece)):
        yield piece


async def test_one_huge_line_is_cut_with_a_bounded_cost_and_the_text_so_far_kept(serve):
    size = 20 * 1024 * 1024
    server = await serve(serving(Response(200, huge_line_stream(size),
                                          content_type="text/event-stream")))
    events, answer = await ask(server.url, AskRequest("q"))
    assert answer.text == "Before the flood. "
    assert answer.finish_reason == "failed"
    error = answer.error
    assert error.kind is ErrorKind.PROTOCOL and error.partial
    assert "cut" in error.message and f"{MAX_LINE_BYTES // (1024 * 1024)} MB" in error.message
    assert error.exit_code == 1


def test_the_decoder_holds_at_most_the_line_limit():
    """Reads without a line break are kept as pieces (no copy of the growing buffer per
    read; bench/ measures it) and the decoder gives up once a line passes the limit."""
    from sonar_tui.api.sse import SseDecoder
    decoder = SseDecoder()
    piece = b"z" * (64 * 1024)
    for _ in range(MAX_LINE_BYTES // len(piece)):
        assert decoder.feed(piece) == []
    assert not decoder.overflowed
    assert decoder.feed(b"z") == []
    assert decoder.overflowed and decoder.pending_bytes == 0
    assert decoder.feed(b"\n\ndata: more\n\n") == []  # nothing after the cut is read
    assert decoder.close() == []


def test_a_long_line_under_the_limit_still_decodes():
    from sonar_tui.api.sse import SseDecoder
    decoder = SseDecoder()
    text = "w" * (MAX_LINE_BYTES - 64)
    pieces = [f"data: {text}".encode()[i:i + 65536] for i in range(0, len(text) + 6, 65536)]
    events = [e for p in pieces for e in decoder.feed(p)] + decoder.feed(b"\n\n")
    assert [len(e.data) for e in events] == [len(text)]
