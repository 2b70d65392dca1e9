"""Crashes and company: a killed app, two apps on one database, a full disk, a read-only file.

The kill test runs the real app in a real terminal (tmux on a private socket), types a
question, waits until the answer is on screen and checkpointed, and sends SIGKILL. Reopening
must show the question and the partial answer marked ``interrupted``, in an intact database.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from sonar_tui.mock import last_line, start_mock
from sonar_tui.store import Store
from tests.ui.appkit import (
    FAKE_KEY,
    FIXED_NOW,
    Harness,
    Tmux,
    ask,
    ask_and_wait,
    idle,
    last_answer,
    notices,
    poll,
    process_gone,
    ready,
    wait_until,
)

QUESTION = "Explain how TLS handshakes work"


def checkpointed_text(db: Path) -> str:
    """The assistant row's saved text, read without writing anything (the app is running)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT content FROM messages WHERE role = 'assistant'").fetchone()
    except sqlite3.Error:
        return ""
    return row[0] if row else ""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
async def test_sigkill_mid_answer_keeps_the_question_and_the_partial_answer(tmp_path):
    mock = start_mock("default", chunks=10000, pace=150)  # ~70 s: far longer than the test
    db = tmp_path / "threads.db"
    env = {**os.environ, "PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": mock.url,
           "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    tmux = Tmux(env, tmp_path)
    try:
        pid = tmux.start([sys.executable, "-m", "sonar_tui", "--db", str(db)])
        poll(lambda: "Ask anything" in tmux.screen() or "ctrl+q" in tmux.screen().lower(),
             "the app's first screen")
        tmux.keys(QUESTION, literal=True)
        poll(lambda: QUESTION[:20] in tmux.screen(), "the typed question")
        tmux.keys("Enter")
        poll(lambda: "Here is an overview" in tmux.screen(), "the answer on screen")
        poll(lambda: len(checkpointed_text(db)) > 100, "a checkpoint of the answer")
        os.kill(pid, signal.SIGKILL)
        poll(lambda: process_gone(pid), "the app to die")
    finally:
        tmux.close()
        mock.stop()

    # Straight after the crash the row is still "streaming": nothing cleaned it up.
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT role, status, length(content) FROM messages ORDER BY id")
        assert [(r[0], r[1]) for r in rows.fetchall()] == [("user", "complete"),
                                                           ("assistant", "streaming")]

    # The app, reopened, recovers it and shows it.
    from sonar_tui.config import load_config
    from sonar_tui.ui.app import SonarApp

    config = load_config(tmp_path / "config.toml",
                         env={"PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": mock.url})
    app = SonarApp(config, db_path=db, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert any("interrupted" in str(n.message) for n in app._notifications)
        threads = app.main.sidebar.threads
        assert [t.title for t in threads] == [QUESTION]
        await app.main.open_thread(threads[0].id)
        await pilot.pause()
        view = last_answer(app)
        assert view.status == "interrupted"
        assert view.body.source.startswith("# ") and last_line(10000) not in view.body.source
        assert "interrupted" in str(view.query_one("#answer-header").render())
        assert app.main.conversation.last_question().text == QUESTION
        shown = view.body.source

    store = await Store.open(db)
    try:
        (thread,) = await store.list_threads()
        question, answer = await store.load_messages(thread.id)
        assert (question.role, question.content) == ("user", QUESTION)
        assert answer.status == "interrupted" and len(answer.content) > 100
        assert answer.content == shown
        assert answer.sources  # checkpointed with the text: the [n] markers point somewhere
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ----------------------------------------------------------------------------- two instances


async def test_two_apps_on_one_database_both_answer_and_see_each_other(tmp_path):
    harness = Harness(tmp_path, chunks=300)
    harness.configure(hold_at=100)  # both held half-way: the two certainly overlap
    try:
        first, second = harness.app(), harness.app()
        async with first.run_test(size=(120, 36)) as one, \
                second.run_test(size=(120, 36)) as two:
            await ready(one)
            await ready(two)
            await ask(one, "First instance: what is DNS?")
            await wait_until(one, lambda: first.live or first.main.sidebar.threads,
                             "the first question to be saved")
            await ask(two, "Second instance: what is BGP?")
            await wait_until(one, lambda: harness.service.streams_held() == 2,
                             "both answers streaming at once")
            assert harness.release() == 2
            await wait_until(one, lambda: idle(first) and idle(second)
                             and first.main.conversation.answers()
                             and second.main.conversation.answers(), "both answers")
            await first.workers.wait_for_complete()
            await second.workers.wait_for_complete()
            for app, pilot in ((first, one), (second, two)):
                assert last_answer(app).status == "complete"
                await app.refresh_threads()
                await pilot.pause()
                titles = sorted(t.title for t in app.main.sidebar.threads)
                assert titles == ["First instance: what is DNS?",
                                  "Second instance: what is BGP?"]
                notices = " ".join(f"{n.title} {n.message}" for n in app._notifications)
                assert "locked" not in notices.lower() and "busy" not in notices.lower()
            # Each can open the other's thread and read its complete answer.
            other = next(t for t in first.main.sidebar.threads if t.title.startswith("Second"))
            await first.main.open_thread(other.id)
            await one.pause()
            assert last_answer(first).body.source.rstrip().endswith(last_line(300))
    finally:
        harness.close()
    store = await Store.open(harness.db_path)
    try:
        threads = await store.list_threads()
        statuses = [[m.status for m in await store.load_messages(t.id)] for t in threads]
        assert statuses == [["complete", "complete"]] * 2
    finally:
        await store.close()


# ----------------------------------------------------------------------------- disk full, read-only


async def page_count(conn) -> int:
    return (await (await conn.execute("PRAGMA page_count")).fetchone())[0]


async def test_disk_full_when_asking_refuses_the_question_and_keeps_it_in_the_composer(tmp_path):
    harness = Harness(tmp_path, chunks=40)
    try:
        app = harness.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "A first question that fits")
            conn = app.service.store.db.connection
            # The file may not grow: the next write that needs a page fails with SQLITE_FULL.
            await conn.execute(f"PRAGMA max_page_count = {await page_count(conn)}")
            await pilot.press("ctrl+n")
            question = "A second question " + "that needs room " * 600
            await ask(pilot, question)
            await wait_until(pilot, lambda: "disk is full" in notices(app) and idle(app),
                             "the full disk to be reported")
            assert "Traceback" not in notices(app) + app.export_screenshot()
            assert app.main.composer.text == question  # nothing the user typed is lost
            assert len(harness.mock.requests) == 1  # the refused question was never sent
            await conn.execute("PRAGMA max_page_count = 1073741823")  # room again
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.main.conversation.answers()
                             and last_answer(app).status == "complete", "the resend")
            await app.workers.wait_for_complete()
    finally:
        harness.close()
    assert len(harness.mock.requests) == 2  # the refused question never left the machine
    with sqlite3.connect(harness.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT role, status FROM messages ORDER BY id").fetchall()
        threads = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
    assert rows == [("user", "complete"), ("assistant", "complete")] * 2 and threads == 2


async def test_disk_full_mid_answer_is_reported_and_the_last_checkpoint_survives(tmp_path):
    harness = Harness(tmp_path, chunks=1600)  # ~12 KB: checkpoints at 4 and 8 KB
    harness.configure(hold_at=800)  # held after the first checkpoint: then the disk fills
    try:
        app = harness.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            await ask(pilot, "A long answer, please")
            await wait_until(pilot, lambda: harness.service.streams_held() == 1
                             and checkpointed_text(harness.db_path), "a first checkpoint")
            conn = app.service.store.db.connection
            await conn.execute(f"PRAGMA max_page_count = {await page_count(conn)}")
            harness.release()
            await wait_until(pilot, lambda: "Could not save" in notices(app),
                             "the failed checkpoint to be reported")
            await wait_until(pilot, lambda: idle(app), "the answer to end")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "disk is full" in notices(app)
            assert "Traceback" not in notices(app) + app.export_screenshot()
            view = last_answer(app)
            # The answer on screen is whole: only saving failed.
            assert view.body.source.rstrip().endswith(last_line(1600))
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.main.thread is None and app.is_running
    finally:
        harness.close()
    with sqlite3.connect(harness.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (question, status, content) = conn.execute(
            "SELECT q.content, a.status, a.content FROM messages q JOIN messages a "
            "ON a.thread_id = q.thread_id AND a.role = 'assistant' WHERE q.role = 'user'"
        ).fetchone()
    assert question == "A long answer, please"
    # A consistent earlier checkpoint: a prefix of the answer, never a torn write.
    assert status in ("streaming", "interrupted")
    assert content.startswith("# ") and last_line(1600) not in content


async def test_read_only_database_is_explained_and_the_app_keeps_running(tmp_path):
    harness = Harness(tmp_path, chunks=40)
    try:
        app = harness.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "Saved before the database became read-only")
            # Root ignores file modes, so make the connection itself refuse writes: SQLite
            # then fails them with SQLITE_READONLY exactly as for a read-only file.
            await app.service.store.db.connection.execute("PRAGMA query_only = ON")
            await pilot.press("ctrl+n")
            await ask(pilot, "Will this be saved?")
            await wait_until(pilot, lambda: "read-only" in notices(app) and idle(app),
                             "the refusal")
            assert "Traceback" not in notices(app) + app.export_screenshot()
            assert app.main.composer.text == "Will this be saved?"
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.main.thread is None and app.is_running
    finally:
        harness.close()
    assert len(harness.mock.requests) == 1
    with sqlite3.connect(harness.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2


async def test_a_database_that_cannot_be_opened_is_explained(tmp_path):
    harness = Harness(tmp_path, chunks=40)
    (tmp_path / "not-a-directory").write_text("a file where the data directory should be")
    try:
        app = app_with_db(harness, tmp_path / "not-a-directory" / "threads.db")
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            assert "Database unavailable" in notices(app)
            await ask(pilot, "Is this kept?")
            await wait_until(pilot, lambda: "not available" in notices(app),
                             "the refusal to send")
            assert "Traceback" not in notices(app) + app.export_screenshot()
            assert harness.mock.requests == []
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.is_running
    finally:
        harness.close()


def app_with_db(harness: Harness, db_path: Path):
    from sonar_tui.ui.app import SonarApp

    return SonarApp(harness.config(), db_path=db_path, clock=lambda: FIXED_NOW)
