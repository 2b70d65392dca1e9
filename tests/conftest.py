"""Shared test setup: every test runs with its own config and data directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

FIXTURES = Path(__file__).parent / "fixtures"

# The same commit gets the same verdict: by default the examples come from a fixed seed, so a
# clean clone in CI replays exactly what passed here. New examples are found on purpose with
# `python -m pytest --hypothesis-profile=explore` (random, many more), and each counter-example
# found that way becomes a fixed test case.
settings.register_profile("repeatable", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, max_examples=5_000, deadline=None)
settings.load_profile("repeatable")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """No test may read or write the developer's real config, database or key."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for name in ("PERPLEXITY_API_KEY", "PERPLEXITY_BASE_URL", "SSH_CONNECTION", "SSH_TTY",
                 "TMUX", "STY", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    # Any SONAR_TUI_* setting in the developer's shell would leak into the app under test.
    for name in [n for n in os.environ if n.startswith("SONAR_TUI_")]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
