"""Typed store errors with messages a user can act on.

The service turns :class:`StoreWriteError` into ``ApiError(kind=STORAGE)``; the CLI prints
``str(error)`` as is, so every message names the file and says what to do.
"""

from __future__ import annotations

import shlex
from pathlib import Path


class StoreError(Exception):
    """Anything the store refuses or cannot do."""


class StoreVersionError(StoreError):
    """The database's schema version is not one this sonar-tui can use (it was not touched)."""

    def __init__(self, path: Path | str, found: int, supported: int, *, read_only: bool = False):
        self.path = Path(path)
        self.found = found
        self.supported = supported
        if found > supported:
            text = (
                f"{self.path} was written by a newer sonar-tui (schema version {found}; this "
                f"version understands up to {supported}). Upgrade sonar-tui to open it; the "
                f"file was not modified."
            )
        else:
            text = (
                f"{self.path} uses schema version {found} and needs an upgrade to {supported}, "
                f"which a read-only open cannot do. Open it once read-write."
            )
        super().__init__(text)


class StoreWriteError(StoreError):
    """A write was refused (read-only file, disk full, I/O error); nothing was half-written."""

    def __init__(self, path: Path | str, reason: str, detail: str = "", *, opening: bool = False):
        self.path = Path(path)
        self.reason = reason
        self.detail = detail
        suffix = f" ({detail})" if detail and detail != reason else ""
        if opening:
            text = f"Could not open {self.path}: {reason}{suffix}."
        else:
            text = f"Could not save to {self.path}: {reason}{suffix}. Nothing was half-written."
        super().__init__(text)


class StoreBusyError(StoreWriteError):
    """Another process held the write lock for longer than we are willing to wait."""


class StoreCorruptError(StoreError):
    """The file is not a SQLite database, or SQLite reports it damaged.

    Damage is usually local (one page of one table): what does not touch it keeps working,
    so callers report it and carry on; ``hint`` says how to get the rest back.
    """

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None

    @property
    def hint(self) -> str:
        db = shlex.quote(str(self.path)) if self.path is not None else "DATABASE"
        fixed = shlex.quote(f"{self.path}.recovered") if self.path is not None else "RECOVERED"
        return ("What is not on a damaged page still works. To repair the rest: quit "
                f"sonar-tui, run `sqlite3 {db} .recover | sqlite3 {fixed}`, keep the old file "
                f"and move {fixed} into its place; or first save what can still be read with "
                "`sonar-tui export --all --format json -o backup.json`.")


class ThreadNotFoundError(StoreError, LookupError):
    def __init__(self, thread_id: int):
        self.thread_id = thread_id
        super().__init__(f"no thread with id {thread_id}")


class MessageNotFoundError(StoreError, LookupError):
    def __init__(self, message_id: int):
        self.message_id = message_id
        super().__init__(f"no message with id {message_id}")


class StoreImportError(StoreError, ValueError):
    """An import document we refuse: wrong format, newer version, or malformed fields."""
