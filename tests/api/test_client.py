"""PerplexityClient behaviour over loopback: retries, timeouts, drops, cancellation, API choice."""

import asyncio
import json
import socket

import pytest

from sonar_tui.api.client import PerplexityClient
from sonar_tui.api.conversation import AskRequest, Turn
from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import (
    ApiSwitched,
    Failed,
    Finished,
    Retrying,
    Started,
    TextDelta,
    build_answer,
)
from sonar_tui.api.settings import ConnectionSettings, RequestSettings
from sonar_tui.mock import start_mock
from sonar_tui.mock.http import DROP, HANG

from .wire import (
    AGENT,
    KEY,
    RETIREMENT_403,
    SONAR,
    SleepRecorder,
    agent_wire,
    client_for,
    collect,
    raw,
    sonar_wire,
    split_events,
    sse,
)

COST_STREAM = sonar_wire(SONAR / "vercel-ai__sonar-stream-usage-cost.chunks.jsonl")
CITATION_EVENTS = split_events(sonar_wire(SONAR / "vercel-ai__sonar-stream-citations.chunks.jsonl"))
AGENT_STREAM = agent_wire(AGENT / "vercel-ai__agent-stream-web-search-fast.chunks.jsonl")


def script(*responses):
    """Answer with each response in turn; the last one repeats."""
    queue = list(responses)

    async def handler(request):
        return queue.pop(0) if len(queue) > 1 else queue[0]
    return handler


def ok():
    return sse([COST_STREAM])


def error(status, headers=None, message="busy"):
    body = json.dumps({"error": {"message": message, "type": "t", "code": status}}).encode()
    return raw(status, body, headers=headers)


def well_formed(events):
    """Exactly one terminal event, last; Retrying/ApiSwitched only before Started."""
    terminal = [i for i, e in enumerate(events) if isinstance(e, (Finished, Failed))]
    assert terminal == [len(events) - 1]
    started = [i for i, e in enumerate(events) if isinstance(e, Started)]
    if started:
        assert all(i < started[0] for i, e in enumerate(events)
                   if isinstance(e, (Retrying, ApiSwitched)))
    return events


async def run(url, request=None, sleep=None, **connection):
    sleep = sleep or SleepRecorder()
    async with client_for(url, sleep=sleep, **connection) as client:
        events = well_formed(await collect(client, request or AskRequest("q")))
    return events, build_answer(events), sleep


# ----------------------------------------------------------------------------- retries


async def test_429_retry_after_is_honoured(serve):
    server = await serve(script(error(429, {"Retry-After": "2"}, "slow down"), ok()))
    events, answer, sleep = await run(server.url)
    assert sleep.delays == [2.0]
    retry = events[0]
    assert (retry.attempt, retry.delay, retry.status) == (1, 2.0, 429)
    assert "slow down" in retry.reason
    assert answer.text == "OK" and answer.finish_reason == "stop"
    assert len(server.requests) == 2


async def test_retry_after_ms_wins(serve):
    server = await serve(script(error(429, {"retry-after-ms": "1500", "Retry-After": "9"}), ok()))
    _, _, sleep = await run(server.url)
    assert sleep.delays == [1.5]


async def test_429_without_retry_after_backs_off_exponentially_then_fails(serve):
    server = await serve(script(error(429)))
    events, answer, sleep = await run(server.url, max_attempts=3)
    assert len(server.requests) == 3
    assert 0.375 <= sleep.delays[0] <= 0.5 and 0.75 <= sleep.delays[1] <= 1.0
    assert [type(e) for e in events] == [Retrying, Retrying, Failed]
    assert answer.error.kind is ErrorKind.RATE_LIMIT and answer.error.status == 429


async def test_long_retry_after_is_reported_not_waited(serve):
    server = await serve(script(error(429, {"Retry-After": "120"})))
    events, answer, sleep = await run(server.url)
    assert sleep.delays == [] and len(server.requests) == 1 and len(events) == 1
    assert answer.error.kind is ErrorKind.RATE_LIMIT and answer.error.retry_after == 120
    assert "2 min" in answer.error.hint  # 120 s, said as people say it


@pytest.mark.parametrize("status", [408, 409, 500, 503, 504, 524])
async def test_retryable_statuses(serve, status):
    server = await serve(script(error(status), ok()))
    events, answer, sleep = await run(server.url)
    assert isinstance(events[0], Retrying) and events[0].status == status
    assert answer.text == "OK" and len(server.requests) == 2


@pytest.mark.parametrize("status, kind", [(400, ErrorKind.INVALID_REQUEST), (401, ErrorKind.AUTH),
                                          (402, ErrorKind.PAYMENT), (403, ErrorKind.PERMISSION),
                                          (404, ErrorKind.NOT_FOUND),
                                          (422, ErrorKind.INVALID_REQUEST)])
async def test_terminal_statuses_are_never_retried(serve, status, kind):
    server = await serve(script(error(status, {"Retry-After": "1"}), ok()))
    events, answer, sleep = await run(server.url)
    assert len(server.requests) == 1 and sleep.delays == [] and len(events) == 1
    assert answer.error.kind is kind and answer.error.message == "busy"


async def test_x_should_retry_false_is_respected(serve):
    server = await serve(script(error(503, {"x-should-retry": "false"}), ok()))
    _, answer, _ = await run(server.url)
    assert answer.error.kind is ErrorKind.SERVER and len(server.requests) == 1


async def test_redirects_are_not_followed(serve):
    server = await serve(script(raw(307, b"", headers={"Location": "http://127.0.0.1:9/steal"})))
    _, answer, _ = await run(server.url)
    assert answer.error is not None and answer.error.status == 307
    assert len(server.requests) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_refused_is_retried_then_a_network_error():
    events, answer, sleep = await run(f"http://127.0.0.1:{closed_port()}", max_attempts=3)
    assert [type(e) for e in events] == [Retrying, Retrying, Failed]
    assert len(sleep.delays) == 2 and events[0].status is None
    assert answer.error.kind is ErrorKind.NETWORK and answer.error.exit_code == 4
    assert "127.0.0.1" in answer.error.message


# ----------------------------------------------------------------------------- mid-stream


async def test_idle_timeout_mid_stream_keeps_the_text(serve):
    server = await serve(script(sse([*CITATION_EVENTS[:2], HANG])))
    events, answer, sleep = await run(server.url, idle_timeout=0.3)
    assert answer.text == "The current"
    assert answer.error.kind is ErrorKind.TIMEOUT and answer.error.partial is True
    assert "0.3 s" in answer.error.message
    assert len(server.requests) == 1 and sleep.delays == []


async def test_idle_timeout_after_the_finish_is_a_normal_end(serve):
    no_done = sonar_wire(SONAR / "vercel-ai__sonar-stream-usage-cost.chunks.jsonl", done=False)
    server = await serve(script(sse([no_done, HANG])))
    _, answer, _ = await run(server.url, idle_timeout=0.3)
    assert (answer.text, answer.finish_reason, answer.usage.cost) == ("OK", "stop", 0.00501)


async def test_deep_research_uses_the_research_idle_timeout(serve):
    server = await serve(script(sse([CITATION_EVENTS[0], HANG])))
    request = AskRequest("q", RequestSettings(model="sonar-deep-research"))
    _, answer, _ = await run(server.url, request, idle_timeout=60, research_idle_timeout=0.3)
    assert answer.error.kind is ErrorKind.TIMEOUT and "0.3 s" in answer.error.message


async def test_dropped_connection_keeps_partial_text(serve):
    server = await serve(script(sse([*CITATION_EVENTS[:3], DROP])))
    events, answer, sleep = await run(server.url)
    assert answer.text == "The current population"
    assert answer.error.kind is ErrorKind.NETWORK and answer.error.partial is True
    assert "dropped" in answer.error.message
    assert len(server.requests) == 1 and sleep.delays == []  # never retried after a byte


async def _eof_server(first_chunk: bytes):
    """A raw HTTP server that sends one chunk, then reports when the client hangs up."""
    eof = asyncio.Event()

    async def on_connection(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n" % (len(first_chunk), first_chunk))
        await writer.drain()
        if await reader.read(1) == b"":
            eof.set()
        writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    return server, eof, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_cancelling_the_consumer_closes_the_connection_at_once():
    server, eof, url = await _eof_server(CITATION_EVENTS[0])
    async with server, client_for(url) as client:
        first = asyncio.Event()

        async def consume():
            async for event in client.stream(AskRequest("q")):
                if isinstance(event, TextDelta):
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(eof.wait(), 10)  # while the client itself is still open


async def test_closing_the_generator_closes_the_connection():
    server, eof, url = await _eof_server(CITATION_EVENTS[0])
    async with server, client_for(url) as client:
        stream = client.stream(AskRequest("q"))
        async for event in stream:
            if isinstance(event, TextDelta):
                break
        await stream.aclose()
        await asyncio.wait_for(eof.wait(), 10)


# ----------------------------------------------------------------------------- API choice


def retired_then_agent():
    async def handler(request):
        if request.path == "/chat/completions":
            return raw(403, RETIREMENT_403.read_bytes())
        return sse(split_events(AGENT_STREAM))
    return handler


async def test_auto_mode_switches_once_on_the_retirement_and_remembers(serve):
    server = await serve(retired_then_agent())
    conn = ConnectionSettings(base_url=server.url)
    async with PerplexityClient(conn, KEY, sleep=SleepRecorder()) as client:
        events = well_formed(await collect(client, AskRequest("What is TypeScript?")))
        [switch] = [e for e in events if isinstance(e, ApiSwitched)]
        assert (switch.from_api, switch.to_api) == ("sonar", "agent")
        assert "Agent API" in switch.message
        answer = build_answer(events)
        assert answer.api == "agent" and answer.finish_reason == "stop"
        assert answer.text.endswith("syntax for types.[7]")
        assert conn.agent_endpoints == [server.url]
        assert server.requests[1].json()["input"] == "What is TypeScript?"

        events = well_formed(await collect(client, AskRequest("again")))
        assert not any(isinstance(e, ApiSwitched) for e in events)
    assert [r.path for r in server.requests] == ["/chat/completions", "/v1/responses",
                                                 "/v1/responses"]
    # A new client with the persisted settings goes straight to the Agent API too.
    _, answer, _ = await run(server.url + "/", agent_endpoints=[server.url])
    assert answer.api == "agent" and server.requests[-1].path == "/v1/responses"


async def test_switch_happens_at_most_once(serve):
    server = await serve(script(raw(403, RETIREMENT_403.read_bytes())))
    events, answer, _ = await run(server.url)
    assert sum(isinstance(e, ApiSwitched) for e in events) == 1
    assert answer.error.kind is ErrorKind.RETIRED
    assert [r.path for r in server.requests] == ["/chat/completions", "/v1/responses"]


async def test_forced_sonar_mode_reports_the_retirement(serve):
    server = await serve(retired_then_agent())
    events, answer, _ = await run(server.url, api_mode="sonar")
    assert len(events) == 1 and answer.error.kind is ErrorKind.RETIRED
    assert answer.error.message.startswith("Sonar is now the Agent API.")
    assert [r.path for r in server.requests] == ["/chat/completions"]


async def test_forced_agent_mode_and_custom_paths(serve):
    server = await serve(retired_then_agent())
    _, answer, _ = await run(server.url, api_mode="agent", agent_path="/v1/agent")
    assert answer.api == "agent" and [r.path for r in server.requests] == ["/v1/agent"]


# ----------------------------------------------------------------------------- continuing


HISTORY = [Turn("user", "My codeword is PELICAN."), Turn("assistant", "Noted: PELICAN.")]


async def test_a_known_response_is_continued_without_replaying_the_history():
    with start_mock(chunks=20) as mock:
        async with client_for(mock.url, api_mode="agent") as client:
            first = build_answer(await collect(client, AskRequest("My codeword is PELICAN.")))
            events = well_formed(await collect(client, AskRequest(
                "What is my codeword?", history=HISTORY,
                previous_response_id=first.response_id)))
    assert build_answer(events).finish_reason == "stop"
    sent = mock.service.bodies("/v1/responses")[-1]
    assert sent["previous_response_id"] == first.response_id
    assert sent["input"] == "What is my codeword?"


async def test_a_refused_previous_response_id_falls_back_to_replaying_the_history(serve):
    """The recorded refusal (a bare 400 "invalid request") costs one request, not the answer."""
    refusal = (AGENT / "cfdude-mcp-perplexity-pro__error-400-bad-previous-response-id.json")

    async def handler(request):
        if "previous_response_id" in request.json():
            return raw(400, refusal.read_bytes())
        return sse(split_events(AGENT_STREAM))

    server = await serve(handler)
    events, answer, sleep = await run(server.url, AskRequest(
        "What is my codeword?", history=HISTORY, previous_response_id="resp_gone"),
        api_mode="agent")
    assert answer.finish_reason == "stop" and answer.error is None
    assert not any(isinstance(e, (Failed, Retrying)) for e in events)
    first, second = (r.json() for r in server.requests)
    assert first["previous_response_id"] == "resp_gone" and first["input"] == "What is my codeword?"
    assert "previous_response_id" not in second
    assert [i["content"] for i in second["input"]] == [
        "My codeword is PELICAN.", "Noted: PELICAN.", "What is my codeword?"]
    assert sleep.delays == []


async def test_the_mock_refuses_an_unknown_id_like_the_service_and_the_client_recovers():
    with start_mock(chunks=20) as mock:
        _, answer, _ = await run(mock.url, AskRequest(
            "What is my codeword?", history=HISTORY, previous_response_id="resp_unknown"),
            api_mode="agent")
    assert answer.finish_reason == "stop"
    refused, replayed = mock.service.bodies("/v1/responses")
    assert refused["previous_response_id"] == "resp_unknown"
    assert "previous_response_id" not in replayed and len(replayed["input"]) == 3


@pytest.mark.parametrize("status", [401, 429, 500])
async def test_other_failures_are_not_taken_for_a_refused_id(serve, status):
    server = await serve(script(error(status)))
    _, answer, _ = await run(server.url, AskRequest(
        "q", history=HISTORY, previous_response_id="resp_1"), api_mode="agent", max_attempts=1)
    assert answer.error.status == status
    assert all("previous_response_id" in r.json() for r in server.requests)


async def test_a_refusal_after_the_fallback_is_reported(serve):
    server = await serve(script(error(400, message="validation failed: input cannot be empty")))
    _, answer, _ = await run(server.url, AskRequest(
        "q", history=HISTORY, previous_response_id="resp_1"), api_mode="agent")
    assert answer.error.kind is ErrorKind.INVALID_REQUEST
    assert "input cannot be empty" in answer.error.message
    assert len(server.requests) == 2


# ----------------------------------------------------------------------------- request details


async def test_no_key_sends_nothing(serve):
    server = await serve(script(ok()))
    async with client_for(server.url, key=None) as client:
        events = await collect(client, AskRequest("q"))
    assert len(events) == 1 and events[0].error.kind is ErrorKind.AUTH
    assert events[0].error.message == "No API key is set." and server.requests == []


async def test_a_key_that_cannot_be_a_header_is_refused_without_echoing_it(serve):
    server = await serve(script(ok()))
    bad = "pplx-abc\ndef"
    async with client_for(server.url, key=bad) as client:
        events = await collect(client, AskRequest("q"))
    assert events[0].error.kind is ErrorKind.AUTH and server.requests == []
    assert "pplx-abc" not in repr(events)


@pytest.mark.parametrize("enabled", [True, False])
async def test_conversation_header(serve, enabled):
    server = await serve(script(ok()))
    await run(server.url, AskRequest("q", conversation_id="thread-42"), conversation_header=enabled)
    assert server.requests[0].headers.get("x-conversation-id") == ("thread-42" if enabled else None)


async def test_no_conversation_header_without_an_id(serve):
    server = await serve(script(ok()))
    await run(server.url, AskRequest("q"))
    assert "x-conversation-id" not in server.requests[0].headers


async def test_the_key_appears_only_in_the_authorization_header(serve):
    server = await serve(script(error(500, message=f"echo {KEY}"), error(401, message=KEY)))
    events, answer, _ = await run(server.url)
    assert KEY not in repr(events)
    request = server.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY.encode() not in request.body
    assert all(KEY not in v for k, v in request.headers.items() if k != "authorization")


async def test_non_json_200_body_is_a_protocol_error(serve):
    server = await serve(script(raw(200, b"<html>captive portal</html>", "text/html")))
    _, answer, _ = await run(server.url, AskRequest("q", stream=False))
    # The page is named, not shown raw (issue 14): see test_gateways.py for the title.
    assert answer.error.kind is ErrorKind.PROTOCOL and "web page answered" in answer.error.message
    assert "captive portal" not in answer.error.message
    _, answer, _ = await run(server.url)  # a streaming request gets the same page
    assert answer.error.kind is ErrorKind.PROTOCOL and "web page answered" in answer.error.message


async def test_a_stream_to_a_non_streaming_request_is_still_read(serve):
    server = await serve(script(sse([COST_STREAM])))
    _, answer, _ = await run(server.url, AskRequest("q", stream=False))
    assert (answer.text, answer.finish_reason) == ("OK", "stop")
    server = await serve(script(raw(200, COST_STREAM, "text/plain")))
    _, answer, _ = await run(server.url, AskRequest("q", stream=False))
    assert (answer.text, answer.finish_reason) == ("OK", "stop")


async def test_mislabelled_sse_to_a_streaming_request_is_read_as_a_stream(serve):
    server = await serve(script(sse([COST_STREAM], headers={"content-type": "text/plain"})))
    _, answer, _ = await run(server.url)
    assert (answer.text, answer.finish_reason) == ("OK", "stop")


async def test_json_body_to_a_streaming_request_is_read_as_a_whole_answer(serve):
    body = (SONAR / "vercel-ai__sonar-nonstream-usage-cost.json").read_bytes()
    server = await serve(script(raw(200, body)))
    _, answer, _ = await run(server.url)
    assert (answer.text, answer.finish_reason, answer.usage.cost) == ("OK", "stop", 0.00501)


async def test_agent_200_body_with_failed_status(serve):
    server = await serve(script(raw(200, b'{"object": "response", "status": "failed", "output": [],'
                                         b' "error": {"message": "model unavailable"}}')))
    _, answer, _ = await run(server.url, AskRequest("q", stream=False), api_mode="agent")
    assert answer.error.kind is ErrorKind.PROTOCOL and answer.error.message == "model unavailable"


async def test_a_parser_bug_still_ends_with_one_failed_event(serve, monkeypatch):
    from sonar_tui.api.sonar import SonarStreamParser

    def broken(self, data):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(SonarStreamParser, "feed", broken)
    server = await serve(script(ok()))
    events, answer, _ = await run(server.url)
    assert len(events) == 1 and answer.error.kind is ErrorKind.PROTOCOL
    assert "parser bug" in answer.error.message


async def test_answer_collects_the_whole_stream(serve):
    server = await serve(script(ok()))
    async with client_for(server.url) as client:
        answer = await client.answer(AskRequest("q"))
    assert (answer.text, answer.finish_reason, answer.usage.cost) == ("OK", "stop", 0.00501)


async def test_one_client_serves_several_questions(serve):
    server = await serve(script(ok()))
    async with client_for(server.url) as client:
        answers = [build_answer(await collect(client, AskRequest(f"q{i}"))) for i in range(3)]
    assert [a.text for a in answers] == ["OK", "OK", "OK"]
    assert [r.json()["messages"][-1]["content"] for r in server.requests] == ["q0", "q1", "q2"]
