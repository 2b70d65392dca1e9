"""Where sonar-tui keeps its files (platformdirs), with the environment overrides."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path, user_data_path

APP_NAME = "sonar-tui"


def config_dir() -> Path:
    return user_config_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    return user_data_path(APP_NAME, appauthor=False)


def default_db_path() -> Path:
    """``$SONAR_TUI_DB``, else ``threads.db`` in the platform data directory."""
    override = os.environ.get("SONAR_TUI_DB")
    return Path(override).expanduser() if override else data_dir() / "threads.db"


def demo_db_path() -> Path:
    return data_dir() / "demo.db"


def user_themes_dir(config_path: Path | None = None) -> Path:
    """``themes/`` next to the config file in use."""
    return (config_path.parent if config_path else config_dir()) / "themes"
