"""Request validation as the real services do it, with their error envelopes.

Sonar (``sonar-chat-completions.md`` §3.3) is lenient about unknown fields but strict
about models, message roles and filter values. The Agent API (``agent-api.md`` §3, §7)
decodes strictly like Go's ``encoding/json`` with unknown fields disallowed: the first
unknown field in document order, at any depth, is a 400 ``invalid request body: json:
unknown field "X"`` with ``param``; semantic checks (``validation failed: ...``) follow.

Recorded texts are used wherever a recording exists (see :mod:`sonar_tui.mock.bodies`);
the others are marked "unrecorded" and worded in the same style.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from sonar_tui.mock.bodies import (
    ALTERNATION_MESSAGE,
    ANTHROPIC_MESSAGE,
    EMPTY_INPUT_MESSAGE,
    LAST_ROLE_MESSAGE,
    MAX_STEPS_MESSAGE,
    ErrorReply,
    invalid_model_message,
)

SONAR_MODELS = ("sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research")
AGENT_PRESETS = ("fast", "low", "medium", "high", "xhigh", "fast-search", "pro-search",
                 "deep-research", "advanced-deep-research")
# Effort levels (docs.perplexity.ai/docs/agent-api/effort), optionally pinned: "fast@2026-10-16.0".
AGENT_EFFORTS = ("fast", "low", "medium", "high", "xhigh")
AGENT_PROVIDERS = ("perplexity", "openai", "anthropic", "google", "xai")
RECENCY_VALUES = ("hour", "day", "week", "month", "year")
DATE_FILTERS = ("search_after_date_filter", "search_before_date_filter",
                "last_updated_after_filter", "last_updated_before_filter")
SONAR_DOMAIN_LIMIT = 20
AGENT_DOMAIN_LIMIT = 20
IMAGE_FILTER_LIMIT = 10

_DATE_RE = re.compile(r"^(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/(\d{4})$")


def _valid_date(value: Any) -> bool:
    """``%m/%d/%Y`` with optional leading zeros, and a real calendar date."""
    if not isinstance(value, str):
        return False
    match = _DATE_RE.match(value)
    if not match:
        return False
    month, day, year = (int(g) for g in match.groups())
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ============================================================================ Sonar


def _sonar_error(message: str, type_: str = "invalid_parameter") -> ErrorReply:
    return ErrorReply.json(400, message, type_)


def _check_roles(messages: list[dict[str, Any]]) -> ErrorReply | None:
    """System messages first, then user-side (user/tool) and assistant alternating, ending
    on the user side."""
    index = 0
    while index < len(messages) and messages[index].get("role") == "system":
        index += 1
    expected = "user"
    for message in messages[index:]:
        role = message.get("role")
        side = "user" if role in ("user", "tool") else role
        if side != expected:
            return _sonar_error(ALTERNATION_MESSAGE, "invalid_message")
        expected = "assistant" if side == "user" else "user"
    if messages[-1].get("role") not in ("user", "tool"):
        return _sonar_error(LAST_ROLE_MESSAGE, "invalid_message")
    return None


_PART_TYPES = ("text", "image_url", "file_url", "pdf_url", "video_url")


def _check_messages(messages: Any) -> ErrorReply | None:
    if not isinstance(messages, list) or not messages:
        return _sonar_error("messages must be a non-empty list", "invalid_message")  # unrecorded
    for message in messages:
        if not isinstance(message, dict):
            return _sonar_error("each message must be an object", "invalid_message")
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            return _sonar_error(f"Invalid role '{role}'", "invalid_message")
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind not in _PART_TYPES:
                    return _sonar_error(f"Unsupported content part type '{kind}'",
                                        "invalid_message")
        elif content is not None and not isinstance(content, str):
            return _sonar_error("message content must be a string or a list of parts",
                                "invalid_message")
    return _check_roles(messages)


def _check_choice(body: dict, name: str, choices: tuple[str, ...]) -> ErrorReply | None:
    if name in body and body[name] is not None and body[name] not in choices:
        return _sonar_error(f"{name} must be one of {', '.join(choices)} "
                            f"(got {body[name]!r})")
    return None


def _check_range(body: dict, name: str, low: float, high: float, *, high_open: bool = False,
                 integer: bool = False) -> ErrorReply | None:
    if name not in body or body[name] is None:
        return None
    value = body[name]
    ok = (_is_int(value) if integer else _is_number(value)) and low <= value and (
        value < high if high_open else value <= high)
    if not ok:
        bound = ")" if high_open else "]"
        return _sonar_error(f"{name} must be in the range [{low:g}, {high:g}{bound}")
    return None


def _check_domains(entries: Any, name: str, limit: int, *, scheme_allowed: bool,
                   error: Callable[[str], ErrorReply]) -> ErrorReply | None:
    if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip()
                                                for e in entries):
        return error(f"{name} must be a list of non-empty strings")
    if len(entries) > limit:
        return error(f"{name} accepts at most {limit} entries ({len(entries)} given)")
    denied = [e for e in entries if e.startswith("-")]
    if denied and len(denied) != len(entries):
        return error(f"{name} cannot mix allowed and excluded (-) entries")
    for entry in entries:
        if len(entry) > 253:
            return error(f"{name} entries must be at most 253 characters")
        if not scheme_allowed and "://" in entry:
            return error(f"{name} entries must not include a scheme: {entry}")
    return None


def _check_filters(body: dict, error: Callable[[str], ErrorReply]) -> ErrorReply | None:
    """Recency values, dates in %m/%d/%Y, and recency never with a date filter."""
    recency = body.get("search_recency_filter")
    if recency is not None and recency not in RECENCY_VALUES:
        return error(f"search_recency_filter must be one of {', '.join(RECENCY_VALUES)}")
    for name in DATE_FILTERS:
        value = body.get(name)
        if value is not None and not _valid_date(value):
            return error(f"{name} must be a date in the format %m/%d/%Y (got {value!r})")
    dated = [name for name in DATE_FILTERS if body.get(name)]
    if recency and dated:
        return error(f"search_recency_filter cannot be combined with {', '.join(dated)}")
    return None


def validate_sonar(body: Any) -> ErrorReply | None:
    """None when the chat-completions body would be accepted, else the 400 it gets."""
    if not isinstance(body, dict):
        return _sonar_error("Request body must be a JSON object", "invalid_request")
    model = body.get("model")
    if model not in SONAR_MODELS:
        return ErrorReply.json(400, invalid_model_message(str(model or "")), "invalid_model")
    problem = _check_messages(body.get("messages"))
    if problem:
        return problem
    if "stream" in body and not isinstance(body["stream"], bool):
        return _sonar_error("stream must be a boolean")
    checks = (
        _check_range(body, "temperature", 0, 2, high_open=True),
        _check_range(body, "top_p", 0, 1),
        _check_range(body, "top_k", 0, 2048, integer=True),
        _check_range(body, "presence_penalty", -2, 2),
        _check_range(body, "max_tokens", 1, 1 << 31, integer=True),
        _check_choice(body, "stream_mode", ("full", "concise")),
        _check_choice(body, "search_mode", ("web", "academic", "sec")),
        _check_choice(body, "reasoning_effort", ("minimal", "low", "medium", "high")),
    )
    for problem in checks:
        if problem:
            return problem
    penalty = body.get("frequency_penalty")
    if penalty is not None and (not _is_number(penalty) or penalty <= 0):
        return _sonar_error("Frequency penalty must satisfy p > 0")  # LibreChat#5176
    options = body.get("web_search_options")
    if options is not None:
        if not isinstance(options, dict):
            return _sonar_error("web_search_options must be an object")
        for problem in (_check_choice(options, "search_context_size", ("low", "medium", "high")),
                        _check_choice(options, "search_type", ("fast", "pro", "auto"))):
            if problem:
                return problem
    problem = _check_filters(body, _sonar_error)
    if problem:
        return problem
    if body.get("search_domain_filter") is not None:
        problem = _check_domains(body["search_domain_filter"], "search_domain_filter",
                                 SONAR_DOMAIN_LIMIT, scheme_allowed=True, error=_sonar_error)
        if problem:
            return problem
    if body.get("image_domain_filter") is not None:
        problem = _check_domains(body["image_domain_filter"], "image_domain_filter",
                                 IMAGE_FILTER_LIMIT, scheme_allowed=False, error=_sonar_error)
        if problem:
            return problem
    formats = body.get("image_format_filter")
    if formats is not None:
        if not isinstance(formats, list) or len(formats) > IMAGE_FILTER_LIMIT:
            return _sonar_error(f"image_format_filter accepts at most {IMAGE_FILTER_LIMIT} "
                                "entries")
        for fmt in formats:
            if not isinstance(fmt, str) or not fmt or fmt != fmt.lower() or "." in fmt:
                return _sonar_error("image_format_filter entries must be lowercase formats "
                                    f"without a dot, like png (got {fmt!r})")
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_schema", "regex"):
            return _sonar_error("response_format.type must be text, json_schema or regex")
    return None


# ============================================================================ Agent API

# Field specs: a set of allowed keys (values unchecked), a dict of key -> nested spec, or
# None (anything goes). Built from both SDK layers and the docs (agent-api.md §3).
_ANY = None
_WEB_SEARCH = {
    "type": _ANY,
    "filters": {name: _ANY for name in ("search_domain_filter", "search_recency_filter",
                                        *DATE_FILTERS)},
    "search_context_size": _ANY,
    "user_location": {name: _ANY for name in ("latitude", "longitude", "country", "region",
                                              "city")},
    "max_tokens": _ANY, "max_tokens_per_page": _ANY, "search_type": _ANY, "max_results": _ANY,
}
_TOOLS: dict[str, Any] = {
    "web_search": _WEB_SEARCH,
    "fetch_url": {"type": _ANY, "max_urls": _ANY, "total_budget_tokens": _ANY},
    "people_search": {"type": _ANY},
    "finance_search": {"type": _ANY},
    "sandbox": {"type": _ANY},
    "mcp": {name: _ANY for name in ("type", "server_label", "server_url", "allowed_tools",
                                    "authorization", "headers", "require_approval",
                                    "defer_loading")},
    "function": {name: _ANY for name in ("type", "name", "description", "parameters",
                                         "strict")},
    "image_search": {"type": _ANY, "filters": {"domain_filter": _ANY, "format_filter": _ANY,
                                               "safe_search": _ANY},
                     "max_results": _ANY},
    "connector": _ANY,
}
_PARTS: dict[str, Any] = {
    "input_text": {"type": _ANY, "text": _ANY},
    "input_image": {"type": _ANY, "image_url": _ANY, "detail": _ANY},
    "input_file": {"type": _ANY, "file_url": _ANY, "file_data": _ANY, "filename": _ANY},
    "output_text": {"type": _ANY, "text": _ANY, "annotations": _ANY, "logprobs": _ANY},
}
_ITEMS: dict[str, Any] = {
    "message": {"type": _ANY, "role": _ANY, "content": _ANY, "id": _ANY, "status": _ANY},
    "function_call": {name: _ANY for name in ("type", "id", "call_id", "name", "arguments",
                                              "status", "thought_signature")},
    "function_call_output": {name: _ANY for name in ("type", "id", "call_id", "output", "name",
                                                     "status", "thought_signature")},
}
_TOP_LEVEL = {
    name: _ANY for name in (
        "input", "model", "models", "preset", "effort", "instructions", "stream",
        "max_output_tokens", "previous_response_id", "store", "tools", "tool_choice",
        "reasoning", "response_format", "temperature", "top_p", "language_preference",
        "max_steps", "max_tool_calls", "background", "stream_options", "metadata",
        "truncation", "parallel_tool_calls", "service_tier", "prompt_cache_key", "profile",
        "skills", "step_budget_reminder")
} | {
    "reasoning": {"effort": _ANY, "summary": _ANY},
    "stream_options": {"include_usage": _ANY},
    "response_format": {"type": _ANY, "json_schema": {"name": _ANY, "schema": _ANY,
                                                      "description": _ANY, "strict": _ANY}},
}
# Go types of scalar fields, for "cannot unmarshal" errors.
_TOP_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "model": ("string", lambda v: isinstance(v, str)),
    "preset": ("string", lambda v: isinstance(v, str)),
    "effort": ("string", lambda v: isinstance(v, str)),
    "instructions": ("string", lambda v: isinstance(v, str)),
    "previous_response_id": ("string", lambda v: isinstance(v, str)),
    "stream": ("bool", lambda v: isinstance(v, bool)),
    "store": ("bool", lambda v: isinstance(v, bool)),
    "background": ("bool", lambda v: isinstance(v, bool)),
    "max_output_tokens": ("int", _is_int),
    "max_steps": ("int", _is_int),
    "max_tool_calls": ("int", _is_int),
    "temperature": ("float64", _is_number),
    "top_p": ("float64", _is_number),
    "models": ("[]string", lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v)),
    "tools": ("[]Tool", lambda v: isinstance(v, list)),
    "metadata": ("map[string]string", lambda v: isinstance(v, dict)),
}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _agent_error(message: str, param: str | None = None, type_: str = "invalid_request"
                 ) -> ErrorReply:
    return ErrorReply.json(400, message, type_, param)


def _unknown(name: str) -> ErrorReply:
    return _agent_error(f'invalid request body: json: unknown field "{name}"', param=name)


def _decode(value: Any, spec: Any) -> ErrorReply | None:
    """Go-style strict decoding: the first unknown key in document order, at any depth."""
    if spec is None or not isinstance(value, dict):
        return None
    for key, child in value.items():
        if key not in spec:
            return _unknown(key)
        problem = _decode(child, spec[key])
        if problem:
            return problem
    return None


def _decode_union(value: Any, table: dict[str, Any], default: str | None) -> ErrorReply | None:
    """Items whose allowed fields depend on their ``type``."""
    if not isinstance(value, dict):
        return None
    kind = value.get("type", default)
    spec = table.get(kind) if isinstance(kind, str) else None
    if kind not in table:
        return _agent_error(f"validation failed: unsupported type {kind!r}")  # unrecorded
    return _decode(value, spec)


def _decode_body(body: dict[str, Any]) -> ErrorReply | None:
    for key, value in body.items():
        if key not in _TOP_LEVEL:
            return _unknown(key)
        if key in _TOP_TYPES and value is not None:
            gotype, check = _TOP_TYPES[key]
            if not check(value):
                return _agent_error(f"invalid request body: json: cannot unmarshal "
                                    f"{_json_kind(value)} into Go struct field "
                                    f"ResponsesRequest.{key} of type {gotype}", param=key)
        if key == "tools" and isinstance(value, list):
            for tool in value:
                problem = _decode_union(tool, _TOOLS, None)
                if problem:
                    return problem
        elif key == "input" and isinstance(value, list):
            for item in value:
                problem = _decode_union(item, _ITEMS, "message")
                if problem:
                    return problem
                content = item.get("content") if isinstance(item, dict) else None
                if isinstance(content, list):
                    for part in content:
                        problem = _decode_union(part, _PARTS, None)
                        if problem:
                            return problem
        else:
            problem = _decode(value, _TOP_LEVEL[key])
            if problem:
                return problem
    return None


def _input_is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return not value
    return False


def _check_model_name(name: str) -> ErrorReply | None:
    provider, slash, rest = name.partition("/")
    if not slash or provider not in AGENT_PROVIDERS or not rest:
        return _agent_error(f'model "{name}" is not supported', type_="invalid_model")
    return None


def _check_web_search(tool: dict[str, Any]) -> ErrorReply | None:
    def error(message: str) -> ErrorReply:
        return _agent_error(f"validation failed: {message}")

    size = tool.get("search_context_size")
    if size is not None and size not in ("low", "medium", "high"):
        return error("search_context_size must be one of low, medium, high")
    filters = tool.get("filters") or {}
    if not isinstance(filters, dict):
        return error("filters must be an object")
    problem = _check_filters(filters, error)
    if problem:
        return problem
    if filters.get("search_domain_filter") is not None:
        return _check_domains(filters["search_domain_filter"], "search_domain_filter",
                              AGENT_DOMAIN_LIMIT, scheme_allowed=False, error=error)
    return None


_RESERVED_FUNCTIONS = ("web_search", "search_web", "people_search", "search_people",
                       "fetch_url", "finance_search", "sandbox")


def _check_tools(tools: list[Any]) -> ErrorReply | None:
    for tool in tools:
        if not isinstance(tool, dict):
            return _agent_error("validation failed: each tool must be an object")
        kind = tool.get("type")
        if kind == "web_search":
            problem = _check_web_search(tool)
            if problem:
                return problem
        elif kind == "fetch_url":
            urls = tool.get("max_urls")
            if urls is not None and not (_is_int(urls) and 1 <= urls <= 10):
                return _agent_error("validation failed: max_urls must be between 1 and 10")
        elif kind == "function" and tool.get("name") in _RESERVED_FUNCTIONS:
            return _agent_error(f"validation failed: function name {tool['name']!r} is "
                                "reserved", type_="invalid_parameter")
    return None


def validate_agent(body: Any, known_response: Callable[[str], bool] = lambda _: False
                   ) -> ErrorReply | None:
    """None when the Agent API would accept ``body``, else the 400 it gets.

    ``known_response(id)`` says whether ``previous_response_id`` names a completed
    response of this server (an unknown one is the recorded bare "invalid request").
    """
    if not isinstance(body, dict):
        return _agent_error("invalid request body: json: cannot unmarshal "
                            f"{_json_kind(body)} into Go value of type ResponsesRequest")
    problem = _decode_body(body)
    if problem:
        return problem
    if _input_is_empty(body.get("input")):
        return _agent_error(EMPTY_INPUT_MESSAGE)
    model, models, preset = body.get("model"), body.get("models"), body.get("preset")
    effort = body.get("effort")
    if not (model or models or preset or effort):
        return _agent_error(  # unrecorded
            "validation failed: one of model, models, effort or preset is required")
    if effort and effort.partition("@")[0] not in AGENT_EFFORTS:
        return _agent_error(f'validation failed: unknown effort "{effort}"')  # unrecorded
    if preset and preset not in AGENT_PRESETS:
        return _agent_error(f'validation failed: unknown preset "{preset}"')  # unrecorded
    if models:
        if len(models) > 5:
            return _agent_error("validation failed: models accepts at most 5 entries")
        for name in models:
            problem = _check_model_name(name)
            if problem:
                return problem
    elif model:
        problem = _check_model_name(model)
        if problem:
            return problem
    names = list(models or []) + ([model] if model else [])
    if any(name.startswith("anthropic/") for name in names) and not body.get("max_output_tokens"):
        return _agent_error(ANTHROPIC_MESSAGE)
    steps = body.get("max_steps")
    if steps is not None and steps < 1:
        return _agent_error(MAX_STEPS_MESSAGE)
    if steps is not None and steps > 100:
        return _agent_error("validation failed: max steps must be at most 100")
    for name, high in (("temperature", 2), ("top_p", 1)):
        value = body.get(name)
        if value is not None and not 0 <= value <= high:
            return _agent_error(f"validation failed: {name} must be between 0 and {high}")
    calls = body.get("max_tool_calls")
    if calls is not None and calls < 0:
        return _agent_error("validation failed: max_tool_calls must be at least 0")
    tokens = body.get("max_output_tokens")
    if tokens is not None and tokens < 1:
        return _agent_error("validation failed: max_output_tokens must be at least 1")
    problem = _check_tools(body.get("tools") or [])
    if problem:
        return problem
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") != "json_schema":
        return _agent_error("validation failed: response_format type must be json_schema")
    previous = body.get("previous_response_id")
    if previous is not None and not known_response(previous):
        return _agent_error("invalid request")  # recorded: the bare message
    return None


__all__ = ["AGENT_EFFORTS", "AGENT_PRESETS", "SONAR_MODELS", "validate_agent", "validate_sonar"]
