"""Sonar Chat Completions on the wire: streams and bodies, era by era.

Shapes follow the recorded responses in ``tests/fixtures/sonar/`` (provenance in their
``SOURCES.md``):

- ``2024``: every chunk is ``object:"chat.completion"`` with the accumulated
  ``message.content`` and the incremental ``delta``; cumulative usage; Python separators.
- ``2025``: ``chat.completion.chunk`` with ``citations`` and ``search_results`` on every
  chunk, accumulated ``message``; Python separators (the 2025-08 raw-wire body).
- ``2026``: delta-only chunks, ``citations`` on every chunk, cumulative usage with a
  zero-cost skeleton, a final ``chat.completion.done`` with the full cost; compact JSON.
- concise mode (``chat.reasoning`` ... ``chat.completion.done``) and deep research (pings,
  research-phase chunks without ``choices``, ``data: [DONE]``). Live deep research has been
  reported to send malformed lines too; the mock keeps those to the ``malformed`` profile,
  so that a normal stream is one every SDK can read.

Each function returns the SSE events as ``bytes`` (one event per item) so the service can
pace them, add pings or cut the stream. Per-chunk events are built from pre-rendered
string templates: thousands of chunks render in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sonar_tui.mock.content import MockAnswer
from sonar_tui.mock.jsonenc import compact_json, python_json, raw_string

DONE_EVENT = b"data: [DONE]\n\n"
PING_EVENT = b": ping\n\n"

# Per million tokens (input, output) and the per-request search fee by context size.
_PRICES: dict[str, tuple[float, float, dict[str, float]]] = {
    "sonar": (1.0, 1.0, {"low": 0.005, "medium": 0.008, "high": 0.012}),
    "sonar-pro": (3.0, 15.0, {"low": 0.006, "medium": 0.01, "high": 0.014}),
    "sonar-reasoning-pro": (2.0, 8.0, {"low": 0.006, "medium": 0.01, "high": 0.014}),
    "sonar-deep-research": (2.0, 8.0, {"low": 0.005, "medium": 0.005, "high": 0.005}),
}


@dataclass(frozen=True)
class SonarWire:
    """Per-response facts the wire needs besides the answer itself."""

    response_id: str
    model: str
    created: int
    era: str = "2026"  # "2024" | "2025" | "2026"
    prompt_tokens: int = 10
    search_context_size: str = "low"
    images: bool = False
    related: bool = False
    max_tokens: int | None = None  # cut the answer here with finish_reason "length"
    deep: bool = False  # deep research: extra usage counters and costs


def _event(payload: str) -> bytes:
    return f"data: {payload}\n\n".encode()


def pieces_of(answer: MockAnswer, wire: SonarWire) -> tuple[tuple[str, ...], str]:
    """The content pieces to send (``<think>`` first) and the finish reason."""
    pieces = answer.think_chunks + answer.chunks
    if wire.max_tokens is not None and len(pieces) > max(1, wire.max_tokens):
        return pieces[:max(1, wire.max_tokens)], "length"
    return pieces, "stop"


# ----------------------------------------------------------------------------- usage


def final_usage(wire: SonarWire, completion: int, answer: MockAnswer) -> dict[str, Any]:
    """Usage with the full cost, in the era's key order."""
    price_in, price_out, fees = _PRICES.get(wire.model, _PRICES["sonar"])
    size = wire.search_context_size or "low"
    input_cost = round(wire.prompt_tokens * price_in / 1e6, 5)
    output_cost = round(completion * price_out / 1e6, 5)
    request_cost = fees.get(size, fees["low"]) if answer.sources else 0.0
    total = wire.prompt_tokens + completion
    if wire.era == "2024":
        return {"prompt_tokens": wire.prompt_tokens, "completion_tokens": completion,
                "total_tokens": total}
    if wire.era == "2025":
        usage: dict[str, Any] = {"prompt_tokens": wire.prompt_tokens,
                                 "completion_tokens": completion, "total_tokens": total,
                                 "search_context_size": size}
        cost = {"input_tokens_cost": float(input_cost), "output_tokens_cost": float(output_cost),
                "request_cost": request_cost,
                "total_cost": round(input_cost + output_cost + request_cost, 5)}
        usage["cost"] = cost
        return usage
    cost = {"input_tokens_cost": input_cost, "output_tokens_cost": output_cost,
            "request_cost": request_cost}
    usage = {"completion_tokens": completion, "prompt_tokens": wire.prompt_tokens,
             "search_context_size": size, "total_tokens": total}
    if wire.deep:
        reasoning_tokens = len(answer.think_chunks) * 9
        citation_tokens = 1200 * len(answer.sources)
        queries = 3 * max(1, len(answer.queries))
        usage.update({"citation_tokens": citation_tokens, "num_search_queries": queries,
                      "reasoning_tokens": reasoning_tokens})
        cost.update({"citation_tokens_cost": round(citation_tokens * 2 / 1e6, 5),
                     "reasoning_tokens_cost": round(reasoning_tokens * 3 / 1e6, 5),
                     "search_queries_cost": round(queries * 5 / 1000, 5)})
    cost["total_cost"] = round(sum(cost.values()), 5)
    usage["cost"] = dict(sorted(cost.items()))
    return dict(sorted(usage.items()))


def _interim_usage_2026(wire: SonarWire) -> tuple[str, str]:
    """Template halves around completion_tokens / total_tokens (alphabetical keys)."""
    size = raw_string(wire.search_context_size or "low")
    head = '{"completion_tokens":'
    mid = (',"cost":{"input_tokens_cost":0,"output_tokens_cost":0,"total_cost":0},'
           f'"prompt_tokens":{wire.prompt_tokens},"search_context_size":{size},"total_tokens":')
    return head, mid


# ----------------------------------------------------------------------------- bodies


def _top(wire: SonarWire, answer: MockAnswer, *, results: str | None) -> dict[str, Any]:
    """citations / search_results / images / related_questions, as this era shows them."""
    top: dict[str, Any] = {}
    if answer.sources:
        top["citations"] = answer.citations
        if results == "bare":
            top["search_results"] = [s.search_result(snippet=False, source=False)
                                     for s in answer.sources]
        elif results == "full":
            top["search_results"] = [s.search_result() for s in answer.sources]
    if wire.images and answer.images:
        top["images"] = [image.to_dict() for image in answer.images]
    if wire.related:
        top["related_questions"] = list(answer.related_questions)
    return top


def _results_style(wire: SonarWire) -> str | None:
    return {"2024": None, "2025": "bare"}.get(wire.era, "full")


def sonar_body(answer: MockAnswer, wire: SonarWire) -> bytes:
    """The non-streaming response body of this era."""
    pieces, finish = pieces_of(answer, wire)
    content = "".join(pieces)
    body: dict[str, Any] = {"id": wire.response_id, "model": wire.model, "created": wire.created,
                            "usage": final_usage(wire, len(pieces), answer)}
    body.update(_top(wire, answer, results=_results_style(wire)))
    body["object"] = "chat.completion"
    message = {"role": "assistant", "content": content}
    if wire.era == "2026":
        body["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
        return compact_json(body).encode()
    body["choices"] = [{"index": 0, "finish_reason": finish, "message": message,
                        "delta": {"role": "assistant", "content": ""}}]
    return python_json(body).encode()


# ----------------------------------------------------------------------------- full streams


def stream_2026(answer: MockAnswer, wire: SonarWire) -> Iterator[bytes]:
    """Delta-only chunks with cumulative usage; ends with ``chat.completion.done``."""
    pieces, finish = pieces_of(answer, wire)
    head = ('data: {"id":' + raw_string(wire.response_id) + ',"model":' + raw_string(wire.model)
            + ',"created":')
    usage_head, usage_mid = _interim_usage_2026(wire)
    citations = (',"citations":' + compact_json(answer.citations)) if answer.sources else ""
    tail = (f'{citations},"object":"chat.completion.chunk","choices":[{{"index":0,"delta":'
            '{"role":"assistant","content":')
    end = '},"finish_reason":null}]}\n\n'
    total = len(pieces)
    # created may move during a stream (1770768240 -> 1770768244 in the recorded capture)
    for index, piece in enumerate(pieces, 1):
        created = wire.created + (index * 4) // max(total, 1)
        yield (f"{head}{created},\"usage\":{usage_head}{index}{usage_mid}"
               f"{wire.prompt_tokens + index}}}{tail}{raw_string(piece)}{end}").encode()
    yield done_2026(answer, wire, len(pieces), finish)


def done_2026(answer: MockAnswer, wire: SonarWire, completion: int, finish: str,
              message: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"id": wire.response_id, "model": wire.model,
                            "created": wire.created + 4,
                            "usage": final_usage(wire, completion, answer)}
    body.update(_top(wire, answer, results="full"))
    body["object"] = "chat.completion.done"
    choice: dict[str, Any] = {"index": 0, "delta": {"role": "assistant", "content": ""}}
    if message is not None:
        choice["message"] = message
    choice["finish_reason"] = finish
    body["choices"] = [choice]
    body.update(extra or {})
    return _event(compact_json(body))


def stream_accumulating(answer: MockAnswer, wire: SonarWire) -> Iterator[bytes]:
    """2024/2025: accumulated ``message.content`` + incremental ``delta`` on every chunk.

    Python ``json.dumps`` escaping is per character, so the escaped accumulated text is
    the concatenation of the escaped pieces: no re-encoding of the growing text.
    """
    pieces, finish = pieces_of(answer, wire)
    era_2024 = wire.era == "2024"
    object_name = "chat.completion" if era_2024 else "chat.completion.chunk"
    top = _top(wire, answer, results=None if era_2024 else "bare")
    top.pop("images", None)
    top.pop("related_questions", None)
    head = (f'data: {{"id": {python_json(wire.response_id)}, "model": {python_json(wire.model)}, '
            f'"created": {wire.created}, "usage": ')
    middle = "".join(f", {python_json(k)}: {python_json(v)}" for k, v in top.items())
    middle += (f', "object": "{object_name}", "choices": [{{"index": 0, "finish_reason": null, '
               '"message": {"role": "assistant", "content": "')
    delta = '"}, "delta": {"role": "assistant", "content": "'
    end = '"}}]}\n\n'
    size = wire.search_context_size or "low"
    accumulated = ""
    for index, piece in enumerate(pieces, 1):
        escaped = python_json(piece)[1:-1]
        accumulated += escaped
        usage = (f'{{"prompt_tokens": {wire.prompt_tokens}, "completion_tokens": {index}, '
                 f'"total_tokens": {wire.prompt_tokens + index}')
        usage += "}" if era_2024 else f', "search_context_size": {python_json(size)}}}'
        yield f"{head}{usage}{middle}{accumulated}{delta}{escaped}{end}".encode()
    body: dict[str, Any] = {"id": wire.response_id, "model": wire.model, "created": wire.created,
                            "usage": final_usage(wire, len(pieces), answer)}
    body.update(_top(wire, answer, results=None if era_2024 else "bare"))
    body["object"] = object_name
    body["choices"] = [{"index": 0, "finish_reason": finish,
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "delta": {"role": "assistant", "content": ""}}]
    yield _event(python_json(body))


# ----------------------------------------------------------------------------- concise


def stream_concise(answer: MockAnswer, wire: SonarWire) -> Iterator[bytes]:
    """``stream_mode: "concise"`` (docs §5.3): reasoning steps, then answer chunks."""
    base = {"id": wire.response_id, "model": wire.model, "created": wire.created}
    steps = list(answer.reasoning_steps)
    for step in steps:
        yield _event(compact_json({**base, "object": "chat.reasoning", "type": "message",
                                   "choices": [{"index": 0, "finish_reason": None,
                                                "message": {"role": "assistant", "content": ""},
                                                "delta": {"role": "assistant", "content": "",
                                                          "reasoning_steps": [step]}}]}))
    partial = {"prompt_tokens": wire.prompt_tokens, "completion_tokens": 0,
               "total_tokens": wire.prompt_tokens,
               "search_context_size": wire.search_context_size or "low"}
    reasoning_done: dict[str, Any] = {**base, "usage": partial}
    if answer.sources:
        reasoning_done["search_results"] = [s.search_result() for s in answer.sources]
    reasoning_done["images"] = [i.to_dict() for i in answer.images] if wire.images else []
    reasoning_done["object"] = "chat.reasoning.done"
    reasoning_done["choices"] = [{"index": 0, "finish_reason": None,
                                  "message": {"role": "assistant", "content": "",
                                              "reasoning_steps": steps},
                                  "delta": {"role": "assistant", "content": ""}}]
    yield _event(compact_json(reasoning_done))

    pieces, finish = pieces_of(answer, wire)
    head = (f'data: {{"id":{raw_string(wire.response_id)},"model":{raw_string(wire.model)},'
            f'"created":{wire.created},"object":"chat.completion.chunk","choices":[{{"index":0,'
            '"finish_reason":null,"message":{"role":"assistant","content":""},'
            '"delta":{"role":"assistant","content":')
    for piece in pieces:
        yield f"{head}{raw_string(piece)}}}}}]}}\n\n".encode()
    body: dict[str, Any] = {**base, "usage": final_usage(wire, len(pieces), answer)}
    body.update(_top(wire, answer, results="full"))
    body.setdefault("images", [])
    body["object"] = "chat.completion.done"
    body["choices"] = [{"index": 0, "finish_reason": finish,
                        "message": {"role": "assistant", "content": "".join(pieces),
                                    "reasoning_steps": steps},
                        "delta": {"role": "assistant", "content": ""}}]
    body["status"] = "COMPLETED"
    body["type"] = "end_of_stream"
    yield _event(compact_json(body))


# ----------------------------------------------------------------------------- deep research


def stream_deep_research(answer: MockAnswer, wire: SonarWire,
                         research_chunks: int = 6) -> Iterator[bytes]:
    """Deep research: a research phase of keep-alive pings, blank lines and chunks without
    ``choices`` or ``usage``, then ``<think>``, the answer, and a literal ``data: [DONE]``
    (docs §5.1, §5.5)."""
    yield PING_EVENT
    for step in range(research_chunks):
        found = answer.sources[:step + 1]
        phase: dict[str, Any] = {"id": wire.response_id, "model": wire.model,
                                 "created": wire.created, "object": "chat.completion.chunk"}
        if found:
            phase["citations"] = [s.url for s in found]
            phase["search_results"] = [s.search_result() for s in found]
        phase["status"] = "PENDING"
        phase["type"] = "info"
        yield _event(compact_json(phase))
        yield b"\n"  # stray blank line between events
        yield PING_EVENT
    for index, event in enumerate(stream_2026(answer, wire)):
        if index and index % 50 == 0:
            yield PING_EVENT
        yield event
    yield DONE_EVENT


def sonar_stream(answer: MockAnswer, wire: SonarWire, *, style: str = "full") -> Iterator[bytes]:
    """The events of one streamed answer. ``style``: full | concise | deep-research."""
    if style == "deep-research":
        return stream_deep_research(answer, wire)
    if style == "concise":
        return stream_concise(answer, wire)
    if wire.era in ("2024", "2025"):
        return stream_accumulating(answer, wire)
    return stream_2026(answer, wire)


def malformed_event(wire: SonarWire) -> bytes:
    """A chunk cut off in the middle of a string: a tolerant client skips it."""
    return _event('{"id":' + json.dumps(wire.response_id) + ',"choices":[{"index":0,"delta":'
                  '{"content":"this chunk is cut sh')


__all__ = ["DONE_EVENT", "PING_EVENT", "SonarWire", "final_usage", "malformed_event",
           "pieces_of", "sonar_body", "sonar_stream"]
