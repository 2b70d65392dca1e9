"""Validation and auth as the real services do them, with their error envelopes."""

from __future__ import annotations

import json

import httpx
import pytest

from sonar_tui.mock import start_mock
from tests.mock.helpers import AUTH, ask_agent, ask_sonar


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == response.status_code
    return body["error"]


SONAR_401 = "openclaw-36182__error-401-json-invalid-api-key.json"
SONAR_ALTERNATION = "unknown-repo__error-400-invalid-message-alternation.json"
SONAR_INVALID_MODEL = "AgentPrice__error-400-invalid-model.json"


def _recorded(fixtures_dir, folder: str, name: str) -> bytes:
    return (fixtures_dir / folder / name).read_bytes()


# ----------------------------------------------------------------------------- auth


def test_missing_or_malformed_authorization_is_the_recorded_401(mock, fixtures_dir):
    recorded = _recorded(fixtures_dir, "sonar", SONAR_401)
    with httpx.Client(base_url=mock.url) as http:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
            for path in ("/chat/completions", "/v1/responses", "/v1/models"):
                response = http.request("GET" if path == "/v1/models" else "POST", path,
                                        headers=headers, json={})
                assert response.status_code == 401
                assert response.content == recorded


def test_any_key_passes_unless_one_is_configured(fixtures_dir):
    recorded = _recorded(fixtures_dir, "sonar", SONAR_401)

    def status(url: str, key: str) -> httpx.Response:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
            return ask_sonar(http, stream=False)

    with start_mock(api_key="right") as mock:
        wrong = status(mock.url, "wrong")
        assert wrong.status_code == 401 and wrong.content == recorded
        assert status(mock.url, "right").status_code == 200
        mock.service.api_key = None
        assert status(mock.url, "anything").status_code == 200


def test_models_listing_needs_auth_and_lists_models(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = {model["id"] for model in body["data"]}
    assert {"sonar", "sonar-pro", "perplexity/sonar"} <= ids


def test_unknown_path_and_wrong_method(client):
    missing = client.post("/v2/nothing", json={})
    assert missing.status_code == 404 and _error(missing)["type"] == "not_found"
    assert client.get("/chat/completions").status_code == 405


def test_the_service_records_what_it_received(mock, client):
    ask_sonar(client, "first?")
    ask_agent(client, "second?", stream=False)
    assert mock.service.last_body()["input"] == "second?"
    assert mock.service.last_body("/chat/completions")["messages"][0]["content"] == "first?"
    assert mock.service.last_body("/v1/sonar") is None
    assert [r.path for r in mock.requests] == ["/chat/completions", "/v1/responses"]
    assert mock.requests[0].headers["authorization"] == AUTH["Authorization"]


# ----------------------------------------------------------------------------- Sonar


def test_invalid_model_uses_the_recorded_message(client, fixtures_dir):
    recorded = json.loads(_recorded(fixtures_dir, "sonar", SONAR_INVALID_MODEL))
    response = ask_sonar(client, model="sonar-large-online")
    assert response.status_code == 400 and response.json() == recorded
    for retired in ("sonar-reasoning", "r1-1776", "llama-3.1-sonar-small-128k-online"):
        assert _error(ask_sonar(client, model=retired))["type"] == "invalid_model"


@pytest.mark.parametrize("roles", [
    ["user", "user"], ["assistant", "user"], ["user", "system", "user"],
    ["system", "user", "assistant", "assistant", "user"],
])
def test_roles_must_alternate_with_the_recorded_message(client, fixtures_dir, roles):
    recorded = _recorded(fixtures_dir, "sonar", SONAR_ALTERNATION)
    messages = [{"role": role, "content": "hi"} for role in roles]
    response = client.post("/chat/completions", json={"model": "sonar", "messages": messages})
    assert response.status_code == 400 and response.content == recorded


def test_last_message_must_be_from_the_user(client):
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"}]
    response = client.post("/chat/completions", json={"model": "sonar", "messages": messages})
    error = _error(response)
    assert error == {"message": "Last message must have role `user`.", "type": "invalid_message",
                     "code": 400}


def test_system_then_user_and_tool_turns_are_accepted(client):
    messages = [{"role": "system", "content": "a"}, {"role": "system", "content": "b"},
                {"role": "user", "content": "q"}, {"role": "assistant", "content": "x"},
                {"role": "tool", "content": "result", "tool_call_id": "t1"}]
    assert client.post("/chat/completions", json={"model": "sonar", "messages": messages,
                                                  "stream": False}).status_code == 200


@pytest.mark.parametrize(("fields", "needle"), [
    ({"temperature": 2}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": 4096}, "top_k"),
    ({"frequency_penalty": 0}, "Frequency penalty must satisfy p > 0"),
    ({"frequency_penalty": -1}, "Frequency penalty must satisfy p > 0"),
    ({"search_recency_filter": "decade"}, "search_recency_filter"),
    ({"search_after_date_filter": "2025-03-01"}, "%m/%d/%Y"),
    ({"last_updated_before_filter": "2/30/2025"}, "%m/%d/%Y"),
    ({"search_recency_filter": "week", "search_after_date_filter": "3/1/2025"},
     "cannot be combined"),
    ({"search_domain_filter": [f"site{i}.com" for i in range(21)]}, "at most 20"),
    ({"search_domain_filter": ["nature.com", "-reddit.com"]}, "cannot mix"),
    ({"image_domain_filter": [f"img{i}.com" for i in range(11)]}, "at most 10"),
    ({"image_format_filter": ["PNG"]}, "lowercase"),
    ({"image_format_filter": [".png"]}, "lowercase"),
    ({"image_format_filter": ["png"] * 11}, "at most 10"),
    ({"stream_mode": "fast"}, "stream_mode"),
    ({"web_search_options": {"search_context_size": "huge"}}, "search_context_size"),
    ({"max_tokens": 0}, "max_tokens"),
])
def test_sonar_parameter_rules(client, fields, needle):
    response = ask_sonar(client, **fields)
    assert response.status_code == 400
    assert needle in _error(response)["message"]


@pytest.mark.parametrize("fields", [
    {"temperature": 0, "top_p": 1, "top_k": 0, "frequency_penalty": 0.5},
    {"search_after_date_filter": "3/1/2025", "search_before_date_filter": "03/15/2025",
     "last_updated_after_filter": "1/1/2024"},
    {"search_domain_filter": ["-reddit.com", "-pinterest.com"]},
    {"search_domain_filter": ["nature.com", "https://docs.python.org/3/tutorial/"]},
    {"search_recency_filter": "hour", "image_format_filter": ["gif", "webp"]},
    {"unknown_internal_field": True, "thread_id": "x"},  # Sonar ignores extra fields
])
def test_sonar_accepts_valid_parameters(client, fields):
    assert ask_sonar(client, stream=False, **fields).status_code == 200


# ----------------------------------------------------------------------------- Agent API


@pytest.mark.parametrize(("body", "param"), [
    ({"preset": "fast", "input": "q", "messages": []}, "messages"),
    ({"preset": "fast", "input": "q", "text": {"format": {"type": "text"}}}, "text"),
    ({"preset": "fast", "input": "q", "frequency_penalty": 0}, "frequency_penalty"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search", "search_mode": "web"}]},
     "search_mode"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search",
                                                 "filters": {"search_context_size": "low"}}]},
     "search_context_size"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search",
                                                 "user_location": {"zip": "1"}}]}, "zip"),
    ({"preset": "fast", "input": [{"role": "user", "content": "q", "name": "x"}]}, "name"),
    ({"preset": "fast", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "q", "cache": True}]}]}, "cache"),
    ({"preset": "fast", "input": "q", "reasoning": {"effort": "low", "budget": 1}}, "budget"),
])
def test_agent_rejects_unknown_fields_at_any_depth(client, body, param):
    response = client.post("/v1/responses", json=body)
    assert response.status_code == 400
    assert _error(response) == {"message": f'invalid request body: json: unknown field "{param}"',
                                "type": "invalid_request", "code": 400, "param": param}


def test_agent_reports_the_first_unknown_field_in_document_order(client):
    response = client.post("/v1/responses", content=json.dumps(
        {"preset": "fast", "zeta": 1, "input": "q", "alpha": 2}), headers={
        "content-type": "application/json"})
    assert _error(response)["param"] == "zeta"


@pytest.mark.parametrize(("body", "fixture"), [
    ({"preset": "fast", "input": ""}, "cfdude-mcp-perplexity-pro__error-400-empty-input.json"),
    ({"preset": "fast", "input": []}, "cfdude-mcp-perplexity-pro__error-400-empty-input.json"),
    ({"model": "anthropic/claude-sonnet-4-5", "input": "q"},
     "cfdude-mcp-perplexity-pro__error-400-anthropic-needs-max-output-tokens.json"),
    ({"preset": "fast", "input": "q", "max_steps": 0},
     "cfdude-mcp-perplexity-pro__error-400-max-steps-zero.json"),
])
def test_agent_recorded_validation_errors(client, fixtures_dir, body, fixture):
    response = client.post("/v1/agent", json=body)
    assert response.status_code == 400
    assert response.json() == json.loads(_recorded(fixtures_dir, "agent", fixture))


@pytest.mark.parametrize(("body", "needle"), [
    ({"input": "q"}, "one of model, models, effort or preset"),
    ({"preset": "turbo", "input": "q"}, "preset"),
    ({"model": "sonar", "input": "q"}, "is not supported"),
    ({"model": "sonar-pro", "input": "q"}, "is not supported"),
    ({"models": ["openai/gpt-5.1"] * 6, "input": "q"}, "at most 5"),
    ({"preset": "fast", "input": "q", "max_steps": 101}, "max steps"),
    ({"preset": "fast", "input": "q", "temperature": 3}, "temperature"),
    ({"preset": "fast", "input": "q", "max_output_tokens": "many"}, "cannot unmarshal string"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search", "filters": {
        "search_recency_filter": "decade"}}]}, "search_recency_filter"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search", "filters": {
        "search_domain_filter": [f"d{i}.com" for i in range(21)]}}]}, "at most 20"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search", "filters": {
        "search_domain_filter": ["https://python.org"]}}]}, "scheme"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search", "filters": {
        "search_recency_filter": "week", "search_after_date_filter": "3/1/2025"}}]},
     "cannot be combined"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "web_search", "filters": {
        "search_before_date_filter": "2025/03/01"}}]}, "%m/%d/%Y"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "function", "name": "search_web"}]},
     "reserved"),
    ({"preset": "fast", "input": "q", "tools": [{"type": "telepathy"}]}, "unsupported type"),
])
def test_agent_semantic_rules(client, body, needle):
    response = client.post("/v1/responses", json=body)
    assert response.status_code == 400
    assert needle in _error(response)["message"]


@pytest.mark.parametrize("body", [
    {"preset": "fast", "input": "What is new in Python?", "instructions": "Cite sources.",
     "max_output_tokens": 400, "reasoning": {"effort": "low"},
     "tools": [{"type": "web_search", "filters": {"search_domain_filter": ["python.org"],
                                                  "search_recency_filter": "month"},
                "user_location": {"country": "US"}}]},  # the recorded request
    {"model": "perplexity/sonar", "input": "q", "tools": [{"type": "web_search",
                                                           "search_context_size": "high"}]},
    {"models": ["openai/gpt-5.1", "anthropic/claude-sonnet-4-5"], "max_output_tokens": 100,
     "input": "q"},
    {"preset": "pro-search", "input": "q", "store": False, "max_tool_calls": 0},
])
def test_agent_accepts_valid_requests(client, body):
    assert client.post("/v1/responses", json=body).status_code == 200


def test_agent_accepts_the_recorded_replayed_history(client, fixtures_dir):
    meta = json.loads(_recorded(fixtures_dir, "agent",
                                "cfdude-mcp-perplexity-pro__request-chat-replay-history.meta.json"))
    assert client.post(meta["endpoint"], json=meta["request"]).status_code == 200


def _wire_names(model) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_the_strict_decoder_accepts_every_field_the_sdk_can_send():
    """The mock refuses unknown fields like the service; it must not refuse one Perplexity's
    own SDK sends (that is how effort-only requests were refused)."""
    from perplexity.generated import api as sdk

    from sonar_tui.mock.validation import _ITEMS, _PARTS, _TOOLS, _TOP_LEVEL, _WEB_SEARCH

    pairs = [
        (sdk.ResponsesRequestInput, _TOP_LEVEL),
        (sdk.ReasoningConfigInput, _TOP_LEVEL["reasoning"]),
        (sdk.ResponseFormatInput, _TOP_LEVEL["response_format"]),
        (sdk.JSONSchemaFormatInput, _TOP_LEVEL["response_format"]["json_schema"]),
        (sdk.WebSearchToolInput, _WEB_SEARCH),
        (sdk.WebSearchFiltersInput, _WEB_SEARCH["filters"]),
        (sdk.ToolUserLocationInput, _WEB_SEARCH["user_location"]),
        (sdk.FetchUrlToolInput, _TOOLS["fetch_url"]),
        (sdk.ImageSearchToolInput, _TOOLS["image_search"]),
        (sdk.ImageSearchFiltersInput, _TOOLS["image_search"]["filters"]),
        (sdk.FunctionToolInput, _TOOLS["function"]),
        (sdk.McpToolInput, _TOOLS["mcp"]),
        (sdk.InputMessageInput, _ITEMS["message"]),
        (sdk.FunctionCallInputInput, _ITEMS["function_call"]),
        (sdk.FunctionCallOutputInputInput, _ITEMS["function_call_output"]),
    ]
    refused = {model.__name__: sorted(_wire_names(model) - set(spec)) for model, spec in pairs}
    assert {name: fields for name, fields in refused.items() if fields} == {}
    part_fields = set().union(*(set(spec) for spec in _PARTS.values()))
    assert _wire_names(sdk.InputContentPartInput) <= part_fields
