"""The Agent API (``/v1/responses``, ``/v1/agent``) on the wire.

Mirrors ``tests/fixtures/agent/vercel-ai__agent-stream-web-search-fast.chunks.jsonl``:
``event: <type>`` + ``data: <compact, alphabetically keyed JSON>`` + a blank line, no
``[DONE]``; ``response.created`` shows the preset name as ``model`` and
``response.completed`` the resolved one; a ``search_web`` function call at output index 0
that completes as a ``search_results`` item; sequence numbers skip 2 and the one before
``response.output_text.done``.

Where the capture and Perplexity's SDK (``perplexity/generated/api.py``, the contract) differ,
the mock follows the SDK, so that every body and event validates against its models: the
message is announced with ``content: []`` (the capture shows ``null``), error codes are
strings, and only the SDK's event types and statuses are sent. sonar-tui's own parser still
accepts the captured forms.

Outcomes besides ``completed``: ``incomplete``, a truncated answer, is ``response.completed``
with ``incomplete_details.reason = max_output_tokens`` (the SDK has neither a
``response.incomplete`` event nor an ``incomplete`` status); ``failed`` is a
``response.failed`` event with the error (in a 200 body: ``status: failed`` and ``error``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from sonar_tui.mock.content import MockAnswer
from sonar_tui.mock.jsonenc import go_json, go_string

Outcome = Literal["completed", "incomplete", "failed"]

# Preset -> the model it resolved to live or in the docs (agent-api.md §3.3).
PRESET_MODELS: dict[str, str] = {
    "fast": "openai/gpt-6-luna",
    "fast-search": "openai/gpt-6-luna",
    "low": "openai/gpt-5.1",
    "pro-search": "openai/gpt-5.1",
    "medium": "openai/gpt-5.2",
    "high": "openai/gpt-5.2",
    "deep-research": "openai/gpt-5.2",
    "xhigh": "openai/gpt-5.5",
    "advanced-deep-research": "openai/gpt-5.5",
}
# ErrorInfo: code is a string in the SDK (the OpenAI Responses value); type as in the docs.
FAILURE = {"code": "server_error",
           "message": "the model provider returned an error; please retry",
           "type": "internal_error"}
_CACHED_PROMPT_TOKENS = 3004  # every capture reads a cached preset prompt of this order
_SEARCH_FEE = 0.001


@dataclass(frozen=True)
class AgentWire:
    """Per-response facts: ids, models, echoed request fields and the outcome."""

    response_id: str
    message_id: str
    call_id: str
    function_call_id: str
    requested_model: str  # what response.created shows (the effort/preset name when sent)
    resolved_model: str  # what the final object shows
    created: int
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the response repeats
    search: bool = True
    outcome: Outcome = "completed"
    max_output_tokens: int | None = None  # answers longer than this end "incomplete"
    input_tokens: int = 10


def plan_pieces(answer: MockAnswer, wire: AgentWire) -> tuple[tuple[str, ...], Outcome]:
    """The text pieces that will be sent, and the outcome that follows them."""
    pieces = answer.chunks
    outcome = wire.outcome
    if outcome == "incomplete":
        pieces = pieces[:max(1, len(pieces) // 2)]
    elif outcome == "failed":
        pieces = pieces[:max(1, len(pieces) * 3 // 10)]
    if wire.max_output_tokens is not None:
        cap = max(16, wire.max_output_tokens)  # values under 16 are floored to 16
        if len(pieces) > cap:
            pieces, outcome = pieces[:cap], ("failed" if outcome == "failed" else "incomplete")
    return pieces, outcome


def _usage(answer: MockAnswer, wire: AgentWire, output_tokens: int) -> dict[str, Any]:
    cached = _CACHED_PROMPT_TOKENS
    uncached = wire.input_tokens
    cache_read_cost = round(cached * 1e-8, 5)
    input_cost = round(uncached * 1.25e-6, 5)
    output_cost = round(output_tokens * 5e-7, 5)
    cost: dict[str, Any] = {"cache_read_cost": cache_read_cost, "currency": "USD",
                            "input_cost": input_cost, "output_cost": output_cost}
    usage: dict[str, Any] = {
        "input_tokens": cached + uncached,
        "input_tokens_details": {"cache_creation_input_tokens": 0,
                                 "cache_read_input_tokens": cached, "cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": cached + uncached + output_tokens,
    }
    tools = _SEARCH_FEE if wire.search and answer.sources else 0.0
    if tools:
        cost["tool_calls_cost"] = tools
        cost["tool_calls_cost_details"] = {"search_web": tools}
        usage["tool_calls_details"] = {"search_web": {"cost_usd": tools, "invocation": 1}}
    cost["total_cost"] = round(cache_read_cost + input_cost + output_cost + tools, 5)
    usage["cost"] = cost
    return usage


def response_object(wire: AgentWire, *, status: str, output: list[dict[str, Any]],
                    usage: dict[str, Any] | None, final: bool,
                    error: dict[str, Any] | None = None,
                    truncated: bool = False) -> dict[str, Any]:
    """The full response object (a stream snapshot or the final state)."""
    echo = wire.echo
    body: dict[str, Any] = {
        "background": echo.get("background", False),
        "completed_at": None if status != "completed" or truncated else wire.created,
        "created_at": wire.created,
        "error": error,
        "frequency_penalty": 0,
        "id": wire.response_id,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": echo.get("max_tool_calls"),
        "metadata": echo.get("metadata") or {},
        "model": wire.resolved_model if final else wire.requested_model,
        "object": "response",
        "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "presence_penalty": 0,
        "previous_response_id": echo.get("previous_response_id"),
        "prompt_cache_key": echo.get("prompt_cache_key"),
        "reasoning": echo.get("reasoning"),
        "safety_identifier": None,
        "service_tier": "fast" if final else "default",
        "status": status,
        "store": echo.get("store", True),
        "temperature": echo.get("temperature", 1),
        "text": {"format": {"type": "text"}},
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools") or [],
        "top_logprobs": 0,
        "top_p": echo.get("top_p", 1),
        "truncation": echo.get("truncation", ""),
        "usage": usage,
        "user": None,
    }
    if "effort" in echo:  # the SDK's response model carries both; preset is the old name
        body["effort"] = body["preset"] = echo["effort"]
    return body


def _search_items(answer: MockAnswer, wire: AgentWire) -> tuple[dict, dict, list]:
    queries = list(answer.queries)
    call = {"arguments": go_json({"queries": queries}), "call_id": wire.call_id,
            "id": wire.function_call_id, "name": "search_web", "status": "completed",
            "type": "function_call"}
    results = [source.agent_result(number) for number, source in enumerate(answer.sources, 1)]
    done = {"queries": queries, "results": results, "type": "search_results"}
    return call, done, results


def search_item(answer: MockAnswer, wire: AgentWire) -> dict[str, Any]:
    """The ``search_results`` output item of an answer's search."""
    return _search_items(answer, wire)[1]


def _message_item(wire: AgentWire, text: str | None) -> dict[str, Any]:
    content = [] if text is None else [{"annotations": [], "text": text, "type": "output_text"}]
    return {"content": content, "id": wire.message_id, "role": "assistant",
            "status": "completed", "type": "message"}


def final_object(answer: MockAnswer, wire: AgentWire) -> dict[str, Any]:
    """What a non-streaming request returns (HTTP 200 whatever the outcome)."""
    pieces, outcome = plan_pieces(answer, wire)
    output: list[dict[str, Any]] = []
    if wire.search and answer.sources:
        output.append(_search_items(answer, wire)[1])
    if outcome == "failed":
        return response_object(wire, status="failed", output=output, usage=None, final=True,
                               error=dict(FAILURE))
    output.append(_message_item(wire, "".join(pieces)))
    return response_object(wire, status="completed", output=output,
                           usage=_usage(answer, wire, len(pieces)), final=True,
                           truncated=outcome == "incomplete")


def agent_body(answer: MockAnswer, wire: AgentWire) -> bytes:
    return go_json(final_object(answer, wire)).encode()


def _event(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {go_json(payload)}\n\n".encode()


def agent_stream(answer: MockAnswer, wire: AgentWire) -> Iterator[bytes]:
    """The typed SSE events of one streamed response."""
    pieces, outcome = plan_pieces(answer, wire)
    sequence = 0

    def event(type_: str, **fields: Any) -> bytes:
        nonlocal sequence
        payload = {**fields, "sequence_number": sequence, "type": type_}
        sequence += 1
        return _event(payload)

    snapshot = response_object(wire, status="in_progress", output=[], usage=None, final=False)
    yield event("response.created", response=snapshot)
    yield event("response.in_progress", response=snapshot)
    sequence += 1  # the capture never shows sequence number 2

    output: list[dict[str, Any]] = []
    if wire.search and answer.sources:
        call, done, results = _search_items(answer, wire)
        yield event("response.output_item.added", item=call, output_index=0)
        yield event("response.reasoning.search_queries", call_id=wire.call_id,
                    queries=list(answer.queries), thought="Searching the web...")
        yield event("response.reasoning.search_results", call_id=wire.call_id, results=results,
                    thought=f"Found {len(results)} results")
        yield event("response.output_item.done", item=done, output_index=0)
        output.append(done)
    index = len(output)
    yield event("response.output_item.added", item=_message_item(wire, None),
                output_index=index)

    head = 'event: response.output_text.delta\ndata: {"content_index":0,"delta":'
    middle = f',"item_id":{go_string(wire.message_id)},"output_index":{index},"sequence_number":'
    tail = ',"type":"response.output_text.delta"}\n\n'
    for piece in pieces:
        yield f"{head}{go_string(piece)}{middle}{sequence}{tail}".encode()
        sequence += 1

    if outcome == "failed":
        failed = response_object(wire, status="failed", output=output, usage=None, final=True,
                                 error=dict(FAILURE))
        yield event("response.failed", error=dict(FAILURE), response=failed)
        return

    text = "".join(pieces)
    sequence += 1  # nor the one before output_text.done
    yield event("response.output_text.done", content_index=0, item_id=wire.message_id,
                output_index=index, text=text)
    message = _message_item(wire, text)
    yield event("response.output_item.done", item=message, output_index=index)
    output.append(message)
    final = response_object(wire, status="completed", output=output,
                            usage=_usage(answer, wire, len(pieces)), final=True,
                            truncated=outcome == "incomplete")
    yield event("response.completed", response=final)


def malformed_event() -> bytes:
    """A delta event cut off mid-string: a tolerant client skips it."""
    return b'event: response.output_text.delta\ndata: {"content_index":0,"delta":"cut sh\n\n'


__all__ = ["AgentWire", "FAILURE", "PRESET_MODELS", "agent_body", "agent_stream",
           "final_object", "malformed_event", "plan_pieces", "response_object", "search_item"]
