"""The API's answers as the store's records, and stored answers as API events again.

``sonar_tui.api`` and ``sonar_tui.store`` never import each other: the store keeps sources,
steps, images, usage and errors as plain dicts (see ``store.models``). These conversions sit
between them, for the service (streamed answers) and the job runner (background answers),
so that both finish an answer the same way.
"""

from __future__ import annotations

from typing import Any

from sonar_tui.api.errors import ApiError, ErrorKind
from sonar_tui.api.events import (
    Answer,
    Event,
    Finished,
    Image,
    ImagesUpdate,
    ReasoningStep,
    RelatedUpdate,
    Source,
    SourcesUpdate,
    Started,
    StepsUpdate,
    TextDelta,
    Usage,
    UsageUpdate,
)
from sonar_tui.store.models import FinalAnswer, MessageRecord, MessageStatus

# How an answer's finish reason is stored as its message status.
STATUS_FOR_FINISH: dict[str, MessageStatus] = {
    "stop": "complete", "length": "complete", "incomplete": "interrupted",
    "cancelled": "cancelled", "failed": "error"}
# An answer stopped before its end: by the user, or because the process is going away.
_STOPPED_REASONS = {"cancelled": "cancelled", "interrupted": "incomplete"}


def error_record(error: ApiError) -> dict[str, Any]:
    """What is stored (and shown) for a failed answer: the server's words, a title, a hint."""
    return {**error.to_dict(), "title": error.title, "hint": error.hint}


def error_from_record(record: dict[str, Any]) -> ApiError:
    """A stored error (``error_record``) as the error it was."""
    try:
        kind = ErrorKind(record.get("kind") or "protocol")
    except ValueError:
        kind = ErrorKind.PROTOCOL
    retry_after = record.get("retry_after")
    return ApiError(kind, str(record.get("message") or ""), status=record.get("status"),
                    error_type=record.get("type"),
                    retry_after=retry_after if isinstance(retry_after, (int, float)) else None,
                    field=record.get("field"), host=record.get("host"))


def final_answer(answer: Answer, status: MessageStatus, *, endpoint: str | None,
                 error: ApiError | None = None) -> FinalAnswer:
    """``answer`` as the row the store finishes it with.

    ``endpoint``: the base URL (without credentials) the answer came from; only an Agent API
    answer's id is kept, with it, since only that can be continued, and only there.
    ``error``: what ended the answer when the answer itself carries none (a job abandoned
    after a refused cancel). A stopped answer without a finish reason gets its stop's.
    """
    response_id = answer.response_id if answer.api == "agent" else None
    failure = answer.error or error
    return FinalAnswer(
        status, answer.text, answer.reasoning,
        steps=[s.to_dict() for s in answer.steps],
        sources=[s.to_dict() for s in answer.sources],
        related=list(answer.related),
        images=[i.to_dict() for i in answer.images],
        usage=answer.usage.to_dict() if answer.usage else None,
        cost=answer.cost,
        model=answer.model or None,
        api=answer.api,
        finish_reason=answer.finish_reason or _STOPPED_REASONS.get(status),
        error=error_record(failure) if failure is not None else None,
        response_id=response_id,
        response_endpoint=(endpoint or None) if response_id else None,
    )


def events_from_message(message: MessageRecord) -> list[Event]:
    """A background job's stored answer (an Agent API one) as the events that build it,
    without its error: the caller adds a ``Failed`` when its status is ``error``."""
    events: list[Event] = [Started(api="agent", model=message.model or "",
                                   response_id=message.response_id)]
    if message.steps:
        events.append(StepsUpdate(tuple(ReasoningStep.from_dict(s) for s in message.steps)))
    if message.sources:
        events.append(SourcesUpdate(tuple(Source.from_dict(s) for s in message.sources)))
    if message.images:
        events.append(ImagesUpdate(tuple(Image.from_dict(i) for i in message.images)))
    if message.related:
        events.append(RelatedUpdate(tuple(message.related)))
    if message.content:
        events.append(TextDelta(message.content))
    if message.usage:
        events.append(UsageUpdate(Usage.from_dict(message.usage)))
    if message.status != "error":
        reason = {"cancelled": "cancelled", "interrupted": "incomplete"}.get(
            message.status, message.finish_reason or "stop")
        events.append(Finished(reason, model=message.model))  # type: ignore[arg-type]
    return events


__all__ = ["STATUS_FOR_FINISH", "error_from_record", "error_record", "events_from_message",
           "final_answer"]
