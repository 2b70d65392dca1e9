"""The wire contract as the official SDKs state it, and where recordings overrule them.

``perplexityai``'s ``perplexity/generated/api.py`` is generated from Perplexity's OpenAPI
spec; its pydantic models are what a body or an event must satisfy. They allow extra keys
(``extra="allow"``), so only missing fields and wrong types fail.

The chat-completions models are stricter than the live service: recordings show shapes they
refuse. Those deviations are listed in :data:`SONAR_DEVIATIONS`, each with its evidence, and
tests check that every recorded one is still needed by the recordings, so the list cannot
grow quietly.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from typing import Any

from perplexity.generated import api as sdk
from pydantic import TypeAdapter, ValidationError


def _resolved(alias: Any) -> Any:
    """A union alias of the generated module with its forward references resolved."""
    members = tuple(getattr(sdk, a.__forward_arg__) if isinstance(a, typing.ForwardRef) else a
                    for a in typing.get_args(alias))
    return typing.Union[members]  # noqa: UP007 (a runtime union of classes)


EVENT_UNION = _resolved(sdk.ResponseStreamEventOutput)
AGENT_RESPONSE = TypeAdapter(sdk.ResponsesResponseOutput)
CANCEL_RESPONSE = TypeAdapter(sdk.ResponsesCancelResponseOutput)
CHAT_COMPLETION = TypeAdapter(sdk.CompletionResponseOutput)
EVENT_TYPES = frozenset(typing.get_args(sdk.EventTypeOutput))
STATUSES = frozenset(typing.get_args(sdk.StatusOutput))

# (where, pydantic error type, location pattern) -> the evidence. ``where`` is "stream" or
# "body"; an int in a location pattern matches any list index.
SONAR_DEVIATIONS: dict[tuple[str, str, tuple], str] = {
    ("stream", "missing", ("choices", int, "message")):
        "recorded: vercel-ai__sonar-stream-*.chunks.jsonl (2026 chunks carry only delta)",
    ("body", "missing", ("choices", int, "delta")):
        "recorded: vercel-ai__sonar-nonstream-*.json (bodies carry only message)",
    ("body", "missing", ("usage", "cost")):
        "recorded: AgentPrice__sonar-nonstream-2025-04-citations-only.json (no cost yet)",
    ("stream", "missing", ("usage", "cost")):
        "the same era, streamed (2024-2025 chunks repeat the body's usage)",
    ("stream", "missing", ("choices",)):
        "reported: deep-research research-phase chunks omit choices "
        "(Portkey-AI/gateway PR #1526; sonar-chat-completions.md 5.1)",
}


def _matches(pattern: tuple, loc: tuple) -> bool:
    if len(pattern) != len(loc):
        return False
    return all((isinstance(part, int) if p is int else p == part)
               for p, part in zip(pattern, loc, strict=True))


def sonar_problems(payload: Any, where: str) -> tuple[list[str], set[tuple]]:
    """What the SDK's chat-completion model refuses beyond the known deviations, and which
    deviations were used."""
    try:
        CHAT_COMPLETION.validate_python(payload)
    except ValidationError as exc:
        problems, used = [], set()
        for error in exc.errors():
            key = next((k for k in SONAR_DEVIATIONS if k[0] == where
                        and k[1] == error["type"] and _matches(k[2], error["loc"])), None)
            if key is None:
                problems.append(f"{'.'.join(map(str, error['loc']))}: {error['msg']}")
            else:
                used.add(key)
        return problems, used
    return [], set()


def agent_event_problems(payload: Any) -> list[str]:
    """Why an Agent API stream event is not one of the SDK's event models ([] when it is).
    The ``type`` names the member of the union it must satisfy."""
    if not isinstance(payload, dict) or payload.get("type") not in EVENT_TYPES:
        kind = payload.get("type") if isinstance(payload, dict) else type(payload).__name__
        return [f"event type {kind!r} is not in the SDK's union"]
    try:
        event_class_for(payload["type"]).model_validate(payload)
    except ValidationError as exc:
        return [f"{payload['type']}: {_where(e['loc'])}: {e['msg']}"
                for e in exc.errors() if _in_chosen_member(payload, e["loc"])]
    return []


def _in_chosen_member(payload: Any, loc: tuple) -> bool:
    """False for an error reported by a union member other than the one the data's ``type``
    selects (pydantic reports every member of an undiscriminated union)."""
    value = payload
    for part in loc:
        member = getattr(sdk, part, None) if isinstance(part, str) else None
        if isinstance(member, type) and "type" in getattr(member, "model_fields", {}):
            if isinstance(value, dict) and _literal_type(member) != value.get("type"):
                return False
            continue  # a member name is not a key of the data
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return True
    return True


def _where(loc: tuple) -> str:
    return ".".join(map(str, loc))


def agent_response_problems(payload: Any) -> list[str]:
    try:
        AGENT_RESPONSE.validate_python(payload)
    except ValidationError as exc:
        return [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors()
                if _in_chosen_member(payload, e["loc"])]
    return []


def cancel_problems(payload: Any) -> list[str]:
    """Why a cancel reply is not the SDK's ``ResponsesCancelResponseOutput`` ([] when it is)."""
    try:
        CANCEL_RESPONSE.validate_python(payload)
    except ValidationError as exc:
        return [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
    return []


def _literal_type(cls: Any) -> str | None:
    annotation = cls.model_fields["type"].annotation
    args = typing.get_args(annotation)
    return args[0] if args else None


def event_class_for(kind: str) -> Any:
    """The SDK model whose ``type`` literal is ``kind``."""
    return next(cls for cls in typing.get_args(EVENT_UNION) if _literal_type(cls) == kind)


# ----------------------------------------------------------------------------- SSE


@dataclass
class Exchange:
    """One request to the mock and what came back (possibly cut short)."""

    label: str
    api: str  # "agent" | "sonar"
    status: int | None
    content_type: str
    raw: bytes
    failure: str | None = None  # a transport error that ended the response
    events: list[str] = field(default_factory=list)  # SSE data fields

    @property
    def streamed(self) -> bool:
        return "event-stream" in self.content_type


def sse_data(raw: bytes) -> list[str]:
    """The data field of every SSE event (comments, event names and blank runs skipped)."""
    events, data = [], []
    for line in raw.decode("utf-8", "replace").split("\n"):
        line = line.removesuffix("\r")
        if not line:
            if data:
                events.append("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        events.append("\n".join(data))
    return events


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _MALFORMED


_MALFORMED = object()


def is_malformed(value: Any) -> bool:
    return value is _MALFORMED
