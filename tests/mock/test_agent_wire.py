"""The Agent API over real HTTP: event stream, bodies, outcomes, stored responses."""

from __future__ import annotations

import json

import pytest

from sonar_tui.mock.content import last_line
from sonar_tui.mock.jsonenc import go_json
from sonar_tui.mock.service import AGENT_PATHS
from tests.mock.helpers import ask_agent, parse_sse


def _fixture_types(fixtures_dir) -> list[str]:
    path = fixtures_dir / "agent" / "vercel-ai__agent-stream-web-search-fast.chunks.jsonl"
    return [json.loads(line)["type"] for line in path.read_text().splitlines()]


@pytest.mark.parametrize("path", AGENT_PATHS)
def test_stream_follows_the_recorded_event_sequence(client, fixtures_dir, path):
    response = ask_agent(client, path=path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    sse = parse_sse(response.content)
    assert sse.comments == [] and b"[DONE]" not in response.content
    payloads = sse.payloads()
    for (event, data), payload in zip(sse.events, payloads, strict=True):
        assert event == payload["type"]
        assert go_json(payload) == data  # compact, alphabetical, Go escaping
    types = [p["type"] for p in payloads]
    recorded = _fixture_types(fixtures_dir)
    collapse = lambda ts: [t for i, t in enumerate(ts)  # noqa: E731
                           if t != "response.output_text.delta" or ts[i - 1] != t]
    assert collapse(types) == collapse(recorded)
    numbers = [p["sequence_number"] for p in payloads]
    assert numbers == sorted(numbers) and 2 not in numbers
    assert numbers[-3] - numbers[-4] == 2  # one skipped before output_text.done

    created, completed = payloads[0]["response"], payloads[-1]["response"]
    assert created["model"] == "fast" and created["usage"] is None
    assert created["status"] == "in_progress" and created["service_tier"] == "default"
    assert completed["model"] == "openai/gpt-6-luna" and completed["status"] == "completed"
    assert completed["service_tier"] == "fast" and completed["completed_at"] is not None
    call = payloads[2]["item"]
    assert call["type"] == "function_call" and call["name"] == "search_web"
    assert json.loads(call["arguments"]) == {"queries": ["What is HTTP/3?"]}
    added = next(p for p in payloads if p["type"] == "response.output_item.added"
                 and p["item"]["type"] == "message")
    # The capture announces content: null; the SDK's model wants a list (see agent_wire).
    assert added["item"]["content"] == [] and added["output_index"] == 1

    deltas = "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta")
    done = next(p for p in payloads if p["type"] == "response.output_text.done")
    assert deltas == done["text"] and deltas.endswith(last_line(300))
    items_done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert completed["output"] == items_done
    results = items_done[0]["results"]
    assert [r["id"] for r in results] == list(range(1, len(results) + 1))
    assert any("date" not in r for r in results)  # absent, not null, when unknown
    usage = completed["usage"]
    assert usage["tool_calls_details"] == {"search_web": {"cost_usd": 0.001, "invocation": 1}}
    assert usage["cost"]["currency"] == "USD" and usage["cost"]["total_cost"] > 0.001
    assert usage["output_tokens"] == 300


def test_rate_limit_headers_on_agent_responses(client):
    first = ask_agent(client, stream=False)
    second = ask_agent(client, stream=False)
    assert first.headers["x-ratelimit-limit"] == "50"
    assert first.headers["x-ratelimit-used"] == "1"
    assert second.headers["x-ratelimit-remaining"] == "48"
    assert int(first.headers["x-ratelimit-reset"]) > 0
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_non_streaming_body_has_the_recorded_keys_and_layout(client, fixtures_dir):
    recorded = json.loads((fixtures_dir / "agent" /
                           "vercel-ai__agent-nonstream-web-search-fast.json").read_text())
    response = ask_agent(client, stream=False, max_output_tokens=1024,
                         tools=[{"type": "web_search"}])
    body = response.json()
    assert list(body) == list(recorded)
    assert response.text == go_json(body)
    assert [item["type"] for item in body["output"]] == ["search_results", "message"]
    assert body["tools"] == [{"type": "web_search"}] and body["max_output_tokens"] == 1024
    assert body["id"].startswith("resp_") and body["output"][1]["id"].startswith("msg_")
    assert body["output"][1]["content"][0]["annotations"] == []


def test_bare_model_without_web_search_does_not_search(client):
    body = client.post("/v1/responses", json={"model": "openai/gpt-5.1",
                                              "input": "What is HTTP/3?"}).json()
    assert [item["type"] for item in body["output"]] == ["message"]
    assert body["model"] == "openai/gpt-5.1"
    assert "tool_calls_details" not in body["usage"]
    payloads = parse_sse(client.post("/v1/responses", json={
        "model": "openai/gpt-5.1", "input": "What is HTTP/3?", "stream": True}).content).payloads()
    assert payloads[0]["response"]["model"] == "openai/gpt-5.1"
    assert payloads[2]["type"] == "response.output_item.added"
    assert payloads[2]["item"]["type"] == "message" and payloads[2]["output_index"] == 0


def test_request_fields_are_echoed(client):
    body = ask_agent(client, stream=False, instructions="Be terse.", store=False,
                     reasoning={"effort": "low"}, max_output_tokens=400).json()
    assert body["instructions"] == "Be terse." and body["store"] is False
    assert body["reasoning"] == {"effort": "low", "summary": None}
    assert body["max_output_tokens"] == 400 and body["temperature"] == 1


def test_incomplete_profile(mock, client):
    """A truncated answer in the SDK's terms: its event union has no response.incomplete and
    its statuses no "incomplete", so the cut shows only in incomplete_details."""
    mock.service.profile = "agent-incomplete"
    payloads = parse_sse(ask_agent(client).content).payloads()
    final = payloads[-1]
    assert final["type"] == "response.completed"
    response = final["response"]
    assert response["status"] == "completed" and response["completed_at"] is None
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    deltas = [p for p in payloads if p["type"] == "response.output_text.delta"]
    assert len(deltas) == 150
    body = ask_agent(client, stream=False).json()
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert not body["output"][-1]["content"][0]["text"].endswith(last_line(300))


def test_tiny_max_output_tokens_ends_incomplete(client):
    body = ask_agent(client, stream=False, max_output_tokens=5).json()
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["usage"]["output_tokens"] == 16  # values under 16 are floored to 16


def test_effort_selects_the_bundle_and_is_echoed(client):
    """effort replaces the deprecated preset and wins over it (the SDK's words)."""
    for effort, model in (("low", "openai/gpt-5.1"), ("xhigh@2026-10-16.0", "openai/gpt-5.5")):
        body = ask_agent(client, stream=False, preset="fast", effort=effort).json()
        assert body["model"] == model and body["effort"] == body["preset"] == effort
        assert body["output"][0]["type"] == "search_results"  # the bundle searches
    payloads = parse_sse(client.post("/responses", json={
        "effort": "medium", "input": "q", "stream": True}).content).payloads()
    assert payloads[0]["response"]["model"] == "medium"
    assert payloads[-1]["response"]["model"] == "openai/gpt-5.2"
    refused = client.post("/v1/responses", json={"effort": "turbo", "input": "q"})
    assert refused.status_code == 400 and "effort" in refused.json()["error"]["message"]


def test_failed_profile_stream_and_body(mock, client):
    mock.service.profile = "agent-failed"
    payloads = parse_sse(ask_agent(client).content).payloads()
    final = payloads[-1]
    assert final["type"] == "response.failed"
    assert final["error"]["message"] and final["response"]["status"] == "failed"
    assert not any(p["type"] == "response.output_text.done" for p in payloads)
    assert any(p["type"] == "response.output_text.delta" for p in payloads)
    response = ask_agent(client, stream=False)
    assert response.status_code == 200
    assert response.json()["status"] == "failed" and response.json()["error"]["type"]


def test_stored_responses_continue_and_can_be_fetched(client, fixtures_dir):
    first = ask_agent(client, stream=False).json()
    fetched = client.get(f"/v1/responses/{first['id']}")
    assert fetched.status_code == 200 and fetched.json() == first
    assert client.get(f"/responses/{first['id']}").json() == first  # the OpenAI SDK's path
    follow_up = ask_agent(client, "And HTTP/2?", stream=False,
                          previous_response_id=first["id"])
    assert follow_up.status_code == 200
    assert follow_up.json()["previous_response_id"] == first["id"]

    unknown = ask_agent(client, stream=False, previous_response_id="resp_nope")
    recorded = json.loads((fixtures_dir / "agent" /
                           "cfdude-mcp-perplexity-pro__error-400-bad-previous-response-id.json"
                           ).read_text())
    assert unknown.status_code == 400 and unknown.json() == recorded

    hidden = ask_agent(client, stream=False, store=False).json()
    missing = client.get(f"/v1/agent/{hidden['id']}")
    recorded_404 = json.loads((fixtures_dir / "agent" /
                               "cfdude-mcp-perplexity-pro__error-404-get-store-false.json"
                               ).read_text())
    assert missing.status_code == 404 and missing.json() == recorded_404
    assert ask_agent(client, stream=False, previous_response_id=hidden["id"]).status_code == 200


def test_input_items_use_the_last_user_message(client):
    body = client.post("/v1/agent", json={"preset": "fast", "input": [
        {"type": "message", "role": "user", "content": "Remember PELICAN-42."},
        {"type": "message", "role": "assistant", "content": "OK"},
        {"role": "user", "content": [{"type": "input_text", "text": "Explain quantum dots"}]},
    ]}).json()
    text = body["output"][-1]["content"][0]["text"]
    assert text.startswith("# Quantum dots\n")
