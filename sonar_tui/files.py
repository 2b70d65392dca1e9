"""Writing a file where the user said: a typed path made concrete, and a private write."""

from __future__ import annotations

import errno
import os
import re
import stat
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


def start_folder() -> Path:
    """The folder sonar-tui was started from, or the home folder when that one is gone
    (deleted behind the running app): where an export lands by default."""
    try:
        return Path.cwd()
    except OSError:
        return Path.home()


def target_path(typed: str, default_name: str, *, cwd: Path | None = None) -> Path | None:
    """Where ``typed`` points: ``~`` expanded, relative to ``cwd``, a folder (or a path
    ending in /) gets ``default_name``. None when nothing usable was typed. Never raises for
    a path the system refuses (too long, a NUL byte...): writing there says why."""
    text = typed.strip()
    if not text:
        return None
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = (cwd or start_folder()) / path
    if text.endswith(("/", os.sep)) or is_folder(path):
        path = path / default_name
    return path


def is_folder(path: Path) -> bool:
    """A folder is at ``path``; False for anything the system refuses to look at."""
    try:  # Path.is_dir() re-raises most OSErrors on Python 3.11 (name too long, EACCES...)
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


class UnsafeTarget(OSError):
    """Something other than a regular file is where the user asked to write."""


_A_LINK = "it is a symbolic link; not written through it"
_NOT_REGULAR = "it is not a regular file (a pipe, socket or device)"


def existing_file(path: Path) -> bool:
    """True when a regular file is at ``path``, False when nothing is. Raises
    :class:`UnsafeTarget` for a symbolic link (even a dangling one), a pipe, a folder or a
    device; OSError/ValueError when the path itself is unusable (too long, NUL byte...)."""
    try:
        mode = os.lstat(path).st_mode  # lstat: a link is judged itself, not its target
    except (FileNotFoundError, NotADirectoryError):
        return False
    _refuse_unless_regular(mode)
    return True


def _refuse_unless_regular(mode: int) -> None:
    if stat.S_ISLNK(mode):
        raise UnsafeTarget(errno.ELOOP, _A_LINK)
    if stat.S_ISDIR(mode):
        raise UnsafeTarget(errno.EISDIR, "it is a folder")
    if not stat.S_ISREG(mode):
        raise UnsafeTarget(errno.EINVAL, _NOT_REGULAR)


_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NON_BLOCK = getattr(os, "O_NONBLOCK", 0)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (replacing a regular file); a new file is readable by the
    user only. Never writes through a symbolic link at ``path`` (someone could have planted
    one pointing at a script) and never blocks on a named pipe: both are refused.
    Raises OSError with the system's reason (no such folder, permission denied...), or
    :class:`UnsafeTarget`; ValueError for a path with a NUL byte."""
    # No O_TRUNC here: whatever is there is looked at (fstat) before anything is cut.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | _NO_FOLLOW | _NON_BLOCK, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise UnsafeTarget(errno.ELOOP, _A_LINK) from exc
        if exc.errno == errno.ENXIO:  # O_NONBLOCK on a pipe with no reader
            raise UnsafeTarget(errno.ENXIO, _NOT_REGULAR) from exc
        raise
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
        os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
