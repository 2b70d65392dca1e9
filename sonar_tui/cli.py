"""Command-line entry point: the app (default), ask, jobs, wait, cancel, threads, search,
export, import, config, mock-server.

Importing this module is cheap; each command imports what it needs. Errors are reported in
one or two plain lines on stderr, never as a traceback. Exit codes: 0 ok, 1 API or data
error, 2 bad usage or invalid setting, 3 authentication/permission, 4 network or timeout,
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import math
import os
import shlex
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sonar_tui import __version__

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_AUTH, EXIT_NETWORK, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

RECENCY = ("hour", "day", "week", "month", "year")
NONE = "none"  # as a setting's value on the command line: clear what config.toml set


def _count_or_none(text: str) -> int | str:
    if text.strip().lower() == NONE:
        return NONE
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number or '{NONE}': {text!r}") from None


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:  # nan and inf compare falsely: refuse them
        raise argparse.ArgumentTypeError(f"a positive number of seconds, not {text!r}")
    return seconds


DEMO_CHUNKS, DEMO_PACE = 320, 120.0  # as the app's demo: a few seconds, visibly streaming


class UsageError(Exception):
    """Bad input from the command line: exit 2 with the message."""


def _fail(message: str, code: int = EXIT_API) -> int:
    print(f"sonar-tui: {message}", file=sys.stderr)
    return code


# ----------------------------------------------------------------------------- parser


def _common(parser: argparse.ArgumentParser, *, base_url: bool = False,
            command: bool = True, job_url: bool = False) -> None:
    """The options every command shares, accepted before or after the command's name.

    On a command's own parser they default to SUPPRESS: argparse copies a sub-parser's
    defaults over the values parsed before the command, so ``sonar-tui --db X import F``
    would otherwise lose ``--db X`` (and ``--base-url`` would send the key elsewhere).
    """
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if command else {}
    parser.add_argument("--db", type=Path, metavar="PATH", **unset,
                        help="thread database (default: $SONAR_TUI_DB or the data directory)")
    parser.add_argument("--config", type=Path, metavar="PATH", **unset,
                        help="config file (default: $SONAR_TUI_CONFIG or the config directory)")
    parser.add_argument("--demo", action="store_true", **unset,
                        help="offline demo: a local mock service, its own database, no key")
    if base_url:
        parser.add_argument("--base-url", metavar="URL", **unset,
                            help="the base URL the job was started on (a job is only ever "
                                 "checked there)" if job_url else "service or gateway base URL")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sonar-tui",
        description="A keyboard-driven terminal client for Perplexity's web-grounded answers. "
                    "Without a command, opens the app.")
    parser.add_argument("--version", action="version", version=f"sonar-tui {__version__}")
    _common(parser, base_url=True, command=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser("ask", help="ask one question, print the answer and its sources",
                              description="Ask one question; the answer streams to stdout, then "
                                          "its numbered sources. QUESTION '-' reads stdin.")
    _common(ask, base_url=True)
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead")
    ask.add_argument("--model", help="sonar, sonar-pro, sonar-reasoning-pro, "
                                     "sonar-deep-research, or a gateway's model name")
    ask.add_argument("--path", metavar="PATH", help="chat-completions path, e.g. /v1/sonar")
    ask.add_argument("--api-mode", choices=("auto", "sonar", "agent"))
    ask.add_argument("--system", metavar="TEXT", help=f"system prompt ({NONE}: none)")
    ask.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    ask.add_argument("--domain", action="append", default=None, metavar="DOMAIN",
                     help="search only this domain; repeatable (--domain=-DOMAIN, with the "
                          f"=, excludes one; '{NONE}' clears a filter set in config.toml)")
    # argparse reads "--domain -example.com" as an unknown option, so exclusion gets its own
    # flag instead of relying on users knowing to write "--domain=-example.com".
    ask.add_argument("--exclude-domain", action="append", default=None, metavar="DOMAIN",
                     help=f"never search this domain; repeatable ('{NONE}' clears a "
                          "filter set in config.toml)")
    ask.add_argument("--recency", choices=(*RECENCY, NONE),
                     help=f"'{NONE}' clears one set in config.toml or the environment")
    ask.add_argument("--after", metavar="MM/DD/YYYY", help=f"published after ({NONE}: clear)")
    ask.add_argument("--before", metavar="MM/DD/YYYY", help=f"published before ({NONE}: clear)")
    ask.add_argument("--updated-after", metavar="MM/DD/YYYY", help=f"({NONE}: clear)")
    ask.add_argument("--updated-before", metavar="MM/DD/YYYY", help=f"({NONE}: clear)")
    ask.add_argument("--mode", choices=("web", "academic", "sec"), help="search mode")
    ask.add_argument("--context-size", choices=("low", "medium", "high", NONE))
    ask.add_argument("--reasoning-effort", choices=("minimal", "low", "medium", "high", NONE))
    ask.add_argument("--country", metavar="CC",
                     help=f"two-letter country for local results ({NONE}: clear)")
    ask.add_argument("--images", action="store_true", help="ask for images")
    ask.add_argument("--related", action="store_true", help="ask for related questions")
    ask.add_argument("--no-search", action="store_true", help="answer without searching")
    ask.add_argument("--max-tokens", type=_count_or_none, metavar="N",
                     help=f"({NONE}: no limit, whatever config.toml says)")
    ask.add_argument("--thread", type=int, metavar="ID", help="continue this thread")
    ask.add_argument("--no-save", action="store_true", help="do not save into the database")
    mode = ask.add_mutually_exclusive_group()
    mode.add_argument("--background", action="store_true",
                      help="send it as a background job (Agent API), print the thread id and "
                           "exit at once; `sonar-tui wait ID` prints the answer")
    mode.add_argument("--no-background", action="store_true",
                      help="stream deep research too, instead of running it as a background "
                           "job that survives this process")

    jobs = commands.add_parser(
        "jobs", help="list background jobs and their status",
        description="List background jobs, running ones first. Each running job is checked "
                    "with the service first (one request each; --no-check skips that), so an "
                    "answer that arrived meanwhile lands in its thread.")
    _common(jobs, base_url=True, job_url=True)
    jobs.add_argument("--json", action="store_true", help="print one JSON array instead")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--no-check", action="store_true",
                      help="list what the database says, without asking the service")

    wait = commands.add_parser(
        "wait", help="wait for a thread's background job and print its answer as ask would",
        description="Wait for the thread's background job to end and print its answer and "
                    "sources as `ask` does (or at once, when it has ended). The job survives "
                    "this command: Ctrl-C, a timeout or a dropped link leave it running.")
    _common(wait, base_url=True, job_url=True)
    wait.add_argument("thread", type=int, metavar="THREAD_ID")
    wait.add_argument("--json", action="store_true", help="print one JSON object instead")
    wait.add_argument("--timeout", type=_positive_seconds, metavar="SECONDS",
                      help="give up waiting after this long (exit 4; the job goes on)")

    cancel = commands.add_parser(
        "cancel", help="cancel a thread's running background job",
        description="Ask the service to stop the thread's background job; what it found so "
                    "far is kept in the thread. When the service cannot cancel it, sonar-tui "
                    "stops following it and says so.")
    _common(cancel, base_url=True, job_url=True)
    cancel.add_argument("thread", type=int, metavar="THREAD_ID")

    threads = commands.add_parser("threads", help="list threads")
    _common(threads)
    threads.add_argument("--json", action="store_true")
    threads.add_argument("--limit", type=int, default=50)

    search = commands.add_parser("search", help="full-text search over every thread")
    _common(search)
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--json", action="store_true")
    search.add_argument("--limit", type=int, default=20)

    export = commands.add_parser("export", help="export threads as Markdown or JSON")
    _common(export)
    export.add_argument("threads", nargs="*", type=int, metavar="THREAD_ID")
    export.add_argument("--all", action="store_true", help="every thread")
    export.add_argument("--format", choices=("md", "json"), default="md")
    export.add_argument("-o", "--output", type=Path, metavar="PATH",
                        help="write here instead of stdout")

    imp = commands.add_parser("import", help="import threads from a JSON export")
    _common(imp)
    imp.add_argument("file", type=Path, metavar="FILE")

    config = commands.add_parser(
        "config", help="print the settings in effect, where each comes from, and the "
                       "remembered Agent API endpoints",
        description="Print every setting in effect with its source (flag, environment, file or "
                    "default), the API key masked, and the base URLs where auto mode goes "
                    "straight to the Agent API.")
    _common(config)
    config.add_argument("--json", action="store_true", help="print one JSON object instead")
    config.add_argument("--forget-agent-endpoints", action="store_true",
                        help="forget the remembered Agent API switches ([api] agent_endpoints): "
                             "auto mode asks through chat completions again")

    mock = commands.add_parser("mock-server", help="run the loopback mock of the service",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    from sonar_tui.mock.command import add_arguments
    add_arguments(mock)
    return parser


# ----------------------------------------------------------------------------- helpers


def _load_config(args: argparse.Namespace, **flags: Any):
    from sonar_tui.config import load_config

    flags = {k: v for k, v in flags.items() if v is not None}
    return load_config(args.config, flags=flags)


def _refuse_blocked(config, *, flag_only: bool = False) -> None:
    """An invalid base URL is exit 2 before anything is saved or sent (only when it came
    from a flag with ``flag_only``: the app starts and says so itself)."""
    from sonar_tui.config import sending_blocked
    from sonar_tui.sanitize import clean_line

    problem = sending_blocked(config)
    if problem is not None and (not flag_only or problem.file.startswith("--")):
        raise UsageError(clean_line(str(problem)))


# Commands that talk to the service, so --base-url says where.
_SENDING = ("ask", "jobs", "wait", "cancel")


def _check_options(args: argparse.Namespace) -> None:
    """Options given before a command that has no use for them are refused, never dropped."""
    if args.command == "mock-server":
        given = [name for name, value in (("--db", args.db), ("--config", args.config),
                                          ("--base-url", args.base_url), ("--demo", args.demo))
                 if value]
        if given:
            raise UsageError(f"{', '.join(given)} does not apply to mock-server")
    elif args.command not in (None, *_SENDING) and args.base_url is not None:
        raise UsageError(f"--base-url does not apply to {args.command}: it only says where "
                         "questions are sent")
    if args.demo and args.base_url is not None:
        raise UsageError("--demo answers from a local mock service; it cannot be combined "
                         "with --base-url")


def _db_path(args: argparse.Namespace) -> Path:
    from sonar_tui import paths

    if args.db:
        return Path(args.db).expanduser()
    return paths.demo_db_path() if args.demo else paths.default_db_path()


async def _open_service(args: argparse.Namespace, config=None, *, save: bool = True):
    """The service on the command's database (none when ``save`` is false), with what a
    killed run left 'streaming' recovered as 'interrupted' (see ``ChatService.open``).

    Without ``config`` (commands that only read or write the database: threads, search,
    export, import), the configuration is loaded quietly: its problems do not concern them.
    """
    from sonar_tui.service import ChatService

    if config is None:
        config = _load_config(args)
    return await ChatService.open(config, _db_path(args) if save else None)


def _reported_config(args: argparse.Namespace):
    """The configuration of a command that sends requests, its problems said on stderr.

    A job is only ever checked on the base URL it was started on (``JobRunner`` refuses any
    other), so ``--base-url`` here can only reach the job's own host, never send the key
    elsewhere."""
    config = _load_config(args, base_url=args.base_url)
    _refuse_blocked(config, flag_only=True)
    _report_config_problems(config)
    return config


def _wait_command(args: argparse.Namespace, thread: int, base_url: str | None = None) -> str:
    """`sonar-tui wait N` with the options this run was given that `wait` needs to find the
    job again: its database, its config, and the base URL it was started on (``base_url``
    when this run's is not that one)."""
    from sonar_tui.sanitize import clean_line

    words = ["sonar-tui", "wait", str(thread)]
    for flag, value in (("--db", args.db), ("--config", args.config),
                        ("--base-url", base_url or args.base_url)):
        if value is not None:
            words += [flag, clean_line(str(value))]
    return shlex.join(words)


# Signals that end the process unless handled: an answer in progress is saved first.
_TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


@contextlib.contextmanager
def _saving_on_signals(service: Any, received: list[int]) -> Iterator[None]:
    """SIGTERM or SIGHUP cancel the running command the way Ctrl-C does, with the service
    told the process is going away (the answer is saved as interrupted, with its sources).
    A signal the user set to be ignored (nohup) stays ignored."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    installed = []

    def stop(signum: int) -> None:
        if not received and task is not None:
            received.append(signum)
            service.shutting_down = True
            task.cancel()

    for signum in _TERMINATING:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (ValueError, RuntimeError, NotImplementedError):
            continue  # not the main thread, or a platform without it
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _terminated(signum: int) -> int:
    """Say why the answer stopped; with the terminal gone (SIGHUP), say nothing, quietly."""
    try:
        sys.stdout.write("\n")
        sys.stdout.flush()
        print(f"sonar-tui: {signal.Signals(signum).name}: stopped; the partial answer is "
              "kept (interrupted).", file=sys.stderr)
    except OSError:  # a hung-up terminal: nobody is reading, and exit must not fail on it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.dup2(devnull, sys.stderr.fileno())
    return 128 + signum


def _report_config_problems(config) -> None:
    from sonar_tui.sanitize import clean_line

    # A problem quotes the file's own keys and values, which may hold escape sequences.
    for problem in [*config.problems, *config.warnings]:
        print(f"sonar-tui: warning: {clean_line(str(problem))}", file=sys.stderr)


# What json.dumps(ensure_ascii=False) leaves raw but a terminal would act on (C1 controls such
# as CSI), reorder (bidi controls) or break lines at (U+2028/9), and lone surrogates, which
# cannot be written as UTF-8 at all: all written as \uXXXX escapes, which JSON readers undo.
_JSON_ESCAPE_RE = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                             r"\u2028\u2029\ud800-\udfff\ufeff]")


def _print_json(data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    sys.stdout.write(_JSON_ESCAPE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


# ----------------------------------------------------------------------------- ask


def _request_overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {
        "model": args.model, "system_prompt": args.system,
        "domain_filter": _domain_filter(args),
        "recency": args.recency, "published_after": args.after,
        "published_before": args.before, "updated_after": args.updated_after,
        "updated_before": args.updated_before, "search_mode": args.mode,
        "search_context_size": args.context_size, "reasoning_effort": args.reasoning_effort,
        "country": args.country.upper() if args.country else None,
        "max_tokens": args.max_tokens,
        "return_images": True if args.images else None,
        "return_related_questions": True if args.related else None,
        "disable_search": True if args.no_search else None,
    }
    # "none" clears a setting that config.toml or the environment gave a value.
    cleared = {k: (None if k == "max_tokens" else "") for k, v in pairs.items()
               if isinstance(v, str) and v.lower() == NONE and k in _CLEARABLE}
    return {**{k: v for k, v in pairs.items() if v is not None}, **cleared}


# Settings whose blank value means "not sent": the command line can clear them.
_CLEARABLE = {"system_prompt", "recency", "published_after", "published_before",
              "updated_after", "updated_before", "search_context_size", "reasoning_effort",
              "country", "max_tokens"}
# request field -> the flag that sets it (to say where a value came from)
_FLAGS = {"model": "--model", "system_prompt": "--system", "domain_filter": "--domain",
          "recency": "--recency", "published_after": "--after", "published_before": "--before",
          "updated_after": "--updated-after", "updated_before": "--updated-before",
          "search_mode": "--mode", "search_context_size": "--context-size",
          "reasoning_effort": "--reasoning-effort", "country": "--country",
          "max_tokens": "--max-tokens"}
_DATE_FIELDS = ("published_after", "published_before", "updated_after", "updated_before")


def _origin(config, overrides: dict[str, Any], name: str) -> str:
    """Where the value of request setting ``name`` came from, as the user would say it."""
    from sonar_tui.files import home_relative

    if name in overrides:
        return _FLAGS.get(name, "the command line")
    source = config.sources.get(f"request.{name}")
    if source is None:
        return "the default"
    return home_relative(source.label) if source.kind == "file" else source.label


def _settings_conflict(config, overrides: dict[str, Any], settings) -> str | None:
    """The first problem of the settings in effect, naming where each side came from:
    "recency = month from config.toml, published_after = 01/01/2025 from --after"."""
    from sonar_tui.api.settings import validate_request_settings
    from sonar_tui.sanitize import clean_line

    problems = validate_request_settings(settings)
    if not problems:
        return None
    problem = problems[0]
    names = [problem.field]
    if problem.field == "recency" and settings.uses_date_filters:
        names += [n for n in _DATE_FIELDS if getattr(settings, n)]
    sides = ", ".join(f"{n} = {clean_line(str(getattr(settings, n)))} from "
                      f"{_origin(config, overrides, n)}" for n in names)
    clear = [_FLAGS[n] for n in names if n in _CLEARABLE and n not in overrides]
    hint = f" ({clear[0]} {NONE} clears it for this question)" if clear else ""
    return f"Invalid setting: {problem} — {sides}{hint}"


def _domain_filter(args: argparse.Namespace) -> list[str] | None:
    """The domains to send ([] clears the filter config.toml set: ``--domain none``)."""
    given = [*(args.domain or ()), *(args.exclude_domain or ())]
    if any(d.strip().lower() == NONE for d in given):
        if len(given) > 1:
            raise UsageError(f"--domain {NONE} clears the domain filter; it cannot be "
                             "combined with other domains (they replace config.toml's "
                             "anyway)")
        return []
    excluded = ["-" + d.strip().lstrip("-") for d in args.exclude_domain or ()]
    domains = [*(args.domain or ()), *excluded]
    return domains or None


def _read_question(args: argparse.Namespace) -> str:
    # Bytes that are not UTF-8 (a Latin-1 file, a cut pipe) become U+FFFD, not a traceback.
    text = sys.stdin.buffer.read().decode("utf-8", "replace") if args.question == "-" \
        else args.question
    if not text.strip():
        raise UsageError("the question is empty")
    # `echo "question" | sonar-tui ask -` ends with a newline that is not part of the
    # question (it would be sent, stored and become part of the title).
    return text.strip()


async def _ask(args: argparse.Namespace) -> int:
    question = _read_question(args)
    mock = None
    if args.demo:
        from sonar_tui.mock import start_mock

        mock = start_mock("default", chunks=DEMO_CHUNKS, pace=DEMO_PACE)
    try:
        return await _ask_with(args, question, mock.url if mock else None)
    finally:
        if mock is not None:
            mock.stop()


async def _ask_with(args: argparse.Namespace, question: str, demo_url: str | None) -> int:
    if demo_url:  # the demo key goes to the local mock, never the user's key anywhere
        config = _load_config(args, base_url=demo_url, api_key="demo-key", path=args.path,
                              api_mode=args.api_mode)
    else:
        config = _load_config(args, base_url=args.base_url, path=args.path,
                              api_mode=args.api_mode)
    _refuse_blocked(config)
    _report_config_problems(config)
    overrides = _request_overrides(args)
    settings = config.request.with_overrides(overrides)
    conflict = _settings_conflict(config, overrides, settings)
    if conflict is not None:  # nothing sent, nothing saved
        return _fail(conflict, EXIT_USAGE)
    from sonar_tui.store import StoreError

    try:
        service = await _open_service(args, config, save=not args.no_save)
    except StoreError as exc:
        return _fail(f"{exc}\n(--no-save asks without the database)", EXIT_API)
    background = True if args.background else False if args.no_background else None
    submitted = []

    def on_job(job) -> None:
        submitted.append(job)
        args.job_thread = job.thread_id  # for a Ctrl-C: say how to get the answer later
        if not args.background:
            print(f"sonar-tui: this runs as a background job (thread {job.thread_id}); if "
                  f"this command stops, `{_wait_command(args, job.thread_id)}` fetches the "
                  "answer.",
                  file=sys.stderr)

    received: list[int] = []
    events = service.ask(question, thread_id=args.thread, settings=settings,
                         save=service.store is not None, stream=not args.no_stream,
                         background=background, follow=not args.background)
    try:
        with _saving_on_signals(service, received):
            answer, streamed = await _show_events(events, args, on_job=on_job)
    except asyncio.CancelledError:
        if not received:
            raise
    except OSError as exc:
        if exc.errno != errno.EIO:
            raise
        # The terminal hung up and a write to it failed before SIGHUP arrived: the same end.
        received.append(getattr(signal, "SIGHUP", signal.SIGTERM))
        service.shutting_down = True
    finally:
        # The answer's final save runs now, whatever ended the loop.
        await events.aclose()
        await service.close()
    if received:
        return _terminated(received[0])
    if args.background and submitted and answer.error is None:
        job = submitted[0]
        if args.json:
            _print_json({"thread_id": job.thread_id, "job_id": job.id,
                         "response_id": job.response_id, "status": job.status})
        else:
            print(job.thread_id)
            print(f"sonar-tui: background job started in thread {job.thread_id}; "
                  f"`{_wait_command(args, job.thread_id)}` prints its answer, `sonar-tui "
                  "jobs` lists jobs.", file=sys.stderr)
        return EXIT_OK
    return _report_answer(answer, args, streamed)


async def _show_events(events, args: argparse.Namespace, *,
                       on_job=None) -> tuple[Any, bool]:
    """Consume a service event stream as ``ask`` shows it: the answer's text streams to
    stdout (unless --json or --no-stream), warnings and a job's troubles go to stderr.
    Returns the answer and whether its text was streamed."""
    from sonar_tui.api.events import AnswerBuilder, ApiSwitched, TextDelta, TextFinal
    from sonar_tui.sanitize import clean_text
    from sonar_tui.service import (
        AgentEndpointRemembered,
        JobProgress,
        JobSubmitted,
        QuestionSaved,
        StorageProblem,
    )

    builder = AnswerBuilder()
    streamed = False
    said: set[str] = set()
    out = sys.stdout
    quiet = args.json or getattr(args, "no_stream", False)
    async for event in events:
        if isinstance(event, StorageProblem):
            print(f"sonar-tui: warning: {event.error.describe()}", file=sys.stderr)
            continue
        if isinstance(event, AgentEndpointRemembered):
            _say_remembered(event)
            continue
        if isinstance(event, QuestionSaved):
            args.saved_thread = event.thread.id  # named with the answer: `--thread ID` goes on
            continue
        if isinstance(event, JobSubmitted):
            if on_job is not None:
                on_job(event.job)
            continue
        if isinstance(event, JobProgress):
            _say_job_problem(event, said)
            continue
        if isinstance(event, ApiSwitched):
            print(f"sonar-tui: {event.message}", file=sys.stderr)
        builder.feed(event)
        if quiet:
            continue
        if isinstance(event, TextDelta):
            out.write(clean_text(event.text))
            out.flush()
            streamed = True
        elif isinstance(event, TextFinal) and not streamed:
            out.write(clean_text(event.text))
    return builder.answer(), streamed


def _say_job_problem(progress, said: set[str]) -> None:
    """A check of a job that failed (it is retried): said once per kind of trouble."""
    from sonar_tui.api.errors import format_wait
    from sonar_tui.sanitize import clean_line

    problem = progress.problem
    if problem is None or problem.describe() in said:
        return
    said.add(problem.describe())
    again = f"; checking again in {format_wait(progress.next_check)}" \
        if progress.next_check is not None else ""
    print(f"sonar-tui: the job is kept{again}: {clean_line(problem.describe())}",
          file=sys.stderr)


def _report_answer(answer, args: argparse.Namespace, streamed: bool) -> int:
    """Print what is left of the answer as ``ask`` does (text, sources, or one JSON object)
    and return the exit code."""
    from sonar_tui.api.errors import ApiError
    from sonar_tui.references import missing_sources_note
    from sonar_tui.sanitize import clean_line, clean_text, safe_url

    out = sys.stdout
    no_stream = getattr(args, "no_stream", False)
    thread_id = getattr(args, "saved_thread", None)
    if args.json:
        data = answer.to_json()
        data["text"] = clean_text(data["text"])
        data["thread_id"] = thread_id  # null with --no-save
        if answer.error is not None:
            data["error"] = answer.error.to_dict()
        _print_json(data)
    else:
        if no_stream or (not streamed and answer.text):
            out.write(clean_text(answer.text))
        if answer.text and not answer.text.endswith("\n"):
            out.write("\n")
        if answer.sources:
            out.write("\nSources:\n")
            for source in answer.sources:
                url = safe_url(source.url) or "(unsafe link omitted)"
                title = clean_line(source.title) or url
                out.write(f"[{source.number}] {title} — {url}\n")
        out.flush()
    note = missing_sources_note(answer.text, answer.sources)
    if note:
        more = "" if no_stream else " Some gateways keep them in non-streamed answers: " \
            "try --no-stream."
        print(f"sonar-tui: note: {note}{more}", file=sys.stderr)
    code = EXIT_OK
    if answer.error is not None:
        error: ApiError = answer.error
        print(f"sonar-tui: {clean_text(error.describe())}", file=sys.stderr)
        code = error.exit_code
    elif answer.finish_reason == "cancelled":
        print("sonar-tui: the job was cancelled; what it found is kept in its thread.",
              file=sys.stderr)
        code = EXIT_API
    elif answer.finish_reason == "incomplete":
        print("sonar-tui: the answer ended before it was complete (kept as interrupted).",
              file=sys.stderr)
        code = EXIT_NETWORK
    # Last, after any error: a failed question is kept in its thread to be retried there,
    # so it is named whatever happened (not with --no-save: nothing was kept).
    if thread_id is not None and not args.json and getattr(args, "name_thread", True):
        print(f"sonar-tui: thread {thread_id} (`sonar-tui ask --thread {thread_id} …` "
              "continues it)", file=sys.stderr)
    return code


def _say_remembered(event) -> None:
    from sonar_tui.sanitize import clean_line

    url = clean_line(event.base_url)
    if event.saved:
        print(f"sonar-tui: later questions to {url} go straight to the Agent API (saved as "
              "[api] agent_endpoints; `sonar-tui config --forget-agent-endpoints` undoes it).",
              file=sys.stderr)
    else:
        print(f"sonar-tui: warning: the switch to the Agent API holds for this run only, "
              f"because it could not be saved: {clean_line(event.problem or '')}",
              file=sys.stderr)


# ----------------------------------------------------------------------------- background jobs

_STATUS_WORDS = {"in_progress": "running", "submitting": "starting"}
# Problems a later check cannot get past by itself: stop waiting and say what to fix.
_STOPPING = frozenset({"auth", "permission", "payment", "invalid_settings"})


def _shortened(text: str, most: int = 320) -> str:
    """``text`` whole, or cut at its last sentence (else word) that fits, with an ellipsis:
    a listing line stays readable however long the service's message is."""
    if len(text) <= most:
        return text
    head = text[:most]
    sentence = head.rfind(". ")
    if sentence >= most // 2:
        return head[:sentence + 1] + " …"
    word = head.rfind(" ")
    return (head[:word] if word > 0 else head[:most - 1]).rstrip() + "…"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _job_json(job, now: float) -> dict[str, Any]:
    end = job.finished_at if job.finished_at is not None else now
    return {"thread_id": job.thread_id, "job_id": job.id, "title": job.thread_title,
            "status": job.status, "running": not job.finished,
            "response_id": job.response_id, "created_at": job.created_at,
            "finished_at": job.finished_at, "elapsed_seconds": round(end - job.created_at, 3),
            "checks": job.polls, "answer_id": job.answer_id, "error": job.error}


async def _check_job(service, job_id: int) -> None:
    async for _ in service.follow_job(job_id, once=True):
        pass


async def _jobs(args: argparse.Namespace) -> int:
    import time

    from sonar_tui.sanitize import clean_line

    service = await _open_service(args, _reported_config(args))
    try:
        if not args.no_check:
            running = await service.list_jobs(None, unfinished=True)
            await asyncio.gather(*(_check_job(service, job.id) for job in running))
        jobs = await service.list_jobs(args.limit)
    finally:
        await service.close()
    now = time.time()
    if args.json:
        _print_json([_job_json(job, now) for job in jobs])
        return EXIT_OK
    if not jobs:
        print('No background jobs. Start one: sonar-tui ask --background "…"')
        return EXIT_OK
    from datetime import datetime

    print(f"{'THREAD':>6}  {'STATUS':11}  {'ELAPSED':>7}  {'STARTED':16}  TITLE")
    for job in jobs:
        end = job.finished_at if job.finished_at is not None else now
        when = datetime.fromtimestamp(job.created_at).strftime("%Y-%m-%d %H:%M")
        status = _STATUS_WORDS.get(job.status, job.status)
        print(f"{job.thread_id:>6}  {status:11}  {_duration(end - job.created_at):>7}  "
              f"{when:16}  {clean_line(job.thread_title)}")
        if job.error and not job.finished:
            message = _shortened(clean_line(str(job.error.get("message") or "")))
            print(f"{'':>6}  last check: {message}")
    return EXIT_OK


async def _wait(args: argparse.Namespace) -> int:
    from sonar_tui.api.errors import format_wait

    service = await _open_service(args, _reported_config(args))
    args.job_thread = args.saved_thread = args.thread
    args.name_thread = False  # the user named it: --json has it, stderr need not
    try:
        job = await service.thread_job(args.thread)
        if job is None:
            known = await service.get_thread(args.thread) is not None
            raise UsageError(f"thread {args.thread} has no background job" if known
                             else f"there is no thread {args.thread}")
        events = _until_stuck(service.follow_job(job.id))
        try:
            answer, streamed = await asyncio.wait_for(_show_events(events, args),
                                                      args.timeout)
        except TimeoutError:
            print(f"sonar-tui: the job is still running after {format_wait(args.timeout)}; "
                  f"it goes on: `{_wait_command(args, args.thread)}` again later.",
                  file=sys.stderr)
            return EXIT_NETWORK
        finally:
            await events.aclose()
        job = await service.thread_job(args.thread)
    finally:
        await service.close()
    code = _report_answer(answer, args, streamed)
    if job is not None and not job.finished:
        # Checked on another base URL than its own: the job's own (credentials stripped
        # when it was stored) is where the key already went, so naming it is safe.
        elsewhere = answer.error is not None and answer.error.field == "base_url"
        again = _wait_command(args, args.thread, job.endpoint if elsewhere else None)
        print(f"sonar-tui: the job is kept: `{again}` again"
              + ("." if elsewhere else " once that is fixed."), file=sys.stderr)
    return code


async def _until_stuck(events):
    """A job's events until it ends, or until a check meets a problem that waiting cannot
    fix (a refused key, a base URL that is not where the job lives): then that problem."""
    from sonar_tui.api.events import Failed
    from sonar_tui.service import JobProgress

    async for event in events:
        yield event
        if isinstance(event, JobProgress) and event.problem is not None \
                and event.problem.kind.value in _STOPPING:
            yield Failed(event.problem)
            return


async def _cancel(args: argparse.Namespace) -> int:
    from sonar_tui.sanitize import clean_line

    service = await _open_service(args, _reported_config(args))
    try:
        job = await service.thread_job(args.thread, unfinished=True)
        if job is None:
            last = await service.thread_job(args.thread)
            raise UsageError(f"thread {args.thread} has no running background job"
                             + (f" (its last one is {last.status})" if last else ""))
        outcome = await service.cancel_job(job.id)
    finally:
        await service.close()
    if outcome.stopped:
        print(clean_line(outcome.message))
        return EXIT_OK
    print(f"sonar-tui: {clean_line(outcome.message)}", file=sys.stderr)
    return outcome.error.exit_code if outcome.error is not None else EXIT_API


# ----------------------------------------------------------------------------- config


def _config(args: argparse.Namespace) -> int:
    from sonar_tui.config import FIELDS, ConfigWriteError, forget_agent_endpoints
    from sonar_tui.sanitize import clean_line

    config = _load_config(args, base_url=getattr(args, "base_url", None))
    _report_config_problems(config)
    if args.forget_agent_endpoints:
        known = list(config.connection.agent_endpoints)
        try:
            forget_agent_endpoints(config)
        except ConfigWriteError as exc:
            return _fail(clean_line(str(exc)), EXIT_API)
        if known:
            print(f"Forgot {len(known)} remembered Agent API endpoint(s): "
                  + ", ".join(clean_line(u) for u in known))
        else:
            print("No Agent API endpoints were remembered.")
        return EXIT_OK

    key_source = {"env": "$PERPLEXITY_API_KEY", "file": str(config.path),
                  "flag": "flag"}.get(config.api_key_source or "", "")
    settings = {}
    for f in FIELDS.values():
        value = getattr(getattr(config, f.section.attr), f.name)
        source = config.sources.get(f.key)
        settings[f.key] = {"value": value, "source": str(source) if source else "default"}
    if args.json:
        _print_json({"path": str(config.path), "file_exists": config.file_exists,
                     "api_key": config.masked_api_key or None, "api_key_source": key_source or None,
                     "settings": settings,
                     "agent_endpoints": list(config.connection.agent_endpoints)})
        return EXIT_OK
    import tomlkit

    state = "" if config.file_exists else " (not created yet)"
    lines = [f"Config file: {clean_line(str(config.path))}{state}",
             "API key: " + (f"{config.masked_api_key}  (from {key_source})"
                            if config.masked_api_key else "not set")]
    table = ""
    for key, entry in settings.items():
        section, name = key.split(".", 1)
        if section != table:
            table = section
            lines += ["", f"[{section}]"]
        value = entry["value"]
        shown = "(unset)" if value is None else tomlkit.item(value).as_string()
        lines.append(f"{name} = {clean_line(shown)}    # {clean_line(entry['source'])}")
    lines.append("")
    endpoints = config.connection.agent_endpoints
    if endpoints:
        lines.append("Remembered Agent API endpoints (auto mode goes straight to the Agent API):")
        lines += [f"  {clean_line(u)}" for u in endpoints]
        lines.append("Forget them with: sonar-tui config --forget-agent-endpoints")
    else:
        lines.append("No remembered Agent API endpoints.")
    print("\n".join(lines))
    return EXIT_OK


# ----------------------------------------------------------------------------- threads, search


async def _threads(args: argparse.Namespace) -> int:
    from sonar_tui.sanitize import clean_line

    service = await _open_service(args)
    try:
        threads = await service.list_threads(limit=args.limit)
    finally:
        await service.close()
    if args.json:
        _print_json([{"id": t.id, "title": t.title, "created_at": t.created_at,
                      "updated_at": t.updated_at, "messages": t.message_count,
                      "pinned": t.pinned, "model": t.last_model, "api": t.last_api}
                     for t in threads])
        return EXIT_OK
    if not threads:
        print("No threads yet. Ask something: sonar-tui ask \"…\"")
        return EXIT_OK
    from datetime import datetime

    print(f"{'ID':>6}  {'UPDATED':16}  {'MSGS':>4}  TITLE")
    for t in threads:
        when = datetime.fromtimestamp(t.updated_at).strftime("%Y-%m-%d %H:%M")
        pin = "* " if t.pinned else ""
        print(f"{t.id:>6}  {when:16}  {t.message_count:>4}  {pin}{clean_line(t.title)}")
    return EXIT_OK


async def _search(args: argparse.Namespace) -> int:
    from sonar_tui.sanitize import clean_line, clean_text
    from sonar_tui.store.models import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN

    service = await _open_service(args)
    try:
        hits = await service.search(args.query, limit=args.limit)
    finally:
        await service.close()
    if args.json:
        _print_json([{"thread_id": h.thread_id, "thread_title": h.thread_title,
                      "message_id": h.message_id, "role": h.role, "rank": h.rank,
                      "matches": h.matches,
                      "snippet": h.snippet.replace(HIGHLIGHT_OPEN, "")
                      .replace(HIGHLIGHT_CLOSE, "")} for h in hits])
        return EXIT_OK
    if not hits:
        print("No matches.")
        return EXIT_OK
    bold = sys.stdout.isatty()
    for hit in hits:
        # One row per thread: its best match, and how many more it holds.
        where = f"thread {hit.thread_id}" + (
            f", message {hit.message_id}" if hit.message_id else "") + (
            f", {hit.matches} matches" if hit.matches > 1 else "")
        print(f"{clean_line(hit.thread_title)}  ({where})")
        pieces = hit.snippet.replace(HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN).split(HIGHLIGHT_OPEN)
        pieces = [clean_text(p, keep_newlines=False) for p in pieces]
        shown = "".join((f"\x1b[1m{p}\x1b[0m" if bold else f"«{p}»") if i % 2 else p
                        for i, p in enumerate(pieces)).strip()
        print(f"    {shown}")
    return EXIT_OK


# ----------------------------------------------------------------------------- export, import


async def _export(args: argparse.Namespace) -> int:
    from sonar_tui.export import export_json, export_many, export_markdown
    from sonar_tui.sanitize import clean_line

    if not args.threads and not args.all:
        raise UsageError("name threads to export (IDs) or use --all")
    from sonar_tui.store import StoreCorruptError

    service = await _open_service(args)
    unreadable: list[tuple[int, StoreCorruptError]] = []
    try:
        ids = args.threads or await service.all_thread_ids()
        data = []
        for thread_id in ids:
            if await service.get_thread(thread_id) is None:
                raise UsageError(f"there is no thread {thread_id}")
            try:
                data.append((await service.export_thread(thread_id)).to_dict())
            except StoreCorruptError as exc:  # save what can be read: that is the point now
                unreadable.append((thread_id, exc))
                print(f"sonar-tui: warning: thread {thread_id} could not be read ({exc}); "
                      "skipped", file=sys.stderr)
    finally:
        await service.close()
    if unreadable and not data:
        raise unreadable[0][1]
    if len(data) == 1 and not args.all:
        text = export_markdown(data[0]) if args.format == "md" else export_json(data[0])
    else:
        text = export_many(data, fmt="json" if args.format == "json" else "markdown")
    if args.output:
        try:
            args.output.expanduser().write_text(text, encoding="utf-8")
        except (OSError, ValueError) as exc:  # no such folder, name too long, a NUL byte...
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"cannot write {clean_line(str(args.output))}: "
                             f"{clean_line(reason)}") from exc
        print(f"Exported {len(data)} thread(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if unreadable:
        return _fail(f"{len(unreadable)} of {len(ids)} thread(s) could not be read: the "
                     f"database is damaged.\n{unreadable[0][1].hint}", EXIT_API)
    return EXIT_OK


async def _import(args: argparse.Namespace) -> int:
    from sonar_tui.store import StoreImportError

    try:
        data = json.loads(args.file.expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.file} is not JSON: {exc.msg} (line {exc.lineno})") from exc
    except UnicodeDecodeError as exc:  # exports are UTF-8; this was written by something else
        raise UsageError(f"{args.file} is not UTF-8 text (byte {exc.start})") from exc
    except RecursionError as exc:  # [[[[…]]]] thousands deep: not an export either
        raise UsageError(f"{args.file} is nested too deeply to be an export") from exc
    documents = data.get("threads") if isinstance(data, dict) and "threads" in data else [data]
    if not isinstance(documents, list):
        raise UsageError(f'{args.file}: "threads" is not a list of thread exports')
    service = await _open_service(args)
    created = skipped = 0
    try:
        for document in documents:
            try:
                result = await service.import_thread(document)
            except StoreImportError as exc:
                return _fail(str(exc), EXIT_USAGE)
            if result.created:
                created += 1
            else:
                skipped += 1
    finally:
        await service.close()
    message = f"Imported {created} thread(s)"
    if skipped:
        message += f"; {skipped} already in the database (skipped)"
    print(message + ".")
    return EXIT_OK


# ----------------------------------------------------------------------------- the app


def _run_app(args: argparse.Namespace) -> int:
    config = _load_config(args, base_url=args.base_url)
    _refuse_blocked(config, flag_only=True)
    db_path = _db_path(args)
    from sonar_tui.ui.app import SonarApp

    app = SonarApp(config, db_path=db_path, demo=args.demo)
    try:
        app.run()
    finally:
        app.release_leftovers()
    return app.return_code or 0


# ----------------------------------------------------------------------------- main


COMMANDS = {"ask": _ask, "threads": _threads, "search": _search, "export": _export,
            "import": _import, "jobs": _jobs, "wait": _wait, "cancel": _cancel}
SYNC_COMMANDS = {"config": _config}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from sonar_tui.store import StoreError

    try:
        _check_options(args)
        if args.command is None:
            return _run_app(args)
        if args.command == "mock-server":
            from sonar_tui.mock.command import run

            return run(args)
        if args.command in SYNC_COMMANDS:
            return SYNC_COMMANDS[args.command](args)
        return asyncio.run(COMMANDS[args.command](args))
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except StoreError as exc:
        hint = getattr(exc, "hint", "")  # a damaged file says how to recover the rest
        return _fail(f"{exc}\n{hint}" if hint else str(exc), EXIT_API)
    except KeyboardInterrupt:
        thread = getattr(args, "job_thread", None)
        if thread is not None:
            print(f"\nsonar-tui: interrupted; the background job goes on: "
                  f"`{_wait_command(args, thread)}` prints its answer.", file=sys.stderr)
        else:
            print("\nsonar-tui: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # e.g. `sonar-tui threads | head`: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
