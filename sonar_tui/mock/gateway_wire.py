"""Chat completions as gateways in front of Perplexity reshape them.

- ``openrouter`` (OpenRouter, as in the pydantic-ai recordings under
  ``tests/fixtures/openrouter``): ``: OPENROUTER PROCESSING`` comment lines first, chunks
  with ``provider`` and ``native_finish_reason``, sources as ``url_citation`` annotations
  (one per chunk before the text, and on the message of a non-streaming body) with
  Perplexity's ``citations`` passed through as well, a final usage chunk with a numeric
  ``cost`` and ``cost_details``.
- ``gateway`` (LiteLLM's proxy with its ``perplexity/`` provider): non-streaming bodies keep
  citations, search_results and usage; streams carry text only, and usage (with a numeric
  cost) only when the request asked for it with ``stream_options.include_usage``.
- ``huge-line``: an ordinary start, then one line of ``HUGE_LINE_BYTES`` with no line break.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sonar_tui.mock.content import MockAnswer
from sonar_tui.mock.jsonenc import compact_json
from sonar_tui.mock.sonar_wire import SonarWire, final_usage, pieces_of

PROCESSING = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"
HUGE_LINE_BYTES = 20 * 1024 * 1024
_PIECE = 256 * 1024
CAPTIVE_PORTAL = (b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Guest Wi-Fi - "
                  b"Sign in</title><style>body{font:14px sans-serif}</style></head><body><h1>"
                  b"Welcome</h1><form method=\"post\" action=\"/login\">Room number <input "
                  b"name=\"room\"> Surname <input name=\"name\"><button>Connect</button>"
                  b"</form><script>document.forms[0].room.focus()</script></body></html>\n")


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + compact_json(payload).encode() + b"\n\n"


def _annotation(source) -> dict[str, Any]:
    return {"type": "url_citation", "url_citation": {
        "url": source.url, "title": source.title, "content": source.snippet,
        "start_index": 0, "end_index": 0}}


def _cost(usage: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Perplexity's cost object as a gateway reports it: one number, and a breakdown."""
    cost = usage.get("cost") or {}
    total = float(cost.get("total_cost") or 0.0)
    return total, {"upstream_inference_cost": total,
                   "upstream_inference_prompt_cost": cost.get("input_tokens_cost"),
                   "upstream_inference_completions_cost": cost.get("output_tokens_cost")}


def _plain_usage(wire: SonarWire, answer: MockAnswer, completion: int) -> dict[str, Any]:
    usage = final_usage(replace_era(wire), completion, answer)
    total, details = _cost(usage)
    return {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": completion,
            "total_tokens": usage["total_tokens"], "cost": total, "is_byok": False,
            "cost_details": details}


def replace_era(wire: SonarWire) -> SonarWire:
    """Usage as today's Perplexity reports it upstream, whatever the era asked."""
    return replace(wire, era="2026")


# ----------------------------------------------------------------------------- OpenRouter


def openrouter_stream(answer: MockAnswer, wire: SonarWire) -> Iterator[bytes]:
    pieces, finish = pieces_of(answer, wire)
    base = {"id": "gen-" + wire.response_id, "object": "chat.completion.chunk",
            "created": wire.created, "model": "perplexity/" + wire.model, "provider": "Perplexity"}
    for _ in range(3):
        yield PROCESSING

    def chunk(delta: dict[str, Any], finish_reason: str | None = None,
              **top: Any) -> bytes:
        return _event({**base, **top, "choices": [{
            "index": 0, "delta": {"role": "assistant", **delta},
            "finish_reason": finish_reason, "native_finish_reason": finish_reason}]})

    for source in answer.sources:
        yield chunk({"content": "", "annotations": [_annotation(source)]})
    for piece in pieces:
        yield chunk({"content": piece})
    top = {"citations": answer.citations} if answer.sources else {}
    yield chunk({"content": ""}, finish, **top)
    yield _event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": finish, "native_finish_reason": finish}],
                  "usage": _plain_usage(wire, answer, len(pieces))})
    yield DONE


def openrouter_body(answer: MockAnswer, wire: SonarWire) -> bytes:
    pieces, finish = pieces_of(answer, wire)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces),
                               "refusal": None, "reasoning": None}
    if answer.sources:
        message["annotations"] = [_annotation(s) for s in answer.sources]
    body: dict[str, Any] = {
        "id": "gen-" + wire.response_id, "provider": "Perplexity",
        "model": "perplexity/" + wire.model, "object": "chat.completion",
        "created": wire.created,
        "choices": [{"logprobs": None, "finish_reason": finish, "native_finish_reason": finish,
                     "index": 0, "message": message}],
        "usage": _plain_usage(wire, answer, len(pieces))}
    if answer.sources:
        body["citations"] = answer.citations
    return compact_json(body).encode()


# ----------------------------------------------------------------------------- LiteLLM-like


def gateway_stream(answer: MockAnswer, wire: SonarWire, include_usage: bool) -> Iterator[bytes]:
    pieces, finish = pieces_of(answer, wire)
    base = {"id": wire.response_id, "object": "chat.completion.chunk", "created": wire.created,
            "model": wire.model}
    for index, piece in enumerate(pieces):
        delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
        yield _event({**base, "choices": [{"index": 0, "delta": delta}]})
    yield _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if include_usage:
        usage = final_usage(replace_era(wire), len(pieces), answer)
        yield _event({**base, "choices": [{"index": 0, "delta": {}}], "usage": {
            "completion_tokens": len(pieces), "prompt_tokens": usage["prompt_tokens"],
            "total_tokens": usage["total_tokens"],
            "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": len(pieces)},
            "cost": _cost(usage)[0]}})
    yield DONE


# ----------------------------------------------------------------------------- a huge line


def huge_line_stream(answer: MockAnswer, wire: SonarWire) -> Iterator[bytes]:
    """A few ordinary chunks, then one line that never breaks (sent in pieces), then EOF."""
    pieces, _ = pieces_of(answer, wire)
    base = {"id": wire.response_id, "object": "chat.completion.chunk", "created": wire.created,
            "model": wire.model}
    for piece in pieces[: max(1, len(pieces) // 4)]:
        yield _event({**base, "choices": [{"index": 0,
                                           "delta": {"role": "assistant", "content": piece}}]})
    yield b'data: {"id":"' + wire.response_id.encode() + b'","choices":[{"index":0,"delta":' \
        b'{"content":"'
    filler = b"flood " * (_PIECE // 6)
    for _ in range(HUGE_LINE_BYTES // len(filler)):
        yield filler


__all__ = ["CAPTIVE_PORTAL", "HUGE_LINE_BYTES", "gateway_stream", "huge_line_stream",
           "openrouter_body", "openrouter_stream"]
