"""Odd but valid JSON anywhere the parsers look: never an exception, always one terminal event."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sonar_tui.api.agent import AgentStreamParser, parse_agent_response
from sonar_tui.api.events import TERMINAL_EVENTS
from sonar_tui.api.sonar import SonarStreamParser, parse_sonar_response

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=4)

SONAR_KEYS = ["id", "model", "object", "type", "error", "choices", "citations", "search_results",
              "usage", "images", "related_questions", "reasoning_steps"]
CHOICE_KEYS = ["delta", "message", "finish_reason"]
PART_KEYS = ["content", "reasoning_steps"]
STEP_KEYS = ["type", "thought", "web_search", "fetch_url_content", "execute_python"]
AGENT_TYPES = ["response.created", "response.output_text.delta", "response.output_text.done",
               "response.output_item.done", "response.reasoning.search_queries",
               "response.reasoning.search_results", "response.reasoning.fetch_url_queries",
               "response.reasoning.fetch_url_results", "response.completed",
               "response.incomplete", "response.failed", "response.cancelled", "error"]
AGENT_KEYS = ["response", "delta", "text", "item", "item_id", "content_index", "call_id",
              "queries", "results", "urls", "contents", "thought", "error"]


def shaped(keys, values):
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


STEP = shaped(STEP_KEYS, JSON | shaped(["search_keywords", "search_results", "contents", "code",
                                        "result"], JSON))
PART = shaped(PART_KEYS, JSON | st.lists(STEP, max_size=2))
CHOICE = shaped(CHOICE_KEYS, JSON | PART)
SONAR_CHUNK = shaped(SONAR_KEYS, JSON | st.lists(CHOICE, max_size=2) | st.lists(STEP, max_size=2)
                     | st.lists(JSON, max_size=3))
RESULT = shaped(["id", "url", "title", "date", "snippet"], JSON)
ITEM = shaped(["type", "results", "contents", "content", "role", "id", "queries"],
              JSON | st.lists(RESULT, max_size=2) | st.sampled_from(["search_results", "message"]))
RESPONSE = shaped(["status", "model", "output", "usage", "error", "incomplete_details", "id"],
                  JSON | st.lists(ITEM, max_size=2))
AGENT_EVENT = st.builds(lambda kind, rest: {**rest, "type": kind}, st.sampled_from(AGENT_TYPES),
                        shaped(AGENT_KEYS, JSON | RESPONSE | ITEM | st.lists(RESULT, max_size=2)))


def wire(payloads) -> bytes:
    return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)


def one_terminal_last(events):
    terminal = [i for i, e in enumerate(events) if isinstance(e, TERMINAL_EVENTS)]
    assert terminal == [len(events) - 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(SONAR_CHUNK, max_size=5))
def test_sonar_parser_survives_any_json(chunks):
    parser = SonarStreamParser()
    events = parser.feed(wire(chunks)) + parser.close()
    one_terminal_last(events)
    for chunk in chunks:
        one_terminal_last(parse_sonar_response(chunk))


@settings(max_examples=60, deadline=None)
@given(st.lists(AGENT_EVENT, max_size=6))
def test_agent_parser_survives_any_json(payloads):
    parser = AgentStreamParser()
    events = parser.feed(wire(payloads)) + parser.close()
    one_terminal_last(events)
    for payload in payloads:
        one_terminal_last(parse_agent_response(payload.get("response") if isinstance(
            payload.get("response"), dict) else payload))
