"""The one door the UI and the CLI use: ask and re-ask, and what is done to threads.

Joins the API client and the store without either knowing the other. No Textual, no SQL.
The order of writes is the product's promise that nothing is lost:

1. Settings are validated first; invalid ones are refused before anything is written or sent.
2. The question is committed before the request leaves.
3. The answer row exists from the first byte (or from the failure that replaced it), is
   checkpointed while it streams (throttled by the store's ``AnswerWriter``) and finalised
   with usage and sources. An error, a cancel or a dropped connection keeps the partial text.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sonar_tui.api.background import background_unavailable
from sonar_tui.api.conversation import AskRequest, Attachment, Turn, continuation_endpoint
from sonar_tui.api.errors import ApiError, ErrorKind
from sonar_tui.api.events import (
    AnswerBuilder,
    ApiSwitched,
    Event,
    Failed,
    Finished,
    ReasoningDelta,
    SourcesUpdate,
    Started,
    TextDelta,
    TextFinal,
)
from sonar_tui.api.settings import RequestSettings, validate_request_settings
from sonar_tui.api.sse import without_surrogates
from sonar_tui.config import (
    ConfigWriteError,
    LoadedConfig,
    forget_agent_endpoints,
    remember_agent_endpoint,
    sending_blocked,
)
from sonar_tui.jobs import CancelOutcome, JobProgress, JobRunner, JobSubmitted
from sonar_tui.key_redaction import KeyRedactor, StreamRedactor
from sonar_tui.records import STATUS_FOR_FINISH, error_from_record, error_record, final_answer
from sonar_tui.store import (
    AnswerWriter,
    ImportResult,
    JobRecord,
    MessageRecord,
    SearchHit,
    Store,
    StoreCorruptError,
    StoreError,
    StoreWriteError,
    ThreadData,
    ThreadRecord,
)
from sonar_tui.store.errors import MessageNotFoundError, ThreadNotFoundError

if TYPE_CHECKING:
    from sonar_tui.api.client import PerplexityClient  # imported lazily: start-up time
from sonar_tui.store.models import MessageStatus

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 20  # earlier messages sent with a question (10 exchanges)


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class QuestionSaved:
    """The question is in the database (sent before anything leaves the machine)."""

    thread: ThreadRecord
    message: MessageRecord


@dataclass(frozen=True, slots=True)
class AnswerStarted:
    """The answer's row exists (status ``streaming``, or about to record a failure)."""

    thread_id: int
    message_id: int
    replaced: int | None = None  # the old answer this one replaced (regenerate), now gone


@dataclass(frozen=True, slots=True)
class AnswerKept:
    """A regenerate ended before its first text: nothing new was saved, and the old answer
    (``message_id``) is kept as it was. ``status`` says how it ended, ``error`` why."""

    thread_id: int
    message_id: int
    status: str
    error: ApiError | None = None


@dataclass(frozen=True, slots=True)
class AnswerSaved:
    """The answer is final in the database."""

    thread_id: int
    message_id: int | None
    status: str


@dataclass(frozen=True, slots=True)
class AgentEndpointRemembered:
    """Auto mode switched and the Agent API answered there: later questions to ``base_url``
    go straight to it. ``saved`` says whether config.toml holds it; when it could not be
    written, ``problem`` says why (the switch still holds for this session). Sent once per
    base URL and session."""

    base_url: str
    saved: bool
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class StorageProblem:
    """A write failed; the answer goes on (a checkpoint) or could not be kept (the final save)."""

    error: ApiError


ServiceEvent = (Event | QuestionSaved | AnswerStarted | AnswerKept | AnswerSaved
                | StorageProblem | AgentEndpointRemembered | JobSubmitted | JobProgress)


class RemoteText:
    """Remote text on its way in: every piece of the API key becomes ``[redacted]``.

    The service is the one door through which answers reach the screen, the database, the
    exports, stdout, stderr and ``--json``, so it is where a server that echoes the key
    (without its ``pplx-`` prefix, or any 8+ characters of it) is neutralised. Deltas go
    through a ``StreamRedactor`` each (text, reasoning), so a key split across deltas is
    caught; what they hold back is released before the next non-delta answer event. Every
    other event has each of its strings redacted, and lone surrogates (an error body
    decoded outside the SSE path) replaced.
    """

    def __init__(self, api_key: str | None) -> None:
        self._redactor = KeyRedactor(api_key)
        self._text = StreamRedactor(self._redactor)
        self._reasoning = StreamRedactor(self._redactor)

    def clean(self, event: Event) -> list[Event]:
        """``event`` made safe, as the events to pass on (none while a delta is held back).

        A list rather than a generator: this runs once per token."""
        if isinstance(event, TextDelta):
            text = self._text.feed(event.text)
            return [event if text == event.text else TextDelta(text)] if text else []
        if isinstance(event, ReasoningDelta):
            text = self._reasoning.feed(event.text)
            return [event if text == event.text else ReasoningDelta(text)] if text else []
        held = self.drain() if isinstance(event, (TextFinal, Finished, Failed)) else []
        return [*held, self._scrub(event)]

    def drain(self) -> list[Event]:
        """What the stream redactors hold back, as deltas (the end of a stream)."""
        held: list[Event] = []
        if text := self._reasoning.flush():
            held.append(ReasoningDelta(text))
        if text := self._text.flush():
            held.append(TextDelta(text))
        return held

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redactor.redact(without_surrogates(value))
        if isinstance(value, tuple):
            return tuple(self._scrub(item) for item in value)
        if isinstance(value, list):
            return [self._scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self._scrub(item) for key, item in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {}
            for f in dataclasses.fields(value):
                if not f.init:
                    continue
                old = getattr(value, f.name)
                new = self._scrub(old)
                if new is not old and new != old:
                    changes[f.name] = new
            return dataclasses.replace(value, **changes) if changes else value
        return value


@dataclass(eq=False)
class StorageError(ApiError):
    """A database failure, titled and advised for its cause: a full disk is only one."""

    heading: str | None = None
    advice: str | None = None

    @property
    def title(self) -> str:
        return self.heading or super().title

    @property
    def hint(self) -> str:
        return super().hint if self.advice is None else self.advice


THREAD_GONE = ("The thread was deleted, perhaps by another sonar-tui window; this answer is "
               "shown but not saved.")


def storage_error(exc: Exception) -> ApiError:
    """What to tell the user about a store failure (see ``StorageError``)."""
    if isinstance(exc, (ThreadNotFoundError, MessageNotFoundError)):
        return StorageError(ErrorKind.STORAGE, THREAD_GONE, heading="Thread deleted elsewhere",
                            advice="It stays on screen until you leave the thread.")
    if isinstance(exc, StoreCorruptError):
        return StorageError(ErrorKind.STORAGE, str(exc), heading="Database damaged",
                            advice=exc.hint)
    if isinstance(exc, StoreError) and not isinstance(exc, StoreWriteError):
        return StorageError(ErrorKind.STORAGE, str(exc), heading="Database error", advice="")
    return ApiError(ErrorKind.STORAGE, str(exc) or exc.__class__.__name__)


class ChatService:
    """Everything the UI and CLI do with threads, answers and settings."""

    def __init__(self, store: Store | None, config: LoadedConfig, *,
                 client_factory: Callable[..., Any] | None = None,
                 transport: Any = None) -> None:
        self.store = store
        self.config = config
        self._transport = transport
        self._client_factory = client_factory
        self._client: PerplexityClient | None = None
        # Set when the process is going away (SIGTERM, SIGHUP, a lost terminal): answers
        # cancelled from then on are saved as "interrupted", like a crash, not "cancelled".
        self.shutting_down = False
        self.jobs = JobRunner(self)

    @classmethod
    async def open(cls, config: LoadedConfig, db_path: str | os.PathLike[str] | None,
                   **options: Any) -> ChatService:
        """A service on the database at ``db_path`` (None: without one; nothing is saved),
        with what a killed run left "streaming" recovered as "interrupted", as the app does
        at start, so that no command shows an answer as still being written. Raises
        ``StoreError`` when the database cannot be opened; ``close`` releases it."""
        store = None
        if db_path is not None:
            store = await Store.open(db_path)
            with contextlib.suppress(StoreError):  # a read-only or damaged file can be read
                await store.recover_interrupted()
        return cls(store, config, **options)

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self):
        if self._client is None:
            factory = self._client_factory
            if factory is None:
                from sonar_tui.api.client import PerplexityClient  # lazy: keeps start-up fast
                factory = PerplexityClient
            # The client's own copy: it records an API switch in memory, and the config must
            # still see that switch as new so that it gets written to the file.
            connection = replace(self.config.connection,
                                 agent_endpoints=list(self.config.connection.agent_endpoints))
            self._client = factory(connection, self.config.api_key, transport=self._transport)
        return self._client

    async def reconfigure(self, config: LoadedConfig) -> None:
        """New settings or key: the next request uses a client built from them."""
        self.config = config
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client; the database stays open (the app owns it: see ``close``)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def close(self) -> None:
        """Close the HTTP client and the database: the end of a service made by ``open``."""
        try:
            await self.aclose()
        finally:
            if self.store is not None:
                await self.store.close()

    def _require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("this service was opened without a database")
        return self.store

    def blocked(self) -> ApiError | None:
        """Why no request may leave with the settings in effect (an invalid base URL: the
        key would go somewhere the user did not name), or None."""
        problem = sending_blocked(self.config)
        if problem is None:
            return None
        return ApiError(ErrorKind.INVALID_SETTINGS, f"Nothing was sent: {problem}. Fix it in "
                        "the settings (ctrl+s), config.toml or the environment.",
                        field="base_url")

    # ------------------------------------------------------------------ settings

    @property
    def defaults(self) -> RequestSettings:
        return self.config.request

    def settings_for(self, thread: ThreadRecord | None) -> RequestSettings:
        """The defaults with the thread's overrides applied (a new thread: the defaults)."""
        return self.defaults.with_overrides(thread.overrides if thread else None)

    async def set_overrides(self, thread_id: int, settings: RequestSettings) -> ThreadRecord | None:
        store = self._require_store()
        await store.set_overrides(thread_id, settings.diff(self.defaults))
        return await store.get_thread(thread_id)

    async def clear_overrides(self, thread_id: int) -> ThreadRecord | None:
        store = self._require_store()
        await store.set_overrides(thread_id, {})
        return await store.get_thread(thread_id)

    # ------------------------------------------------------------------ threads

    async def list_threads(self, limit: int = 200, offset: int = 0) -> list[ThreadRecord]:
        return await self._require_store().list_threads(limit=limit, offset=offset)

    async def get_thread(self, thread_id: int) -> ThreadRecord | None:
        return await self._require_store().get_thread(thread_id)

    async def load_page(self, thread_id: int, limit: int,
                        before_id: int | None = None) -> tuple[list[MessageRecord], bool]:
        """A page of messages (oldest first) and whether older ones exist."""
        store = self._require_store()
        messages = await store.load_messages(thread_id, limit=limit + 1, before_id=before_id)
        has_older = len(messages) > limit
        return (messages[1:] if has_older else messages), has_older

    async def rename(self, thread_id: int, title: str) -> str:
        return await self._require_store().rename_thread(thread_id, title)

    async def set_pinned(self, thread_id: int, pinned: bool) -> None:
        await self._require_store().set_pinned(thread_id, pinned)

    async def delete(self, thread_id: int) -> bool:
        return await self._require_store().delete_thread(thread_id)

    async def last_thread(self) -> int | None:
        return await self._require_store().last_thread()

    async def leave(self, thread_id: int | None, draft: str, *, remember: bool = False,
                    opening: int | None = None) -> None:
        """Keep ``draft`` as the unsent question of ``thread_id`` (None: the new thread);
        with ``remember``, ``opening`` (None: a new thread) is the thread to open at the
        next start. One transaction: a restart finds both or neither."""
        await self._require_store().set_draft(thread_id, draft, remember=remember,
                                              opening=opening)

    async def draft(self, thread_id: int | None) -> str:
        return await self._require_store().get_draft(thread_id)

    async def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        return await self._require_store().search(query, limit)

    async def all_thread_ids(self) -> list[int]:
        """Every thread, in the sidebar's order (pinned, then the latest first)."""
        every = 2**62  # SQLite's LIMIT is a 64-bit integer: more threads than any file holds
        return [thread.id for thread in await self._require_store().list_threads(limit=every)]

    async def export_thread(self, thread_id: int) -> ThreadData:
        """The thread with its messages, sources and attachments, for ``sonar_tui.export``.
        Raises ``ThreadNotFoundError``, or ``StoreCorruptError`` for an unreadable one."""
        return await self._require_store().export_thread(thread_id)

    async def import_thread(self, document: Mapping[str, Any]) -> ImportResult:
        """A thread from an export; one already in the database is skipped, not doubled.
        Raises ``StoreImportError`` (with what is wrong) for a document that is not one."""
        return await self._require_store().import_thread(document)

    # ------------------------------------------------------------------ asking

    async def ask(self, question: str, *, thread_id: int | None = None,
                  attachments: Sequence[Attachment] = (),
                  settings: RequestSettings | None = None, keep_attachment_bytes: bool = False,
                  save: bool = True, stream: bool = True, background: bool | None = None,
                  follow: bool = True) -> AsyncIterator[ServiceEvent]:
        """Ask a new question (in a new thread when ``thread_id`` is None).

        ``background``: send it as a background job (True), never (False), or when it is
        deep research and the API has a background mode (None). A job is followed to its
        answer unless ``follow`` is False (then the events end with ``JobSubmitted``)."""
        # Lone surrogates (argv bytes that are not UTF-8 arrive so) cannot be sent or stored.
        question = without_surrogates(question)
        thread = None
        if save and thread_id is not None:
            try:
                thread = await self._require_store().get_thread(thread_id)
            except StoreError as exc:  # a damaged page: said like any storage failure
                yield Failed(storage_error(exc))
                return
            if thread is None:
                yield Failed(ApiError(ErrorKind.INVALID_SETTINGS,
                                      f"There is no thread {thread_id} (it may have been "
                                      "deleted, perhaps by another sonar-tui).", field="thread"))
                return
            busy = await self._job_refusal(thread_id)
            if busy is not None:
                yield Failed(busy)
                return
        settings = settings or self.settings_for(thread)
        problems = validate_request_settings(settings)
        if problems:
            first = problems[0]
            yield Failed(ApiError(ErrorKind.INVALID_SETTINGS,
                                  "; ".join(str(p) for p in problems), field=first.field))
            return
        if (blocked := self.blocked()) is not None:
            yield Failed(blocked)
            return
        # Nothing could leave the machine: keep nothing either (no thread holding a question
        # that was never asked). A failure once the question went out keeps it.
        if (refusal := self.client.refusal()) is not None:
            yield Failed(refusal)
            return
        if not question.strip() and not attachments:
            yield Failed(ApiError(ErrorKind.INVALID_SETTINGS, "The question is empty.",
                                  field="question"))
            return
        use_background, refusal = self._background_choice(settings, background, save)
        if refusal is not None:
            yield Failed(ApiError(ErrorKind.INVALID_SETTINGS, refusal, field="background"))
            return
        if not save:
            request = AskRequest(question, settings, [], list(attachments), None, stream)
            remote = RemoteText(self.config.api_key)
            switching = [False]
            async for raw in self.client.stream(request):
                for clean in remote.clean(raw):
                    remembered = await self._note_switch(clean, switching)
                    yield clean
                    if remembered is not None:
                        yield remembered
            return

        store = self._require_store()
        try:
            earlier = (await store.load_messages(thread.id, limit=HISTORY_MESSAGES)
                       if thread else [])
            saved = await store.add_user_message(thread_id, question, attachments=attachments,
                                                 keep_bytes=keep_attachment_bytes)
            thread = await store.get_thread(saved.thread_id) or thread
        except StoreError as exc:  # nothing was sent, nothing half-written
            yield Failed(storage_error(exc))
            return
        assert thread is not None
        yield QuestionSaved(thread, saved)
        request = AskRequest(question, settings, _turns(earlier), list(attachments), thread.uid,
                             stream, self._continues(earlier))
        events = self.jobs.submit(thread, saved, request, follow=follow) if use_background \
            else self._answer(thread, request)
        async for event in events:
            yield event

    async def answer_again(self, thread_id: int, *, settings: RequestSettings | None = None,
                           background: bool | None = None) -> AsyncIterator[ServiceEvent]:
        """Regenerate (or retry) the thread's last answer, with the settings that produced it
        unless others are given. The question stays; the old answer is replaced, but only
        once the new one has produced text (an old answer without text: once it starts or
        fails). A new attempt that ends before that is dropped and the old answer kept
        (``AnswerKept``): a failed or stopped retry never costs the user the answer. Deep
        research goes again as a background job (as ``ask`` decides), whose answer replaces
        the old one when it completes."""
        store = self._require_store()
        busy = await self._job_refusal(thread_id)
        if busy is not None:
            yield Failed(busy)
            return
        try:
            thread = await store.get_thread(thread_id)
            messages = await store.load_messages(thread_id, limit=HISTORY_MESSAGES + 2) \
                if thread else []
        except StoreError as exc:
            yield Failed(storage_error(exc))
            return
        last_question = next((m for m in reversed(messages) if m.role == "user"), None)
        if thread is None or last_question is None:
            yield Failed(ApiError(ErrorKind.INVALID_SETTINGS,
                                  "There is no question to answer again.", field="thread"))
            return
        old_answer = next((m for m in messages if m.role == "assistant"
                           and m.id > last_question.id), None)
        if settings is None:
            settings = (RequestSettings.from_dict(old_answer.settings)
                        if old_answer is not None and old_answer.settings
                        else self.settings_for(thread))
        problems = validate_request_settings(settings)
        if problems:
            yield Failed(ApiError(ErrorKind.INVALID_SETTINGS, "; ".join(map(str, problems)),
                                  field=problems[0].field))
            return
        if (blocked := self.blocked()) is not None:
            yield Failed(blocked)
            return
        use_background, refusal = self._background_choice(settings, background, True)
        if refusal is not None:
            yield Failed(ApiError(ErrorKind.INVALID_SETTINGS, refusal, field="background"))
            return
        earlier = [m for m in messages if m.id < last_question.id]
        request = AskRequest(last_question.content, settings, _turns(earlier), [], thread.uid,
                             True, self._continues(earlier))
        events = self.jobs.submit(thread, last_question, request, follow=True,
                                  replaces=old_answer.id if old_answer is not None else None) \
            if use_background else self._answer(thread, request, replacing=old_answer)
        async for event in events:
            yield event

    async def take_back_last(self, thread_id: int) -> str | None:
        """Edit-and-resend, first half: remove the last question and its answer, return the
        question's text for the composer (the caller asks again with the edited text)."""
        store = self._require_store()
        if await self._job_refusal(thread_id) is not None:
            return None  # its question is out as a background job
        messages = await store.load_messages(thread_id, limit=2)
        question = next((m for m in reversed(messages) if m.role == "user"), None)
        if question is None:
            return None
        for message in messages:
            if message.id >= question.id:
                await store.delete_message(message.id)
        return question.content

    # ------------------------------------------------------------------ background jobs

    def background_refusal(self) -> str | None:
        """Why questions cannot go out as background jobs now; None when they can."""
        return background_unavailable(self.config.connection)

    def _background_choice(self, settings: RequestSettings, background: bool | None,
                           save: bool) -> tuple[bool, str | None]:
        """Whether to send as a job, and why it cannot be when it was asked for."""
        if background is False:
            return False, None
        reason = background_unavailable(self.config.connection)
        if background is None:  # automatic: deep research, where the API can
            return (save and reason is None and self.config.connection.background_research
                    and settings.is_deep_research), None
        if not save:
            return False, ("A background job needs the thread database (its id is kept "
                           "there to fetch the answer later), so it cannot go without saving.")
        return reason is None, reason

    async def _job_refusal(self, thread_id: int) -> ApiError | None:
        job = await self._require_store().thread_job(thread_id, unfinished=True)
        if job is None:
            return None
        return ApiError(ErrorKind.INVALID_SETTINGS, (
            f"Thread {thread_id} is waiting for a background job ({job.status}): its answer "
            "comes first. Wait for it, or cancel it."), field="thread")

    async def follow_job(self, job_id: int, *, check_now: bool = True,
                         once: bool = False) -> AsyncIterator[ServiceEvent]:
        """Follow a job until its answer is saved (see ``jobs.JobRunner.follow``)."""
        async for event in self.jobs.follow(job_id, check_now=check_now, once=once):
            yield event

    async def cancel_job(self, job_id: int) -> CancelOutcome:
        return await self.jobs.cancel(job_id)

    async def list_jobs(self, limit: int | None = 50, *,
                        unfinished: bool = False) -> list[JobRecord]:
        return await self._require_store().list_jobs(limit, unfinished=unfinished)

    async def thread_job(self, thread_id: int, *, unfinished: bool = False) -> JobRecord | None:
        return await self._require_store().thread_job(thread_id, unfinished=unfinished)

    def _continues(self, earlier: list[MessageRecord]) -> str | None:
        """The response id a new question can continue (Agent API ``previous_response_id``):
        the thread's last message must be an Agent answer that completed, from this base URL.
        Otherwise the history is replayed; the client replays it too if the id is refused."""
        last = earlier[-1] if earlier else None
        if (last is None or last.role != "assistant" or last.api != "agent"
                or last.status != "complete" or last.finish_reason != "stop"
                or not last.response_id):
            return None
        here = continuation_endpoint(self.config.connection.base_url)
        return last.response_id if here and last.response_endpoint == here else None

    async def _note_switch(self, event: ServiceEvent,
                           switching: list[bool]) -> AgentEndpointRemembered | None:
        """Auto mode met the retirement 403: once the Agent API has answered (its first
        event), remember the switch in the config file. A file that cannot be written never
        fails the answer: the switch holds for the session and the caller is told why."""
        # ``switching`` is this answer's own flag: two answers may stream at once.
        if isinstance(event, ApiSwitched):
            switching[0] = True
            return None
        if not switching[0] or not isinstance(event, (Started, Failed)):
            return None
        switching[0] = False
        if not isinstance(event, Started) or event.api != "agent":
            return None  # the Agent API refused too: nothing is remembered
        base_url = self.config.connection.base_url.rstrip("/")
        known = self.config.connection.agent_endpoints
        if any(u.rstrip("/") == base_url for u in known):
            return None  # already remembered (this session, or unsaved earlier)
        try:
            self.config = remember_agent_endpoint(self.config, base_url)
        except (ConfigWriteError, OSError) as exc:
            log.info("could not save the Agent API choice: %s", exc)  # the caller says it
            # Held in memory, so a rebuilt client keeps it and this is said only once.
            self.config = replace(self.config, connection=replace(
                self.config.connection, agent_endpoints=[*known, base_url]))
            return AgentEndpointRemembered(base_url, False, _write_problem(exc))
        return AgentEndpointRemembered(base_url, True)

    def forget_agent_endpoints(self) -> None:
        """Forget every remembered switch (config file and session); raises ConfigWriteError."""
        self.config = forget_agent_endpoints(self.config)
        if self._client is not None:
            self._client.connection.agent_endpoints.clear()

    async def _answer(self, thread: ThreadRecord, request: AskRequest, *,
                      replacing: MessageRecord | None = None) -> AsyncIterator[ServiceEvent]:
        store = self._require_store()
        builder = AnswerBuilder()
        writer: AnswerWriter | None = None
        warned = False
        gone = False  # the row (with its thread) was deleted elsewhere: nothing left to save
        unsaved = False  # the row could not be created: the answer is shown, not stored
        status: MessageStatus | None = None  # set by the terminal event; None: stopped
        message_id: int | None = None
        # Regenerating an answer that has text: the new row (which replaces the old one in
        # the same transaction) waits for the new answer's first text.
        wait_for_text = replacing is not None and bool(replacing.content.strip())
        remote = RemoteText(self.config.api_key)
        endpoint = continuation_endpoint(self.config.connection.base_url)
        switching = [False]  # this answer's own: two answers may stream at once
        try:
            async for raw in self.client.stream(request):
                for event in remote.clean(raw):  # pieces of the key redacted
                    builder.feed(event)
                    if isinstance(event, Finished):
                        status = STATUS_FOR_FINISH.get(event.reason, "complete")
                    elif isinstance(event, Failed):
                        status = "error"
                    remembered = await self._note_switch(event, switching)
                    if remembered is not None:
                        yield remembered
                    if writer is None and not unsaved and _row_due(event, wait_for_text):
                        so_far = builder.answer()
                        try:
                            message_id = await store.start_answer(
                                thread.id, request.settings.to_dict(),
                                so_far.model or request.settings.model, so_far.api,
                                replacing=replacing.id if replacing is not None else None)
                        except StoreError as exc:  # shown to its end, not saved: said once
                            unsaved = True
                            gone = isinstance(exc, ThreadNotFoundError)
                            yield StorageProblem(storage_error(exc))
                            yield event
                            continue
                        writer = store.answer_writer(message_id)
                        if wait_for_text:  # what came before the first text is saved too
                            writer.append_reasoning(so_far.reasoning)
                            writer.set_sources([source.to_dict() for source in so_far.sources])
                        yield AnswerStarted(thread.id, message_id,
                                            replacing.id if replacing is not None else None)
                    if writer is not None and not gone:
                        if isinstance(event, TextDelta):
                            writer.append_text(event.text)
                        elif isinstance(event, ReasoningDelta):
                            writer.append_reasoning(event.text)
                        elif isinstance(event, SourcesUpdate):
                            writer.set_sources([source.to_dict() for source in event.sources])
                        try:
                            await writer.maybe_checkpoint()
                        except StoreError as exc:  # keep answering; say it once
                            gone = isinstance(exc, MessageNotFoundError)
                            if not warned:
                                warned = True
                                yield StorageProblem(storage_error(exc))
                    yield event
        finally:
            # Runs on normal end, on error and on cancel (no yield here: the generator may be
            # closing). The shield lets the final write complete even if cancelled again.
            final_problem = None
            if status is None:  # cancelled: by the user (Esc, Ctrl-C), or by a shutdown
                status = "interrupted" if self.shutting_down else "cancelled"
                for held in remote.drain():  # the few characters held back, redacted
                    builder.feed(held)
            if writer is not None and not gone:
                final_problem = await asyncio.shield(
                    self._finish(writer, builder, status, endpoint))
        if writer is not None or unsaved:
            if final_problem is not None and not (warned and _is_gone(final_problem)):
                yield StorageProblem(final_problem)
            # message_id None: shown to its end, but not in the database.
            saved = writer is not None and not gone and not _is_gone(final_problem)
            yield AnswerSaved(thread.id, message_id if saved else None, status)
        elif replacing is not None:
            yield AnswerKept(thread.id, replacing.id, status, builder.answer().error)

    @staticmethod
    async def _finish(writer: AnswerWriter, builder: AnswerBuilder, status: MessageStatus,
                      endpoint: str) -> ApiError | None:
        try:
            await writer.finish(final_answer(builder.answer(), status, endpoint=endpoint))
        except StoreError as exc:
            return storage_error(exc)
        return None


def _write_problem(exc: Exception) -> str:
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"could not write{where}: {exc.strerror or exc}"
    return str(exc)


def _row_due(event: Event, wait_for_text: bool) -> bool:
    """Whether ``event`` is the moment the answer's row is created."""
    if wait_for_text:
        return isinstance(event, (TextDelta, TextFinal)) and bool(event.text)
    return isinstance(event, (Started, Failed))


def _is_gone(problem: ApiError | None) -> bool:
    return problem is not None and problem.message == THREAD_GONE


def _turns(messages: list[MessageRecord]) -> list[Turn]:
    """Earlier exchanges worth sending back: questions and the answers that completed."""
    turns: list[Turn] = []
    for message in messages:
        if message.role == "user":
            turns.append(Turn("user", message.content))
        elif message.status in ("complete", "interrupted", "cancelled") and message.content.strip():
            turns.append(Turn("assistant", message.content))
    return turns


__all__ = [
    "AgentEndpointRemembered",
    "AnswerKept",
    "AnswerSaved",
    "AnswerStarted",
    "CancelOutcome",
    "ChatService",
    "JobProgress",
    "JobSubmitted",
    "QuestionSaved",
    "ServiceEvent",
    "StorageError",
    "StorageProblem",
    "error_from_record",
    "error_record",
    "storage_error",
]
