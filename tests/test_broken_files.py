"""Broken files: config and theme files that cannot be read, a config that cannot be
written, a database with damaged pages. Each is reported (which file, why) and never a
traceback; what can still work, works.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sonar_tui.config import ConfigWriteError, load_config, remember_agent_endpoint, save_config
from sonar_tui.mock import start_mock
from sonar_tui.ui.themes import load_all_themes

KEY = "pplx-FAKE0123456789abcdefBROKENFILES"
DEEP = 1000


def nested(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def run(*args: str, env: dict[str, str] | None = None):
    environment = {**os.environ, "PERPLEXITY_API_KEY": KEY, "PYTHONDONTWRITEBYTECODE": "1",
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "sonar_tui", *args], capture_output=True,
                          text=True, env=environment, timeout=60)


# ----------------------------------------------------------------------------- deep nesting


@pytest.mark.parametrize("depth", [DEEP, 300, 60])
def test_a_deeply_nested_config_file_is_reported_and_skipped(tmp_path, depth):
    path = tmp_path / "config.toml"
    path.write_text(f'x = {nested(depth)}\n[api]\nbase_url = "http://127.0.0.1:9"\n'
                    f'agent_endpoints = {nested(depth)}\n', encoding="utf-8")
    loaded = load_config(path, env={})
    assert loaded.problems, "the file's trouble must be reported"
    assert all(p.file == str(path) for p in loaded.problems)
    if depth == DEEP:  # unreadable: skipped whole, and never rewritten
        assert not loaded.file_ok
        assert "nested too deeply" in loaded.problems[0].reason
        with pytest.raises(ConfigWriteError):
            save_config(loaded, request=loaded.request)


def test_ask_with_a_deeply_nested_config_file_reports_it_and_answers(tmp_path):
    mock = start_mock("default", chunks=8)
    try:
        config = tmp_path / "config.toml"
        config.write_text(f"x = {nested()}\n", encoding="utf-8")
        done = run("ask", "--config", str(config), "--db", str(tmp_path / "t.db"),
                   "--base-url", mock.url, "Still answered?")
    finally:
        mock.stop()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    (warning,) = [line for line in done.stderr.splitlines() if "warning" in line]
    assert str(config) in warning and "nested too deeply" in warning


def test_a_deeply_nested_theme_file_is_reported_and_skipped(tmp_path):
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "deep.toml").write_text(f'primary = "#112233"\nx = {nested()}\n')
    (themes / "deep-variables.toml").write_text(
        f'primary = "#112233"\n[variables]\nx = {nested(200)}\n')
    (themes / "fine.toml").write_text('primary = "#112233"\n')
    loaded, problems = load_all_themes(themes)
    assert "fine" in {t.name for t in loaded}
    assert not {"deep", "deep-variables"} & {t.name for t in loaded}
    files = sorted(Path(p.file).name for p in problems)
    assert files == ["deep-variables.toml", "deep.toml"]


# ----------------------------------------------------------------------------- unwritable config


def unwritable_config(tmp_path: Path) -> Path:
    """A config path no process can create: its directory is a regular file (root ignores
    permission bits, so this is how a test makes a write fail for everyone)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the config directory should be")
    return blocker / "config.toml"


def test_save_config_into_an_unwritable_place_raises_config_write_error(tmp_path):
    loaded = load_config(unwritable_config(tmp_path), env={})
    changed = loaded.request.with_overrides({"model": "sonar-pro"})
    with pytest.raises(ConfigWriteError) as caught:
        save_config(loaded, request=changed)
    assert str(loaded.path) in str(caught.value) and "could not be written" in str(caught.value)
    with pytest.raises(ConfigWriteError):
        remember_agent_endpoint(loaded, "https://gateway.example")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores permission bits")
def test_save_config_into_a_read_only_directory_raises_config_write_error(tmp_path):
    directory = tmp_path / "config"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        loaded = load_config(directory / "config.toml", env={})
        with pytest.raises(ConfigWriteError):
            save_config(loaded, request=loaded.request.with_overrides({"model": "sonar-pro"}))
    finally:
        directory.chmod(0o700)


def test_the_api_switch_with_an_unwritable_config_is_reported_and_still_answers(tmp_path):
    mock = start_mock("403-retired", chunks=8)
    try:
        done = run("ask", "--config", str(unwritable_config(tmp_path)), "--db",
                   str(tmp_path / "t.db"), "--base-url", mock.url, "Switched?")
    finally:
        mock.stop()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "Agent API" in warnings[0]
    assert "could not be written" in warnings[0]
    with sqlite3.connect(tmp_path / "t.db") as conn:
        assert conn.execute("SELECT api, status FROM messages WHERE role = 'assistant'"
                            ).fetchall() == [("agent", "complete")]


# ----------------------------------------------------------------------------- damaged database


def test_ask_into_a_damaged_search_index_gives_the_recovery_hint_not_disk_space(tmp_path):
    from tests.damage import damaged_database

    db = tmp_path / "t.db"
    damaged_database(db, "message_fts_data")
    mock = start_mock("default", chunks=8)
    try:
        done = run("ask", "--db", str(db), "--base-url", mock.url, "Saved?")
    finally:
        mock.stop()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "damaged" in done.stderr and ".recover" in done.stderr
    assert "disk space" not in done.stderr
    assert mock.requests == []  # the question could not be saved, so it was not sent


def test_search_and_thread_on_a_damaged_database_give_the_recovery_hint(tmp_path):
    from tests.damage import damaged_database

    db = tmp_path / "t.db"
    damaged_database(db, "message_fts_data")
    done = run("search", "--db", str(db), "lorem")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "damaged" in done.stderr and ".recover" in done.stderr
    assert "disk space" not in done.stderr


def test_export_all_saves_what_can_be_read_from_a_damaged_database(tmp_path):
    import json

    from tests.damage import damaged_database

    db = tmp_path / "t.db"
    ids = damaged_database(db, "messages")
    out = tmp_path / "backup.json"
    done = run("export", "--all", "--format", "json", "--db", str(db), "-o", str(out))
    assert "Traceback" not in done.stderr
    assert done.returncode == 1  # not everything could be saved: said, and not a success
    skipped = [line for line in done.stderr.splitlines() if "skipped" in line]
    exported = json.loads(out.read_text())["threads"]
    assert len(skipped) + len(exported) == len(ids) and exported and skipped
    assert all(t["messages"][1]["content"].startswith("Answer") for t in exported)
    assert f"{len(skipped)} of {len(ids)} thread(s) could not be read" in done.stderr
    assert ".recover" in done.stderr
