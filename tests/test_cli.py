"""``sonar-tui`` as a user runs it: a real process, a real mock service, a real database.

Every mock profile goes through ``sonar-tui ask`` end to end; each test checks the exit code,
what reached stdout and stderr (never a traceback) and what the database holds afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from sonar_tui.mock import PROFILES, last_line, start_mock
from sonar_tui.store import Store

FAKE_KEY = "pplx-FAKE0123456789abcdefCLITESTKEY"
CHUNKS = 24  # small answers: every profile runs in well under a second
QUESTION = "How does DNS resolution work?"
JSON_KEYS = {"text", "reasoning", "reasoning_steps", "citations", "search_results", "images",
             "related_questions", "usage", "cost", "model", "finish_reason", "api", "thread_id"}
THREAD_LINE = re.compile(
    r"^sonar-tui: thread (\d+) \(`sonar-tui ask --thread \1 …` continues it\)$")
# What a terminal could act on: C0 controls except tab and newline, DEL, C1, ESC.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


class Cli:
    """Runs ``python -m sonar_tui`` with an isolated environment, database and config."""

    def __init__(self, tmp_path: Path, base_url: str | None) -> None:
        self.tmp_path = tmp_path
        self.db = tmp_path / "threads.db"
        # conftest has already pointed XDG_* into tmp_path and removed every key and setting.
        self.env = dict(os.environ)
        self.env["PERPLEXITY_API_KEY"] = FAKE_KEY
        self.env["SONAR_TUI_IDLE_TIMEOUT"] = "1"  # the stall profile gives up after a second
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        if base_url:
            self.env["PERPLEXITY_BASE_URL"] = base_url

    def command(self, *args: str) -> list[str]:
        db_args = [] if any(a == "--db" for a in args) or args[:1] == ("mock-server",) \
            else ["--db", str(self.db)]
        return [sys.executable, "-m", "sonar_tui", *args[:1], *db_args, *args[1:]]

    def __call__(self, *args: str, stdin: str | None = None, env: dict | None = None,
                 timeout: float = 60) -> Run:
        done = subprocess.run(self.command(*args), input=stdin, capture_output=True,
                              text=True, encoding="utf-8", env={**self.env, **(env or {})},
                              timeout=timeout)
        return Run(done.returncode, done.stdout, done.stderr)


def plain_errors(run: Run, most: int = 2) -> None:
    """stderr is a short human message: no traceback, one or two lines, our prefix."""
    assert "Traceback" not in run.err
    lines = run.err_lines()
    assert 1 <= len(lines) <= most, run.err
    assert lines[0].startswith("sonar-tui: ")
    assert not CONTROL_RE.search(run.err)


def stored(db: Path) -> list[tuple]:
    """(role, status, content, error kind) of every message, oldest first, via the Store."""
    async def load():
        store = await Store.open(db)
        try:
            rows = []
            for thread in await store.list_threads():
                for m in await store.load_messages(thread.id):
                    rows.append((m.role, m.status, m.content, (m.error or {}).get("kind"), m))
            return rows
        finally:
            await store.close()
    return asyncio.run(load())


@pytest.fixture
def mock():
    handle = start_mock("default", chunks=CHUNKS)
    yield handle
    handle.stop()


@pytest.fixture
def cli(tmp_path, mock) -> Cli:
    return Cli(tmp_path, mock.url)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ----------------------------------------------------------------------------- every profile

# profile -> (exit code, stored answer status, error kind stored, stdout holds the whole answer)
EXPECTED: dict[str, tuple[int, str, str | None, bool]] = {
    "default": (0, "complete", None, True),
    "era-2024": (0, "complete", None, True),
    "era-2025": (0, "complete", None, True),
    "era-2026": (0, "complete", None, True),
    "concise": (0, "complete", None, True),
    "reasoning": (0, "complete", None, True),
    "deep-research": (0, "complete", None, True),
    "related": (0, "complete", None, True),
    # Sonar answers under this profile stop at max_tokens (finish_reason length): complete.
    "agent-incomplete": (0, "complete", None, False),
    "agent-failed": (0, "complete", None, True),  # only the Agent API fails
    "openrouter": (0, "complete", None, True),
    "gateway": (0, "complete", None, True),  # streamed: the sources are dropped (said once)
    "401-json": (3, "error", "auth", False),
    "401-html": (3, "error", "auth", False),
    "403-retired": (0, "complete", None, True),  # auto mode switches to the Agent API
    "400": (1, "error", "invalid_request", False),
    "429": (1, "error", "rate_limit", False),
    "429-no-retry-after": (1, "error", "rate_limit", False),
    "500": (1, "error", "server", False),
    "502-html": (1, "error", "server", False),
    "captive-portal": (1, "error", "protocol", False),
    "disconnect": (4, "error", "network", False),
    "stall": (4, "error", "timeout", False),
    "malformed": (0, "complete", None, True),
    "pings-no-done": (0, "complete", None, True),
    "1mb": (0, "complete", None, True),
    "huge-line": (1, "error", "protocol", False),
    "hostile": (0, "complete", None, False),
    # Only reading or cancelling a background job is affected (tests/test_cli_jobs.py).
    "poll-429": (0, "complete", None, True),
    "poll-drop": (0, "complete", None, True),
    "cancel-refused": (0, "complete", None, True),
}

# The server's own words, as the user reads them on stderr.
SERVER_WORDS = {
    "401-json": "Invalid API key provided",
    "401-html": "401 Authorization Required",
    "400": "user and assistant roles should be alternating",
    "429": "rate limit exceeded",
    "429-no-retry-after": "rate limit exceeded",
    "500": "internal server error",
    "502-html": "502 Bad Gateway",
    "disconnect": "connection dropped in the middle of the answer",
    "stall": "sent nothing for 1 s",
    "captive-portal": "A web page answered instead of the API "
                      "(titled \u201cGuest Wi-Fi - Sign in\u201d)",
    "huge-line": "a single line of more than 8 MB without a line break",
}
# What a successful answer may say on stderr (one notice each, never more).
NOTICES = {
    "403-retired": ["sonar-tui: Perplexity has retired Sonar chat completions for this API key",
                    "sonar-tui: later questions to http://127.0.0.1:"],
    "gateway": ["sonar-tui: note: This answer cites sources ([1]–["],
}


def test_the_expectations_cover_every_profile():
    assert set(EXPECTED) == set(PROFILES)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_ask_with_every_profile(cli, mock, profile):
    mock.service.configure(profile=profile)
    run = cli("ask", QUESTION, env={"SONAR_TUI_MAX_ATTEMPTS": "2"})  # one retry, short waits
    code, status, kind, whole = EXPECTED[profile]
    assert run.code == code, run.err
    assert "Traceback" not in run.err
    assert not CONTROL_RE.search(run.out), "stdout must never carry control characters"

    rows = stored(cli.db)
    assert [r[0] for r in rows] == ["user", "assistant"]  # the question is always kept
    assert rows[0][2] == QUESTION
    answer = rows[1]
    assert (answer[1], answer[3]) == (status, kind)

    if code == 0:
        *lines, named = run.err_lines()  # the thread is named last, for --thread
        assert THREAD_LINE.match(named) and int(THREAD_LINE.match(named)[1]) == 1, run.err
        assert len(lines) == len(NOTICES.get(profile, [])), run.err
        for line, start in zip(lines, NOTICES.get(profile, []), strict=True):
            assert line.startswith(start), line
        text, _, sources = run.out.partition("\nSources:\n")
        if profile == "gateway":  # the stream carried none: said once on stderr instead
            assert text.strip() and not sources and "try --no-stream" in run.err
        else:
            assert text.strip() and sources.strip()
            assert re.match(r"\[1\] .+ — (https://\S+|\(unsafe link omitted\))$",
                            sources.splitlines()[0])
        if whole:
            assert text.rstrip().endswith(last_line(CHUNKS))
            assert answer[2].rstrip().endswith(last_line(CHUNKS))
    else:
        plain_errors(run, most=3)
        *_, named = run.err_lines()  # the question is kept in its thread to retry: named last
        assert THREAD_LINE.match(named) and int(THREAD_LINE.match(named)[1]) == 1, run.err
        assert SERVER_WORDS[profile] in run.err
        assert "<" not in run.err  # an HTML page is reduced to its words
    if profile == "huge-line":  # cut at the long line; the text before it is kept
        assert answer[2] and run.out.startswith(answer[2][:40])
        assert len(answer[2]) < 1_000_000 and "flood" not in answer[2]
    if profile in ("disconnect", "stall"):
        # The partial answer streamed, its sources were listed, and both were kept.
        assert run.out.strip() and "\nSources:\n" in run.out
        assert answer[2] and run.out.startswith(answer[2][:40])
        assert last_line(CHUNKS) not in answer[2]
    if profile == "403-retired":
        assert [r.path for r in mock.requests] == ["/chat/completions", "/v1/responses"]
        assert answer[4].api == "agent"
    if profile in ("429", "500", "502-html", "429-no-retry-after"):
        assert len(mock.requests) == 2  # retried before the first byte, then gave up
    if profile in ("400", "401-json", "401-html"):
        assert len(mock.requests) == 1  # never retried
    if profile == "1mb":
        assert len(run.out) > 1_000_000 and len(answer[2]) > 1_000_000
    if profile == "hostile":
        assert "(unsafe link omitted)" in run.out
        assert "javascript:" not in run.out.partition("\nSources:\n")[2]


@pytest.mark.parametrize("profile,api_mode,code,api", [
    ("default", None, 0, "sonar"),
    ("403-retired", None, 0, "agent"),
    ("agent-failed", "agent", 1, "agent"),
    ("agent-incomplete", "agent", 0, "agent"),
    ("401-json", None, 3, None),  # refused before any answer: no API answered
    ("disconnect", None, 4, "sonar"),
    ("stall", None, 4, "sonar"),
    ("hostile", None, 0, "sonar"),
])
def test_ask_json_has_exactly_the_documented_keys(cli, mock, profile, api_mode, code, api):
    mock.service.configure(profile=profile)
    args = ["ask", QUESTION, "--json"] + (["--api-mode", api_mode] if api_mode else [])
    run = cli(*args, env={"SONAR_TUI_MAX_ATTEMPTS": "1"})
    assert run.code == code, run.err
    data = json.loads(run.out)  # one object and nothing else on stdout
    assert set(data) == JSON_KEYS | ({"error"} if code else set())
    assert data["api"] == api
    # C1 controls (a raw 0x9B is a CSI) are escaped in the JSON, never printed.
    assert not CONTROL_RE.search(run.out)
    if code:
        plain_errors(run)
        assert data["error"]["message"] and data["error"]["kind"]
        assert FAKE_KEY not in run.out + run.err
    else:
        assert data["text"] and data["citations"] and data["finish_reason"] in ("stop", "length")
        assert data["citations"] == [s["url"] for s in data["search_results"]]


# ----------------------------------------------------------------------------- options


def test_no_save_leaves_the_database_alone(cli, mock):
    run = cli("ask", QUESTION, "--no-save")
    assert run.code == 0 and last_line(CHUNKS) in run.out
    assert not cli.db.exists()


def test_thread_continues_with_its_history(cli, mock):
    assert cli("ask", "What is QUIC?").code == 0
    threads = json.loads(cli("threads", "--json").out)
    run = cli("ask", "And how does it differ from TCP?", "--thread", str(threads[0]["id"]))
    assert run.code == 0, run.err
    messages = mock.service.last_body()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "What is QUIC?"
    assert messages[1]["content"].rstrip().endswith(last_line(CHUNKS))
    assert mock.requests[-1].headers["x-conversation-id"]
    after = json.loads(cli("threads", "--json").out)
    assert len(after) == 1 and after[0]["messages"] == 4


def test_agent_thread_continues_by_response_id_and_survives_its_expiry(cli, mock):
    agent = {"SONAR_TUI_API_MODE": "agent"}
    assert cli("ask", "What is QUIC?", env=agent).code == 0
    thread = json.loads(cli("threads", "--json").out)[0]["id"]
    [*_, (_, _, _, _, answer)] = stored(cli.db)
    assert answer.response_id and answer.response_endpoint == mock.url

    assert cli("ask", "And TCP?", "--thread", str(thread), env=agent).code == 0
    sent = mock.service.last_body()
    assert (sent["previous_response_id"], sent["input"]) == (answer.response_id, "And TCP?")

    mock.service.forget_responses()  # the service no longer knows the last answer
    run = cli("ask", "And UDP?", "--thread", str(thread), "--json", env=agent)
    assert run.code == 0 and run.err == "", run.err
    assert json.loads(run.out)["finish_reason"] == "stop"
    refused, replayed = mock.service.bodies("/v1/responses")[-2:]
    assert "previous_response_id" in refused and "previous_response_id" not in replayed
    assert [item["role"] for item in replayed["input"]] == ["user", "assistant"] * 2 + ["user"]


def test_unknown_thread_is_bad_usage_and_sends_nothing(cli, mock):
    run = cli("ask", QUESTION, "--thread", "999")
    assert run.code == 2
    plain_errors(run)
    assert "999" in run.err and mock.requests == []


def test_question_from_stdin(cli, mock):
    run = cli("ask", "-", stdin="What is BGP?\nExplain briefly.\n")
    assert run.code == 0, run.err
    assert mock.service.last_body()["messages"][-1]["content"] == "What is BGP?\nExplain briefly."
    assert stored(cli.db)[0][2] == "What is BGP?\nExplain briefly."


def test_empty_question_is_bad_usage(cli, mock):
    for args, stdin in ((("ask", "   "), None), (("ask", "-"), "\n\n")):
        run = cli(*args, stdin=stdin)
        assert run.code == 2 and "empty" in run.err
        plain_errors(run)
    assert mock.requests == [] and not cli.db.exists()


def test_no_stream_waits_for_the_whole_answer(cli, mock):
    run = cli("ask", QUESTION, "--no-stream")
    assert run.code == 0, run.err
    assert mock.service.last_body()["stream"] is False
    assert mock.requests[-1].headers["accept"] == "application/json"
    text, _, sources = run.out.partition("\nSources:\n")
    assert text.rstrip().endswith(last_line(CHUNKS)) and sources.startswith("[1] ")
    assert stored(cli.db)[1][1] == "complete"


def test_every_search_flag_reaches_the_request(cli, mock):
    run = cli("ask", QUESTION, "--model", "sonar-pro", "--system", "Be brief.",
              "--domain", "example.org", "--domain", "docs.python.org",
              "--after", "01/02/2024", "--before", "12/31/2025",
              "--updated-after", "3/1/2024", "--updated-before", "06/30/2025",
              "--mode", "academic", "--context-size", "high", "--reasoning-effort", "low",
              "--country", "de", "--images", "--related", "--max-tokens", "500")
    assert run.code == 0, run.err
    body = mock.service.last_body()
    assert body["model"] == "sonar-pro"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["search_domain_filter"] == ["example.org", "docs.python.org"]
    assert body["search_after_date_filter"] == "01/02/2024"
    assert body["search_before_date_filter"] == "12/31/2025"
    assert body["last_updated_after_filter"] == "3/1/2024"
    assert body["last_updated_before_filter"] == "06/30/2025"
    assert body["search_mode"] == "academic"
    assert body["web_search_options"] == {"search_context_size": "high",
                                          "user_location": {"country": "DE"}}
    assert body["reasoning_effort"] == "low"
    assert body["return_images"] is True and body["return_related_questions"] is True
    assert body["max_tokens"] == 500

    # argparse would read "--domain -x" as an option: "--domain=-x" and --exclude-domain work.
    run = cli("ask", QUESTION, "--domain=-pinterest.com", "--exclude-domain", "quora.com")
    assert run.code == 0, run.err
    assert mock.service.last_body()["search_domain_filter"] == ["-pinterest.com", "-quora.com"]

    run = cli("ask", QUESTION, "--recency", "week", "--no-search")
    assert run.code == 0, run.err
    body = mock.service.last_body()
    assert body["disable_search"] is True and "search_recency_filter" not in body
    run = cli("ask", QUESTION, "--recency", "week")
    assert mock.service.last_body()["search_recency_filter"] == "week"


def test_search_flags_reach_the_agent_api_too(cli, mock):
    run = cli("ask", QUESTION, "--api-mode", "agent", "--domain", "example.org",
              "--recency", "month", "--country", "fr", "--max-tokens", "300")
    assert run.code == 0, run.err
    body = mock.service.last_body("/v1/responses")
    assert body["max_output_tokens"] == 300
    tool = next(t for t in body["tools"] if t["type"] == "web_search")
    assert tool["filters"]["search_domain_filter"] == ["example.org"]
    assert tool["filters"]["search_recency_filter"] == "month"
    assert tool["user_location"]["country"] == "FR"


@pytest.mark.parametrize("flags,field", [
    (["--after", "02/30/2024"], "published_after"),
    (["--after", "01/01/2025", "--before", "01/01/2024"], "published_before"),
    (["--recency", "day", "--after", "01/01/2024"], "recency"),
    (["--country", "Germany"], "country"),
    (["--max-tokens", "0"], "max_tokens"),
    (["--domain", "not a domain"], "domain_filter"),
    (["--model", "sonar pro"], "model"),
    (["--domain", "example.org", "--exclude-domain", "quora.com"], "domain_filter"),
])
def test_invalid_settings_exit_2_before_anything_is_sent_or_saved(cli, mock, flags, field):
    run = cli("ask", QUESTION, *flags)
    assert run.code == 2
    plain_errors(run)
    assert field in run.err
    assert mock.requests == []
    assert stored(cli.db) == []


def test_argparse_refusals_are_exit_2_without_traceback(cli, mock):
    run = cli("ask", QUESTION, "--recency", "decade")
    assert run.code == 2 and "Traceback" not in run.err and "invalid choice" in run.err
    assert mock.requests == []


def test_hostile_config_values_are_reported_as_plain_text(cli, mock, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('"\\u001b]52;c;ZXZpbA==\\u0007key" = 1\n[request]\n'
                      'search_mode = "\\u001b[31mweb"\n', encoding="utf-8")
    run = cli("ask", QUESTION, "--config", str(config),
              env={"SONAR_TUI_COUNTRY": "\x1b[2J\x9b"})
    assert run.code == 0  # a wrong setting is reported and ignored, never fatal
    *warnings, named = run.err_lines()
    assert THREAD_LINE.match(named), run.err
    assert len(warnings) == 3 and all(w.startswith("sonar-tui: warning: ") for w in warnings)
    assert "search_mode" in run.err and "country" in run.err
    assert not CONTROL_RE.search(run.err)


def test_no_key_is_exit_3_and_nothing_is_sent_or_kept(cli, mock):
    run = cli("ask", QUESTION, env={"PERPLEXITY_API_KEY": ""})
    assert run.code == 3
    plain_errors(run)
    assert "API key" in run.err and "PERPLEXITY_API_KEY" in run.err
    assert mock.requests == []
    # Nothing sent, nothing kept: no thread holds a question that was never asked.
    assert stored(cli.db) == []
    listed = cli("threads", "--json")
    assert listed.code == 0 and json.loads(listed.out) == []


def test_ask_names_its_thread_so_the_next_ask_continues_it(cli, mock):
    first = cli("ask", QUESTION, "--json")
    assert first.code == 0, first.err
    thread = json.loads(first.out)["thread_id"]
    assert isinstance(thread, int)
    second = cli("ask", "And DNSSEC?", "--thread", str(thread))
    assert second.code == 0, second.err
    assert second.err_lines()[-1] == f"sonar-tui: thread {thread} (`sonar-tui ask --thread " \
        f"{thread} …` continues it)"
    assert [r[2] for r in stored(cli.db) if r[0] == "user"] == [QUESTION, "And DNSSEC?"]
    unsaved = cli("ask", QUESTION, "--json", "--no-save")
    assert json.loads(unsaved.out)["thread_id"] is None


def test_server_not_listening_is_exit_4(tmp_path):
    cli = Cli(tmp_path, closed_port_url())
    run = cli("ask", QUESTION, env={"SONAR_TUI_MAX_ATTEMPTS": "2"})
    assert run.code == 4
    plain_errors(run, most=3)
    assert "Could not connect" in run.err
    rows = stored(cli.db)
    assert [(r[0], r[1], r[3]) for r in rows] == [("user", "complete", None),
                                                  ("assistant", "error", "network")]


def test_sigint_while_streaming_keeps_the_partial_answer_as_cancelled(cli, mock):
    mock.service.configure(chunks=3000, pace=200)  # ~15 s: far longer than the test
    process = subprocess.Popen(cli.command("ask", QUESTION), env=cli.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        received = b""
        deadline = time.monotonic() + 30
        while len(received) < 40 and time.monotonic() < deadline:
            piece = os.read(process.stdout.fileno(), 4096)  # blocks until bytes arrive
            if not piece:
                break
            received += piece
        assert len(received) >= 40, "the answer never started streaming"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    printed = (received + out).decode()
    err_text = err.decode()
    assert process.returncode == 130, err_text
    assert "Traceback" not in err_text and "interrupted" in err_text
    rows = stored(cli.db)
    assert [(r[0], r[1]) for r in rows] == [("user", "complete"), ("assistant", "cancelled")]
    kept = rows[1][2]
    assert kept and printed.startswith(kept[:40])
    assert last_line(3000) not in kept
    assert rows[1][4].finish_reason == "cancelled"


# ----------------------------------------------------------------------------- threads, search


def test_threads_and_search_list_what_was_asked(cli, mock):
    assert cli("threads").out.startswith("No threads yet")
    assert cli("ask", "What is QUIC?").code == 0
    assert cli("ask", "What is [bold]DNSSEC[/bold]?\x1b]0;title\x07").code == 0
    threads = json.loads(cli("threads", "--json").out)
    assert [t["title"] for t in threads][::-1][0] == "What is QUIC?"
    assert {"id", "title", "created_at", "updated_at", "messages", "pinned", "model",
            "api"} == set(threads[0])
    listing = cli("threads")
    assert listing.code == 0 and "What is QUIC?" in listing.out
    assert not CONTROL_RE.search(listing.out)  # hostile titles are cleaned for the terminal
    hits = json.loads(cli("search", "QUIC", "--json").out)
    # One row per thread (title, question and answer all match): the best, and a count.
    assert [h["thread_title"] for h in hits] == ["What is QUIC?"] and hits[0]["matches"] >= 3
    assert {"thread_id", "thread_title", "message_id", "role", "rank", "snippet",
            "matches"} == set(hits[0])
    text = cli("search", "QUIC")
    assert text.code == 0 and "«" in text.out and not CONTROL_RE.search(text.out)
    assert cli("search", "zzzznothing").out.strip() == "No matches."
    assert json.loads(cli("search", "zzzznothing", "--json").out) == []


# ----------------------------------------------------------------------------- export, import


def test_export_and_import_round_trip(cli, mock, tmp_path):
    assert cli("ask", "What is QUIC?").code == 0
    assert cli("ask", "What is BGP?").code == 0
    mock.service.configure(profile="disconnect")
    assert cli("ask", "What is OSPF?").code == 4  # a failed, partial answer travels too
    md = tmp_path / "all.md"
    run = cli("export", "--all", "--format", "md", "-o", str(md))
    assert run.code == 0 and "Exported 3 thread(s)" in run.err
    text = md.read_text()
    assert "What is QUIC?" in text and "What is OSPF?" in text and last_line(CHUNKS) in text
    single = cli("export", "1")
    assert single.code == 0 and single.out.startswith("---\n") and "What is QUIC?" in single.out

    dump = tmp_path / "all.json"
    assert cli("export", "--all", "--format", "json", "-o", str(dump)).code == 0
    other = tmp_path / "other.db"
    first = cli("import", str(dump), "--db", str(other))
    assert first.code == 0 and first.out.strip() == "Imported 3 thread(s)."
    again = cli("import", str(dump), "--db", str(other))
    assert again.code == 0 and "Imported 0 thread(s); 3 already in the database" in again.out
    assert len(json.loads(cli("threads", "--json", "--db", str(other)).out)) == 3

    original = json.loads(dump.read_text())
    copy = json.loads(cli("export", "--all", "--format", "json", "--db", str(other)).out)

    def comparable(doc):
        return sorted(((t["thread"]["uid"], t["thread"]["title"]),
                       [(m["role"], m["status"], m["content"]) for m in t["messages"]])
                      for t in doc["threads"])
    assert comparable(copy) == comparable(original)
    statuses = {m["status"] for t in copy["threads"] for m in t["messages"]}
    assert statuses == {"complete", "error"}


def test_export_and_import_refusals_are_plain(cli, mock, tmp_path):
    for args, code, words in (
        (("export",), 2, "--all"),
        (("export", "42"), 2, "no thread 42"),
        (("import", str(tmp_path / "missing.json")), 2, "cannot read"),
    ):
        run = cli(*args)
        assert run.code == code and words in run.err
        plain_errors(run)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = cli("import", str(bad))
    assert run.code == 2 and "is not JSON" in run.err
    plain_errors(run)
    bad.write_text('{"format": "something-else"}')
    run = cli("import", str(bad))
    assert run.code == 2
    plain_errors(run)
    bad.write_text('{"threads": null}')  # a many-thread export without its list
    run = cli("import", str(bad))
    assert run.code == 2 and "threads" in run.err
    plain_errors(run)


def test_export_to_a_path_that_cannot_be_written_is_a_plain_error(cli, mock, tmp_path):
    assert cli("ask", "What is QUIC?").code == 0
    for target in (tmp_path / "missing" / "x.md", tmp_path / ("a" * 300 + ".md"), tmp_path):
        run = cli("export", "1", "-o", str(target))
        assert run.code == 2 and "cannot write" in run.err, run.err
        plain_errors(run)
    assert not (tmp_path / "missing").exists()


def test_a_database_that_is_not_one_is_a_plain_error(cli, mock, tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an sqlite database" * 100)
    for args in (("threads",), ("ask", QUESTION)):
        run = cli(*args, "--db", str(broken))
        assert run.code == 1
        plain_errors(run)
    assert mock.requests == []


def test_threads_into_a_closed_pipe_is_quiet(cli, mock):
    for i in range(3):
        assert cli("ask", f"Question number {i}").code == 0
    shell = subprocess.run(" ".join(map(_quote, cli.command("threads"))) + " | head -c 1",
                           shell=True, capture_output=True, text=True, env=cli.env, timeout=60)
    assert "Traceback" not in shell.stderr


def _quote(text: str) -> str:
    import shlex
    return shlex.quote(text)


def test_integrity_after_every_command(cli, mock):
    assert cli("ask", QUESTION).code == 0
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ----------------------------------------------------------------------------- gateways, config


def test_gateway_stream_gets_usage_and_cost_and_no_stream_keeps_the_sources(cli, mock):
    mock.service.configure(profile="gateway")
    run = cli("ask", QUESTION, "--json", "--no-save")
    data = json.loads(run.out)
    assert run.code == 0 and data["text"] and data["citations"] == []
    assert data["usage"]["total_tokens"] and data["cost"] > 0  # asked with stream_options
    assert mock.service.last_body()["stream_options"] == {"include_usage": True}
    assert "none arrived" in run.err and "try --no-stream" in run.err
    run = cli("ask", QUESTION, "--json", "--no-save", "--no-stream")
    data = json.loads(run.out)
    assert run.code == 0 and run.err == ""
    assert data["citations"] and data["search_results"][0]["title"] and data["cost"] > 0
    run = cli("ask", QUESTION, "--json", "--no-save", env={"SONAR_TUI_STREAM_USAGE": "false"})
    assert "stream_options" not in mock.service.last_body()
    assert json.loads(run.out)["usage"] is None


@pytest.mark.parametrize("stream", [True, False])
def test_openrouter_shape_gives_its_sources(cli, mock, stream):
    mock.service.configure(profile="openrouter")
    run = cli("ask", QUESTION, "--json", *([] if stream else ["--no-stream"]))
    data = json.loads(run.out)
    assert run.code == 0 and run.err == ""
    assert data["citations"] and data["citations"] == [s["url"] for s in data["search_results"]]
    assert len(set(data["citations"])) == len(data["citations"])  # citations + annotations
    assert all(s["title"] and s["snippet"] for s in data["search_results"])
    assert data["cost"] > 0 and data["usage"]["cost_details"]["upstream_inference_cost"] > 0
    [row] = [r for r in stored(cli.db) if r[0] == "assistant"]
    assert [s["url"] for s in row[4].sources] == data["citations"]


def recorded_openrouter_server(kind: str):
    """A loopback server answering every request with a recorded OpenRouter response."""
    from sonar_tui.mock.http import Response, ServerThread

    folder = Path(__file__).parent / "fixtures" / "openrouter"
    if kind == "stream":
        body = (folder / "pydantic-ai__openrouter-stream-web-search-annotations.sse").read_bytes()
        response = Response(200, [body], content_type="text/event-stream")
    else:
        name = "pydantic-ai__openrouter-nonstream-web-search-annotations.json"
        response = Response(200, (folder / name).read_bytes())

    async def handler(request):
        return response
    return ServerThread(handler)


OPENROUTER_URLS = ["https://github.com/pydantic/pydantic-ai", "https://pydantic.dev/pydantic-ai",
                   "https://github.com/pydantic/pydantic-ai/releases/tag/v2.0.0",
                   "https://pydantic.dev/docs/ai/overview/",
                   "https://github.com/pydantic/pydantic-ai/tree/refs/tags/v1.44.0"]


@pytest.mark.parametrize("kind", ["stream", "body"])
def test_recorded_openrouter_answers_give_their_sources_in_json_text_and_export(tmp_path, kind):
    with recorded_openrouter_server(kind) as server:
        cli = Cli(tmp_path, server.url)
        flags = [] if kind == "stream" else ["--no-stream"]
        run = cli("ask", "Pydantic AI repo?", "--json", "--model", "deepseek/deepseek-chat",
                  *flags)
        assert run.code == 0, run.err
        data = json.loads(run.out)
        assert data["citations"] == OPENROUTER_URLS
        assert [s["number"] for s in data["search_results"]] == [1, 2, 3, 4, 5]
        assert data["search_results"][0]["snippet"].startswith("# pydantic/pydantic-ai")
        assert data["cost"] and data["usage"]["cost_details"]
        run = cli("ask", "Pydantic AI repo?", "--no-save", *flags)
        sources = run.out.partition("\nSources:\n")[2].splitlines()
        assert sources[0].startswith("[1] AI Agent Framework, the Pydantic way")
        assert sources[0].endswith(" — https://github.com/pydantic/pydantic-ai")
        assert [line.rsplit(" — ", 1)[1] for line in sources] == OPENROUTER_URLS
    export = cli("export", "--all", "--format", "md")
    assert export.code == 0
    for url in OPENROUTER_URLS:
        assert url in export.out
    as_json = json.loads(cli("export", "--all", "--format", "json").out)
    [thread] = as_json["threads"]
    answer = [m for m in thread["messages"] if m["role"] == "assistant"][0]
    assert [s["url"] for s in answer["sources"]] == OPENROUTER_URLS


def test_config_shows_settings_their_sources_the_key_masked_and_the_remembered_switch(
        cli, mock, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[request]\nmodel = "sonar-pro"\n')
    env = {"SONAR_TUI_CONFIG": str(config)}
    mock.service.configure(profile="403-retired")
    run = cli("ask", QUESTION, "--no-save", env=env)
    assert run.code == 0
    assert f'agent_endpoints = ["{mock.url}"]' in config.read_text()

    run = cli("config", env=env)
    assert run.code == 0 and run.err == ""
    out = run.out
    assert f"Config file: {config}" in out
    assert "API key: ••••••••" in out and FAKE_KEY not in out and "$PERPLEXITY_API_KEY" in out
    assert f'model = "sonar-pro"    # {config}' in out
    assert f'base_url = "{mock.url}"    # $PERPLEXITY_BASE_URL' in out
    assert 'api_mode = "auto"    # default' in out
    assert "stream_usage = true    # default" in out
    assert "Remembered Agent API endpoints" in out and f"  {mock.url}\n" in out
    assert "sonar-tui config --forget-agent-endpoints" in out
    data = json.loads(cli("config", "--json", env=env).out)
    assert data["agent_endpoints"] == [mock.url] and FAKE_KEY not in json.dumps(data)
    assert data["settings"]["request.model"] == {"value": "sonar-pro", "source": str(config)}

    run = cli("config", "--forget-agent-endpoints", env=env)
    assert run.code == 0 and f"Forgot 1 remembered Agent API endpoint(s): {mock.url}" in run.out
    assert "agent_endpoints" not in config.read_text()
    assert 'model = "sonar-pro"' in config.read_text()
    assert "No remembered Agent API endpoints." in cli("config", env=env).out
    run = cli("config", "--forget-agent-endpoints", env=env)
    assert run.code == 0 and "No Agent API endpoints were remembered." in run.out


def test_forgetting_in_a_read_only_config_is_a_plain_error(cli, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('[api]\nagent_endpoints = ["https://gw.example"]\n')
    config.chmod(0o400)
    try:
        run = cli("config", "--forget-agent-endpoints", env={"SONAR_TUI_CONFIG": str(config)})
    finally:
        config.chmod(0o600)
    assert run.code == 1
    plain_errors(run)
    assert "read-only" in run.err and "agent_endpoints" in config.read_text()


def test_a_read_only_config_never_fails_the_switched_answer(cli, mock, tmp_path):
    folder = tmp_path / "ro-conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text("# mine\n")
    folder.chmod(0o500)
    mock.service.configure(profile="403-retired")
    try:
        run = cli("ask", QUESTION, "--json", env={"SONAR_TUI_CONFIG": str(config)})
    finally:
        folder.chmod(0o700)
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert data["api"] == "agent" and data["text"] and data["citations"]
    lines = run.err_lines()
    assert len(lines) == 2 and "Traceback" not in run.err
    assert lines[1].startswith("sonar-tui: warning: the switch to the Agent API holds for this "
                               "run only, because it could not be saved:")
    assert "read-only" in lines[1]
    assert config.read_text() == "# mine\n"


def test_a_failed_ask_names_the_thread_it_kept_and_an_unsaved_one_names_none(tmp_path):
    cli = Cli(tmp_path, closed_port_url())
    run = cli("ask", QUESTION, env={"SONAR_TUI_MAX_ATTEMPTS": "1"})
    assert run.code == 4
    plain_errors(run, most=3)
    *_, named = run.err_lines()  # the thread is named last, as after an answer
    assert THREAD_LINE.match(named) and int(THREAD_LINE.match(named)[1]) == 1, run.err
    retry = cli("ask", QUESTION, "--thread", "1", env={"SONAR_TUI_MAX_ATTEMPTS": "1"})
    assert retry.code == 4 and retry.err_lines()[-1] == named  # the same thread, named again
    unsaved = cli("ask", QUESTION, "--no-save", env={"SONAR_TUI_MAX_ATTEMPTS": "1"})
    assert unsaved.code == 4 and "thread" not in unsaved.err
    as_json = cli("ask", QUESTION, "--json", env={"SONAR_TUI_MAX_ATTEMPTS": "1"})
    assert as_json.code == 4 and json.loads(as_json.out)["thread_id"] == 2
    assert "--thread" not in as_json.err  # --json has it
