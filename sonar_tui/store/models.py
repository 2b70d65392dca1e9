"""Records the store hands out. Plain data: no SQL, no Textual, no API types.

Sources, steps, images and usage are kept as plain dicts with the same keys as the API
layer's ``Source.to_dict()``, ``ReasoningStep.to_dict()``, ``Image.to_dict()`` and
``Usage.to_dict()``; the service converts between the two so that ``store`` and ``api``
never import each other.

``ThreadData`` is the versioned export shape (``sonar-tui export --format json``): everything
the database holds for a thread, and what ``import`` reads back. Fields added later are
optional on import, so a document keeps its version while older readers, which ignore what
they do not know, still read it (``response_id`` / ``response_endpoint`` came this way).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

MessageStatus = Literal["complete", "streaming", "interrupted", "cancelled", "error"]
EXPORT_FORMAT = "sonar-tui.thread"
EXPORT_VERSION = 1


@dataclass(slots=True)
class ThreadRecord:
    id: int
    uid: str  # stable UUID: X-Conversation-Id header, and de-duplication on import
    title: str
    created_at: float  # unix seconds
    updated_at: float
    pinned: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # RequestSettings.diff(defaults)
    last_api: str | None = None  # "sonar" | "agent"
    last_model: str | None = None
    message_count: int = 0
    has_streaming: bool = False  # an answer in this thread is being written right now
    # The thread's unfinished background job, if any: its status and when it was asked.
    # Transient state, like has_streaming, but not part of an export (a job cannot be
    # followed from another database).
    job_status: str | None = None
    job_started_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["job_status"], data["job_started_at"]
        return data


@dataclass(slots=True)
class AttachmentRecord:
    name: str
    mime: str
    size: int
    sha256: str
    data: bytes | None = None  # only when the user chose to keep the bytes

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "mime": self.mime, "size": self.size, "sha256": self.sha256}
        if self.data is not None:
            # Kept bytes travel as base64 so that an export holds everything and
            # ``Store.import_thread`` can restore them.
            data["data_base64"] = base64.b64encode(self.data).decode("ascii")
        return data


@dataclass(slots=True)
class MessageRecord:
    id: int
    thread_id: int
    role: Literal["user", "assistant"]
    content: str
    status: MessageStatus = "complete"
    reasoning: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None  # ApiError.to_dict() when status == "error"
    model: str | None = None
    api: str | None = None  # which API answered
    settings: dict[str, Any] = field(default_factory=dict)  # RequestSettings.to_dict() used
    usage: dict[str, Any] | None = None
    cost: float | None = None
    finish_reason: str | None = None
    created_at: float = 0.0
    finished_at: float | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[AttachmentRecord] = field(default_factory=list)
    # The Agent API's id for this answer, and the base URL that issued it (no credentials):
    # what the next question of the thread continues with ``previous_response_id``.
    response_id: str | None = None
    response_endpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["attachments"] = [a.to_dict() for a in self.attachments]
        return data


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """Everything a finished answer row holds, written in one transaction
    (``Store.finish_answer``, or ``Store.finish_job`` for a background job's answer).

    The store's own record, not ``api.events.Answer``: the store does not import the API
    layer, keeps sources, steps, images and usage as the plain dicts described above, and
    needs what only the caller knows (the final status, the stored error with its title and
    hint, the endpoint that issued ``response_id``). ``sonar_tui.records.final_answer``
    builds one from an ``Answer``. Cancelled and failed answers carry their partial text.
    """

    status: MessageStatus
    content: str
    reasoning: str = ""
    steps: Sequence[Mapping[str, Any]] = ()
    sources: Sequence[Mapping[str, Any]] = ()
    related: Sequence[str] = ()
    images: Sequence[Mapping[str, Any]] = ()
    usage: Mapping[str, Any] | None = None
    cost: float | None = None
    model: str | None = None  # None keeps what start_answer recorded
    api: str | None = None  # likewise
    finish_reason: str | None = None
    error: Mapping[str, Any] | None = None  # as shown: the error's fields, title and hint
    # The Agent API's id for the answer and the base URL (without credentials) that issued
    # it: what the thread's next question can continue from.
    response_id: str | None = None
    response_endpoint: str | None = None


# Statuses of a job that is still running on the service (or about to): it is followed.
JOB_RUNNING_STATUSES = frozenset({"submitting", "queued", "in_progress", "cancelling"})


@dataclass(slots=True)
class JobRecord:
    """A question sent as a background job (see ``store.migrations.v5_background_jobs``)."""

    id: int
    thread_id: int
    question_id: int
    endpoint: str  # the base URL it was created on, without credentials
    path: str  # the Agent API path it was created with
    status: str
    created_at: float
    updated_at: float
    response_id: str | None = None  # None until the service has answered the create request
    answer_id: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)  # reported so far
    sources: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None  # the last problem met (polling) or why it ended
    polls: int = 0
    checked_at: float | None = None
    finished_at: float | None = None
    question: str = ""  # the question's text, for listings
    thread_title: str = ""

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SearchHit:
    thread_id: int
    thread_title: str
    message_id: int | None  # None when the hit is the thread title itself
    role: str | None
    snippet: str  # with the match wrapped in HIGHLIGHT_OPEN / HIGHLIGHT_CLOSE
    rank: float
    matches: int = 1  # matches in this thread (messages, its title, sources), this one the best


@dataclass(frozen=True, slots=True)
class ImportResult:
    thread_id: int
    created: bool  # False: a thread with the same uid was already here, nothing was written


# Chosen so they cannot appear in user text by accident and are never Rich/Textual markup.
HIGHLIGHT_OPEN = "\x02"
HIGHLIGHT_CLOSE = "\x03"


@dataclass(slots=True)
class ThreadData:
    """A whole thread for export/import."""

    thread: ThreadRecord
    messages: list[MessageRecord]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "thread": self.thread.to_dict(),
            "messages": [m.to_dict() for m in self.messages],
        }
