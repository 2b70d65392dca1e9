"""Typed store errors with messages a user can act on.

The service turns :class:`StoreWriteError` into ``ApiError(kind=STORAGE)``; the CLI prints
``str(error)`` as is, so every message names the file and says what to do.
"""

from __future__ import annotations

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
    """The file is not a SQLite database, or SQLite reports it damaged."""


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
