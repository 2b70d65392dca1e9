"""Global options go where the user said, before or after the command, or are refused.

``sonar-tui --base-url URL ask …`` once dropped the URL (argparse let the sub-command's own
default overwrite it) and sent the question, with the key, to the service named by the
environment, the config file or the default. Each test runs the real CLI as a subprocess
with a *trap* service standing where the question must not go, and checks where it went.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sonar_tui.mock import start_mock
from sonar_tui.store import Store

KEY = "pplx-FAKE0123456789abcdefOPTIONSKEY"
QUESTION = "Where does this question go?"


@pytest.fixture
def services():
    wanted, trap = start_mock("default", chunks=8), start_mock("default", chunks=8)
    yield wanted, trap
    wanted.stop()
    trap.stop()


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    environment = {**os.environ, "PERPLEXITY_API_KEY": KEY, "PYTHONDONTWRITEBYTECODE": "1",
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "sonar_tui", *args], capture_output=True,
                          text=True, env=environment, timeout=timeout)


def titles(db: Path) -> list[str]:
    async def load() -> list[str]:
        store = await Store.open(db)
        try:
            return [t.title for t in await store.list_threads()]
        finally:
            await store.close()
    return asyncio.run(load())


def default_db() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "sonar-tui" / "threads.db"


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_base_url_goes_where_the_user_said_in_either_position(services, tmp_path, before):
    wanted, trap = services
    db = ["--db", str(tmp_path / "t.db")]
    option = ["--base-url", wanted.url]
    args = [*option, "ask", *db, QUESTION] if before else ["ask", *option, *db, QUESTION]
    done = run(*args, env={"PERPLEXITY_BASE_URL": trap.url})
    assert done.returncode == 0, done.stderr
    assert len(wanted.requests) == 1 and trap.requests == []
    assert wanted.requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_db_goes_where_the_user_said_in_either_position(services, tmp_path, before):
    wanted, _ = services
    db = tmp_path / "chosen.db"
    asked = run("ask", "--db", str(tmp_path / "source.db"), "--base-url", wanted.url,
                "An exported question")
    assert asked.returncode == 0, asked.stderr
    export = tmp_path / "export.json"
    exported = run("export", "--all", "--format", "json", "--db", str(tmp_path / "source.db"),
                   "-o", str(export))
    assert exported.returncode == 0, exported.stderr
    args = ["--db", str(db), "import", str(export)] if before else \
        ["import", "--db", str(db), str(export)]
    done = run(*args)
    assert done.returncode == 0, done.stderr
    assert titles(db) == ["An exported question"]
    assert not default_db().exists()  # nothing landed in the default database


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_config_goes_where_the_user_said_in_either_position(services, tmp_path, before):
    wanted, trap = services
    default_config = Path(os.environ["XDG_CONFIG_HOME"]) / "sonar-tui" / "config.toml"
    default_config.parent.mkdir(parents=True)
    default_config.write_text(f'[api]\nbase_url = "{trap.url}"\n', encoding="utf-8")
    chosen = tmp_path / "chosen.toml"
    chosen.write_text(f'[api]\nbase_url = "{wanted.url}"\n', encoding="utf-8")
    db = ["--db", str(tmp_path / "t.db")]
    option = ["--config", str(chosen)]
    args = [*option, "ask", *db, QUESTION] if before else ["ask", *option, *db, QUESTION]
    done = run(*args)
    assert done.returncode == 0, done.stderr
    assert len(wanted.requests) == 1 and trap.requests == []


def test_demo_before_a_command_uses_the_demo_database(tmp_path):
    async def seed(path: Path, title: str) -> None:
        store = await Store.open(path)
        try:
            await store.add_user_message(None, title)
        finally:
            await store.close()
    demo_db = Path(os.environ["XDG_DATA_HOME"]) / "sonar-tui" / "demo.db"
    asyncio.run(seed(demo_db, "A demo thread"))
    asyncio.run(seed(default_db(), "A real thread"))
    for args in (["--demo", "threads", "--json"], ["threads", "--demo", "--json"]):
        done = run(*args)
        assert done.returncode == 0, done.stderr
        assert [t["title"] for t in json.loads(done.stdout)] == ["A demo thread"], args


def test_demo_ask_answers_offline_from_the_local_mock_and_never_sends_the_key(
        services, tmp_path):
    _, trap = services
    done = run("--demo", "ask", "--json", "What is the demo?",
               env={"PERPLEXITY_BASE_URL": trap.url})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"].startswith("#")
    assert trap.requests == []
    demo_db = Path(os.environ["XDG_DATA_HOME"]) / "sonar-tui" / "demo.db"
    assert titles(demo_db) == ["What is the demo?"] and not default_db().exists()


def test_demo_with_a_base_url_is_refused(services):
    wanted, _ = services
    done = run("--demo", "--base-url", wanted.url, "ask", QUESTION)
    assert done.returncode == 2 and "--demo" in done.stderr and "Traceback" not in done.stderr
    assert wanted.requests == []


# ----------------------------------------------------------------------------- invalid base URLs

BAD_URLS = ["notaurl", "ftp://files.example.com"]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_an_invalid_base_url_flag_exits_2_and_sends_nothing(services, tmp_path, url, before):
    _, trap = services
    db = tmp_path / "t.db"
    option = ["--base-url", url]
    args = [*option, "ask", "--db", str(db), QUESTION] if before else \
        ["ask", *option, "--db", str(db), QUESTION]
    done = run(*args, env={"PERPLEXITY_BASE_URL": trap.url})
    assert done.returncode == 2, done.stderr
    assert "base-url" in done.stderr or "base_url" in done.stderr
    assert "Traceback" not in done.stderr
    assert trap.requests == []
    assert not db.exists() or titles(db) == []


def test_an_invalid_base_url_flag_is_refused_by_the_app_too(services, tmp_path):
    _, trap = services
    done = run("--base-url", "notaurl", "--db", str(tmp_path / "t.db"),
               env={"PERPLEXITY_BASE_URL": trap.url})
    assert done.returncode == 2 and "base" in done.stderr and "Traceback" not in done.stderr
    assert trap.requests == []


@pytest.mark.parametrize("where", ["env", "file"])
def test_an_invalid_base_url_from_the_environment_or_file_blocks_sending(tmp_path, where):
    config = tmp_path / "config.toml"
    env = {}
    if where == "env":
        env["PERPLEXITY_BASE_URL"] = "ftp://files.example.com"
    else:
        config.write_text('[api]\nbase_url = "notaurl"\n', encoding="utf-8")
    db = tmp_path / "t.db"
    done = run("ask", "--config", str(config), "--db", str(db), QUESTION, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "base_url" in done.stderr and "Traceback" not in done.stderr
    assert not db.exists() or titles(db) == []  # nothing saved, nothing sent


def test_a_setting_from_config_toml_can_be_cleared_and_a_conflict_names_both_sides(tmp_path):
    mock = start_mock("default", chunks=8)
    try:
        config = tmp_path / "config.toml"
        config.write_text('[request]\nrecency = "month"\nmax_tokens = 100\n', encoding="utf-8")
        db = tmp_path / "threads.db"
        common = ["ask", "--db", str(db), "--config", str(config), "--base-url", mock.url]
        clash = run(*common, QUESTION, "--after", "01/01/2025")
        assert clash.returncode == 2 and "Traceback" not in clash.stderr
        message = clash.stderr.strip()
        assert message.startswith("sonar-tui: Invalid setting: recency")
        assert f"recency = month from {config}" in message
        assert "published_after = 01/01/2025 from --after" in message
        assert "--recency none clears it" in message
        assert mock.service.requests == [] and not titles(db)  # nothing sent, nothing kept
        cleared = run(*common, QUESTION, "--after", "01/01/2025", "--recency", "none",
                      "--max-tokens", "none")
        assert cleared.returncode == 0, cleared.stderr
        body = mock.service.last_body()
        assert "search_recency_filter" not in body and "max_tokens" not in body
        assert body["search_after_date_filter"] == "01/01/2025"
        kept = run(*common, QUESTION)  # without the flags, config.toml is in effect again
        assert kept.returncode == 0 and mock.service.last_body()["max_tokens"] == 100
        assert run(*common, QUESTION, "--max-tokens", "lots").returncode == 2
    finally:
        mock.stop()


def test_none_clears_a_domain_filter_from_config_toml(tmp_path):
    mock = start_mock("default", chunks=8)
    try:
        config = tmp_path / "config.toml"
        config.write_text('[request]\ndomain_filter = ["nature.com", "arxiv.org"]\n',
                          encoding="utf-8")
        common = ["ask", "--db", str(tmp_path / "t.db"), "--config", str(config),
                  "--base-url", mock.url]
        kept = run(*common, QUESTION)
        assert kept.returncode == 0, kept.stderr
        assert mock.service.last_body()["search_domain_filter"] == ["nature.com", "arxiv.org"]
        for flag in ("--domain", "--exclude-domain"):
            cleared = run(*common, QUESTION, flag, "none")
            assert cleared.returncode == 0, cleared.stderr
            assert "search_domain_filter" not in mock.service.last_body()
        sent = len(mock.service.requests)
        mixed = run(*common, QUESTION, "--domain", "none", "--domain", "arxiv.org")
        assert mixed.returncode == 2 and "--domain none" in mixed.stderr
        assert "Traceback" not in mixed.stderr and len(mock.service.requests) == sent
    finally:
        mock.stop()


def test_ask_help_says_none_clears_the_domain_filter():
    done = run("ask", "--help", env={"COLUMNS": "200"})
    assert done.returncode == 0
    for flag in ("--domain", "--exclude-domain"):
        said = done.stdout.partition(f"\n  {flag} DOMAIN")[2].partition("\n  -")[0]
        assert "'none' clears" in said, said
