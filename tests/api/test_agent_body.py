"""The Agent API request body: an allow-list, checked against the recorded requests."""

import base64
import json

import pytest

from sonar_tui.api.agent import agent_unsupported, build_agent_body
from sonar_tui.api.conversation import AskRequest, Attachment, Turn
from sonar_tui.api.errors import ApiError, ErrorKind
from sonar_tui.api.settings import RequestSettings

from .wire import AGENT, ask, raw

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
TOP_LEVEL = {"model", "effort", "input", "previous_response_id", "instructions", "tools",
             "reasoning", "max_output_tokens", "response_format", "temperature", "top_p",
             "stream", "max_tool_calls"}
TOOL_KEYS = {"type", "filters", "search_context_size", "user_location"}
FILTER_KEYS = {"search_domain_filter", "search_recency_filter", "search_after_date_filter",
               "search_before_date_filter", "last_updated_after_filter",
               "last_updated_before_filter"}


def body(question="Q?", history=(), attachments=(), stream=True, **settings) -> dict:
    return build_agent_body(AskRequest(question, RequestSettings(**settings), list(history),
                                       list(attachments), stream=stream))


def recorded(name: str) -> dict:
    path = AGENT / f"cfdude-mcp-perplexity-pro__{name}.meta.json"
    return json.loads(path.read_text())["request"]


def _with_effort(request: dict) -> dict:
    """A recorded request as sent today: the SDK deprecates preset for effort (same names)."""
    request = dict(request)
    request["effort"] = request.pop("preset")
    return request


def test_recorded_fast_filters_request_is_reproduced_exactly():
    rec = recorded("request-fast-filters")
    b = body(rec["input"], model="sonar", system_prompt="Answer tersely. Cite sources.",
             max_tokens=400, reasoning_effort="low", domain_filter=["python.org"],
             recency="month", country="US")
    assert b.pop("stream") is True
    assert b == _with_effort(rec)


def test_recorded_history_replay_agrees():
    rec = recorded("request-chat-replay-history")
    items = rec["input"]
    history = [Turn(i["role"], i["content"]) for i in items[:-1]]
    b = body(items[-1]["content"], history, agent_effort="fast")
    assert b["effort"] == "fast"
    assert b["input"] == items
    assert set(b) - {"stream"} <= set(_with_effort(rec))


def test_recorded_plain_string_input_agrees():
    rec = recorded("request-chat-turn-b-previous-response-id")
    b = body(rec["input"])
    assert b["effort"] == rec["preset"] and b["input"] == rec["input"]
    assert set(b) - {"stream"} <= set(_with_effort(rec))


def test_a_continuation_sends_the_new_question_and_the_previous_response_id():
    rec = recorded("request-chat-turn-b-previous-response-id")
    history = [Turn("user", "My codeword is PELICAN."), Turn("assistant", "Noted.")]
    b = build_agent_body(AskRequest(rec["input"], RequestSettings(), history,
                                    previous_response_id=rec["previous_response_id"]))
    assert b.pop("stream") is True
    assert b == _with_effort(rec)  # the recorded turn B: no history replayed
    with_image = build_agent_body(AskRequest("And this?", RequestSettings(), history,
                                             [Attachment("dot.png", "image/png", PNG)],
                                             previous_response_id="resp_1"))
    assert [item["role"] for item in with_image["input"]] == ["user"]


def test_sonar_replays_the_history_whatever_the_previous_response():
    from sonar_tui.api.sonar import build_sonar_body

    request = AskRequest("and now?", RequestSettings(), [Turn("user", "hi"),
                                                         Turn("assistant", "hello")],
                         previous_response_id="resp_1")
    b = build_sonar_body(request)
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user"]
    assert "previous_response_id" not in json.dumps(b)


def test_sonar_models_map_to_effort_levels_and_slugs_to_model():
    for model, effort in (("sonar", "fast"), ("sonar-pro", "low"),
                          ("sonar-reasoning-pro", "medium"), ("sonar-deep-research", "high")):
        b = body(model=model)
        assert b["effort"] == effort and "preset" not in b and "model" not in b, model
    b = body(agent_model="openai/gpt-5.1")
    assert b["model"] == "openai/gpt-5.1" and "effort" not in b and "preset" not in b
    assert b["tools"] == [{"type": "web_search"}]  # a bare model only searches with the tool


def test_the_effort_setting_wins_and_can_steer_a_chosen_model():
    assert body(model="sonar", agent_effort="xhigh")["effort"] == "xhigh"
    assert body(model="sonar", agent_effort="high@2026-10-16.0")["effort"] == "high@2026-10-16.0"
    # With both, the effort level's bundle runs with the model swapped (the docs' override).
    b = body(agent_model="openai/gpt-5.5", agent_effort="medium")
    assert (b["effort"], b["model"]) == ("medium", "openai/gpt-5.5") and "tools" not in b
    # Preset names kept in agent_model by older configs still work, as effort levels.
    assert body(agent_model="pro-search")["effort"] == "low"
    assert body(agent_model="xhigh")["effort"] == "xhigh"
    assert body(model="gateway-alias")["model"] == "gateway-alias"  # nothing to map


def test_an_invalid_effort_is_refused_before_any_request():
    with pytest.raises(ApiError) as caught:
        body(agent_effort="turbo")
    assert caught.value.field == "agent_effort"


def test_effort_without_search_settings_sends_no_tools():
    assert "tools" not in body(agent_effort="fast")


def test_search_settings_sit_on_the_web_search_tool():
    b = body(domain_filter=["https://docs.python.org/3/", "nature.com"],
             published_after="3/1/2025", updated_before="12/31/2025",
             search_context_size="high", region="Bavaria", city="Munich", country="de")
    assert b["tools"] == [{
        "type": "web_search",
        "filters": {"search_domain_filter": ["docs.python.org/3/", "nature.com"],
                    "search_after_date_filter": "3/1/2025",
                    "last_updated_before_filter": "12/31/2025"},
        "search_context_size": "high",
        "user_location": {"country": "DE", "region": "Bavaria", "city": "Munich"},
    }]


def test_deny_entries_lose_the_scheme_but_keep_the_minus():
    b = body(domain_filter=["-https://www.reddit.com/r/python", "-pinterest.com"])
    assert b["tools"][0]["filters"]["search_domain_filter"] == ["-www.reddit.com/r/python",
                                                               "-pinterest.com"]


def test_disable_search():
    effort = body(disable_search=True, domain_filter=["nature.com"])
    assert effort["max_tool_calls"] == 0 and "tools" not in effort
    model = body(disable_search=True, agent_model="openai/gpt-5.1", domain_filter=["nature.com"])
    assert "tools" not in model and "max_tool_calls" not in model


def test_sec_search_mode_uses_the_finance_tool():
    assert {"type": "finance_search"} in body(search_mode="sec")["tools"]


def test_sampling_reasoning_output_and_schema():
    b = body(temperature=0.3, top_p=0.9, reasoning_effort="high", max_tokens=1024,
             response_format="json_schema", response_schema='{"type": "object"}', stream=False)
    assert b["temperature"] == 0.3 and b["top_p"] == 0.9
    assert b["reasoning"] == {"effort": "high"}
    assert b["max_output_tokens"] == 1024
    assert b["response_format"] == {"type": "json_schema",
                                    "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    assert b["stream"] is False


def test_regex_format_is_refused_naming_response_format():
    with pytest.raises(ApiError) as caught:
        body(response_format="regex", response_schema=r"\d+")
    assert caught.value.kind is ErrorKind.INVALID_SETTINGS
    assert caught.value.field == "response_format"
    assert "not supported by the Agent API" in caught.value.message


def test_invalid_settings_are_refused_before_mapping():
    with pytest.raises(ApiError) as caught:
        body(recency="day", updated_after="01/01/2025")
    assert caught.value.field == "recency"


def test_system_prompt_is_instructions_and_history_items():
    b = body("and now?", [Turn("assistant", "orphan"), Turn("user", "hi"), Turn("user", "there"),
                          Turn("assistant", "hello")], system_prompt="Be brief.")
    assert b["instructions"] == "Be brief."
    assert b["input"] == [
        {"type": "message", "role": "user", "content": "hi\n\nthere"},
        {"type": "message", "role": "assistant", "content": "hello"},
        {"type": "message", "role": "user", "content": "and now?"},
    ]


def test_images_are_input_image_parts():
    b = body("What is this?", attachments=[Attachment("dot.png", "image/png", PNG)])
    assert b["input"] == [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image",
         "image_url": "data:image/png;base64," + base64.b64encode(PNG).decode()}]}]


EVERYTHING_UNSUPPORTED = dict(
    search_mode="academic", search_type="pro", model="sonar-pro", return_images=True,
    return_related_questions=True, image_domain_filter=["example.com"],
    image_format_filter=["png"], stream_mode="concise")


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_allow_list_never_sends_unsupported_fields():
    b = body(**EVERYTHING_UNSUPPORTED, domain_filter=["nature.com"], search_context_size="low",
             country="US", recency="week", system_prompt="x", temperature=1.0, top_p=1.0,
             max_tokens=10, reasoning_effort="low", response_format="json_schema",
             response_schema='{"type": "object"}')
    assert set(b) <= TOP_LEVEL
    for tool in b["tools"]:
        assert set(tool) <= TOOL_KEYS
        assert set(tool.get("filters", {})) <= FILTER_KEYS
    sent = _keys({k: v for k, v in b.items() if k != "response_format"})
    for name in ("search_mode", "search_type", "return_images", "return_related_questions",
                 "image_domain_filter", "image_format_filter", "stream_mode",
                 "web_search_options", "messages", "disable_search", "max_tokens"):
        assert name not in sent


def test_agent_unsupported_names_ignored_settings():
    assert agent_unsupported(RequestSettings()) == []
    assert agent_unsupported(RequestSettings(search_mode="sec")) == []
    assert sorted(agent_unsupported(RequestSettings(**EVERYTHING_UNSUPPORTED))) == sorted(
        ["search_mode", "search_type", "return_images", "return_related_questions",
         "image_domain_filter", "image_format_filter", "stream_mode"])


async def test_refused_agent_settings_never_reach_the_network(serve):
    async def handler(request):
        return raw(500, b"{}")

    server = await serve(handler)
    _, answer = await ask(server.url, AskRequest("q", RequestSettings(
        response_format="regex", response_schema=r"\d+")), api_mode="agent")
    assert answer.error.field == "response_format" and server.requests == []


def test_every_body_is_a_request_perplexitys_sdk_would_send():
    """Types and names as in the SDK's request model; max_tool_calls is the one field it
    lacks (documented, and the only off switch for bundled tools)."""
    from perplexity.generated import api as sdk

    known = {f.alias or n for n, f in sdk.ResponsesRequestInput.model_fields.items()}
    variants = [
        body(),
        body(model="sonar-deep-research", agent_effort="xhigh@2026-10-16.0"),
        body(agent_model="openai/gpt-5.1", domain_filter=["nature.com"], recency="week",
             search_context_size="high", country="US", city="Boston"),
        body("and?", [Turn("user", "hi"), Turn("assistant", "hello")], system_prompt="Be brief.",
             temperature=0.5, top_p=0.9, max_tokens=300, reasoning_effort="low",
             response_format="json_schema", response_schema='{"type": "object"}'),
        body(disable_search=True, search_mode="sec"),
        body("What is this?", attachments=[Attachment("dot.png", "image/png", PNG)]),
        build_agent_body(AskRequest("next", RequestSettings(), previous_response_id="resp_1")),
    ]
    for sent in variants:
        assert set(sent) - known <= {"max_tool_calls"}, sorted(set(sent) - known)
        sdk.ResponsesRequestInput.model_validate(sent)
