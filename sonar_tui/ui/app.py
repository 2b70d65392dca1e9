"""The Textual application: lifecycle, the service, answer workers, copy and links.

Answers run in workers owned by the App, never by a widget, so switching threads (which
unmounts the conversation's widgets) leaves them streaming, and several threads can stream
at once. A background job is followed the same way (``ChatService.follow_job``); the App
only shows its progress, resumes every unfinished job at start-up, and calls the user back
when one ends while they are elsewhere. Every binding has an id (remappable from
``[keymap]`` in config.toml) and every action is also a command-palette entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.content import Content
from textual.screen import Screen

from sonar_tui import paths
from sonar_tui.actions import SCOPE_TITLES
from sonar_tui.api.conversation import Attachment, AttachmentError
from sonar_tui.api.errors import ApiError
from sonar_tui.api.events import (
    ApiSwitched,
    Failed,
    Finished,
    ImagesUpdate,
    ReasoningDelta,
    ReasoningStep,
    RelatedUpdate,
    Retrying,
    Source,
    SourcesUpdate,
    Started,
    StepsUpdate,
    TextDelta,
    TextFinal,
    UsageUpdate,
)
from sonar_tui.clipboard import copy_text, local_clipboard_available, save_to_file
from sonar_tui.config import ConfigWriteError, LoadedConfig, save_config
from sonar_tui.files import file_stem, home_relative, start_folder, write_private
from sonar_tui.notify import callback_sequence
from sonar_tui.references import (
    code_blocks,
    plain_text,
    thread_markdown,
    with_inline_links,
    with_references,
)
from sonar_tui.sanitize import clean_line, clean_text, safe_url, url_domain
from sonar_tui.service import (
    AgentEndpointRemembered,
    AnswerKept,
    AnswerSaved,
    AnswerStarted,
    ChatService,
    JobProgress,
    JobSubmitted,
    QuestionSaved,
    StorageProblem,
    error_record,
    storage_error,
)
from sonar_tui.store.errors import StoreError
from sonar_tui.ui.bindings import bindings_for, help_rows, keyless_bindings, palette_entries
from sonar_tui.ui.format import format_elapsed
from sonar_tui.ui.live import LiveAnswer
from sonar_tui.ui.run_to_end import run_to_end
from sonar_tui.ui.screens.help import HelpScreen
from sonar_tui.ui.screens.main import MainScreen
from sonar_tui.ui.screens.export import ExportScreen
from sonar_tui.ui.screens.modals import ConfirmScreen, PickScreen, TextInputScreen, UrlScreen
from sonar_tui.ui.screens.welcome import WelcomeScreen
from sonar_tui.ui.themes import load_all_themes, pick_theme, theme_variable_defaults
from sonar_tui.ui.widgets.answer import AnswerView
from sonar_tui.ui.widgets.sidebar import JOB_WORDS, PAGE_SIZE

if TYPE_CHECKING:
    from sonar_tui.mock.runner import MockHandle
    from sonar_tui.ui.screens.settings import SettingsResult

log = logging.getLogger(__name__)

DEMO_PACE = 120.0  # chunks per second: fast, but visibly streaming
DEMO_CHUNKS = 320
ADOPT_EVERY = 10  # seconds between looks for jobs started elsewhere (`ask --background`)
JOB_OUTCOMES = {"complete": "its answer is ready", "error": "it failed",
                "cancelled": "it was cancelled", "interrupted": "it ended early"}


class SonarApp(App[None]):
    TITLE = "sonar-tui"
    ENABLE_COMMAND_PALETTE = True
    NOTIFICATION_TIMEOUT = 6

    BINDINGS = bindings_for("app")

    def __init__(self, config: LoadedConfig, *, db_path: Path, demo: bool = False,
                 clock: Callable[[], float] = time.time, transport: Any = None,
                 mock_options: dict | None = None) -> None:
        self.config = config
        self.db_path = Path(db_path)
        self.demo = demo
        self.clock = clock
        self.transport = transport
        self.mock_options = mock_options or {}
        self.config_writable = not demo  # the demo never touches the user's config file
        self.service: ChatService = ChatService(None, config, transport=transport)
        self.live: dict[int, LiveAnswer] = {}  # thread id -> answer being written
        self.pending: list[LiveAnswer] = []  # asked, thread not created yet
        self.attachments: list[Attachment] = []
        self.notified_switch = False
        self.terminal_writer: Callable[[str], None] | None = None  # tests may inject one
        self.last_copy = None
        self._ticks = 0
        self._mock: MockHandle | None = None
        self._data_ready = asyncio.Event()
        self._watch_terminal = False  # poll whether the terminal hung up (see _tick)
        self._shutting_down = False  # a signal or a lost terminal: answers end interrupted
        super().__init__()
        self._load_themes()
        self._apply_keymap(config.keymap)

    # ------------------------------------------------------------------ start-up

    def _apply_keymap(self, keymap: dict[str, str]) -> None:
        """The user's [keymap]: moves default keys (ids unknown to the registry are reported
        by the config loader) and gives keys to palette-only actions."""
        for extra in keyless_bindings("app", keymap):
            for key in extra.key.split(","):
                self._bindings.key_to_bindings.setdefault(key.strip(), []).append(
                    replace(extra, key=key.strip()))
        if keymap:
            self.set_keymap(keymap)

    def _load_themes(self) -> None:
        themes, problems = load_all_themes(paths.user_themes_dir(self.config.path))
        for theme in themes:
            self.register_theme(theme)
        self.theme_problems = problems
        name, message = pick_theme(self.config.appearance.theme, list(self.available_themes))
        self.theme = name
        self.theme_message = message

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def get_default_screen(self) -> Screen:
        self._main_screen = MainScreen()
        return self._main_screen

    @property
    def main(self) -> MainScreen:
        return self._main_screen

    async def on_mount(self) -> None:
        self.title = "sonar-tui — DEMO" if self.demo else "sonar-tui"
        self._apply_layout_settings()
        # Problems quote the file's own keys and values: clean them like any outside text.
        for message in [*map(str, self.config.problems), *map(str, self.theme_problems),
                        *self.config.warnings]:
            self.notify(clean_text(message), title="Configuration", severity="warning",
                        markup=False, timeout=12)
        if self.theme_message:
            self.notify(clean_text(self.theme_message), severity="warning", markup=False)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_interval(1.0, self._tick)
        self._catch_terminating_signals()
        if not self.demo and not self.config.api_key:
            self.push_screen(WelcomeScreen(str(self.config.path)), self._welcome_done)
        # Data loads after the first frame: start-up shows the UI at once.
        self.run_worker(self._start(), name="start", exit_on_error=False)

    async def _start(self) -> None:
        try:
            if self.demo:
                await self._start_demo()
            await self._open_store(self.db_path)
        finally:
            self._data_ready.set()
        # While the user reads the screen: import httpx and build the client (with its TLS
        # context), ~0.1 s that would otherwise fall on the first question.
        await asyncio.to_thread(lambda: self.service.client)

    async def _open_store(self, path: Path) -> None:
        from sonar_tui.store import Store, StoreError  # lazy: not needed for the first frame

        try:
            store = await Store.open(path)
            recovered = await store.recover_interrupted()
        except StoreError as exc:
            self.notify(f"{exc}\nThreads will not be saved in this session.",
                        title="Database unavailable", severity="error", markup=False, timeout=20)
            return
        if self.service.store is not None:
            await self.service.store.close()
        self.service.store = store
        if recovered:
            self.notify(f"{len(recovered)} answer(s) were interrupted when sonar-tui last "
                        "stopped; their partial text is kept.", markup=False)
        await self.refresh_threads()
        await self.main.reopen_last_thread()
        await self.follow_unfinished_jobs()

    async def _start_demo(self) -> None:
        from sonar_tui.config import load_config
        from sonar_tui.mock.runner import start_mock

        options = {"pace": DEMO_PACE, "chunks": DEMO_CHUNKS, **self.mock_options}
        self._mock = await asyncio.to_thread(start_mock, "default", **options)
        demo_request = self.config.request.with_overrides({"return_related_questions": True})
        config = load_config(self.config.path, env={},
                             flags={"base_url": self._mock.url, "api_key": "demo-key"})
        config.request = demo_request
        config.connection.api_mode = "auto"
        self.config = config
        await self.service.reconfigure(config)

    def _welcome_done(self, choice: str | None) -> None:
        if choice == "demo":
            self.run_worker(self._enter_demo(), exit_on_error=False)

    async def _enter_demo(self) -> None:
        await self._data_ready.wait()
        self.demo = True
        self.config_writable = False
        self.title = "sonar-tui — DEMO"
        await self._start_demo()
        await self._open_store(paths.demo_db_path())
        self.refresh_status()

    # ------------------------------------------------------------------ going away

    def get_driver_class(self):
        from textual.drivers.linux_driver import LinuxDriver

        driver = super().get_driver_class()
        if driver is LinuxDriver:  # not an explicitly chosen one (TEXTUAL_DRIVER, web)
            from sonar_tui.ui.terminal import SonarDriver

            return SonarDriver
        return driver

    def _catch_terminating_signals(self) -> None:
        """SIGTERM and SIGHUP (the SSH link dropped, the tmux session killed) end the app
        like Esc and ctrl+q would, but the answers in progress are saved as interrupted.
        Not under a test's headless driver, and a signal set to be ignored (nohup) stays so;
        a terminal that goes away without SIGHUP is noticed by ``_tick``."""
        import signal

        if self.is_headless or os.name != "posix":
            return
        from sonar_tui.ui.terminal import SonarDriver, terminal_gone

        self._watch_terminal = isinstance(self._driver, SonarDriver) and not terminal_gone()
        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is None or signal.getsignal(signum) is signal.SIG_IGN:
                continue
            try:
                loop.add_signal_handler(signum, self.shut_down, 128 + signum)
            except (ValueError, RuntimeError, NotImplementedError):
                continue

    def terminal_lost(self) -> None:
        """The terminal hung up (a write failed, or it no longer answers): nobody can see or
        use the app any more, so save what is streaming and exit."""
        self._watch_terminal = False
        self.shut_down(129)  # as for SIGHUP, which it usually comes with

    def shut_down(self, return_code: int) -> None:
        """End the app now, saving every answer in progress as ``interrupted``.

        Idempotent, and never harsher the second time: a hung-up session gets SIGHUP more
        than once (tmux and the kernel each send one)."""
        if self._shutting_down:
            return
        self._shutting_down = True
        self.service.shutting_down = True
        for worker in self.workers:
            if worker.group == "answers":
                worker.cancel()
        self.exit(return_code=return_code)

    async def on_unmount(self) -> None:
        # Textual has cancelled the workers but not waited for them; an answer's final save
        # (status "cancelled", partial text) must finish before the database closes.
        answers = [worker for worker in self.workers if worker.group == "answers"]
        for worker in answers:
            worker.cancel()
        if answers:
            await asyncio.wait_for(asyncio.gather(*(worker.wait() for worker in answers),
                                                  return_exceptions=True), timeout=10)
        await self.main.save_draft()
        await self.service.close()
        if self._mock is not None:
            self._mock.stop()

    def release_leftovers(self) -> None:
        """After the app has stopped: stop what ``on_unmount`` did not get to (it never runs
        when the message loop dies), so the process can exit."""
        if self.service.store is not None:
            self.service.store.abandon()

    def _apply_layout_settings(self) -> None:
        self.main.place_sources(self.config.appearance.citation_panel)
        self.main.set_follow_streaming(self.config.appearance.follow_streaming)

    # ------------------------------------------------------------------ store failures

    @contextlib.contextmanager
    def store_errors(self, doing: str) -> Iterator[None]:
        """Around every call the UI makes into the store: a failure (a damaged page, a
        thread another instance deleted, a full disk) is said, and the app carries on."""
        try:
            yield
        except StoreError as exc:
            self.report_store_error(exc, doing)

    def report_store_error(self, exc: StoreError, doing: str) -> None:
        error = storage_error(exc)
        text = f"Could not {doing}: {error.message}" + (f"\n{error.hint}" if error.hint else "")
        self.notify(clean_text(text), title=error.title, severity="error", markup=False,
                    timeout=30)

    # ------------------------------------------------------------------ threads

    async def refresh_threads(self) -> None:
        if self.service.store is None:
            return
        with self.store_errors("list the threads"):
            threads = await self.service.list_threads(PAGE_SIZE)
            self.main.show_threads(threads, exhausted=len(threads) < PAGE_SIZE)

    def live_for(self, thread_id: int) -> LiveAnswer | None:
        return self.live.get(thread_id)

    async def thread_action(self, action: str, thread_id: int) -> None:
        with self.store_errors(f"{action} the thread"):
            await self._thread_action(action, thread_id)

    async def _thread_action(self, action: str, thread_id: int) -> None:
        thread = await self.service.get_thread(thread_id)
        if thread is None:
            return
        if action == "pin":
            await self.service.set_pinned(thread_id, not thread.pinned)
            await self.refresh_threads()
        elif action == "rename":
            def renamed(title: str | None) -> None:
                if title is not None and title.strip():
                    self.run_worker(self._rename(thread_id, title), exit_on_error=False)
            self.push_screen(TextInputScreen("Rename thread", thread.title, ok="Rename"),
                             renamed)
        elif action == "delete":
            if thread_id in self.live:
                what = "A background job runs" if self.live[thread_id].job_id is not None \
                    else "An answer is still streaming"
                self.notify(f"{what} in that thread; stop it first (Esc).",
                            severity="warning", markup=False)
                return
            body = Content("“") + Content(clean_line(thread.title)) + Content(
                f"” and its {thread.message_count} messages will be deleted. "
                "This cannot be undone.")
            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.run_worker(self._delete(thread_id), exit_on_error=False)
            self.push_screen(ConfirmScreen("Delete thread?", body, yes="Delete", danger=True),
                             confirmed)

    async def _rename(self, thread_id: int, title: str) -> None:
        with self.store_errors("rename the thread"):
            new_title = await self.service.rename(thread_id, title)
            if self.main.thread_id == thread_id:
                self.main.sub_title = new_title
                self.main.thread = await self.service.get_thread(thread_id)
        await self.refresh_threads()

    async def _delete(self, thread_id: int) -> None:
        with self.store_errors("delete the thread"):
            await self.service.delete(thread_id)
            if self.main.thread_id == thread_id:
                await self.main.show_empty_thread()
            await self.main.forget_thread(thread_id)
            self.notify("Thread deleted.", markup=False)
        await self.refresh_threads()

    # ------------------------------------------------------------------ asking

    async def ask(self, text: str, *, thread_id: int | None = -1,
                  background: bool | None = None, from_composer: bool = True) -> None:
        """Send a question from the composer, or (``from_composer=False``) a related
        question, which leaves what is being typed and the attached images for the next
        question; ``background``: as a background job (True), never (False), or as the
        service decides (deep research)."""
        await self._data_ready.wait()
        if self.service.store is None:
            self.notify("The database is not available; the question was not sent.",
                        severity="error", markup=False)
            return
        main = self.main
        target = main.thread_id if thread_id == -1 else thread_id
        if target is not None and target in self.live:
            self.notify("This thread is still answering. Wait, or press Esc to stop it.",
                        severity="warning", markup=False)
            return
        live = LiveAnswer(thread_id=target or 0, question=text)
        attachments: list[Attachment] = []
        if from_composer:
            attachments, self.attachments = self.attachments, []
            self._show_attachments()
        events = self.service.ask(text, thread_id=target, attachments=attachments,
                                  background=background)
        self._run_answer(live, events, from_composer=from_composer)

    def _run_answer(self, live: LiveAnswer, events: AsyncIterator, *,
                    from_composer: bool = False) -> None:
        if live.thread_id:
            self.live[live.thread_id] = live
        else:
            self.pending.append(live)
        live.from_composer = from_composer
        live.worker = self.run_worker(
            self._consume(live, events), name="answer", group="answers", exit_on_error=False)
        self.refresh_status()

    async def _consume(self, live: LiveAnswer, events: AsyncIterator) -> None:
        """Drive one answer to its end. Showing it may fail; saving it must not."""
        display_failed = False
        try:
            async for event in events:
                try:
                    if isinstance(event, TextDelta):
                        # the hot path only buffers text (it never suspends): no task needed
                        await self._apply(live, event)
                    else:
                        # Esc cancels this worker; what an event changes on screen completes
                        await run_to_end(self._apply(live, event))
                except Exception:  # a display bug: keep consuming so the answer is saved
                    log.exception("showing an answer failed; it is still being saved")
                    live.view = None
                    if not display_failed:
                        display_failed = True
                        self.notify("Part of this answer could not be shown; it is still "
                                    "being saved and is shown in full when it ends.",
                                    severity="warning", markup=False)
            if not live.settled and live.question_id:
                # Refused before anything was sent (the thread deleted elsewhere, a setting
                # the service will not send): no row was written, so the view must not wait.
                await run_to_end(self._settle_refused(live))
        except asyncio.CancelledError:
            live.status = "cancelled"
            if self.is_running and not self._shutting_down:
                if live.replaces is not None:  # a regenerate stopped before its first text
                    await run_to_end(self._drop_attempt(live))
                else:
                    await run_to_end(self._finish_view(live, status="cancelled"))
            raise
        except Exception as exc:  # a bug in the service must not take the app down either
            log.exception("answer worker failed")
            live.status = "error"
            live.error = {"title": "Unexpected error", "message": str(exc), "hint":
                          "The question is saved; retry with ctrl+r."}
            await self._finish_view(live, status="error")
        finally:
            # Whatever ended the loop, the service's generator gets to run its own cleanup
            # (the final save of the answer) now, not whenever garbage collection gets to it.
            await events.aclose()  # type: ignore[attr-defined]
            self._forget(live)
            self.refresh_status()
            if self.service.store is not None and self.is_running:
                await self.refresh_threads()
                if display_failed and self.main.thread_id == live.thread_id:
                    await self.main.open_thread(live.thread_id)  # show it as saved

    def _forget(self, live: LiveAnswer) -> None:
        if self.live.get(live.thread_id) is live:
            del self.live[live.thread_id]
        if live in self.pending:
            self.pending.remove(live)

    async def _apply(self, live: LiveAnswer, event: Any) -> None:
        view = live.view if live.view is not None and live.view.is_attached else None
        main = self.main
        match event:
            case QuestionSaved(thread=thread, message=message):
                live.thread_id, live.question_id = thread.id, message.id
                if live in self.pending:
                    self.pending.remove(live)
                self.live[thread.id] = live
                await main.question_saved(live, thread, message,
                                          from_composer=live.from_composer)
                await self.refresh_threads()
            case AnswerStarted(message_id=message_id, replaced=replaced):
                live.message_id = message_id
                if view:
                    view.message_id = message_id
                if replaced is not None:  # the new answer has text: the old one goes
                    live.replaces = None
                    await self._remove_answer_view(live, replaced)
            case AnswerKept(status=status, error=error):
                live.settled = True
                await self._drop_attempt(live, status, error)
            case Started(api=api, model=model):
                live.status, live.api, live.model = "streaming", api, model or live.model
                live.retry_at = None
                if view:
                    await view.set_notice("")
                    view.set_meta(api=api, model=model, status="streaming")
            case TextDelta(text=text):
                cleaned = live.add_text(text)
                if view:
                    view.add_text(cleaned)
            case TextFinal(text=text):
                live.replace_text(text)
            case ReasoningDelta(text=text):
                cleaned = live.add_reasoning(text)
                if view:
                    await view.add_reasoning(cleaned)
            case StepsUpdate(steps=steps):
                live.steps = list(steps)
                if view:
                    await view.set_steps(live.steps)
            case SourcesUpdate(sources=sources):
                live.sources = list(sources)
                if view:
                    view.set_sources(live.sources)
                    main.sources_changed(view, live.sources)
            case ImagesUpdate(images=images):
                live.images = list(images)
            case RelatedUpdate(questions=questions):
                live.related = list(questions)
            case UsageUpdate(usage=usage):
                live.usage = usage.to_dict()
                if view:
                    view.set_meta(usage=live.usage)
            case Retrying(delay=delay, reason=reason):
                live.retry_at = time.monotonic() + delay
                live.retry_note = reason  # the client's reason already names the status
                if view:
                    await view.set_notice(self._retry_text(live))
            case ApiSwitched(message=message):
                live.api = "agent"
                if not self.notified_switch:
                    self.notified_switch = True
                    self.notify(message, title="Now using the Agent API", markup=False, timeout=12)
                if self.config_writable:
                    self.config = self.service.config
                self.refresh_status()
            case Finished(model=model):
                live.model = model or live.model
                if view:  # the last words on screen now; saving and the final render follow
                    await view.body.flush()
            case Failed(error=error):
                live.failure = error
                live.error = error_record(error)
                live.status = "error"
                live.retry_at = None  # nothing more is retried: no countdown
                if not live.question_id:
                    # Refused before anything was saved: the question stays in the composer.
                    self._refused(error)
            case StorageProblem(error=error):
                self.notify(error.describe(), title="Could not save", severity="error",
                            markup=False, timeout=15)
            case AgentEndpointRemembered(base_url=base_url, saved=saved, problem=problem):
                if self.config_writable:
                    self.config = self.service.config
                if not saved and self.config_writable:
                    self.notify(f"Later questions to {clean_line(base_url)} use the Agent API "
                                f"for this session only: {clean_line(problem or '')}",
                                title="Agent API choice not saved", severity="warning",
                                markup=False, timeout=20)
            case JobProgress() | JobSubmitted():
                await self._job_changed(live, event)
            case AnswerSaved(status=status):
                live.settled = True
                live.status = status
                if live.replaces is not None and status == "complete":
                    # A regenerating background job completed: its answer replaced the old.
                    replaced, live.replaces = live.replaces, None
                    await self._remove_answer_view(live, replaced)
                await self._finish_view(live, status=status)
                if live.job_id is not None:
                    self._job_done(live, status)

    async def _remove_answer_view(self, live: LiveAnswer, message_id: int) -> None:
        if self.main.thread_id != live.thread_id:
            return  # not on screen: the thread shows what is stored when opened
        for view in self.main.answer_views():
            # SQLite may give the new row the old one's id: the live view is never the old.
            if view.message_id == message_id and view is not live.view:
                await view.remove()

    async def _drop_attempt(self, live: LiveAnswer, status: str = "cancelled",
                            error: ApiError | None = None) -> None:
        """A regenerate that ended before its first text: its view goes, the old answer
        (still on screen and stored) is selected again, and the user is told why."""
        kept_id, live.replaces = live.replaces, None
        view = live.view if live.view is not None and live.view.is_attached else None
        live.view = None
        if view is not None:
            await view.remove()
        if self.main.thread_id == live.thread_id:
            self.main.select_answer(kept_id)
        if error is not None:
            why = f"The new answer failed: {error.describe()}"
        elif status == "cancelled":
            why = "Stopped before the new answer began."
        else:
            why = "The new answer came back empty."
        self.notify(f"{why}\nThe previous answer is kept.", title="Regenerate",
                    severity="warning" if error is not None else "information", markup=False,
                    timeout=12)

    async def _settle_refused(self, live: LiveAnswer) -> None:
        if live.replaces is not None:  # a regenerate: the old answer stays, as it is stored
            await self._drop_attempt(live, "error", live.failure)
            return
        view = live.view if live.view is not None and live.view.is_attached else None
        live.view = None
        if view is not None:
            await view.remove()
        if live.failure is not None:
            self._refused(live.failure)

    def _refused(self, error: ApiError) -> None:
        where = f" ({error.field})" if error.field else ""
        self.notify(error.message, title=f"Not sent{where}", severity="error", markup=False,
                    timeout=12)

    async def _finish_view(self, live: LiveAnswer, *, status: str) -> None:
        view = live.view
        if view is None or not view.is_attached:
            return
        await view.set_notice("")
        await view.finish(text=live.full_text, related=live.related, images=live.images,
                          status=status, error=live.error if status == "error" else None,
                          usage=live.usage, cost=(live.usage or {}).get("cost"),
                          model=live.model, api=live.api, message_id=live.message_id)
        self.main.sources_changed(view, live.sources)
        self.refresh_status()

    @staticmethod
    def _retry_text(live: LiveAnswer) -> str:
        left = max(0, round((live.retry_at or 0) - time.monotonic()))
        return f"{live.retry_note} — retrying in {left} s…"

    def _tick(self) -> None:
        """Once a second: retry countdowns, background jobs' running times, whether the
        terminal is still there; now and then, jobs started by another sonar-tui
        (``ask --background``) to follow."""
        if self._watch_terminal:
            from sonar_tui.ui.terminal import terminal_gone

            if terminal_gone():
                self.terminal_lost()
                return
        for live in list(self.live.values()):
            if live.view is not None and (live.retry_at or live.status == "background"):
                self.run_worker(self._refresh_notice(live), exit_on_error=False)
        self.main.tick()
        self._ticks += 1
        if self._ticks % ADOPT_EVERY == 0 and self.service.store is not None:
            self.run_worker(self.follow_unfinished_jobs(), group="jobs", exclusive=True,
                            exit_on_error=False)

    async def _refresh_notice(self, live: LiveAnswer) -> None:
        """The countdown under a waiting answer, decided when it runs: the answer may have
        ended since the tick asked for it, and its notice must then stay cleared."""
        view = live.view
        if view is None or not view.is_attached or not live.active:
            return
        if live.retry_at:
            await view.set_notice(self._retry_text(live))
        elif live.status == "background":
            await view.set_notice(self._job_text(live))

    # ------------------------------------------------------------------ background jobs

    async def follow_unfinished_jobs(self) -> None:
        """Follow every unfinished background job no answer worker follows yet: at start-up
        (after a quit, a crash or a reboot) and for jobs another sonar-tui started."""
        from sonar_tui.store import StoreError

        try:
            jobs = await self.service.list_jobs(None, unfinished=True)
        except StoreError as exc:
            log.warning("could not list background jobs: %s", exc)
            return
        main = self.main
        for job in jobs:
            if job.thread_id in self.live:
                continue
            live = LiveAnswer(thread_id=job.thread_id, question=job.question,
                              question_id=job.question_id, status="background",
                              steps=[ReasoningStep.from_dict(s) for s in job.steps],
                              sources=[Source.from_dict(s) for s in job.sources],
                              job_id=job.id, job_status=job.status, job_started=job.created_at)
            self._run_answer(live, self.service.follow_job(job.id))
            if main.thread_id == job.thread_id:  # on screen: show it as a running job
                await main.open_thread(job.thread_id)

    async def _job_changed(self, live: LiveAnswer, event: JobProgress | JobSubmitted) -> None:
        if isinstance(event, JobSubmitted):
            job = event.job
            live.job_id, live.job_status, live.job_started = job.id, job.status, job.created_at
            live.job_next_check, live.job_problem = None, ""
            thread_id = job.thread_id
        else:
            live.job_id, live.job_status, live.job_started = (event.job_id, event.status,
                                                              event.started_at)
            self.refresh_status()
            live.job_next_check = (time.monotonic() + event.next_check
                                   if event.next_check is not None else None)
            live.job_problem = event.problem.describe().splitlines()[0] \
                if event.problem is not None else ""
            thread_id = event.thread_id
        live.status, live.retry_at = "background", None
        view = live.view if live.view is not None and live.view.is_attached else None
        if view is not None:
            view.set_meta(status="background")
            await view.set_notice(self._job_text(live))
        self.main.show_job(thread_id, live.job_status, live.job_started)

    def _job_text(self, live: LiveAnswer) -> str:
        """The line under a running job's answer header."""
        word = JOB_WORDS.get(live.job_status, live.job_status or "starting")
        parts = [word[:1].upper() + word[1:]]
        if live.job_started is not None:
            parts[0] += f" for {format_elapsed(self.clock() - live.job_started)}"
        if live.job_problem:
            parts.append(live.job_problem)
        if live.job_next_check is not None:
            left = max(0, round(live.job_next_check - time.monotonic()))
            parts.append(f"next check in {left} s")
        parts.append("Esc cancels · safe to quit")
        return " · ".join(parts)

    def _job_done(self, live: LiveAnswer, status: str) -> None:
        """A job ended: if the user is elsewhere (another thread, screen or window), say so
        in the app and through the terminal (bell or desktop notification, as configured)."""
        main = self.main
        listed_title = main.thread_title(live.thread_id)
        main.show_job(live.thread_id, None, None)
        if main.thread_id == live.thread_id and self.screen is main and self.app_focus:
            return  # the answer lands in front of the user
        title = clean_line(listed_title or live.question) or "Untitled"
        title = title if len(title) <= 60 else title[:59] + "…"
        outcome = JOB_OUTCOMES.get(status, status)
        self.notify(f"“{title}”: {outcome}. Open the thread to read it.",
                    title="Background job finished", markup=False, timeout=15,
                    severity="error" if status == "error" else "information")
        sequence = callback_sequence(self.config.appearance.job_notify, "sonar-tui",
                                     f"{title}: {outcome}", os.environ)
        writer = self._write_terminal()
        if sequence and writer is not None:
            writer(sequence)

    def action_ask_background(self) -> None:
        """Send what the composer holds as a background job (after the keys typed before
        F8 have reached it). Not F6: the composer (a TextArea) selects a line with it."""
        def send() -> None:
            text = self.main.composer_text
            if not text.strip():
                self.notify("Type a question first: F8 sends it as a background job.",
                            severity="warning", markup=False)
                return
            self.run_worker(self.ask(text, background=True), exit_on_error=False)
        self.call_later(send)

    def action_cancel_job(self) -> None:
        live = self.live.get(self.main.thread_id or 0)
        if live is None or live.job_id is None:
            self.notify("No background job runs in this thread.", severity="warning", markup=False)
            return
        job_id = live.job_id

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._cancel_job(job_id), exit_on_error=False)
        self.push_screen(ConfirmScreen(
            "Cancel the background job?",
            "The service stops researching; what it found so far stays in the thread. "
            "(Quitting sonar-tui does not stop a job: it goes on, and its answer lands here "
            "next time.)", yes="Cancel job", no="Keep it running", danger=True), confirmed)

    async def _cancel_job(self, job_id: int) -> None:
        outcome = await self.service.cancel_job(job_id)
        self.notify(outcome.message, title="Background job", markup=False, timeout=12,
                    severity="information" if outcome.stopped else "warning")

    # ------------------------------------------------------------------ status

    def refresh_status(self) -> None:
        from sonar_tui.api.agent import agent_unsupported

        main = self.main
        if not main.is_mounted:
            return
        settings = self.service.settings_for(main.thread)
        answers = main.answer_views()
        last = answers[-1] if answers else None
        tokens = sum((a.usage or {}).get("total_tokens") or 0 for a in answers)
        costs = [a.cost if a.cost is not None else (a.usage or {}).get("cost") for a in answers]
        known = [c for c in costs if c is not None]
        main.show_status(
            model=settings.model, api=(last.api if last else ""),
            api_mode=("agent" if self.config.connection.uses_agent()
                      else self.config.connection.api_mode),
            search=settings.summary(), overrides=bool(main.thread and main.thread.overrides),
            last_tokens=(last.usage or {}).get("total_tokens") if last and last.usage else None,
            last_cost=(last.cost if last and last.cost is not None else
                       (last.usage or {}).get("cost") if last else None),
            thread_tokens=tokens, thread_cost=sum(known) if known else None,
            streaming=sum(live.job_id is None for live in self.live.values())
            + len(self.pending),
            jobs=sum(live.job_id is not None for live in self.live.values()), demo=self.demo,
            agent_ignored=len(agent_unsupported(settings)))

    # ------------------------------------------------------------------ actions

    async def action_new_thread(self) -> None:
        await self.main.show_empty_thread()
        self.main.focus_composer()

    def action_search(self) -> None:
        self.main.focus_thread_search()

    def action_escape(self) -> None:
        """Esc: close the thread drawer; stop the answer streaming in this thread; otherwise
        back to the composer."""
        main = self.main
        if self.screen is not main or main.close_drawer():
            return
        live = self.live.get(main.thread_id or 0) or next(
            (p for p in self.pending), None)
        if live is not None and live.job_id is not None:
            self.action_cancel_job()  # a job costs minutes: never stopped by one key
            return
        if live is not None and live.worker is not None:
            live.worker.cancel()
            self.notify("Stopped. The partial answer is kept.", markup=False)
            return
        main.focus_composer()

    async def action_regenerate(self) -> None:
        main = self.main
        if main.thread_id is None:
            self.notify("Nothing to regenerate yet.", severity="warning", markup=False)
            return
        if main.thread_id in self.live:
            self.notify("This thread is still answering.", severity="warning", markup=False)
            return
        thread_id = main.thread_id
        answers = main.answer_views()
        question = main.last_question()
        live = LiveAnswer(thread_id=thread_id, question=question.text if question else "")
        live.question_id = question.message_id if question else None
        # The old answer stays on screen (and stored) until the new one has text.
        live.replaces = answers[-1].message_id if answers else None
        await main.add_live_answer(live)
        self._run_answer(live, self.service.answer_again(thread_id))

    async def action_edit_last(self) -> None:
        main = self.main
        if main.thread_id is None or main.thread_id in self.live:
            self.notify("Nothing to edit (or an answer is still streaming).",
                        severity="warning", markup=False)
            return
        text = None
        with self.store_errors("take back the last question"):
            text = await self.service.take_back_last(main.thread_id)
        if text is None:
            return
        await main.open_thread(main.thread_id)
        main.edit_in_composer(text)
        self.notify("Edit the question and press Enter to send it again.", markup=False)

    def action_toggle_reasoning(self) -> None:
        self.main.toggle_reasoning()

    def action_toggle_citations(self) -> None:
        self.main.toggle_sources()

    def action_toggle_sidebar(self) -> None:
        self.main.toggle_sidebar()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        keymap = self.config.keymap
        where = {"conversation": "Conversation (tab to focus)", "threads": "Threads (sidebar)"}
        extra = {"threads": [("enter", "Open")],
                 "sources": [("enter", "Open the link (over SSH: show and copy it)")]}
        sections = [(where.get(scope, SCOPE_TITLES[scope]),
                     extra.get(scope, []) + help_rows(scope, keymap))
                    for scope in ("app", "composer", "conversation", "threads", "sources")]
        notes = [
            "Copying works over SSH and inside tmux (OSC 52): tmux needs "
            "`set -s set-clipboard on`. Mouse: hold Shift (or Option) to select text natively.",
            "Keys can be remapped in config.toml under [keymap] using the ids shown in the "
            "README (e.g. \"app.toggle_sidebar\" = \"ctrl+b\" if you do not run tmux).",
        ]
        self.push_screen(HelpScreen(sections, notes))

    # ------------------------------------------------------------------ settings

    def action_settings(self) -> None:
        self._open_settings(thread=False)

    def action_thread_settings(self) -> None:
        if self.main.thread is None:
            self.notify("Open or start a thread first: a new thread uses the defaults.",
                        severity="warning", markup=False)
            return
        self._open_settings(thread=True)

    def _open_settings(self, *, thread: bool) -> None:
        from sonar_tui.ui.screens.settings import SettingsScreen

        main = self.main
        screen = SettingsScreen(
            self.config,
            thread_title=main.thread.title if thread and main.thread else None,
            thread_settings=self.service.settings_for(main.thread) if thread else None,
            themes=sorted(self.available_themes),
            forget_endpoints=self.forget_agent_endpoints,
        )
        def saved(result: SettingsResult | None) -> None:
            self.run_worker(self._settings_saved(result), exit_on_error=False)

        self.push_screen(screen, saved)

    async def _settings_saved(self, result: SettingsResult | None) -> None:
        if result is None:
            return
        main = self.main
        if result.scope == "thread" and main.thread is not None:
            saved = False
            with self.store_errors("save the thread settings"):
                main.thread = await self.service.set_overrides(main.thread.id, result.request)
                saved = True
            if not saved:
                return
            main.show_thread_title()
            await self.refresh_threads()
            self.notify("Thread settings saved." if main.thread and main.thread.overrides
                        else "This thread now uses the defaults.", markup=False)
        else:
            if not self.config_writable:
                self.notify("Demo: settings apply to this session only.", markup=False)
                self.config.request = result.request
                if result.connection is not None:
                    result.connection.base_url = self.config.connection.base_url
            else:
                try:
                    self.config = save_config(self.config, request=result.request,
                                              connection=result.connection,
                                              appearance=result.appearance, copy=result.copy)
                except ConfigWriteError as exc:
                    if exc.session is None:  # the values were refused: nothing changes
                        self.notify(str(exc), title="Settings not saved", severity="error",
                                    markup=False)
                        return
                    # Only the file could not be written: the settings still hold until quit.
                    self.config = exc.session
                    self.notify(clean_text(str(exc)), title="Settings not saved to the file",
                                severity="warning", markup=False, timeout=15)
                else:
                    self.notify("Settings saved.", markup=False)
                await self.service.reconfigure(self.config)
            if result.appearance is not None:
                self.config.appearance = result.appearance
                self._apply_layout_settings()
            if result.copy is not None:
                self.config.copy = result.copy
        self.refresh_status()

    def forget_agent_endpoints(self) -> str | None:
        """Forget the remembered Agent API switches; returns why it failed, or None."""
        if not self.config_writable:  # the demo: this session only
            self.service.config.connection.agent_endpoints.clear()
            self.config.connection.agent_endpoints.clear()
            return None
        try:
            self.service.forget_agent_endpoints()
        except ConfigWriteError as exc:
            return str(exc)
        self.config = self.service.config
        self.refresh_status()
        return None

    async def action_clear_overrides(self) -> None:
        main = self.main
        if main.thread is None or not main.thread.overrides:
            self.notify("This thread has no overrides: it uses the defaults.", markup=False)
            return
        with self.store_errors("clear the thread settings"):
            main.thread = await self.service.clear_overrides(main.thread.id)
        main.show_thread_title()
        await self.refresh_threads()
        self.notify("Thread overrides cleared: this thread uses the defaults again.", markup=False)
        self.refresh_status()

    def _theme_changed(self, theme) -> None:
        from sonar_tui.ui.screens.settings import SettingsScreen

        if self.config.appearance.theme == theme.name or isinstance(self.screen, SettingsScreen):
            return  # nothing new, or the settings screen's preview (its Save or Cancel decides)
        # A new value, not the old one changed in place: save_config writes what differs.
        appearance = replace(self.config.appearance, theme=theme.name)
        if not self.config_writable:
            self.config.appearance = appearance
            return
        try:
            self.config = save_config(self.config, appearance=appearance)
        except ConfigWriteError as exc:
            self.config.appearance = appearance  # the theme holds for this session
            self.notify(clean_text(str(exc)), title="Theme not saved", severity="warning",
                        markup=False)

    # ------------------------------------------------------------------ attachments

    def action_attach(self) -> None:
        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                attachment = Attachment.from_path(path.strip())
            except AttachmentError as exc:
                self.notify(str(exc), title="Not attached", severity="error", markup=False)
                return
            self.attachments.append(attachment)
            self._show_attachments()
        self.push_screen(TextInputScreen("Attach an image (PNG, JPEG, WEBP or GIF)",
                                         placeholder="path/to/image.png",
                                         hint="It is sent with your next question.",
                                         ok="Attach"), chosen)

    def _show_attachments(self) -> None:
        self.main.show_attachments(self.attachments)

    # ------------------------------------------------------------------ copying

    def _write_terminal(self) -> Callable[[str], None] | None:
        if self.terminal_writer is not None:
            return self.terminal_writer
        if self.is_headless or self._driver is None:
            return None
        return self._driver.write

    def copy(self, text: str, what: str) -> None:
        """Copy by every path that can work (OSC 52 incl. tmux/screen, system clipboard).

        Runs in a thread: pyperclip starts a subprocess (xclip, pbcopy...), which must not
        freeze the screen.
        """
        self._clipboard = text  # Textual's in-app clipboard (paste into inputs)
        writer = self._write_terminal()

        def run() -> None:
            result = copy_text(text, what=what, write_terminal=writer)
            self.call_from_thread(self._copied, text, result)
        self.run_worker(run, thread=True, group="clipboard", exit_on_error=False)

    def _copied(self, text: str, result) -> None:
        self.last_copy = result
        if result.ok:
            message = result.message + (f"\n{result.hint}" if result.hint else "")
            self.notify(message, title="Copied", markup=False)
            return

        def save(yes: bool | None) -> None:
            if yes:
                path = save_to_file(text, paths.data_dir() / "copies")
                self.notify(f"Saved to {path}", title="Saved", markup=False, timeout=15)
        self.push_screen(ConfirmScreen("No clipboard reachable", result.message +
                                       "\n\nWrite the text to a file instead?", yes="Save"), save)

    def copy_to_clipboard(self, text: str) -> None:  # Textual's own copy (selection, inputs)
        self.copy(text, "selection")

    def _selected_answer(self) -> AnswerView | None:
        return self.main.selected_answer()

    def action_copy_answer(self) -> None:
        view = self._selected_answer()
        if view is None or not view.body.source.strip():
            self.notify("No answer to copy yet.", severity="warning", markup=False)
            return
        # references works on the stored (dict) shape that the thread copy and exports share.
        sources = [source.to_dict() for source in view.sources]
        if self.config.copy.citation_style == "inline":
            text, what = with_inline_links(view.body.source, sources), "answer with inline links"
        else:
            text = with_references(view.body.source, sources)
            what = f"answer with {len(sources)} source{'s' if len(sources) != 1 else ''}"
        self.copy(text, what)

    def action_copy_answer_plain(self) -> None:
        view = self._selected_answer()
        if view is None or not view.body.source.strip():
            self.notify("No answer to copy yet.", severity="warning", markup=False)
            return
        self.copy(plain_text(view.body.source), "answer as plain text")

    def action_copy_code(self, mode: str = "pick") -> None:
        view = self._selected_answer()
        blocks = code_blocks(view.body.source) if view is not None else []
        if view is None or not blocks:
            self.notify("This answer has no code blocks.", severity="warning", markup=False)
            return
        if mode == "nearest" or len(blocks) == 1:
            index = self.main.nearest_fence(view) if len(blocks) > 1 else 0
            block = blocks[min(index, len(blocks) - 1)]
            self.copy(block.code, f"code block {block.number}"
                      + (f" ({block.language})" if block.language else ""))
            return
        items = []
        for block in blocks:
            first = block.code.strip().splitlines()[0] if block.code.strip() else ""
            items.append(Content(f"{block.number}. ").stylize("bold")
                         + Content(block.language or "text").stylize("$text-accent")
                         + Content(f"  {len(block.code.splitlines())} lines  ")
                         + Content(first[:50]).stylize("$foreground-muted"))
        def picked(index: int | None) -> None:
            if index is not None:
                block = blocks[index]
                self.copy(block.code, f"code block {block.number}")
        self.push_screen(PickScreen("Copy which code block?", items,
                                    hint="Or press its number."), picked)

    def copy_source_url(self, source: Source) -> None:
        url = safe_url(source.url)
        if url is None:
            self.notify("That source's link is not an http(s) URL; not copied.",
                        severity="warning", markup=False)
            return
        self.copy(url, f"URL of source [{source.number}]")

    async def action_copy_thread(self) -> None:
        main = self.main
        if main.thread is None or self.service.store is None:
            self.notify("No thread to copy.", severity="warning", markup=False)
            return
        with self.store_errors("read the thread"):
            data = (await self.service.export_thread(main.thread.id)).to_dict()
            self.copy(thread_markdown(data["thread"], data["messages"]), "thread as Markdown")

    async def action_export_thread(self, fmt: str = "md") -> None:
        from sonar_tui.export import export_json, export_markdown

        main = self.main
        if main.thread is None or self.service.store is None:
            self.notify("No thread to export.", severity="warning", markup=False)
            return
        data = None
        with self.store_errors("read the thread"):
            data = (await self.service.export_thread(main.thread.id)).to_dict()
        if data is None:
            return
        text = export_markdown(data) if fmt == "md" else export_json(data)
        # Asked where, with a default in the folder sonar-tui was started from; said after.
        name = file_stem(main.thread.title, f"thread-{main.thread.id}") + (
            ".md" if fmt == "md" else ".json")

        def written(path: Path | None) -> None:
            if path is not None:
                self.notify(f"Exported to {home_relative(str(path))}", title="Exported",
                            markup=False, timeout=15)
        self.push_screen(ExportScreen("Export the thread (Markdown)" if fmt == "md"
                                      else "Export the thread (JSON)", start_folder() / name,
                                      lambda path: write_private(path, text)), written)

    # ------------------------------------------------------------------ links

    def open_link(self, url: str, title: str = "") -> None:
        """Open only http(s) links; with no local display (SSH), show the URL instead."""
        safe = safe_url(url)
        if safe is None:
            self.notify("Not opened: only http(s) links are opened.",
                        severity="warning", markup=False)
            return
        if local_clipboard_available(os.environ, sys.platform):
            self.open_url(safe)
            self.notify(f"Opened {url_domain(safe)} in your browser.", markup=False)
            return

        def done(choice: str | None) -> None:
            if choice == "copy":
                self.copy(safe, "URL")
        self.push_screen(UrlScreen(safe, clean_line(title),
                                   "No browser can be opened from here (no local display, e.g. "
                                   "over SSH). Copy the URL, or click it if your terminal "
                                   "supports hyperlinks."), done)

    # ------------------------------------------------------------------ palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's "Keys" panel is replaced by our Help (it lists the remapped keys).
        yield from (command for command in super().get_system_commands(screen)
                    if command.title != "Keys")
        for title, help_text, action in palette_entries():
            yield SystemCommand(title, help_text, partial(self.run_action, action.action))
