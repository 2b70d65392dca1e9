"""Writing a file where the user said: a typed path made concrete, and a private write."""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_NAME = 60


def home_relative(path: str) -> str:
    """``/home/me/.config/…`` -> ``~/.config/…``: shorter, and what people type."""
    home = str(Path.home())
    return "~" + path[len(home):] if home != "/" and path.startswith(home + "/") else path


def file_stem(title: str, fallback: str) -> str:
    """A thread title as a file name: 'What is QUIC?' -> 'what-is-quic'."""
    stem = re.sub(r"[^\w]+", "-", title.lower(), flags=re.UNICODE).strip("-_")[:MAX_NAME]
    return stem.rstrip("-_") or fallback


def target_path(typed: str, default_name: str, *, cwd: Path | None = None) -> Path | None:
    """Where ``typed`` points: ``~`` expanded, relative to ``cwd``, a folder (or a path
    ending in /) gets ``default_name``. None when nothing usable was typed."""
    text = typed.strip()
    if not text:
        return None
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if text.endswith(("/", os.sep)) or path.is_dir():
        path = path / default_name
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (replacing it); a new file is readable by the user only.
    Raises OSError with the system's reason (no such folder, permission denied...)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
