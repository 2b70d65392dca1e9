"""Background responses (``background: true``) on the mock: jobs that outlive their request.

A background ``POST /v1/responses`` answers at once with ``status: queued`` and nothing
else; the job then lives in the mock's process, not in any request, so a client that
disconnects, is killed or polls from another process later finds it where it left it. Each
``GET /v1/responses/{id}`` reads its state; ``POST /v1/responses/{id}/cancel`` asks it to stop.

A job's progress is computed when it is read, never by a timer, so tests decide exactly
when it moves on (no test waits for the clock):

- ``polls=N``: the Nth read finds it finished; the first finds it ``queued``, the ones in
  between ``in_progress`` (``N=1``: finished at the first read);
- ``seconds=S``: ``queued`` for the first 15% of S, then ``in_progress``, finished after S
  (the demo and ``sonar-tui mock-server --job-seconds``);
- neither: held ``in_progress`` (after one ``queued`` read) until :meth:`JobBoard.release`.

What each stage returns follows Perplexity's SDK (``ResponsesResponseOutput``): ``queued``
has ``output: []`` and ``usage: null``; ``in_progress`` shows the searches done so far as a
``search_results`` item (the SDK's output union; the answer text comes only with the end);
the end is the same object a foreground request gets, with ``background: true``. A cancel
is ``{"response_id", "status": "cancelling"}`` (``ResponsesCancelResponseOutput``) and the
next read finds the job ``cancelled``; a job that already ended refuses with 400, as the
SDK documents.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sonar_tui.mock.agent_wire import AgentWire, final_object, response_object, search_item
from sonar_tui.mock.content import MockAnswer

QUEUED_SHARE = 0.15  # of a timed job's duration spent queued
MAX_JOBS = 256
FINISHED = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class JobPlan:
    """How a job moves on (see the module docstring)."""

    polls: int | None = None
    seconds: float | None = None


@dataclass
class MockJob:
    answer: MockAnswer
    wire: AgentWire
    plan: JobPlan
    store: bool
    started: float  # the board's clock
    reads: int = 0
    released: bool = False
    cancelled: bool = False
    ended: dict[str, Any] | None = field(default=None, repr=False)  # the final object, once

    @property
    def response_id(self) -> str:
        return self.wire.response_id

    def progress(self, now: float) -> float:
        """0 (just queued) to 1 (done), from the reads or the time since it started."""
        if self.released:
            return 1.0
        if self.plan.polls is not None:
            if self.reads >= max(1, self.plan.polls):
                return 1.0
            return 0.0 if self.reads <= 1 else 0.5
        if self.plan.seconds is not None:
            return min(1.0, (now - self.started) / max(self.plan.seconds, 1e-9))
        return 0.0 if self.reads <= 1 else 0.5

    def snapshot(self, now: float) -> dict[str, Any]:
        """The response object as a read sees it now."""
        if self.ended is not None:
            return self.ended
        if self.cancelled:
            self.ended = response_object(self.wire, status="cancelled",
                                         output=self._searched(), usage=None, final=True)
            return self.ended
        done = self.progress(now)
        if done >= 1.0:
            self.ended = final_object(self.answer, self.wire)
            return self.ended
        queued = done == 0.0 if self.plan.seconds is None else done < QUEUED_SHARE
        if queued:
            return response_object(self.wire, status="queued", output=[], usage=None,
                                   final=False)
        return response_object(self.wire, status="in_progress", output=self._searched(),
                               usage=None, final=False)

    def _searched(self) -> list[dict[str, Any]]:
        if self.wire.search and self.answer.sources:
            return [search_item(self.answer, self.wire)]
        return []


class JobBoard:
    """Every background job of one mock service. Thread-safe: tests release or inspect jobs
    from their own thread while the server reads them on its loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, MockJob] = OrderedDict()
        self.clock = clock

    def add(self, answer: MockAnswer, wire: AgentWire, plan: JobPlan,
            store: bool) -> dict[str, Any]:
        """Queue a job; returns what the create request answers (``status: queued``)."""
        job = MockJob(answer, wire, plan, store, self.clock())
        with self._lock:
            self._jobs[job.response_id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        return response_object(wire, status="queued", output=[], usage=None, final=False)

    def read(self, response_id: str) -> tuple[dict[str, Any], bool] | None:
        """The job's object as a GET sees it (counting the read), and whether it may be shown
        (``store: false`` hides it); None for an id that is no job."""
        with self._lock:
            job = self._jobs.get(response_id)
            if job is None:
                return None
            job.reads += 1
            return job.snapshot(self.clock()), job.store

    def cancel(self, response_id: str) -> str | None:
        """``None`` when the cancel is accepted; "ended" for a job that already ended;
        "unknown" for an id that is no job."""
        with self._lock:
            job = self._jobs.get(response_id)
            if job is None:
                return "unknown"
            if job.ended is not None or job.progress(self.clock()) >= 1.0:
                return "ended"
            job.cancelled = True
            return None

    def release(self, response_id: str | None = None) -> int:
        """Let held (or slow) jobs finish at their next read: one, or all. Returns how many."""
        with self._lock:
            if response_id is None:
                jobs = list(self._jobs.values())
            else:
                jobs = [self._jobs[response_id]] if response_id in self._jobs else []
            for job in jobs:
                job.released = True
            return len(jobs)

    def forget(self) -> None:
        """Drop every job (they expired): reading one is a 404 from now on."""
        with self._lock:
            self._jobs.clear()

    def reads(self, response_id: str) -> int:
        with self._lock:
            job = self._jobs.get(response_id)
            return job.reads if job else 0

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def peek(self, response_id: str) -> dict[str, Any] | None:
        """The job's object as the next read would see it, without counting as a read."""
        with self._lock:
            job = self._jobs.get(response_id)
            return job.snapshot(self.clock()) if job is not None else None


__all__ = ["JobBoard", "JobPlan", "MockJob"]
