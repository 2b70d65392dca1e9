"""Background jobs: questions whose answers outlive the process (and the terminal) that asked.

Deep research takes minutes, and its users ask over SSH links that drop and in terminals
they close. A question sent as a job (the Agent API's ``background: true``) is answered at
once with an id; the answer is then fetched by polling, by whichever sonar-tui runs next.
The promise, in the order things happen:

1. The question is committed, then the job (no id yet), before the request leaves.
2. The job's id is committed the moment the service gives it; nothing else happens first.
3. Every check of an unfinished job records what it found (status, the steps so far). A
   check that fails (network, rate limit, 5xx, a key the service refuses) keeps the job and
   tries again later, backing off (``api.background.PollSchedule``); only a 404 ends it
   (the service no longer knows it: expired, or created with ``store: false``).
4. The answer is written, with its sources, usage and cost, in the transaction that ends
   the job; a second follower (the app and ``sonar-tui wait`` at once) finds it ended and
   replays the stored answer instead of writing another.

Quitting, a dropped link, a killed process or a reboot therefore lose nothing: the next
start of the app or the CLI follows every unfinished job from where the database says.

``JobRunner`` does this for :class:`~sonar_tui.service.ChatService` (through which the UI and
the CLI reach it); it speaks the service's event language, plus :class:`JobSubmitted` and
:class:`JobProgress`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sonar_tui.api.background import JobSnapshot, PollSchedule
from sonar_tui.api.conversation import AskRequest, continuation_endpoint
from sonar_tui.api.errors import ApiError, ErrorKind
from sonar_tui.api.events import (
    AnswerBuilder,
    Event,
    Failed,
    Finished,
    ReasoningStep,
    Retrying,
    Source,
    SourcesUpdate,
    StepsUpdate,
)
from sonar_tui.records import (
    STATUS_FOR_FINISH,
    error_from_record,
    error_record,
    events_from_message,
    final_answer,
)
from sonar_tui.store import JobRecord, MessageRecord, StoreError, ThreadRecord
from sonar_tui.store.models import MessageStatus

if TYPE_CHECKING:
    from sonar_tui.service import ChatService

log = logging.getLogger(__name__)

GONE_MESSAGE = ("The service no longer knows this background job (HTTP 404), so its answer "
                "cannot be fetched: it may have expired, or have been created with store: "
                "false. Ask again (ctrl+r in the app).")
CANCEL_REFUSED = ("The service cannot cancel this job ({detail}), so sonar-tui stopped "
                  "following it. It may still run on the service, and be billed.")
LOST_MESSAGE = ("sonar-tui stopped before the service's reply to this background job arrived, "
                "so the job's id is unknown and its answer cannot be fetched. It may still run "
                "on the service (and be billed); ask again to get an answer.")


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class JobSubmitted:
    """The service accepted the job; its id is in the database."""

    job: JobRecord


@dataclass(frozen=True, slots=True)
class JobProgress:
    """Where a running job stands after a check (or before the first one): its status, when
    it was asked, and when the next check is due (seconds from now). ``problem``: what went
    wrong with the last check (the next one tries again)."""

    job_id: int
    thread_id: int
    status: str
    started_at: float  # wall-clock time the job was asked
    polls: int
    next_check: float | None
    problem: ApiError | None = None


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What asking to cancel a job did. ``stopped``: no longer followed (the service took
    the cancel, or could not and sonar-tui gave up on it)."""

    stopped: bool
    message: str
    error: ApiError | None = None  # what kept the cancel from being asked, if anything


# ----------------------------------------------------------------------------- the runner


class JobRunner:
    """Starts, follows and cancels background jobs for one ``ChatService``."""

    def __init__(self, service: ChatService) -> None:
        self._service = service
        self._wakers: dict[int, set[asyncio.Event]] = {}

    @property
    def _store(self):
        return self._service._require_store()

    # ------------------------------------------------------------------ starting

    async def submit(self, thread: ThreadRecord, question: MessageRecord, request: AskRequest,
                     *, follow: bool, replaces: int | None = None) -> AsyncIterator[Any]:
        """Record the job, send it, record its id; then follow it to its end (``follow``).
        ``replaces``: the answer being regenerated, kept until the job's answer completes."""
        from sonar_tui.service import StorageProblem, storage_error

        store = self._store
        connection = self._service.config.connection
        try:
            job = await store.add_job(
                thread.id, question.id, endpoint=continuation_endpoint(connection.base_url),
                path=connection.agent_path, settings=request.settings.to_dict(),
                model=request.settings.model, replaces=replaces)
        except StoreError as exc:  # nothing was sent
            yield Failed(storage_error(exc))
            return
        yield _progress(job, None)  # a job from now on, though without an id yet
        async for item in self._service.client.submit_background(request):
            if isinstance(item, Retrying):
                yield item
            elif isinstance(item, Failed):
                async for event in self._finish(job, [item], "failed"):
                    yield event
                return
            else:
                try:
                    await store.job_submitted(job.id, item.response_id, item.status)
                except StoreError as exc:
                    # The job runs, but its id could not be kept: follow it while we live.
                    yield StorageProblem(storage_error(exc))
                job = replace(job, response_id=item.response_id, status=item.status)
                yield JobSubmitted(job)
                if item.finished:  # answered at once (a service that ignored background)
                    async for event in self._finish(job, self._redacted(item.events),
                                                    item.status):
                        yield event
                    return
        if follow:
            async for event in self.follow(job.id, check_now=False, known=job):
                yield event

    # ------------------------------------------------------------------ following

    async def follow(self, job_id: int, *, check_now: bool = True, once: bool = False,
                     known: JobRecord | None = None) -> AsyncIterator[Any]:
        """Poll the job until it ends and its answer is saved (``AnswerSaved``), yielding
        ``JobProgress`` after every check and the progress it reports (steps, sources).
        ``check_now``: the first check at once (resuming) rather than after the first
        interval (just submitted). ``once``: stop after one check. Cancelling the consumer
        leaves the job as the database has it, to be followed again later."""
        from sonar_tui.service import StorageProblem, storage_error

        store = self._store
        try:
            job = await store.get_job(job_id)
        except StoreError as exc:
            yield Failed(storage_error(exc))
            return
        if job is None:
            yield Failed(ApiError(ErrorKind.INVALID_SETTINGS, f"There is no job {job_id}.",
                                  field="job"))
            return
        if known is not None and job.response_id is None:
            job = known  # its id could not be saved: follow it from memory
        if job.finished:
            async for event in self._replay(job):
                yield event
            return
        schedule = PollSchedule(self._service.config.connection.job_poll_interval)
        wait = 0.0 if check_now else schedule.next()
        if job.steps:
            yield StepsUpdate(tuple(ReasoningStep.from_dict(s) for s in job.steps))
        if job.sources:
            yield SourcesUpdate(tuple(Source.from_dict(s) for s in job.sources))
        yield _progress(job, wait)
        wake = asyncio.Event()
        self._wakers.setdefault(job_id, set()).add(wake)
        warned = False
        try:
            while True:
                if await _sleep_or_wake(wake, wait):
                    schedule.soon()  # a cancel was asked: its end is near, look again soon
                try:
                    stored = await store.get_job(job_id)
                except StoreError as exc:
                    if not warned:
                        warned = True
                        yield StorageProblem(storage_error(exc))
                    stored = job
                if stored is None:  # its thread was deleted
                    return
                if stored.finished:
                    async for event in self._replay(stored):
                        yield event
                    return
                job = stored if stored.response_id or known is None else \
                    replace(stored, response_id=known.response_id)
                result = await self._check(job)
                if isinstance(result, JobSnapshot) and result.finished:
                    async for event in self._finish(job, result.events, result.status):
                        yield event
                    return
                if isinstance(result, ApiError) and result.kind is ErrorKind.NOT_FOUND:
                    async for event in self._finish(job, [Failed(_gone(result))], "gone"):
                        yield event
                    return
                if result == "lost":
                    error = ApiError(ErrorKind.PROTOCOL, LOST_MESSAGE)
                    async for event in self._finish(job, [Failed(error)], "lost"):
                        yield event
                    return
                events, job, wait, failure = await self._record(job, result, schedule)
                for event in events:
                    yield event
                if failure is not None and not warned:
                    warned = True
                    yield StorageProblem(storage_error(failure))
                yield _progress(job, wait, result if isinstance(result, ApiError) else None)
                if once:
                    return
        finally:
            waiters = self._wakers.get(job_id)
            if waiters is not None:
                waiters.discard(wake)
                if not waiters:
                    del self._wakers[job_id]

    async def _check(self, job: JobRecord) -> JobSnapshot | ApiError | str:
        """One look at the job: a snapshot, the error met, or "waiting" (its id is not known
        yet) / "lost" (it never will be)."""
        if job.response_id is None:
            connection = self._service.config.connection
            patience = max(1, connection.max_attempts) * (
                connection.connect_timeout + connection.idle_timeout + 60) + 60
            return "lost" if time.time() - job.created_at > patience else "waiting"
        elsewhere = self._elsewhere(job)
        if elsewhere is not None:
            return elsewhere
        result = await self._service.client.retrieve_response(job.path, job.response_id)
        if isinstance(result, JobSnapshot):
            result = replace(result, events=tuple(self._redacted(result.events)))
        return result

    def _redacted(self, events: Sequence[Event]) -> list[Event]:
        """A job's answer is remote text like a streamed one: every piece of the API key in
        it becomes ``[redacted]`` before it is shown or stored (see ``service.RemoteText``)."""
        from sonar_tui.service import RemoteText

        remote = RemoteText(self._service.config.api_key)
        return [*(clean for event in events for clean in remote.clean(event)), *remote.drain()]

    def _elsewhere(self, job: JobRecord) -> ApiError | None:
        """Why the job cannot be reached with the base URL now configured (None: it can)."""
        here = continuation_endpoint(self._service.config.connection.base_url)
        if here == job.endpoint:
            return None
        return ApiError(ErrorKind.INVALID_SETTINGS, (
            f"This job was started on {job.endpoint}, and base_url is now {here or '?'}: it "
            "can only be checked where it was started. Set base_url back to follow it."),
            field="base_url")

    async def _record(self, job: JobRecord, result: JobSnapshot | ApiError | str,
                      schedule: PollSchedule
                      ) -> tuple[list[Event], JobRecord, float, StoreError | None]:
        """Store what an unfinished check found. Returns the events to show, the job as it
        now stands, the wait before the next check, and a failure to save it."""
        store = self._store
        events: list[Event] = []
        wait = schedule.interval
        try:
            if isinstance(result, ApiError):
                wait = schedule.after_failure(result.retry_after)
                await store.job_checked(job.id, error=error_record(result))
                job = replace(job, polls=job.polls + 1, error=error_record(result))
            elif isinstance(result, JobSnapshot):
                wait = schedule.next()
                steps, sources = job.steps, job.sources
                for event in result.events:
                    if isinstance(event, StepsUpdate):
                        steps = [s.to_dict() for s in event.steps]
                    elif isinstance(event, SourcesUpdate):
                        sources = [s.to_dict() for s in event.sources]
                    else:
                        continue
                    events.append(event)
                # A cancel that was asked stays "cancelling" until the service has ended it.
                status = job.status if job.status == "cancelling" else result.status
                changed = (steps != job.steps, sources != job.sources)
                job = replace(job, status=status, steps=steps, sources=sources,
                              polls=job.polls + 1, error=None)
                await store.job_checked(job.id, status=status,
                                        steps=steps if changed[0] else None,
                                        sources=sources if changed[1] else None)
                events = [e for e in events if (isinstance(e, StepsUpdate) and changed[0])
                          or (isinstance(e, SourcesUpdate) and changed[1])]
            else:  # "waiting": the creating request is still out (another process)
                wait = schedule.next()
        except StoreError as exc:
            return events, job, wait, exc
        return events, job, wait, None

    # ------------------------------------------------------------------ ending

    async def _finish(self, job: JobRecord, events: Sequence[Event],
                      job_status: str) -> AsyncIterator[Any]:
        """Write the job's answer and end it (one transaction), then show it."""
        from sonar_tui.service import AnswerSaved, StorageProblem, storage_error

        events = list(events)
        error = None
        stopped = events[-1] if events else None
        if job_status in ("cancelled", "abandoned") and isinstance(stopped, Failed):
            # A job stopped on request is "stopped", not "failed": it keeps what it found.
            events[-1] = Finished("cancelled")
            if job_status == "abandoned":
                error = stopped.error
        builder = AnswerBuilder()
        for event in events:
            builder.feed(event)
        answer = builder.answer()
        status: MessageStatus = "error" if answer.error is not None else \
            STATUS_FOR_FINISH.get(answer.finish_reason or "stop", "complete")
        # What the checks found stays when the final answer repeats none of it.
        steps = answer.steps or tuple(ReasoningStep.from_dict(s) for s in job.steps)
        sources = answer.sources or tuple(Source.from_dict(s) for s in job.sources)
        final = replace(final_answer(answer, status, endpoint=job.endpoint, error=error),
                        steps=[s.to_dict() for s in steps],
                        sources=[s.to_dict() for s in sources],
                        response_id=job.response_id, response_endpoint=job.endpoint or None)
        try:
            message_id = await self._store.finish_job(job.id, job_status, final)
        except StoreError as exc:
            # The job stays unfinished in the database: the next check writes it again.
            yield StorageProblem(storage_error(exc))
            return
        if message_id is None:  # another process ended it first
            ended = await self._store.get_job(job.id)
            if ended is not None:
                async for event in self._replay(ended):
                    yield event
            return
        if not answer.steps and steps:
            yield StepsUpdate(steps)
        if not answer.sources and sources:
            yield SourcesUpdate(sources)
        for event in events:
            yield event
        self._wake(job.id)
        yield AnswerSaved(job.thread_id, message_id, status)

    async def _replay(self, job: JobRecord) -> AsyncIterator[Any]:
        """An ended job's stored answer, as the events that would have shown it."""
        from sonar_tui.service import AnswerSaved

        message = await self._store.get_message(job.answer_id, attachment_data=False) \
            if job.answer_id is not None else None
        if message is None:
            yield Failed(ApiError(ErrorKind.NOT_FOUND, "This job's answer is no longer in the "
                                  "database (it was deleted)."))
            return
        for event in events_from_message(message):
            yield event
        if message.status == "error":
            yield Failed(error_from_record(message.error or {}))
        yield AnswerSaved(job.thread_id, message.id, message.status)

    # ------------------------------------------------------------------ cancelling

    async def cancel(self, job_id: int) -> CancelOutcome:
        """Ask the service to stop the job. When it has no cancel for it, stop following
        it and say so; the answer (whatever the job found) lands in its thread either way."""
        store = self._store
        job = await store.get_job(job_id)
        if job is None or job.finished:
            return CancelOutcome(False, "That job has already ended.")
        if job.response_id is None:
            return CancelOutcome(False, "The service has not accepted this job yet; try "
                                        "again in a moment.")
        elsewhere = self._elsewhere(job)
        if elsewhere is not None:
            return CancelOutcome(False, elsewhere.message, elsewhere)
        client = self._service.client
        reply = await client.cancel_response(job.path, job.response_id)
        if isinstance(reply, str):
            await store.job_checked(job.id, status="cancelling", polled=False)
            self._wake(job.id)
            return CancelOutcome(True, "Cancelling: the service is stopping the job; what it "
                                       "found so far stays in the thread.")
        if reply.status == 400:
            self._wake(job.id)  # it has ended: the next check brings its answer
            return CancelOutcome(False, "The job had already ended; its answer is on its way.")
        if reply.kind is ErrorKind.NOT_FOUND:
            seen = await client.retrieve_response(job.path, job.response_id)
            if isinstance(seen, ApiError) and seen.kind is ErrorKind.NOT_FOUND:
                async for _ in self._finish(job, [Failed(_gone(seen))], "gone"):
                    pass
                return CancelOutcome(True, GONE_MESSAGE)
            detail = f"HTTP {reply.status} from {job.path}/…/cancel"
            refused = ApiError(ErrorKind.PROTOCOL, CANCEL_REFUSED.format(detail=detail),
                               status=reply.status)
            async for _ in self._finish(job, [Failed(refused)], "abandoned"):
                pass
            return CancelOutcome(True, refused.message)
        return CancelOutcome(False, f"Could not cancel: {reply.describe()} The job goes on; "
                                    "try again.", reply)

    def _wake(self, job_id: int) -> None:
        for event in self._wakers.get(job_id, ()):
            event.set()


# ----------------------------------------------------------------------------- helpers


def _progress(job: JobRecord, wait: float | None, problem: ApiError | None = None) -> JobProgress:
    return JobProgress(job.id, job.thread_id, job.status, job.created_at, job.polls, wait,
                       problem)


def _gone(error: ApiError) -> ApiError:
    return ApiError(ErrorKind.NOT_FOUND, GONE_MESSAGE, status=error.status or 404,
                    error_type=error.error_type)


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``, or less if woken; True when woken."""
    if seconds > 0 and not wake.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
    woken = wake.is_set()
    wake.clear()
    return woken


__all__ = ["CancelOutcome", "JobProgress", "JobRunner", "JobSubmitted"]
