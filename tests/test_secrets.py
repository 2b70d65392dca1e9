"""The API key never lands anywhere but the Authorization header (and the file the user put it in).

A whole session — the app asks and answers, switches API (writing the config file), copies,
exports, shows its settings screen — with Textual's log and Python logging written to files,
then every file produced is searched for the key. Plus: the config file the app creates is
private, and a key in a world-readable config file is warned about.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import textual.constants

from sonar_tui.mock.http import Response, ServerThread
from tests.ui.appkit import (
    FAKE_KEY,
    Harness,
    ask_and_wait,
    last_answer,
    notices,
    ready,
    screen_text,
    wait_until,
)

CANARY = "canary-question-5c1e"  # proves the scan does see what was written


def key_forms(key: str) -> list[bytes]:
    """The key as it could appear in a file: text in common encodings, and base64 (an OSC 52
    clipboard write) at each of the three alignments."""
    forms = [key.encode(enc) for enc in ("utf-8", "utf-16-le", "utf-16-be")]
    for shift in range(3):
        encoded = base64.b64encode(b"x" * shift + key.encode())[4 if shift else 0:]
        forms.append(encoded[: len(encoded) - 4])  # the stable middle, whatever follows
    return forms


def files_holding(root: Path, needle: str) -> list[str]:
    found = []
    forms = key_forms(needle)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if any(form in data for form in forms):
            found.append(str(path.relative_to(root)))
    return found


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sonar_tui", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.fixture
def python_log(tmp_path):
    """Every library's logging, at DEBUG, into a file (httpx, httpcore, the store...)."""
    path = tmp_path / "logs" / "python.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


async def test_a_full_session_never_writes_the_key_anywhere(tmp_path, monkeypatch, python_log):
    textual_log = tmp_path / "logs" / "textual.log"
    monkeypatch.setattr(textual.constants, "LOG_FILE", str(textual_log))
    harness = Harness(tmp_path, chunks=60)
    written: list[str] = []
    try:
        app = harness.app()  # the key comes from $PERPLEXITY_API_KEY
        app.terminal_writer = written.append
        assert not harness.config_path.exists()
        async with app.run_test(size=(140, 40)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, f"{CANARY} what is an API key?")
            harness.configure(profile="403-retired", fault_times=1)
            await ask_and_wait(pilot, "And how are keys rotated?")  # switches API: config write
            assert last_answer(app).api == "agent"

            await pilot.press("ctrl+o")  # copy the answer (OSC 52 through our writer)
            await wait_until(pilot, lambda: app.last_copy is not None, "the copy")
            for fmt in ("md", "json"):  # the export dialog asks where: into the data dir
                await app.action_export_thread(fmt)
                await pilot.pause()
                target = tmp_path / "xdg-data" / f"thread-export.{fmt}"
                target.parent.mkdir(exist_ok=True)
                app.screen.query_one("#path").value = str(target)
                await pilot.press("enter")
                await wait_until(pilot, target.exists, f"the {fmt} export")
            (tmp_path / "screens").mkdir()
            (tmp_path / "screens" / "main.svg").write_text(app.export_screenshot())
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "SettingsScreen",
                             "the settings screen")
            key_status = app.screen.query_one("#settings-key-status")
            key_status.scroll_visible(animate=False)
            await pilot.pause()
            shown = screen_text(app)
            assert "API key: ••••••••" + FAKE_KEY[-4:] in shown  # shown masked, only here
            (tmp_path / "screens" / "settings.svg").write_text(app.export_screenshot())
            (tmp_path / "screens" / "settings.txt").write_text(shown)
            await pilot.press("escape")
            await pilot.press("f1")
            await pilot.pause()
            (tmp_path / "screens" / "help.svg").write_text(app.export_screenshot())
            await pilot.press("escape")
            # While the app runs, the database has its -wal and -shm beside it.
            assert Path(f"{harness.db_path}-wal").exists()
            assert files_holding(harness.db_path.parent, FAKE_KEY) == []
            assert files_holding(harness.db_path.parent, CANARY)
    finally:
        harness.close()

    (tmp_path / "clipboard.txt").write_text("\n".join(written))
    assert written and FAKE_KEY not in "".join(written)
    env = {**os.environ, "PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": harness.mock.url}
    for fmt in ("md", "json"):
        done = run_cli("export", "--all", "--format", fmt, "-o", str(tmp_path / f"all.{fmt}"),
                       "--db", str(harness.db_path), env=env)
        assert done.returncode == 0, done.stderr
        (tmp_path / "logs" / f"export-{fmt}.stderr").write_text(done.stderr)

    # The config file the app created (for the API switch) is private, and key-free.
    config = harness.config_path
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert "agent_endpoints" in config.read_text()

    assert textual_log.stat().st_size > 0 and python_log.stat().st_size > 0
    assert "HTTP Request: POST" in python_log.read_text()  # httpx did log its requests
    exports = list((tmp_path / "xdg-data").rglob("thread-*"))
    assert {p.suffix for p in exports} == {".md", ".json"}
    # Every file the session produced: database (+ -wal/-shm), exports, logs, screenshots,
    # clipboard, config. The key, or most of it, is in none of them.
    assert files_holding(tmp_path, FAKE_KEY) == []
    assert files_holding(tmp_path, FAKE_KEY[5:-4]) == []
    assert files_holding(tmp_path, CANARY)  # the search does reach what was written


class EchoingServer:
    """A hostile or buggy gateway that repeats the request's Authorization header back."""

    async def __call__(self, request):
        header = request.headers.get("authorization", "")
        body = {"error": {"message": f"bad credentials: {header}", "type": "invalid_api_key",
                          "code": 401}}
        return Response(401, json.dumps(body).encode(),
                        {"www-authenticate": header, "x-echo": header})


async def test_a_server_that_echoes_the_key_does_not_get_it_shown_or_stored(tmp_path):
    server = ServerThread(EchoingServer())
    server.start()
    try:
        env = {**os.environ, "PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": server.url}
        db = tmp_path / "threads.db"
        done = run_cli("ask", "Who am I?", "--db", str(db), env=env)
        assert done.returncode == 3
        assert "bad credentials" in done.stderr and FAKE_KEY not in done.stderr + done.stdout
        as_json = run_cli("ask", "Who am I?", "--json", "--no-save", env=env)
        assert as_json.returncode == 3 and FAKE_KEY not in as_json.stdout + as_json.stderr
        exported = run_cli("export", "--all", "--format", "json", "--db", str(db), env=env)
        assert "bad credentials" in exported.stdout and FAKE_KEY not in exported.stdout
    finally:
        server.stop()
    assert files_holding(tmp_path, FAKE_KEY) == []


async def test_a_key_in_a_world_readable_config_file_is_warned_about(tmp_path):
    harness = Harness(tmp_path, chunks=20)
    config = harness.config_path
    config.parent.mkdir(parents=True)
    config.write_text(f'api_key = "{FAKE_KEY}"\n', encoding="utf-8")
    os.chmod(config, 0o644)
    try:
        app = harness.app(config=harness.config(key=None))  # the key from the file only
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            shown = notices(app)
            assert "readable by other users" in shown and f"chmod 600 {config}" in shown
            assert FAKE_KEY not in shown
            await ask_and_wait(pilot, "Does the file key work?")
            assert last_answer(app).status == "complete"
        env = {**os.environ, "PERPLEXITY_BASE_URL": harness.mock.url}
        done = run_cli("ask", "And from the CLI?", "--no-save", "--config", str(config),
                       env=env)
        assert done.returncode == 0
        warning = [line for line in done.stderr.splitlines() if "readable" in line]
        assert len(warning) == 1 and re.search(r"mode 0644", warning[0])
        assert "chmod 600" in warning[0] and FAKE_KEY not in done.stderr
        # Made private, the warning goes away.
        os.chmod(config, 0o600)
        done = run_cli("ask", "And now?", "--no-save", "--config", str(config), env=env)
        assert done.returncode == 0 and done.stderr == ""
    finally:
        harness.close()
    assert harness.mock.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
