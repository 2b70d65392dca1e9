"""What loading hands out: the settings in effect, where each came from, what was wrong.

Plain data shared by :mod:`~sonar_tui.config.load` (which builds a ``LoadedConfig``),
:mod:`~sonar_tui.config.save` (which writes one back and returns the next) and their
callers (the service, the app, the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sonar_tui.api.settings import ConnectionSettings, RequestSettings
from sonar_tui.config.schema import AppearanceSettings, CopySettings


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a setting: where it came from, which key, and why."""

    file: str  # the config file, or "$VARIABLE", or "--flag"
    key: str  # "request.temperature", "keymap.send", or "" for the whole file
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ValueSource:
    """Where a setting's value came from (none: it holds its default)."""

    kind: Literal["flag", "env", "file"]
    label: str  # "--model", "$SONAR_TUI_MODEL", or the config file's path

    def __str__(self) -> str:
        return self.label


@dataclass
class LoadedConfig:
    """Every setting in effect, with where each came from and what was wrong on the way."""

    path: Path
    request: RequestSettings
    connection: ConnectionSettings
    appearance: AppearanceSettings
    copy: CopySettings
    keymap: dict[str, str]
    api_key: str | None = field(default=None, repr=False)
    api_key_source: Literal["flag", "env", "file"] | None = None
    # "request.model" -> where its value came from; absent keys hold their defaults.
    sources: dict[str, ValueSource] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_ok: bool = True  # False: the file exists but could not be read; never write it
    file_exists: bool = False

    @property
    def masked_api_key(self) -> str:
        return mask_key(self.api_key)


class ConfigWriteError(Exception):
    """The config file was not written (the message says why and what to do).

    ``session`` is the config the change would have produced when only the write failed
    (an unwritable directory, a full disk): callers keep it in effect for this session.
    It is None when the new values themselves were refused.
    """

    session: LoadedConfig | None = None


def mask_key(key: str | None) -> str:
    """``••••••••abcd``: enough to recognise a key, never enough to use it.

    Keys shorter than 12 characters are masked entirely, since their last four would be
    a third of the secret.
    """
    if not key:
        return ""
    return "•" * 8 + (key[-4:] if len(key) >= 12 else "")
