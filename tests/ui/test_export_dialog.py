"""The export dialog against hostile paths: every problem is said in the dialog, which stays
open; nothing but a regular file is written; the event loop never waits on the disk."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sonar_tui.ui.screens.export import ExportScreen
from tests.ui.appkit import Harness, ask_and_wait, notices, ready, wait_until


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    return home


def problem(app) -> str:
    """The dialog's message line, whole (the screen would wrap a long one)."""
    return str(app.screen.query_one("#problem").content)


async def export_to(pilot, typed: str) -> None:
    app = pilot.app
    if not isinstance(app.screen, ExportScreen):
        await app.action_export_thread("md")
        await pilot.pause()
    app.screen.query_one("#path").value = typed
    await pilot.press("enter")
    await pilot.pause()


async def asked(harness):
    harness.configure(chunks=5)
    app = harness.app()
    return app


async def test_a_name_too_long_is_said_in_the_dialog(harness, home):
    app = await asked(harness)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        await export_to(pilot, "~/" + "a" * 300 + ".md")
        await wait_until(pilot, lambda: "File name too long" in problem(app), "the reason")
        assert problem(app).startswith("Could not write ~/aaa")
        assert isinstance(app.screen, ExportScreen)
        # A folder in the way of a name too long: the same, not a traceback.
        await export_to(pilot, "~/" + "b" * 300 + "/")
        await wait_until(pilot, lambda: "b" * 50 in problem(app), "the second reason")
        assert "File name too long" in problem(app)
        # Fixed in place, the same dialog writes.
        await export_to(pilot, "~/short.md")
        await wait_until(pilot, (home / "short.md").exists, "the export")
        assert "Exported to ~/short.md" in notices(app)
        assert app.return_code is None and app.is_running


async def test_a_nul_byte_in_the_name_is_said_in_the_dialog(harness, home):
    app = await asked(harness)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        await export_to(pilot, "~/a\0b.md")
        await wait_until(pilot, lambda: "Could not write" in problem(app), "the reason")
        assert "NUL" in problem(app) and "\0" not in problem(app)
        assert isinstance(app.screen, ExportScreen) and app.is_running
        assert list(home.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
async def test_a_folder_without_permission_is_said_in_the_dialog(harness, home):
    locked = home / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        app = await asked(harness)
        async with app.run_test(size=(160, 40)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "What is QUIC?")
            await export_to(pilot, "~/locked/x.md")
            await wait_until(pilot, lambda: "Permission denied" in problem(app), "the reason")
            assert isinstance(app.screen, ExportScreen)
    finally:
        locked.chmod(0o700)


async def test_a_named_pipe_is_refused_and_never_opened(harness, home):
    pipe = home / "notes.md"
    os.mkfifo(pipe)
    # A reader on the pipe, so that the old code, which opened it, wrote into it instead
    # of hanging this test; the fix must not write there at all.
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        app = await asked(harness)
        async with app.run_test(size=(160, 40)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "What is QUIC?")
            await export_to(pilot, "~/notes.md")
            await wait_until(pilot, lambda: "not a regular file" in problem(app), "the refusal")
            await pilot.press("enter")  # "Enter again" does not replace a pipe either
            await pilot.pause()
            assert "not a regular file" in problem(app)
            assert isinstance(app.screen, ExportScreen)
            try:
                sent = os.read(reader, 65536)
            except BlockingIOError:  # a writer holds the pipe open, and wrote nothing
                sent = b""
            assert sent == b""  # nothing was written into the pipe
    finally:
        os.close(reader)


async def test_a_symlink_at_the_target_is_never_written_through(harness, home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = elsewhere / "planted.sh"
    (home / "notes.md").symlink_to(planted)  # dangling: path.exists() says False
    kept = elsewhere / "kept.txt"
    kept.write_text("keep me")
    (home / "kept.md").symlink_to(kept)
    app = await asked(harness)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is QUIC?")
        for name in ("notes.md", "kept.md"):
            await export_to(pilot, f"~/{name}")
            await wait_until(pilot, lambda: "symbolic link" in problem(app), "the refusal")
            await pilot.press("enter")  # and Enter again does not write through it
            await pilot.pause()
            assert "symbolic link" in problem(app) and isinstance(app.screen, ExportScreen)
        assert not planted.exists() and kept.read_text() == "keep me"
        assert (home / "notes.md").is_symlink() and (home / "kept.md").is_symlink()
        # An existing regular file still asks, then replaces.
        (home / "real.md").write_text("old")
        await export_to(pilot, "~/real.md")
        assert "exists" in problem(app) and (home / "real.md").read_text() == "old"
        await pilot.press("enter")
        await wait_until(pilot, lambda: (home / "real.md").read_text() != "old", "the file")
        assert "What is QUIC?" in (home / "real.md").read_text()


async def test_a_slow_disk_does_not_freeze_the_app(harness, home):
    release = threading.Event()
    started = threading.Event()
    written: list[Path] = []

    def slow_write(path: Path) -> None:
        started.set()
        release.wait(10)  # old code: the event loop waits here, so the UI is frozen
        path.write_text("done")
        written.append(path)

    results: list[Path | None] = []
    app = await asked(harness)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        app.push_screen(ExportScreen("Export", home / "slow.md", slow_write), results.append)
        await pilot.pause()
        await pilot.press("enter")
        # The app keeps drawing and answering keys while the disk is slow.
        await wait_until(pilot, started.is_set, "the write to start")
        await wait_until(pilot, lambda: "Writing ~/slow.md" in problem(app), "the progress")
        assert not written
        await pilot.press("enter")  # pressed again while writing: not a second write
        release.set()
        await wait_until(pilot, lambda: results == [home / "slow.md"], "the dialog's result")
        assert written == [home / "slow.md"]


async def test_a_deleted_start_folder_falls_back_to_home(harness, home):
    """The folder sonar-tui was started from was removed behind it: the dialog still opens,
    its default in the home folder, and the export lands there."""
    gone = home / "gone"
    gone.mkdir()
    os.chdir(gone)
    gone.rmdir()
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Where does it go?")
        await app.action_export_thread("md")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen), "the dialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Exported" in notices(app), "the export")
    assert [p.name for p in home.glob("*.md")] == ["where-does-it-go.md"]
