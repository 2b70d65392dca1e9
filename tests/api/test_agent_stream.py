"""The Agent API parser: every documented event, terminal statuses, non-streaming bodies."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sonar_tui.api.agent import AgentStreamParser, parse_agent_response
from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import (
    Failed,
    Finished,
    SourcesUpdate,
    Started,
    TextFinal,
    UsageUpdate,
    build_answer,
)

from tests.mock.contract import EVENT_TYPES, agent_event_problems, event_class_for

from .wire import AGENT, agent_wire, chunks

STREAM = AGENT / "vercel-ai__agent-stream-web-search-fast.chunks.jsonl"
TEXT = ("The official TypeScript website is **typescriptlang.org**; TypeScript is a strongly "
        "typed programming language that builds on JavaScript and adds syntax for types.[7]")


def run(*pieces: bytes):
    parser = AgentStreamParser()
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def frame(*payloads, event_lines=True) -> bytes:
    out = []
    for p in payloads:
        head = f"event: {p['type']}\n".encode() if event_lines and "type" in p else b""
        out.append(head + b"data: " + json.dumps(p, separators=(",", ":")).encode() + b"\n\n")
    return b"".join(out)


def response(status="completed", **extra):
    return {"id": "resp_1", "object": "response", "model": "openai/gpt-5.1", "status": status,
            "created_at": 1790374575, "output": [], "usage": None, **extra}


def created():
    return {"type": "response.created", "sequence_number": 0,
            "response": response("in_progress", model="fast")}


def delta(text, seq=5):
    return {"type": "response.output_text.delta", "delta": text, "item_id": "msg_1",
            "output_index": 1, "content_index": 0, "sequence_number": seq}


# ----------------------------------------------------------------------------- recorded


def test_recorded_stream():
    events = run(agent_wire(STREAM))
    answer = build_answer(events)
    assert answer.text == TEXT
    assert (answer.model, answer.finish_reason, answer.api) == (
        "openai/gpt-6-luna", "stop", "agent")
    assert answer.response_id == "resp_5619693e-4309-4fec-b395-5e21e59aba39"
    assert [s.number for s in answer.sources] == list(range(1, 11))
    seven = answer.sources[6]
    assert (seven.url, seven.title, seven.date, seven.last_updated, seven.origin) == (
        "https://www.typescriptlang.org/", "TypeScript: JavaScript With Syntax For Types.", None,
        "2026-09-22", "web")
    assert answer.sources[0].date == "2006-11-28"
    usage = answer.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens,
            usage.reasoning_tokens, usage.search_queries) == (3007, 37, 3044, 0, 1)
    assert usage.cost == 0.00105
    assert usage.cost_details == {"cache_read_cost": 0.00003, "input_cost": 0.0,
                                  "output_cost": 0.00002, "tool_calls_cost": 0.001,
                                  "tool_calls_cost_details.search_web": 0.001}
    [step] = answer.steps
    assert step.kind == "web_search" and step.thought == "Searching the web..."
    assert step.keywords == ("Find the official TypeScript website and describe TypeScript in "
                             "one sentence with a citation.",)
    assert len(step.results) == 10
    # Started first with the preset name; sources are announced once although three events
    # (reasoning results, output_item.done, completed) carry them; no TextFinal (same text).
    assert events[0] == Started(api="agent", model="fast",
                                response_id="resp_5619693e-4309-4fec-b395-5e21e59aba39")
    assert sum(isinstance(e, SourcesUpdate) for e in events) == 1
    assert not any(isinstance(e, TextFinal) for e in events)
    assert isinstance(events[-1], Finished)


def test_recorded_stream_without_event_lines_and_with_a_done_marker():
    plain = build_answer(run(agent_wire(STREAM)))
    assert build_answer(run(agent_wire(STREAM, event_lines=False))) == plain
    assert build_answer(run(agent_wire(STREAM, done=True))) == plain


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40000), max_size=40))
def test_recorded_stream_cut_anywhere_gives_the_same_answer(cuts):
    wire = agent_wire(STREAM)
    assert build_answer(run(*chunks(wire, cuts))) == build_answer(run(wire))


def test_terminal_event_ends_parsing():
    parser = AgentStreamParser()
    events = parser.feed(agent_wire(STREAM) + frame(delta("late")))
    assert parser.done and isinstance(events[-1], Finished)
    assert build_answer(events).text == TEXT


# ----------------------------------------------------------------------------- shapes


def test_text_done_is_authoritative_only_when_different():
    events = run(frame(created(), delta("Helo"),
                       {"type": "response.output_text.done", "text": "Hello", "item_id": "msg_1",
                        "content_index": 0},
                       {"type": "response.completed", "response": response()}))
    assert [e.text for e in events if isinstance(e, TextFinal)] == ["Hello"]
    assert build_answer(events).text == "Hello"


def test_completed_output_supplies_text_when_no_deltas_came():
    message = {"type": "message", "id": "msg_9", "role": "assistant",
               "content": [{"type": "output_text", "text": "Only here.", "annotations": []}]}
    answer = build_answer(run(frame(created(), {"type": "response.completed",
                                                "response": response(output=[message])})))
    assert answer.text == "Only here."


def test_fetch_url_steps_and_ignored_events_and_sequence_gaps():
    events = run(frame(
        created(),
        {"type": "response.reasoning.started", "thought": "Thinking", "sequence_number": 3},
        {"type": "response.output_item.added", "output_index": 0, "sequence_number": 7,
         "item": {"type": "function_call", "name": "search_web", "arguments": "{}"}},
        {"type": "response.reasoning.fetch_url_queries", "call_id": "c2",
         "urls": ["https://peps.python.org/pep-0745/"], "thought": "Reading the PEP"},
        {"type": "response.reasoning.fetch_url_results", "call_id": "c2",
         "contents": [{"url": "https://peps.python.org/pep-0745/", "title": "PEP 745",
                       "snippet": "Release schedule"}]},
        {"type": "response.reasoning.stopped"},
        {"type": "response.brand_new_event", "payload": {"x": 1}},
        {"type": "response.skill.loaded", "name": "x"},
        delta("Per PEP 745 [1].", seq=40),
        {"type": "response.completed", "sequence_number": 99, "response": response()},
    ))
    answer = build_answer(events)
    assert answer.text == "Per PEP 745 [1]."
    step, skill = answer.steps
    assert (skill.kind, skill.keywords) == ("skill", ("x",))
    assert (step.kind, step.thought, step.urls) == (
        "fetch_url_content", "Reading the PEP", ("https://peps.python.org/pep-0745/",))
    assert step.results[0].title == "PEP 745"
    assert [(s.number, s.title) for s in answer.sources] == [(1, "PEP 745")]
    assert answer.finish_reason == "stop"


def test_sources_numbered_by_id_deduplicated_by_url_position_when_id_missing():
    events = run(frame(
        created(),
        {"type": "response.output_item.done", "item": {"type": "search_results", "results": [
            {"id": 2, "url": "https://b.example/", "title": "B"},
            {"id": 1, "url": "https://a.example/", "title": "A"}]}},
        {"type": "response.output_item.done", "item": {"type": "search_results", "results": [
            {"id": 1, "url": "https://a.example/", "title": "A again"},
            {"url": "https://c.example/", "title": "C"}]}},
        {"type": "response.completed", "response": response()},
    ))
    assert [(s.number, s.url, s.title) for s in build_answer(events).sources] == [
        (1, "https://a.example/", "A"), (2, "https://b.example/", "B"),
        (3, "https://c.example/", "C")]


def test_incomplete_for_max_output_tokens_is_length():
    events = run(frame(created(), delta("Trunc"), {
        "type": "response.incomplete",
        "response": response("incomplete", incomplete_details={"reason": "max_output_tokens"})}))
    assert events[-1] == Finished("length", model="openai/gpt-5.1", detail="max_output_tokens")
    assert build_answer(events).text == "Trunc"


def test_incomplete_for_another_reason():
    events = run(frame(created(), {"type": "response.incomplete", "response": response(
        "incomplete", incomplete_details={"reason": "content_filter"})}))
    assert events[-1].reason == "incomplete" and events[-1].detail == "content_filter"


def test_failed_cancelled_and_error_events():
    failed = run(frame(created(), delta("Pa"), {
        "type": "response.failed", "error": {"message": "upstream model failed",
                                             "type": "upstream_error"}}))
    assert isinstance(failed[-1], Failed)
    assert failed[-1].error.kind is ErrorKind.PROTOCOL
    assert failed[-1].error.message == "upstream model failed" and failed[-1].error.partial
    cancelled = run(frame(created(), {"type": "response.cancelled",
                                      "response": response("cancelled")}))
    assert "cancelled" in cancelled[-1].error.message
    error = run(frame(created(), {"type": "error", "error": {
        "message": "rate limited", "type": "request_rate_limit_exceeded", "code": 429}}))
    assert error[-1].error.kind is ErrorKind.RATE_LIMIT
    assert error[-1].error.message == "rate limited"


def test_status_is_checked_even_on_a_completed_event():
    events = run(frame(created(), {"type": "response.completed", "response": response(
        "failed", error={"message": "structured output failed"})}))
    assert events[-1].error.message == "structured output failed"


def test_eof_without_a_terminal_event_keeps_the_text():
    answer = build_answer(run(frame(created(), delta("So far"))))
    assert answer.text == "So far" and answer.finish_reason == "incomplete"


def test_nothing_readable_is_a_protocol_error():
    [failed] = run(b"<html>502</html>")
    assert failed.error.kind is ErrorKind.PROTOCOL


# ----------------------------------------------------------------------------- non-streaming


def test_recorded_non_streaming_bodies():
    answer = build_answer(parse_agent_response(
        (AGENT / "vercel-ai__agent-nonstream-web-search-fast.json").read_bytes()))
    assert answer.text == ("The official TypeScript website is **typescriptlang.org**; TypeScript "
                           "is a strongly typed programming language that builds on JavaScript "
                           "with syntax for types.[7]")
    assert answer.sources[6].url == "https://www.typescriptlang.org/"
    assert answer.usage.cost == 0.00119 and answer.usage.completion_tokens == 36
    assert answer.steps[0].keywords[0].startswith("Find the official TypeScript website")

    answer = build_answer(parse_agent_response(
        (AGENT / "cfdude-mcp-perplexity-pro__nonstream-fast-preset-search.json").read_bytes()))
    assert answer.text == ("Python 3.14.8 is the current stable release, released September 30, "
                           "2026.[1][3]")
    assert [(s.number, s.url) for s in answer.sources[:3:2]] == [
        (1, "https://www.python.org/doc/versions/"), (3, "https://www.python.org/downloads/")]
    assert answer.usage.cost == 0.00125 and answer.usage.cost_details["cache_read_cost"] == 2e-05


def test_non_streaming_status_on_http_200():
    incomplete = parse_agent_response(json.dumps(response(
        "incomplete", output=[], incomplete_details={"reason": "max_output_tokens"})))
    assert incomplete[-1].reason == "length"
    failed = parse_agent_response(json.dumps(response("failed", error={"message": "boom"})))
    assert failed[-1].error.message == "boom"
    queued = parse_agent_response(json.dumps(response("queued")))
    assert queued[-1].error.kind is ErrorKind.PROTOCOL and "queued" in queued[-1].error.message
    [envelope] = parse_agent_response(b'{"error": {"message": "bad key", "code": 401}}')
    assert envelope.error.kind is ErrorKind.AUTH
    [junk] = parse_agent_response(b"not json")
    assert junk.error.kind is ErrorKind.PROTOCOL


def test_usage_update_comes_from_the_final_response_only():
    events = run(agent_wire(STREAM))
    assert sum(isinstance(e, UsageUpdate) for e in events) == 1


# ----------------------------------------------------------------------------- the SDK's events

IMAGE = {"image_url": "https://img.example/owl.jpg", "origin_url": "https://birds.example/owl",
         "title": "Barn owl", "width": 640, "height": 480}


def test_image_searches_are_steps_and_their_images_are_kept():
    events = run(frame(
        created(),
        {"type": "response.reasoning.image_search_queries", "call_id": "i1",
         "queries": ["barn owl"], "thought": "Looking for pictures", "sequence_number": 3},
        {"type": "response.reasoning.image_search_results", "call_id": "i1",
         "results": [IMAGE, {**IMAGE, "image_url": "javascript:alert(1)"}, {"title": "no url"}],
         "sequence_number": 4},
        delta("An owl."),
        {"type": "response.completed", "response": response()},
    ))
    answer = build_answer(events)
    [step] = answer.steps
    assert (step.kind, step.keywords, step.thought) == (
        "image_search", ("barn owl",), "Looking for pictures")
    assert [(r.url, r.title) for r in step.results] == [("https://birds.example/owl", "Barn owl")]
    assert [(i.url, i.origin_url, i.width, i.height, i.title) for i in answer.images] == [
        ("https://img.example/owl.jpg", "https://birds.example/owl", 640, 480, "Barn owl")]
    assert answer.sources == () and answer.finish_reason == "stop"


def test_image_results_of_a_whole_response_are_a_step_and_images():
    body = response(output=[
        {"type": "image_search_results", "queries": ["barn owl"], "results": [IMAGE]},
        {"type": "message", "id": "m", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "An owl.", "annotations": []}]}])
    answer = build_answer(parse_agent_response(json.dumps(body)))
    assert [(s.kind, s.keywords) for s in answer.steps] == [("image_search", ("barn owl",))]
    assert [i.url for i in answer.images] == ["https://img.example/owl.jpg"]


def test_a_loaded_skill_is_a_step():
    answer = build_answer(run(frame(
        created(), {"type": "response.skill.loaded", "name": "office/docx", "sequence_number": 2},
        {"type": "response.skill.loaded", "name": "office/docx", "sequence_number": 3},
        delta("Done."), {"type": "response.completed", "response": response()})))
    assert [(s.kind, s.keywords) for s in answer.steps] == [("skill", ("office/docx",))]


def test_a_truncated_answer_in_the_sdks_terms_is_length():
    """The SDK has no response.incomplete event nor an incomplete status: a cut answer comes
    as response.completed whose incomplete_details says why (what the mock sends)."""
    cut = {"incomplete_details": {"reason": "max_output_tokens"}}
    events = run(frame(created(), delta("Trunc"),
                       {"type": "response.completed", "response": response(**cut)}))
    assert events[-1] == Finished("length", model="openai/gpt-5.1", detail="max_output_tokens")
    [*_, whole] = parse_agent_response(json.dumps(response(**cut)))
    assert whole.reason == "length"
    other = run(frame(created(), {"type": "response.completed", "response": response(
        incomplete_details={"reason": "content_filter"})}))
    assert (other[-1].reason, other[-1].detail) == ("incomplete", "content_filter")
    done = run(frame(created(), {"type": "response.completed", "response": response(
        incomplete_details=None)}))
    assert done[-1].reason == "stop"


def test_string_error_codes_classify_like_their_status():
    """ErrorInfo.code is a string in the SDK; recorded envelopes carry ints. Both classify."""
    server = run(frame(created(), delta("Pa"), {"type": "response.failed", "error": {
        "code": "server_error", "message": "provider failed", "type": "internal_error"}}))
    assert server[-1].error.kind is ErrorKind.SERVER and server[-1].error.partial
    numeric = run(frame(created(), {"type": "response.failed", "error": {
        "code": "503", "message": "overloaded"}}))
    assert numeric[-1].error.kind is ErrorKind.SERVER and numeric[-1].error.status == 503
    limited = run(frame(created(), {"type": "error", "error": {
        "code": "rate_limit_exceeded", "message": "slow down"}}))
    assert limited[-1].error.kind is ErrorKind.RATE_LIMIT
    legacy = run(frame(created(), {"type": "response.failed", "error": {
        "code": 500, "message": "int code, as recorded envelopes have"}}))
    assert legacy[-1].error.kind is ErrorKind.SERVER


def test_statuses_this_client_cannot_continue_say_why():
    for status, words in (("queued", "background"), ("in_progress", "background"),
                          ("requires_action", "tool")):
        [*_, failed] = parse_agent_response(json.dumps(response(status)))
        assert failed.error.kind is ErrorKind.PROTOCOL, status
        assert status in failed.error.message and words in failed.error.message, status
    [*_, cancelled] = parse_agent_response(json.dumps(response("cancelled")))
    assert "cancelled" in cancelled.error.message


def test_every_event_type_of_the_sdk_is_understood():
    """One valid example of each member of the SDK's event union (checked against its model):
    none may fail or confuse the parser; unknown types are skipped."""
    item = {"type": "message", "id": "m", "role": "assistant", "status": "completed",
            "content": []}
    examples = [
        created(),
        {"type": "response.in_progress", "response": response("in_progress")},
        {"type": "response.output_item.added", "item": item, "output_index": 0},
        {"type": "response.reasoning.started", "thought": "Planning"},
        {"type": "response.reasoning.search_queries", "queries": ["q"]},
        {"type": "response.reasoning.search_results", "results": [
            {"id": 1, "url": "https://a.example/", "title": "A", "snippet": "s"}]},
        {"type": "response.reasoning.image_search_queries", "call_id": "i", "queries": ["q"]},
        {"type": "response.reasoning.image_search_results", "call_id": "i", "results": [IMAGE]},
        {"type": "response.reasoning.fetch_url_queries", "urls": ["https://a.example/"]},
        {"type": "response.reasoning.fetch_url_results", "contents": [
            {"url": "https://a.example/", "title": "A", "snippet": "s"}]},
        {"type": "response.reasoning.stopped"},
        {"type": "response.skill.loaded", "name": "office"},
        {"type": "response.unknown.future", "anything": [1, 2]},
        {**delta("Hi"), "item_id": "m", "output_index": 0},
        {"type": "response.output_text.done", "text": "Hi", "item_id": "m", "output_index": 0,
         "content_index": 0},
        {"type": "response.output_item.done", "output_index": 0, "item": {
            **item, "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}},
        {"type": "response.completed", "response": response()},
    ]
    for number, example in enumerate(examples):
        example.setdefault("sequence_number", number)
    known = [e for e in examples if e["type"] in EVENT_TYPES]
    assert {e["type"] for e in known} == EVENT_TYPES - {"response.failed"}
    assert [p for e in known for p in agent_event_problems(e)] == []
    answer = build_answer(run(frame(*examples)))
    assert answer.text == "Hi" and answer.finish_reason == "stop"
    assert [s.kind for s in answer.steps] == ["web_search", "image_search", "fetch_url_content",
                                              "skill"]
    assert event_class_for("response.failed").model_validate(
        {"type": "response.failed", "sequence_number": 1, "error": {"message": "x"}})
