"""An answer being written, independent of whether its thread is on screen.

The app owns one ``LiveAnswer`` per streaming thread; the worker that consumes the service
feeds it, and whichever ``AnswerView`` shows that thread (if any) is attached to it. Switching
threads detaches the view; coming back builds a new view from the state kept here. All
remote text is cleaned before it is kept, so nothing downstream can show a control sequence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sonar_tui.api.errors import ApiError
from sonar_tui.api.events import Image, ReasoningStep, Source
from sonar_tui.sanitize import clean_text

if TYPE_CHECKING:
    from textual.worker import Worker

    from sonar_tui.ui.widgets.answer import AnswerView


@dataclass
class LiveAnswer:
    thread_id: int
    question: str
    question_id: int | None = None
    message_id: int | None = None
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    steps: list[ReasoningStep] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    model: str = ""
    api: str = ""
    status: str = "waiting"  # waiting -> streaming -> complete/cancelled/interrupted/error
    error: dict[str, Any] | None = None
    retry_at: float | None = None  # monotonic time of the next automatic retry
    retry_note: str = ""
    started_at: float = field(default_factory=time.monotonic)
    view: AnswerView | None = None
    worker: Worker | None = None  # the app's worker consuming the service's events
    from_composer: bool = False  # asked from the composer: it is cleared once saved
    # Regenerating: the answer this one replaces once it has text (it stays until then).
    replaces: int | None = None
    # The service said how this answer ended (saved, or a regenerate's old answer kept);
    # when it did not (refused before anything was sent), the view is settled by the app.
    settled: bool = False
    failure: ApiError | None = None  # the last Failed event's error
    # A background job (status "background" while it runs): its id once known, the
    # service's word for it, when it was asked (wall clock), when it is checked next
    # (monotonic), how many checks so far, and what went wrong with the last one.
    job_id: int | None = None
    job_status: str = ""
    job_started: float | None = None
    job_next_check: float | None = None
    job_problem: str = ""

    @property
    def full_text(self) -> str:
        return "".join(self.text)

    @property
    def full_reasoning(self) -> str:
        return "".join(self.reasoning)

    @property
    def active(self) -> bool:
        return self.status in ("waiting", "streaming", "background")

    def add_text(self, delta: str) -> str:
        cleaned = clean_text(delta)
        self.text.append(cleaned)
        return cleaned

    def replace_text(self, text: str) -> str:
        cleaned = clean_text(text)
        self.text = [cleaned]
        return cleaned

    def add_reasoning(self, delta: str) -> str:
        cleaned = clean_text(delta)
        self.reasoning.append(cleaned)
        return cleaned
