"""files.write_private and files.target_path against what can sit at a path: it writes
regular files only, never through a link, never blocking on a pipe; target_path never raises."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from sonar_tui import files
from sonar_tui.files import UnsafeTarget, existing_file, target_path, write_private


def test_a_new_file_is_private_and_an_old_one_is_replaced_whole(tmp_path):
    new = tmp_path / "new.md"
    write_private(new, "hello")
    assert new.read_text() == "hello" and stat.S_IMODE(new.stat().st_mode) == 0o600
    write_private(new, "hi")  # shorter: nothing of the old text is left behind
    assert new.read_text() == "hi"


def test_a_named_pipe_without_reader_is_refused_without_blocking(tmp_path):
    pipe = tmp_path / "pipe.md"
    os.mkfifo(pipe)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            write_private(pipe, "x")
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    writer = threading.Thread(target=attempt, daemon=True)
    writer.start()
    writer.join(5)
    if writer.is_alive():  # the old code blocks in open(): release it, then fail
        os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(5)
        pytest.fail("write_private blocked on a named pipe")
    assert isinstance(outcome[0], UnsafeTarget) and "not a regular file" in str(outcome[0])


def test_a_device_is_refused_and_not_truncated(tmp_path):
    with pytest.raises(UnsafeTarget, match="not a regular file"):
        write_private(Path(os.devnull), "x")


@pytest.mark.parametrize("dangling", [True, False])
def test_a_symlink_is_never_written_through(tmp_path, dangling):
    target = tmp_path / "elsewhere.sh"
    if not dangling:
        target.write_text("kept")
    link = tmp_path / "notes.md"
    link.symlink_to(target)
    with pytest.raises(UnsafeTarget, match="symbolic link"):
        existing_file(link)
    with pytest.raises(UnsafeTarget, match="symbolic link"):
        write_private(link, "planted")
    assert (not target.exists()) if dangling else target.read_text() == "kept"
    assert link.is_symlink()


def test_existing_file_tells_nothing_a_file_and_unusable_paths(tmp_path):
    assert existing_file(tmp_path / "none.md") is False
    assert existing_file(tmp_path / "none" / "deeper.md") is False
    (tmp_path / "a.md").write_text("x")
    assert existing_file(tmp_path / "a.md") is True
    with pytest.raises(UnsafeTarget, match="folder"):
        existing_file(tmp_path)
    with pytest.raises(OSError, match="too long"):
        existing_file(tmp_path / ("a" * 300))
    with pytest.raises(ValueError):
        existing_file(tmp_path / "a\0b")


def test_target_path_never_raises_for_a_path_the_system_refuses(tmp_path):
    long = "a" * 300
    assert target_path(long, "x.md", cwd=tmp_path) == tmp_path / long
    assert target_path("a\0b", "x.md", cwd=tmp_path) == tmp_path / "a\0b"
    assert target_path(".", "x.md", cwd=tmp_path) == tmp_path / "x.md"
    assert files.is_folder(tmp_path) and not files.is_folder(tmp_path / long)
