"""The internal answer model.

Every adapter (Sonar chat completions, Agent API) turns its wire format into the same
stream of typed events; :class:`AnswerBuilder` folds that stream into a finished
:class:`Answer`. Nothing downstream (service, store, UI, CLI) ever sees wire JSON.

Conventions:
- ``TextDelta`` / ``ReasoningDelta`` are increments; the answer text is their concatenation.
  Reasoning (``<think>`` text) is already split from the answer by the adapter.
- ``SourcesUpdate``, ``StepsUpdate``, ``ImagesUpdate``, ``RelatedUpdate`` and ``UsageUpdate``
  carry the *whole* value seen so far: the last one wins (the wire repeats them per chunk).
- A stream ends with exactly one terminal event: ``Finished`` or ``Failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sonar_tui.api.errors import ApiError

ApiName = Literal["sonar", "agent"]
# stop: the model finished; length: max tokens hit; incomplete: the stream ended early
# (EOF before a finish, or Agent API status "incomplete"); cancelled: by the user or the
# service; failed: an error ended it (see Failed).
FinishReason = Literal["stop", "length", "incomplete", "cancelled", "failed"]


@dataclass(frozen=True, slots=True)
class Source:
    """One numbered source; ``number`` is what ``[n]`` markers in the answer refer to."""

    number: int
    url: str
    title: str = ""
    date: str | None = None
    last_updated: str | None = None
    snippet: str | None = None
    origin: str | None = None  # "web" | "attachment" | None

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "url": self.url,
            "title": self.title,
            "date": self.date,
            "last_updated": self.last_updated,
            "snippet": self.snippet,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Source:
        return cls(
            number=int(data.get("number") or 0),
            url=str(data.get("url") or ""),
            title=str(data.get("title") or ""),
            date=data.get("date"),
            last_updated=data.get("last_updated"),
            snippet=data.get("snippet"),
            origin=data.get("origin"),
        )


@dataclass(frozen=True, slots=True)
class ReasoningStep:
    """One step of the model's research: a search, a page fetch, or a Python run."""

    kind: str  # "web_search" | "fetch_url_content" | "execute_python" | anything else seen
    thought: str = ""
    keywords: tuple[str, ...] = ()
    results: tuple[Source, ...] = ()
    urls: tuple[str, ...] = ()
    code: str = ""
    output: str = ""

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "thought": self.thought,
            "keywords": list(self.keywords),
            "results": [r.to_dict() for r in self.results],
            "urls": list(self.urls),
            "code": self.code,
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ReasoningStep:
        return cls(
            kind=str(data.get("kind") or ""),
            thought=str(data.get("thought") or ""),
            keywords=tuple(str(k) for k in data.get("keywords") or ()),
            results=tuple(Source.from_dict(r) for r in data.get("results") or ()),
            urls=tuple(str(u) for u in data.get("urls") or ()),
            code=str(data.get("code") or ""),
            output=str(data.get("output") or ""),
        )


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    origin_url: str | None = None
    width: int | None = None
    height: int | None = None
    title: str | None = None

    def to_dict(self) -> dict:
        return {
            "url": self.url,
            "origin_url": self.origin_url,
            "width": self.width,
            "height": self.height,
            "title": self.title,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Image:
        return cls(
            url=str(data.get("url") or ""),
            origin_url=data.get("origin_url"),
            width=data.get("width"),
            height=data.get("height"),
            title=data.get("title"),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and cost, normalised across both APIs (cost in USD)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int | None = None
    citation_tokens: int | None = None
    search_queries: int | None = None
    search_context_size: str | None = None
    cost: float | None = None  # total cost; None when the service did not report one
    cost_details: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "citation_tokens": self.citation_tokens,
            "search_queries": self.search_queries,
            "search_context_size": self.search_context_size,
            "cost": self.cost,
            "cost_details": dict(self.cost_details),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Usage:
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            total_tokens=int(data.get("total_tokens") or 0),
            reasoning_tokens=data.get("reasoning_tokens"),
            citation_tokens=data.get("citation_tokens"),
            search_queries=data.get("search_queries"),
            search_context_size=data.get("search_context_size"),
            cost=data.get("cost"),
            cost_details=dict(data.get("cost_details") or {}),
        )


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Started:
    """The server accepted the request and the first byte arrived."""

    api: ApiName
    model: str = ""
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class TextFinal:
    """The service's authoritative full text (e.g. Agent ``output_text.done``).

    Only emitted when it differs from the concatenated deltas; it replaces them.
    """

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class StepsUpdate:
    steps: tuple[ReasoningStep, ...]


@dataclass(frozen=True, slots=True)
class SourcesUpdate:
    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class ImagesUpdate:
    images: tuple[Image, ...]


@dataclass(frozen=True, slots=True)
class RelatedUpdate:
    questions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    usage: Usage


@dataclass(frozen=True, slots=True)
class Retrying:
    """A retryable failure before the first byte; the client waits ``delay`` seconds."""

    attempt: int  # the attempt that failed, 1-based
    delay: float
    reason: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class ApiSwitched:
    """Auto mode met the Sonar retirement 403 and now uses the Agent API for this endpoint."""

    from_api: ApiName
    to_api: ApiName
    message: str


@dataclass(frozen=True, slots=True)
class Finished:
    reason: FinishReason
    model: str | None = None  # the model that answered (Agent: the resolved slug)
    detail: str | None = None  # e.g. Agent incomplete_details.reason


@dataclass(frozen=True, slots=True)
class Failed:
    error: ApiError


Event = (
    Started
    | TextDelta
    | TextFinal
    | ReasoningDelta
    | StepsUpdate
    | SourcesUpdate
    | ImagesUpdate
    | RelatedUpdate
    | UsageUpdate
    | Retrying
    | ApiSwitched
    | Finished
    | Failed
)

TERMINAL_EVENTS = (Finished, Failed)


# ----------------------------------------------------------------------------- the answer


@dataclass(frozen=True, slots=True)
class Answer:
    text: str = ""
    reasoning: str = ""
    steps: tuple[ReasoningStep, ...] = ()
    sources: tuple[Source, ...] = ()
    images: tuple[Image, ...] = ()
    related: tuple[str, ...] = ()
    usage: Usage | None = None
    model: str = ""
    finish_reason: FinishReason | None = None
    api: ApiName | None = None
    response_id: str | None = None
    error: ApiError | None = None

    @property
    def cost(self) -> float | None:
        return self.usage.cost if self.usage else None

    def to_json(self) -> dict:
        """The ``sonar-tui ask --json`` object."""
        citations = [s.url for s in self.sources]
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "reasoning_steps": [s.to_dict() for s in self.steps],
            "citations": citations,
            "search_results": [s.to_dict() for s in self.sources],
            "images": [i.to_dict() for i in self.images],
            "related_questions": list(self.related),
            "usage": self.usage.to_dict() if self.usage else None,
            "cost": self.cost,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "api": self.api,
        }


class AnswerBuilder:
    """Folds events into an :class:`Answer`. Cheap per event: text is kept as a list."""

    __slots__ = ("_text", "_reasoning", "_fields")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._fields: dict = {}

    def feed(self, event: Event) -> None:
        match event:
            case TextDelta(text=text):
                self._text.append(text)
            case TextFinal(text=text):
                self._text = [text]
            case ReasoningDelta(text=text):
                self._reasoning.append(text)
            case StepsUpdate(steps=steps):
                self._fields["steps"] = steps
            case SourcesUpdate(sources=sources):
                self._fields["sources"] = sources
            case ImagesUpdate(images=images):
                self._fields["images"] = images
            case RelatedUpdate(questions=questions):
                self._fields["related"] = questions
            case UsageUpdate(usage=usage):
                self._fields["usage"] = usage
            case Started(api=api, model=model, response_id=response_id):
                self._fields["api"] = api
                if model:
                    self._fields.setdefault("model", model)
                self._fields["response_id"] = response_id
            case ApiSwitched(to_api=to_api):
                self._fields["api"] = to_api
            case Finished(reason=reason, model=model):
                self._fields["finish_reason"] = reason
                if model:
                    self._fields["model"] = model
            case Failed(error=error):
                self._fields["finish_reason"] = "failed"
                self._fields["error"] = error
            case _:
                pass

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    def answer(self) -> Answer:
        return Answer(text=self.text, reasoning=self.reasoning, **self._fields)


def build_answer(events) -> Answer:
    builder = AnswerBuilder()
    for event in events:
        builder.feed(event)
    return builder.answer()


__all__ = [
    "Answer",
    "AnswerBuilder",
    "ApiName",
    "ApiSwitched",
    "Event",
    "Failed",
    "FinishReason",
    "Finished",
    "Image",
    "ImagesUpdate",
    "ReasoningDelta",
    "ReasoningStep",
    "RelatedUpdate",
    "Retrying",
    "Source",
    "SourcesUpdate",
    "Started",
    "StepsUpdate",
    "TERMINAL_EVENTS",
    "TextDelta",
    "TextFinal",
    "Usage",
    "UsageUpdate",
    "build_answer",
]
