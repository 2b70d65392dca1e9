"""Sonar Chat Completions over real HTTP: the shapes of every era and answer kind."""

from __future__ import annotations

import json

import pytest

from sonar_tui.mock.content import last_line
from sonar_tui.mock.service import CHAT_PATHS
from tests.mock.helpers import ask_sonar, parse_sse


def _deltas(payloads) -> str:
    return "".join((p.get("choices") or [{}])[0].get("delta", {}).get("content") or ""
                   for p in payloads)


@pytest.mark.parametrize("path", CHAT_PATHS)
def test_era_2026_stream_is_delta_only_and_ends_with_done_carrying_the_cost(client, path):
    response = ask_sonar(client, path=path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    sse = parse_sse(response.content)
    payloads = sse.payloads()
    assert len(payloads) == 301  # 300 chunks + the done chunk
    assert sse.bad_payloads() == [] and "[DONE]" not in response.text
    assert {p["object"] for p in payloads[:-1]} == {"chat.completion.chunk"}
    done = payloads[-1]
    assert done["object"] == "chat.completion.done"
    assert done["choices"][0]["finish_reason"] == "stop"
    assert done["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert done["usage"]["cost"]["request_cost"] == 0.005
    assert done["search_results"][0]["url"] == done["citations"][0]
    for index, chunk in enumerate(payloads[:-1], 1):
        assert "message" not in chunk["choices"][0]
        assert chunk["choices"][0]["finish_reason"] is None
        assert chunk["citations"] == done["citations"]
        assert chunk["usage"]["completion_tokens"] == index  # cumulative, never summed
        assert chunk["usage"]["cost"] == {"input_tokens_cost": 0, "output_tokens_cost": 0,
                                          "total_cost": 0}
    first_line = response.content.split(b"\n")[0]
    assert b'","model":"sonar","created":' in first_line and b", " not in first_line[:80]
    assert payloads[0]["created"] < done["created"]  # created moves during a stream
    text = _deltas(payloads)
    assert text.startswith("# HTTP/3\n") and text.endswith(last_line(300))


def test_stream_text_equals_the_non_streaming_content(client):
    streamed = _deltas(parse_sse(ask_sonar(client).content).payloads())
    body = ask_sonar(client, stream=False).json()
    assert body["choices"][0]["message"]["content"] == streamed
    assert list(body["choices"][0]) == ["index", "message", "finish_reason"]  # 2026: no delta
    assert body["object"] == "chat.completion"
    assert body["usage"]["cost"]["request_cost"] == 0.005
    assert list(body["usage"]) == sorted(body["usage"])


def test_era_2024_stream_accumulates_message_with_python_separators(mock, client):
    mock.service.profile = "era-2024"
    response = ask_sonar(client)
    sse = parse_sse(response.content)
    payloads = sse.payloads()
    assert {p["object"] for p in payloads} == {"chat.completion"}
    accumulated = ""
    for chunk in payloads[:-1]:
        choice = chunk["choices"][0]
        accumulated += choice["delta"]["content"]
        assert choice["message"]["content"] == accumulated
        assert list(chunk["usage"]) == ["prompt_tokens", "completion_tokens", "total_tokens"]
        assert "search_results" not in chunk
    final = payloads[-1]["choices"][0]
    assert final["finish_reason"] == "stop" and final["delta"]["content"] == ""
    assert final["message"]["content"] == accumulated
    for _, data in sse.events:
        assert json.dumps(json.loads(data)) == data  # Python json.dumps bytes exactly
    assert b"[DONE]" not in response.content


def test_era_2025_chunks_carry_citations_and_search_results(mock, client):
    mock.service.profile = "era-2025"
    payloads = parse_sse(ask_sonar(client).content).payloads()
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"}
    for chunk in payloads:
        assert chunk["citations"]
        assert [r["url"] for r in chunk["search_results"]] == chunk["citations"]
        assert set(chunk["search_results"][0]) == {"title", "url", "date", "last_updated"}
    assert payloads[-1]["usage"]["cost"]["request_cost"] == 0.005
    body = ask_sonar(client, stream=False)
    assert body.text == json.dumps(body.json())  # the 2025-08 raw-wire layout
    assert list(body.json()) == ["id", "model", "created", "usage", "citations",
                                 "search_results", "object", "choices"]
    assert list(body.json()["choices"][0]) == ["index", "finish_reason", "message", "delta"]


def test_concise_mode_sends_reasoning_then_answer_then_done(client):
    payloads = parse_sse(ask_sonar(client, stream_mode="concise").content).payloads()
    objects = [p["object"] for p in payloads]
    first_answer = objects.index("chat.completion.chunk")
    assert set(objects[:first_answer - 1]) == {"chat.reasoning"}
    assert objects[first_answer - 1] == "chat.reasoning.done"
    assert set(objects[first_answer:-1]) == {"chat.completion.chunk"}
    assert objects[-1] == "chat.completion.done"
    steps = [p["choices"][0]["delta"]["reasoning_steps"][0]["type"] for p in payloads
             if p["object"] == "chat.reasoning"]
    assert steps == ["web_search", "fetch_url_content", "execute_python"]
    reasoning_done = payloads[first_answer - 1]
    assert "cost" not in reasoning_done["usage"] and reasoning_done["search_results"]
    assert reasoning_done["usage"]["completion_tokens"] == 0
    for chunk in payloads[first_answer:-1]:
        assert chunk["choices"][0]["message"]["content"] == ""
    done = payloads[-1]
    assert done["status"] == "COMPLETED" and done["type"] == "end_of_stream"
    assert done["usage"]["cost"]["total_cost"] > 0
    assert done["choices"][0]["message"]["content"] == _deltas(payloads[first_answer:-1])
    assert len(done["choices"][0]["message"]["reasoning_steps"]) == 3


def test_concise_profile_applies_without_stream_mode(mock, client):
    mock.service.profile = "concise"
    objects = [p["object"] for p in parse_sse(ask_sonar(client).content).payloads()]
    assert objects[0] == "chat.reasoning" and objects[-1] == "chat.completion.done"


def test_reasoning_model_streams_think_first_with_split_tags(client):
    payloads = parse_sse(ask_sonar(client, model="sonar-reasoning-pro").content).payloads()
    contents = [p["choices"][0]["delta"]["content"] for p in payloads]
    assert contents[:2] == ["<thi", "nk>\n"]
    text = "".join(contents)
    assert text.startswith("<think>\n") and "\n</think>\n\n# HTTP/3" in text
    assert "</think>" not in contents  # the closing tag is split too
    assert text.endswith(last_line(300))


def test_reasoning_profile_forces_think_for_any_model(mock, client):
    mock.service.profile = "reasoning"
    body = ask_sonar(client, stream=False).json()
    assert body["choices"][0]["message"]["content"].startswith("<think>\n")


def test_deep_research_has_pings_research_chunks_and_done(client):
    response = ask_sonar(client, model="sonar-deep-research")
    sse = parse_sse(response.content)
    assert response.content.startswith(b": ping\n\n")
    assert response.content.endswith(b"data: [DONE]\n\n")
    assert sse.comments.count("ping") >= 6
    assert sse.blank_runs >= 1
    assert sse.bad_payloads() == ["[DONE]"]  # malformed lines belong to the malformed profile
    payloads = sse.payloads()
    research = [p for p in payloads if "choices" not in p]
    assert research and all("usage" not in p for p in research)
    answer = _deltas([p for p in payloads if "choices" in p])
    assert answer.startswith("<think>\n") and len(answer.split("</think>")[0]) > 1500
    done = payloads[-1]
    assert done["object"] == "chat.completion.done"
    usage = done["usage"]
    assert {"citation_tokens", "num_search_queries", "reasoning_tokens"} <= set(usage)
    assert {"citation_tokens_cost", "reasoning_tokens_cost", "search_queries_cost"} <= set(
        usage["cost"])


def test_images_and_related_questions_only_when_asked(client):
    plain = parse_sse(ask_sonar(client).content).payloads()[-1]
    assert "images" not in plain and "related_questions" not in plain
    asked = parse_sse(ask_sonar(client, return_images=True,
                                return_related_questions=True).content).payloads()
    final = asked[-1]
    assert final["images"][0]["image_url"].startswith("https://")
    assert {"image_url", "origin_url", "height", "width"} <= set(final["images"][0])
    assert len(final["related_questions"]) == 4
    assert all("images" not in p for p in asked[:-1])


def test_related_profile_always_adds_images_and_questions(mock, client):
    mock.service.profile = "related"
    final = parse_sse(ask_sonar(client).content).payloads()[-1]
    assert final["images"] and final["related_questions"]
    body = ask_sonar(client, stream=False).json()
    assert body["images"] and body["related_questions"]


def test_disable_search_leaves_out_citations_and_markers(client):
    payloads = parse_sse(ask_sonar(client, disable_search=True).content).payloads()
    assert all("citations" not in p for p in payloads)
    assert "search_results" not in payloads[-1]
    assert payloads[-1]["usage"]["cost"]["request_cost"] == 0


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client):
    payloads = parse_sse(ask_sonar(client, max_tokens=20).content).payloads()
    assert len(payloads) == 21
    assert payloads[-1]["choices"][0]["finish_reason"] == "length"
    body = ask_sonar(client, max_tokens=20, stream=False).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 20


def test_chunks_setting_sets_the_answer_length(mock, client):
    mock.service.chunks = 1000
    payloads = parse_sse(ask_sonar(client).content).payloads()
    assert len(payloads) == 1001
    assert _deltas(payloads).endswith(last_line(1000))


def test_last_user_message_is_the_question(client):
    body = {"model": "sonar", "stream": False, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is Rust?"},
        {"role": "assistant", "content": "A language."},
        {"role": "user", "content": [{"type": "text", "text": "Who maintains Python?"}]}]}
    content = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert content["content"].startswith("# Maintains Python\n")
