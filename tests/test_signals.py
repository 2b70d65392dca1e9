"""Killed, hung up, disconnected: SIGTERM, SIGHUP and a lost terminal are handled like
stopping and quitting. The partial answer is saved with its sources as ``interrupted``, the
terminal is given back when there is one, the process exits; nothing is left ``streaming``.

The CLI runs as a real subprocess; the app runs in a real terminal (tmux on a private
socket), where a killed session is exactly what an SSH link that drops does to it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sonar_tui.mock import last_line, start_mock
from tests.ui.appkit import FAKE_KEY, Tmux, poll, process_gone

QUESTION = "Explain how TLS handshakes work"
CHUNKS = 6000  # ~30 s at the pace below: far longer than any test here


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": url,
            "PYTHONDONTWRITEBYTECODE": "1", "TERM": "xterm-256color"}


def answers(db: Path) -> list[tuple]:
    """(status, content, finish_reason, number of sources) of every answer, oldest first."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(
            "SELECT status, content, finish_reason,"
            " (SELECT count(*) FROM sources s WHERE s.message_id = m.id)"
            " FROM messages m WHERE role = 'assistant' ORDER BY id").fetchall()


def checkpointed(db: Path) -> int:
    try:
        rows = answers(db)
    except sqlite3.Error:
        return 0
    return len(rows[-1][1]) if rows else 0


def read_until(process: subprocess.Popen, size: int, timeout: float = 30) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while len(received) < size and time.monotonic() < deadline:
        piece = os.read(process.stdout.fileno(), 4096)  # blocks until bytes arrive
        if not piece:
            break
        received += piece
    assert len(received) >= size, "the answer never started streaming"
    return received


@pytest.fixture
def slow_mock():
    mock = start_mock("default", chunks=CHUNKS, pace=200)
    yield mock
    mock.stop()


# ----------------------------------------------------------------------------- sonar-tui ask


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_ask_killed_by_a_signal_saves_the_partial_answer_as_interrupted(
        slow_mock, tmp_path, signum):
    db = tmp_path / "t.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "sonar_tui", "ask", "--db", str(db), QUESTION],
        env=env_for(slow_mock.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        received = read_until(process, 300)
        poll(lambda: checkpointed(db) > 100, "a checkpoint")
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err_text = err.decode()
    assert process.returncode == 128 + signum, err_text
    assert "Traceback" not in err_text and "interrupted" in err_text
    (status, content, finish_reason, sources), = answers(db)
    assert status == "interrupted" and finish_reason == "incomplete"
    assert sources > 0  # the [n] markers of the partial text still point somewhere
    printed = (received + out).decode()
    assert content and printed.startswith(content[:200]) and last_line(CHUNKS) not in content


def test_every_command_that_opens_the_database_recovers_what_a_killed_ask_left(
        slow_mock, tmp_path):
    db = tmp_path / "t.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "sonar_tui", "ask", "--db", str(db), QUESTION],
        env=env_for(slow_mock.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(process, 300)
        poll(lambda: checkpointed(db) > 100, "a checkpoint")
        process.kill()  # SIGKILL: nothing can be done at the time
        process.wait()
    finally:
        process.stdout.close()
        process.stderr.close()
    assert answers(db)[0][0] == "streaming"
    done = subprocess.run([sys.executable, "-m", "sonar_tui", "export", "--all", "--db",
                           str(db)], env=env_for(slow_mock.url), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Still being written" not in done.stdout
    assert "Interrupted" in done.stdout
    (status, content, _, sources), = answers(db)
    assert status == "interrupted" and len(content) > 100 and sources > 0


# ----------------------------------------------------------------------------- the app in tmux


def test_the_drivers_output_drops_writes_once_the_terminal_hung_up():
    import pty

    from sonar_tui.ui.terminal import _TerminalOutput

    master, follower = pty.openpty()
    lost: list[bool] = []
    with open(follower, "w", encoding="utf-8", closefd=True) as tty:
        output = _TerminalOutput(tty, lambda: lost.append(True))
        output.write("\x1b[?1049h")
        output.flush()
        os.close(master)
        for _ in range(3):  # Textual's writer thread would die on the first EIO
            output.write("frame" * 1000)
            output.flush()
        assert output.gone and lost == [True]


def test_terminal_gone_tells_a_hung_up_terminal_from_a_live_one():
    import pty

    from sonar_tui.ui.terminal import terminal_gone

    master, follower = pty.openpty()
    try:
        assert terminal_gone(follower) is False
        os.close(master)  # what sshd or tmux does when the link or the session goes
        assert terminal_gone(follower) is True
    finally:
        os.close(follower)

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def pane_modes(tmux: Tmux) -> dict[str, str]:
    """What the app left the terminal in: alternate screen and mouse reporting. (tmux shows
    a dead pane's cursor as hidden even after a normal ctrl+q, so that flag tells nothing.)"""
    names = ["alternate_on", "mouse_any_flag", "mouse_button_flag", "mouse_standard_flag",
             "mouse_sgr_flag"]
    values = tmux.run("display-message", "-p", "-t", "app",
                      " ".join(f"#{{{n}}}" for n in names)).split()
    return dict(zip(names, values, strict=True))


def start_app(tmux: Tmux, db: Path, *, shell_prefix: str = "",
              exit_file: Path | None = None) -> int:
    """The app in the pane with a question streaming; its pid. ``exit_file`` receives its
    exit code (tmux does not always record a dead pane's status)."""
    import shlex

    command = [sys.executable, "-m", "sonar_tui", "--db", str(db)]
    quoted = " ".join(map(shlex.quote, command))
    if exit_file is not None:
        command = ["sh", "-c", f"{shell_prefix} {quoted}; echo $? > {shlex.quote(str(exit_file))}"]
    elif shell_prefix:
        # e.g. "trap '' HUP;": the ignored disposition is inherited across exec, as nohup does
        command = ["sh", "-c", f"{shell_prefix} exec {quoted}"]
    pid = tmux.start(command)
    if exit_file is not None:  # the app is the shell's child
        children = Path(f"/proc/{pid}/task/{pid}/children")
        pid = int(poll(lambda: children.read_text().split(), "the app's process")[0])
    poll(lambda: "Ask anything" in tmux.screen() or "ctrl+q" in tmux.screen().lower(),
         "the app's first screen")
    tmux.keys(QUESTION, literal=True)
    poll(lambda: QUESTION[:20] in tmux.screen(), "the typed question")
    tmux.keys("Enter")
    poll(lambda: "Here is an overview" in tmux.screen(), "the answer on screen")
    poll(lambda: checkpointed(db) > 100, "a checkpoint of the answer")
    return pid


def assert_saved_as_interrupted(db: Path) -> None:
    (status, content, finish_reason, sources), = answers(db)
    assert status == "interrupted", status
    assert len(content) > 100 and last_line(CHUNKS) not in content
    assert sources > 0 and finish_reason == "incomplete"


@pytest.mark.slow
@needs_tmux
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_app_saves_restores_the_terminal_and_exits_on_a_signal(
        slow_mock, tmp_path, signum):
    db = tmp_path / "threads.db"
    tmux = Tmux(env_for(slow_mock.url), tmp_path)
    tmux.conf.write_text(tmux.conf.read_text() + "set -g remain-on-exit on\n")
    try:
        exit_file = tmp_path / "exit-code"
        pid = start_app(tmux, db, exit_file=exit_file)
        before = pane_modes(tmux)
        assert before["alternate_on"] == "1" and before["mouse_any_flag"] == "1"
        os.kill(pid, signum)
        poll(lambda: process_gone(pid), "the app to exit", timeout=30)
        code = poll(lambda: exit_file.exists() and exit_file.read_text().strip(),
                    "the exit code")
        modes = pane_modes(tmux)
    finally:
        tmux.close()
    assert code == str(128 + signum)  # an exit code: handled, not killed by the signal
    # The terminal is given back as a normal ctrl+q leaves it: main screen, no mouse modes.
    assert modes == {"alternate_on": "0", "mouse_any_flag": "0", "mouse_button_flag": "0",
                     "mouse_standard_flag": "0", "mouse_sgr_flag": "0"}
    assert_saved_as_interrupted(db)


@pytest.mark.slow
@needs_tmux
@pytest.mark.parametrize("sighup", ["handled", "ignored"])
def test_the_app_saves_and_exits_when_its_terminal_goes_away(slow_mock, tmp_path, sighup):
    """tmux kill-session is what a dropped SSH link does: the pty closes and the session
    gets SIGHUP. With SIGHUP ignored (nohup, trap '' HUP) only the dead terminal tells."""
    db = tmp_path / "threads.db"
    tmux = Tmux(env_for(slow_mock.url), tmp_path)
    try:
        pid = start_app(tmux, db, shell_prefix="trap '' HUP;" if sighup == "ignored" else "")
        tmux.run("kill-session", "-t", "app")
        # It exits instead of spinning on a terminal that reads end-of-file forever.
        poll(lambda: process_gone(pid), "the app to exit", timeout=30)
    finally:
        tmux.close()
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert_saved_as_interrupted(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
@needs_tmux
def test_an_idle_app_whose_terminal_goes_away_with_sighup_ignored_exits(slow_mock, tmp_path):
    """Nothing is drawn while idle, so no write fails: the app notices the hung-up terminal
    itself rather than reading end-of-file from it forever."""
    import shlex

    db = tmp_path / "threads.db"
    tmux = Tmux(env_for(slow_mock.url), tmp_path)
    command = " ".join(map(shlex.quote, [sys.executable, "-m", "sonar_tui", "--db", str(db)]))
    try:
        pid = tmux.start(["sh", "-c", f"trap '' HUP; exec {command}"])
        poll(lambda: "Ask anything" in tmux.screen() or "ctrl+q" in tmux.screen().lower(),
             "the app's first screen")
        tmux.run("kill-session", "-t", "app")
        poll(lambda: process_gone(pid), "the app to exit", timeout=30)
    finally:
        tmux.close()
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)
