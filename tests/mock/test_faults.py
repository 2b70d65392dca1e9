"""Fault profiles over real HTTP: statuses and bodies, broken streams, limited faults."""

from __future__ import annotations

import json
import re
import time
from itertools import pairwise

import httpx
import pytest

from sonar_tui.mock.http import Pause, Request
from sonar_tui.mock.service import AGENT_PATHS, CHAT_PATHS, MockService
from sonar_tui.mock.streaming import StreamShape, shape_stream
from tests.mock.helpers import AUTH, ask_agent, ask_sonar, parse_sse

SONAR_401 = "openclaw-36182__error-401-json-invalid-api-key.json"


def _both(client: httpx.Client, stream: bool = True) -> list[httpx.Response]:
    return [ask_sonar(client, stream=stream), ask_agent(client, stream=stream)]


def test_401_json_is_the_recorded_body_on_both_apis(mock, client, fixtures_dir):
    mock.service.profile = "401-json"
    for response in _both(client):
        assert response.status_code == 401
        assert response.content == (fixtures_dir / "sonar" / SONAR_401).read_bytes()


def test_401_html_is_an_openresty_page(mock, client):
    mock.service.profile = "401-html"
    for response in _both(client):
        assert response.status_code == 401
        assert response.headers["content-type"] == "text/html"
        assert "401 Authorization Required" in response.text and "openresty" in response.text


def test_502_html_is_the_recorded_cloudflare_page_byte_for_byte(mock, client, fixtures_dir):
    mock.service.profile = "502-html"
    recorded = (fixtures_dir / "sonar" / "api-discussion-284__error-502-html-cloudflare.html")
    for response in _both(client):
        assert response.status_code == 502
        assert response.headers["content-type"] == "text/html"
        assert response.content == recorded.read_bytes()


def test_400_profile_uses_recorded_envelopes(mock, client, fixtures_dir):
    mock.service.profile = "400"
    sonar, agent = _both(client)
    assert sonar.status_code == agent.status_code == 400
    alternation = "unknown-repo__error-400-invalid-message-alternation.json"
    assert sonar.content == (fixtures_dir / "sonar" / alternation).read_bytes()
    assert agent.json() == json.loads((fixtures_dir / "agent" /
                                       "cfdude-mcp-perplexity-pro__error-400-empty-input.json"
                                       ).read_text())


@pytest.mark.parametrize(("profile", "retry_after"), [("429", "1"), ("429-no-retry-after", None)])
def test_429_with_and_without_retry_after(mock, client, profile, retry_after):
    mock.service.profile = profile
    for response in _both(client):
        assert response.status_code == 429
        assert response.headers.get("retry-after") == retry_after
        assert response.headers["x-ratelimit-remaining"] == "0"
        error = response.json()["error"]
        assert error["type"] == "request_rate_limit_exceeded" and error["code"] == 429


def test_500_is_a_json_envelope(mock, client):
    mock.service.profile = "500"
    for response in _both(client):
        assert response.status_code == 500
        assert response.json()["error"]["type"] == "internal_error"


def test_403_retired_refuses_chat_completions_but_serves_the_agent_api(mock, client,
                                                                        fixtures_dir):
    mock.service.profile = "403-retired"
    recorded = json.loads((fixtures_dir / "agent" / "cfdude-mcp-perplexity-pro__error-403-"
                           "async-chat-completions-not-available.json").read_text())
    for path in CHAT_PATHS:
        response = ask_sonar(client, path=path)
        assert response.status_code == 403 and response.json() == recorded
    for path in AGENT_PATHS:
        response = ask_agent(client, path=path)
        assert response.status_code == 200
        assert parse_sse(response.content).payloads()[-1]["type"] == "response.completed"


def test_fault_times_clears_the_fault_after_n_affected_requests(mock, client):
    mock.service.configure(profile="500", fault_times=2)
    assert [r.status_code for r in _both(client, stream=False)] == [500, 500]
    assert [r.status_code for r in _both(client, stream=False)] == [200, 200]
    assert mock.service.profile == "default" and mock.service.fault_times is None


def test_retired_fault_times_counts_only_chat_requests(mock, client):
    mock.service.configure(profile="403-retired", fault_times=1)
    assert ask_agent(client, stream=False).status_code == 200
    assert ask_sonar(client, stream=False).status_code == 403
    assert ask_sonar(client, stream=False).status_code == 200


def test_profile_can_be_changed_on_the_server_loop(mock, client):
    async def change():
        mock.service.profile = "429"
        return mock.service.profile

    assert mock.call(change()) == "429"
    assert ask_sonar(client).status_code == 429


def test_unknown_profile_is_refused(mock):
    with pytest.raises(ValueError, match="unknown profile"):
        mock.service.profile = "teapot"
    with pytest.raises(TypeError):
        mock.service.configure(colour="red")


# ----------------------------------------------------------------------------- broken streams


def _read_stream(client: httpx.Client, request: httpx.Request) -> bytes:
    received = bytearray()
    with client.stream(request.method, request.url, content=request.content,
                       headers=request.headers) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
    return bytes(received)


def _requests(client: httpx.Client) -> list[httpx.Request]:
    sonar = {"model": "sonar", "stream": True, "messages": [{"role": "user", "content": "q"}]}
    return [client.build_request("POST", "/chat/completions", json=sonar),
            client.build_request("POST", "/v1/responses",
                                 json={"preset": "fast", "input": "q", "stream": True})]


def test_disconnect_drops_the_connection_mid_stream(mock, client):
    mock.service.profile = "disconnect"
    for request in _requests(client):
        with pytest.raises(httpx.RemoteProtocolError):
            _read_stream(client, request)
    assert len(mock.requests) == 2


def test_disconnect_without_streaming_is_an_empty_reply(mock, client):
    mock.service.profile = "disconnect"
    for call in (ask_sonar, ask_agent):
        with pytest.raises(httpx.RemoteProtocolError):
            call(client, stream=False)


def test_disconnect_sends_part_of_the_answer_first(mock):
    mock.service.profile = "disconnect"
    received = bytearray()
    body = {"model": "sonar", "stream": True, "messages": [{"role": "user", "content": "q"}]}
    with httpx.Client(base_url=mock.url, headers=AUTH) as http, \
            pytest.raises(httpx.RemoteProtocolError), \
            http.stream("POST", "/chat/completions", json=body) as response:
        for chunk in response.iter_raw():
            received += chunk
    events = parse_sse(bytes(received)).payloads()
    assert 50 <= len(events) < 300
    assert all(e["object"] == "chat.completion.chunk" for e in events)


def test_stall_sends_part_then_nothing_until_the_client_times_out(mock):
    mock.service.profile = "stall"
    timeout = httpx.Timeout(5, read=0.3)
    with httpx.Client(base_url=mock.url, headers=AUTH, timeout=timeout) as http:
        for request in _requests(http):
            with pytest.raises(httpx.ReadTimeout):
                _read_stream(http, request)
        for call in (ask_sonar, ask_agent):
            with pytest.raises(httpx.ReadTimeout):
                call(http, stream=False)


def test_malformed_inserts_one_bad_event_and_the_stream_goes_on(mock, client):
    normal = parse_sse(ask_sonar(client).content).payloads()
    agent_normal = parse_sse(ask_agent(client).content).payloads()
    mock.service.profile = "malformed"
    sse = parse_sse(ask_sonar(client).content)
    assert len(sse.bad_payloads()) == 1
    strip = lambda ps: [p["choices"][0]["delta"]["content"] for p in ps]  # noqa: E731
    assert strip(sse.payloads()) == strip(normal)
    agent = parse_sse(ask_agent(client).content)
    assert len(agent.bad_payloads()) == 1
    assert [p["type"] for p in agent.payloads()] == [p["type"] for p in agent_normal]
    bad_index = [data for _, data in sse.events].index(sse.bad_payloads()[0])
    assert 100 < bad_index < 200


def test_pings_between_chunks_and_never_done(mock, client):
    mock.service.profile = "pings-no-done"
    for response in (ask_sonar(client), ask_sonar(client, model="sonar-deep-research"),
                     ask_agent(client)):
        sse = parse_sse(response.content)
        assert sse.comments.count("ping") >= 50
        assert b"[DONE]" not in response.content
        assert sse.payloads()


def test_1mb_answers(mock, client):
    mock.service.profile = "1mb"
    deltas = "".join(p["choices"][0]["delta"]["content"]
                     for p in parse_sse(ask_sonar(client).content).payloads())
    assert len(deltas.encode()) > 1_048_576
    body = ask_agent(client, stream=False).json()
    assert len(body["output"][-1]["content"][0]["text"].encode()) > 1_048_576


def test_hostile_content_is_valid_json_with_hostile_strings(mock, client):
    mock.service.profile = "hostile"
    sse = parse_sse(ask_sonar(client, return_related_questions=True,
                              return_images=True).content)
    assert sse.bad_payloads() == []
    payloads = sse.payloads()
    text = "".join(p["choices"][0]["delta"]["content"] for p in payloads)
    for needle in ("\x1b]52;c;", "\x1b]8;;", "\x00", "\x9b", "[@click=app.quit]", "\u2028"):
        assert needle in text
    final = payloads[-1]
    assert any(url.startswith("javascript:") for url in final["citations"])
    assert any("\x1b" in r["title"] for r in final["search_results"])
    assert any("\x1b" in q for q in final["related_questions"])
    agent = parse_sse(ask_agent(client).content)
    assert agent.bad_payloads() == []
    done = next(p for p in agent.payloads() if p["type"] == "response.output_text.done")
    assert "\x1b[31m" in done["text"]


# ----------------------------------------------------------------------------- pacing


def test_shape_stream_puts_a_pause_between_events():
    items = list(shape_stream([b"a", b"b", b"c"], StreamShape(pace=4)))
    assert items == [b"a", Pause(0.25), b"b", Pause(0.25), b"c"]
    assert list(shape_stream([b"a", b"b"], StreamShape())) == [b"a", b"b"]


async def test_pace_paces_every_event_of_an_answer():
    service = MockService(pace=50, chunks=40)
    body = json.dumps({"model": "sonar", "stream": True,
                       "messages": [{"role": "user", "content": "q"}]}).encode()
    response = await service(Request("POST", "/chat/completions", {}, dict(
        (k.lower(), v) for k, v in AUTH.items()), body))
    items = list(response.body)
    events = [item for item in items if isinstance(item, bytes)]
    pauses = [item for item in items if isinstance(item, Pause)]
    assert len(events) == 41 and pauses == [Pause(0.02)] * 40
    assert all(isinstance(a, bytes) != isinstance(b, bytes) for a, b in pairwise(items))


def test_paced_stream_carries_the_same_events(mock, client):
    def events(response: httpx.Response) -> list[dict]:
        return [{k: v for k, v in p.items() if k not in ("id", "created")}
                for p in parse_sse(response.content).payloads()]

    fast = events(ask_sonar(client))
    mock.service.configure(pace=5000)
    assert events(ask_sonar(client)) == fast


def _events_until(lines, count: int) -> list[str]:
    events = []
    for line in lines:
        if line.startswith("data: "):
            events.append(line)
            if len(events) == count:
                break
    return events


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + 10  # only guards against a hang
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.mark.parametrize("api", ["sonar", "agent"])
def test_a_held_stream_waits_for_the_test_then_sends_the_rest_unchanged(mock, client, api):
    ask = ask_sonar if api == "sonar" else ask_agent
    unheld = ask(client).text.splitlines()
    mock.service.configure(hold_at=5)
    body = {"model": "sonar", "messages": [{"role": "user", "content": "What is HTTP/3?"}],
            "stream": True} if api == "sonar" else {"preset": "fast", "stream": True,
                                                    "input": "What is HTTP/3?"}
    with client.stream("POST", "/chat/completions" if api == "sonar" else "/v1/responses",
                       json=body) as response:
        lines = response.iter_lines()
        first = _events_until(lines, 5)
        _wait_for(lambda: mock.service.streams_held() == 1, "the stream to wait")
        assert mock.service.release_streams() == 1
        rest = list(lines)
    assert mock.service.streams_held() == 0
    received = [line for line in [*first, *rest] if line.startswith("data: ")]
    expected = [line for line in unheld if line.startswith("data: ")]
    assert len(received) == len(expected) > 5

    assert [_stable(line) for line in received] == [_stable(line) for line in expected]


# What differs between two requests for the same answer: ids and timestamps.
_VOLATILE = re.compile(r"(^|_)(id|at)$|^created$")


def _stable(line: str):
    def scrub(value):
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if not _VOLATILE.search(k)}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value
    data = line.removeprefix("data: ")
    return data if data == "[DONE]" else scrub(json.loads(data))


def test_a_client_that_hangs_up_at_a_gate_leaves_nothing_waiting(mock):
    mock.service.configure(hold_at=3)
    body = {"model": "sonar", "stream": True, "messages": [{"role": "user", "content": "q"}]}
    with httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client, \
            client.stream("POST", "/chat/completions", json=body) as response:
        lines = response.iter_lines()  # kept: closing it hangs up (httpcore)
        _events_until(lines, 3)
        _wait_for(lambda: mock.service.streams_held() == 1, "the stream to wait")
    _wait_for(lambda: mock.service.streams_held() == 0, "the server to see the hang-up")
    mock.service.configure(hold_at=None)
    with httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client:
        assert ask_sonar(client).status_code == 200


def test_one_sided_profiles_do_not_spend_fault_times_on_the_other_api(mock, client):
    mock.service.configure(profile="era-2024", fault_times=1)
    assert ask_agent(client, stream=False).status_code == 200
    assert mock.service.profile == "era-2024"
    assert parse_sse(ask_sonar(client).content).payloads()[0]["object"] == "chat.completion"
    assert mock.service.profile == "default"
    mock.service.configure(profile="agent-failed", fault_times=1)
    assert ask_sonar(client, stream=False).json()["choices"][0]["finish_reason"] == "stop"
    assert ask_agent(client, stream=False).json()["status"] == "failed"
    assert ask_agent(client, stream=False).json()["status"] == "completed"
