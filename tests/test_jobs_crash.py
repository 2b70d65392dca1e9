"""A background job outlives a killed app: the real app in a real terminal (tmux), SIGKILL
while the job runs, a fresh start, and the answer lands in its thread.

The job is held by the mock until the test releases it, so the kill always falls in the
middle of the job and nothing waits for a job's clock.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import sys

import pytest

from sonar_tui.mock import last_line, start_mock
from tests.ui.appkit import FAKE_KEY, Tmux, poll, process_gone

QUESTION = "Survey the history of TLS"
CHUNKS = 40


def job_row(db) -> tuple | None:
    """(status, response_id, steps, finished_at) of the job, read without writing."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT status, response_id, steps, finished_at FROM jobs"
                                ).fetchone()
    except sqlite3.Error:
        return None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_sigkill_mid_job_then_restart_and_the_answer_lands_in_its_thread(tmp_path):
    mock = start_mock("default", chunks=CHUNKS, job_polls=None, job_seconds=None)
    db = tmp_path / "threads.db"
    env = {**os.environ, "PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": mock.url,
           "SONAR_TUI_API_MODE": "agent", "SONAR_TUI_JOB_POLL_INTERVAL": "0.05",
           "SONAR_TUI_JOB_NOTIFY": "bell", "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    command = [sys.executable, "-m", "sonar_tui", "--db", str(db)]
    tmux = Tmux(env, tmp_path)
    try:
        pid = tmux.start(command)
        poll(lambda: "Ask anything" in tmux.screen(), "the app's first screen")
        tmux.keys(QUESTION, literal=True)
        poll(lambda: QUESTION[:20] in tmux.screen(), "the typed question")
        tmux.keys("F8")
        poll(lambda: "background job" in tmux.screen(), "the job on screen")
        poll(lambda: (row := job_row(db)) is not None and row[1] and row[2] != "[]",
             "the job's id and first findings in the database")
        poll(lambda: "running" in tmux.screen(), "the sidebar's job marker")
        os.kill(pid, signal.SIGKILL)
        poll(lambda: process_gone(pid), "the app to die")

        status, response_id, _, finished = job_row(db)
        assert status == "in_progress" and finished is None
        with sqlite3.connect(db) as conn:
            roles = [r[0] for r in conn.execute("SELECT role FROM messages ORDER BY id")]
        assert roles == ["user"]  # the answer is still out there, on the service
        reads = mock.service.jobs.reads(response_id)
        mock.service.release_jobs()  # it finished while nobody was looking

        tmux.close()
        tmux = Tmux(env, tmp_path)
        tmux.start(command)
        # The restart reopens the last thread used, the job's: its answer lands there, on
        # screen, with its sources (the "finished" call-back is for a thread elsewhere).
        poll(lambda: (row := job_row(db)) is not None and row[3] is not None,
             "the job to be ended in the database")
        assert mock.service.jobs.reads(response_id) > reads  # the new start polled it
        poll(lambda: "Sources (" in tmux.screen(), "the answer and its sources in its thread")
        tmux.keys("Tab")  # composer -> conversation
        tmux.keys("End")
        poll(lambda: last_line(CHUNKS)[:30] in tmux.screen(), "the end of the answer")
    finally:
        tmux.close()
        mock.stop()

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT role, status FROM messages ORDER BY id").fetchall()
        assert rows == [("user", "complete"), ("assistant", "complete")]
        assert conn.execute("SELECT count(*) FROM sources").fetchone()[0] > 0
        assert conn.execute("SELECT status FROM jobs").fetchone()[0] == "completed"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
