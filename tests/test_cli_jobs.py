"""Background jobs from the command line, as a user runs them: real ``sonar-tui`` processes,
the mock over loopback, a real database. ``ask --background`` returns at once; ``jobs``
lists; ``wait`` prints the answer as ``ask`` would, whatever happened to the processes in
between (killed, interrupted, timed out); ``cancel`` stops a job.

Jobs move on when the test says (the mock counts reads or holds them until released), and
the CLI polls every 20 ms (``SONAR_TUI_JOB_POLL_INTERVAL``), so nothing waits on a clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time

import pytest

from sonar_tui.mock import last_line, start_mock
from sonar_tui.store import Store
from tests.test_cli import CONTROL_RE, JSON_KEYS, Cli, plain_errors, stored

CHUNKS = 24
QUESTION = "Survey the history of TLS"
JOBS_ENV = {"SONAR_TUI_API_MODE": "agent", "SONAR_TUI_JOB_POLL_INTERVAL": "0.02"}


@pytest.fixture
def mock():
    handle = start_mock("default", chunks=CHUNKS, job_polls=3, job_seconds=None)
    yield handle
    handle.stop()


@pytest.fixture
def cli(tmp_path, mock) -> Cli:
    cli = Cli(tmp_path, mock.url)
    cli.env.update(JOBS_ENV)
    return cli


def jobs_in(db) -> list:
    async def load():
        async with await Store.open(db) as store:
            return await store.list_jobs(None)
    return asyncio.run(load())


def start(cli: Cli, *args: str) -> int:
    run = cli("ask", "--background", *args, QUESTION)
    assert run.code == 0, run.err
    return int(run.out.strip())


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_ask_background_returns_at_once_and_wait_prints_the_answer_as_ask_would(cli, mock):
    run = cli("ask", "--background", QUESTION)
    assert run.code == 0, run.err
    thread = int(run.out.strip())  # stdout is the thread id and nothing else
    # The command that finds the job again: with the database this run was given.
    assert f"`sonar-tui wait {thread} --db {cli.db}`" in run.err and "Traceback" not in run.err
    (job,) = jobs_in(cli.db)
    assert (job.thread_id, job.status, job.finished) == (thread, "queued", False)
    assert mock.service.jobs.reads(job.response_id) == 0  # it returned without polling
    assert mock.service.last_body("/v1/responses")["background"] is True

    listed = cli("jobs")
    assert listed.code == 0 and str(thread) in listed.out and QUESTION in listed.out
    assert "queued" in listed.out  # the listing checked it once with the service
    as_json = json.loads(cli("jobs", "--json").out)
    assert as_json[0]["thread_id"] == thread and as_json[0]["running"] is True
    assert as_json[0]["checks"] == 2 and as_json[0]["response_id"] == job.response_id

    waited = cli("wait", str(thread))
    assert waited.code == 0, waited.err
    assert waited.err == "" and not CONTROL_RE.search(waited.out)
    text, _, sources = waited.out.partition("\nSources:\n")
    assert text.rstrip().endswith(last_line(CHUNKS)) and sources.startswith("[1] ")
    rows = stored(cli.db)
    assert [(r[0], r[1]) for r in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[1][4].cost and rows[1][4].sources

    again = cli("wait", str(thread), "--json")  # ended: printed from the database at once
    data = json.loads(again.out)
    assert again.code == 0 and set(data) >= JSON_KEYS and data["api"] == "agent"
    assert data["text"] == rows[1][2] and data["usage"]["cost"] == rows[1][4].cost
    assert json.loads(cli("jobs", "--json").out)[0]["status"] == "completed"
    finished = cli("jobs", "--no-check")
    assert "completed" in finished.out


def test_json_of_ask_background_names_the_job(cli, mock):
    run = cli("ask", "--background", "--json", QUESTION)
    data = json.loads(run.out)
    assert run.code == 0 and data["status"] == "queued"
    assert data["response_id"] in mock.service.jobs.ids()
    assert data["thread_id"] == jobs_in(cli.db)[0].thread_id


def test_a_killed_wait_loses_nothing_and_the_next_wait_prints_the_answer(cli, mock):
    mock.service.configure(job_polls=None)  # held until the test releases it
    thread = start(cli)
    response_id = jobs_in(cli.db)[0].response_id
    process = subprocess.Popen(cli.command("wait", str(thread)), env=cli.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: mock.service.jobs.reads(response_id) >= 3, "wait to poll the job")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    (job,) = jobs_in(cli.db)
    assert not job.finished and job.status == "in_progress" and job.steps  # what it knew
    mock.service.release_jobs()
    waited = cli("wait", str(thread))
    assert waited.code == 0, waited.err
    assert waited.out.partition("\nSources:\n")[0].rstrip().endswith(last_line(CHUNKS))


def test_deep_research_runs_in_the_background_by_itself_and_ctrl_c_leaves_it_running(
        cli, mock):
    done = cli("ask", "--model", "sonar-deep-research", QUESTION)
    assert done.code == 0, done.err
    assert "this runs as a background job (thread 1)" in done.err
    assert done.out.partition("\nSources:\n")[0].rstrip().endswith(last_line(CHUNKS))
    assert jobs_in(cli.db)[0].status == "completed"
    streamed = cli("ask", "--no-background", "--model", "sonar-deep-research", "Again?")
    assert streamed.code == 0 and "background" not in streamed.err
    assert len(jobs_in(cli.db)) == 1

    mock.service.configure(job_polls=None)
    before = set(mock.service.jobs.ids())
    process = subprocess.Popen(cli.command("ask", "--model", "sonar-deep-research", QUESTION),
                               env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(mock.service.jobs.reads(i) >= 2
                             for i in set(mock.service.jobs.ids()) - before),
                 "the new job to be polled")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = err.decode()
    assert process.returncode == 130 and "Traceback" not in text
    assert "interrupted; the background job goes on: `sonar-tui wait 3 --db" in text
    job = next(j for j in jobs_in(cli.db) if j.thread_id == 3)
    assert not job.finished
    mock.service.release_jobs()
    assert cli("wait", "3").code == 0


def test_where_there_is_no_background_mode_ask_says_why(tmp_path, mock):
    cli = Cli(tmp_path, mock.url)  # api_mode auto on a loopback URL: a chat gateway
    run = cli("ask", "--background", QUESTION)
    assert run.code == 2
    plain_errors(run)
    assert "is a gateway serving chat completions, which have no background mode" in run.err
    sonar = cli("ask", "--background", QUESTION, env={"SONAR_TUI_API_MODE": "sonar"})
    assert sonar.code == 2 and "Sonar chat completions have no background mode" in sonar.err
    assert stored(cli.db) == [] and mock.requests == []
    no_save = cli("ask", "--background", "--no-save", QUESTION, env=JOBS_ENV)
    assert no_save.code == 2 and "needs the thread database" in no_save.err
    # Deep research without a background mode simply streams.
    streamed = cli("ask", "--model", "sonar-deep-research", QUESTION)
    assert streamed.code == 0 and "background" not in streamed.err


def test_a_failed_job_exits_as_ask_would(cli, mock):
    mock.service.configure(profile="agent-failed")
    thread = start(cli)
    run = cli("wait", str(thread))
    assert run.code == 1
    plain_errors(run)
    assert "the model provider returned an error" in run.err
    assert [r[1] for r in stored(cli.db)] == ["complete", "error"]


def test_cancel_stops_the_job_and_wait_says_so(cli, mock):
    mock.service.configure(job_polls=None)
    thread = start(cli)
    cancelled = cli("cancel", str(thread))
    assert cancelled.code == 0 and cancelled.out.startswith("Cancelling")
    assert any(r.path.endswith("/cancel") for r in mock.requests)
    waited = cli("wait", str(thread))
    assert waited.code == 1 and "the job was cancelled" in waited.err
    assert [r[1] for r in stored(cli.db)] == ["complete", "cancelled"]
    again = cli("cancel", str(thread))
    assert again.code == 2 and "has no running background job (its last one is cancelled)" \
        in again.err


def test_a_cancel_the_service_refuses_stops_following_and_says_so(cli, mock):
    mock.service.configure(job_polls=None, profile="cancel-refused")
    thread = start(cli)
    run = cli("cancel", str(thread))
    assert run.code == 0 and "cannot cancel this job" in run.out and "billed" in run.out
    assert jobs_in(cli.db)[0].status == "abandoned"
    assert "abandoned" in cli("jobs", "--no-check").out


def test_wait_times_out_and_leaves_the_job_running(cli, mock):
    mock.service.configure(job_polls=None)
    thread = start(cli)
    run = cli("wait", str(thread), "--timeout", "0.5")
    assert run.code == 4
    plain_errors(run)
    assert f"still running after 1 s; it goes on: `sonar-tui wait {thread} --db" in run.err
    assert not jobs_in(cli.db)[0].finished


def test_wait_stops_on_a_refused_key_and_keeps_the_job(cli, mock):
    thread = start(cli)
    mock.service.configure(profile="401-json")
    run = cli("wait", str(thread))
    assert run.code == 3
    assert "Invalid API key provided" in run.err and "the job is kept" in run.err
    assert not jobs_in(cli.db)[0].finished
    mock.service.configure(profile="default")
    assert cli("wait", str(thread)).code == 0


def test_a_forgotten_job_is_said_gone(cli, mock):
    thread = start(cli)
    mock.service.forget_responses()
    run = cli("wait", str(thread))
    assert run.code == 1 and "no longer knows this background job (HTTP 404)" in run.err
    assert jobs_in(cli.db)[0].status == "gone"


@pytest.mark.slow  # sits out a real Retry-After (the service test checks it in the fast run)
def test_network_blips_and_rate_limits_are_waited_out(cli, mock):
    thread = start(cli)
    mock.service.configure(profile="poll-drop", fault_times=1)
    run = cli("wait", str(thread))
    assert run.code == 0, run.err
    assert run.err.startswith("sonar-tui: the job is kept; checking again in")
    assert "Network error" in run.err
    thread = start(cli)
    mock.service.configure(profile="poll-429", fault_times=1)
    began = time.monotonic()
    run = cli("wait", str(thread))
    assert run.code == 0 and "Rate limited (HTTP 429)" in run.err
    assert time.monotonic() - began >= 1.0  # Retry-After: 1 was honoured


def test_wait_and_cancel_need_a_thread_with_a_job(cli, mock):
    assert cli("ask", "What is TLS?").code == 0
    for command in ("wait", "cancel"):
        run = cli(command, "1")
        assert run.code == 2 and "thread 1 has no" in run.err
    run = cli("wait", "99")
    assert run.code == 2 and "there is no thread 99" in run.err
    empty = cli("jobs")
    assert empty.code == 0 and "No background jobs" in empty.out


@pytest.mark.parametrize("command", ["jobs", "wait", "cancel"])
def test_help_describes_the_commands(cli, command):
    run = cli(command, "--help", env={"COLUMNS": "100"})
    assert run.code == 0 and "background job" in run.out
    assert os.linesep in run.out


# ----------------------------------------------------------------------------- a job on --base-url

def hinted_command(err: str) -> list[str]:
    """The `sonar-tui wait …` command ``ask --background`` says to run, as argv."""
    import shlex

    match = re.search(r"`(sonar-tui wait [^`]*)`", err)
    assert match, err
    return shlex.split(match[1])[1:]


def test_a_job_started_with_base_url_is_reached_with_the_same_base_url_only(tmp_path, mock):
    cli = Cli(tmp_path, None)  # nothing but the flag points at the mock
    cli.env.update(JOBS_ENV)
    mock.service.configure(job_polls=None)  # held until the test releases it
    run = cli("ask", "--base-url", mock.url, "--background", QUESTION)
    assert run.code == 0, run.err
    thread = int(run.out.strip())
    hinted = hinted_command(run.err)
    assert hinted[:1] == ["wait"] and str(thread) in hinted
    assert hinted[hinted.index("--base-url") + 1] == mock.url

    for where in ("before", "after"):  # --base-url before or after the command's name
        args = ["--db", str(cli.db), "--base-url", mock.url, "jobs", "--json"] \
            if where == "before" else \
            ["jobs", "--base-url", mock.url, "--json"]
        listed = cli(*args)
        assert listed.code == 0, listed.err
        assert json.loads(listed.out)[0]["error"] is None  # checked where it was started

    other = start_mock("default")
    try:  # another host never gets the key, whichever command names it
        for command in (["wait", str(thread)], ["cancel", str(thread)], ["jobs"]):
            refused = cli(command[0], "--base-url", other.url, *command[1:])
            assert "Traceback" not in refused.err
            if command[0] != "jobs":
                assert refused.code == 2, (command, refused.err)
                assert f"started on {mock.url}" in refused.err
            if command[0] == "wait":  # and says the command that reaches it
                assert f"`sonar-tui wait {thread} --db {cli.db} --base-url {mock.url}` " \
                    "again." in refused.err, refused.err
        assert other.requests == []
    finally:
        other.stop()
    assert not jobs_in(cli.db)[0].finished

    mock.service.release_jobs()
    waited = cli(*hinted)  # the command ask printed, as printed
    assert waited.code == 0, waited.err
    assert waited.out.partition("\nSources:\n")[0].rstrip().endswith(last_line(CHUNKS))


def test_cancel_accepts_the_base_url_its_job_was_started_on(tmp_path, mock):
    cli = Cli(tmp_path, None)
    cli.env.update(JOBS_ENV)
    mock.service.configure(job_polls=None)
    thread = int(cli("ask", "--base-url", mock.url, "--background", QUESTION).out)
    run = cli("--db", str(cli.db), "--base-url", mock.url, "cancel", str(thread))
    assert run.code == 0 and run.out.startswith("Cancelling"), run.err
    assert any(r.path.endswith("/cancel") for r in mock.requests)


def test_the_jobs_listing_never_cuts_its_last_check_mid_word(tmp_path, mock):
    cli = Cli(tmp_path, None)
    cli.env.update(JOBS_ENV)
    mock.service.configure(job_polls=None)
    assert cli("ask", "--base-url", mock.url, "--background", QUESTION).code == 0
    listed = cli("jobs")  # checked with the default base URL: refused, and said why
    assert listed.code == 0, listed.err
    (line,) = [line for line in listed.out.splitlines() if "last check:" in line]
    shown = line.partition("last check: ")[2]
    message = json.loads(cli("jobs", "--json", "--no-check").out)[0]["error"]["message"]
    assert "base_url" in message
    if shown.endswith("…"):
        kept = shown[:-1].rstrip()
        assert message.startswith(kept) and message[len(kept)] == " ", shown
    else:
        assert shown == message


@pytest.mark.parametrize("timeout", ["-5", "0", "nan", "soon"])
def test_wait_refuses_a_timeout_that_is_not_a_positive_number(cli, mock, timeout):
    thread = start(cli)
    reads = mock.service.jobs.reads(jobs_in(cli.db)[0].response_id)
    run = cli("wait", str(thread), f"--timeout={timeout}")
    assert run.code == 2 and "--timeout" in run.err and "Traceback" not in run.err
    assert "positive number of seconds" in run.err
    assert mock.service.jobs.reads(jobs_in(cli.db)[0].response_id) == reads  # nothing sent
