"""clipboard: exact OSC 52 bytes (plain, tmux, screen), the size guard, SSH detection, and a copy
that reports every path and never raises."""

from __future__ import annotations

import base64
import stat
import sys
from pathlib import Path

import pytest

from sonar_tui.clipboard import (
    OSC52_MAX_BYTES,
    SCREEN_CHUNK_BYTES,
    copy_text,
    local_clipboard_available,
    osc52_sequence,
    save_to_file,
)

ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"


# ----------------------------------------------------------------------------- exact bytes


def test_plain_sequence_bytes() -> None:
    assert osc52_sequence("hi", env={}) == "\x1b]52;c;aGk=\x07"
    # UTF-8 before base64: "héllo 中" is 10 bytes
    assert osc52_sequence("héllo 中", env={}) == "\x1b]52;c;aMOpbGxvIOS4rQ==\x07"


def test_tmux_sends_plain_then_passthrough_with_every_esc_doubled() -> None:
    assert osc52_sequence("hi", env={"TMUX": "/tmp/tmux-1000/default,1234,0"}) == (
        "\x1b]52;c;aGk=\x07"  # for tmux itself (set-clipboard on)
        "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"  # for the outer terminal (allow-passthrough)
    )


def test_tmux_wins_when_inside_both_tmux_and_screen() -> None:
    both = osc52_sequence("hi", env={"TMUX": "x", "STY": "1.pts-0.host"})
    assert both == osc52_sequence("hi", env={"TMUX": "x"})


def test_screen_wraps_a_short_sequence_in_one_dcs() -> None:
    assert osc52_sequence("hi", env={"STY": "1234.pts-0.host"}) == (
        "\x1bP\x1b]52;c;aGk=\x07\x1b\\"
    )


def test_screen_cuts_a_long_sequence_into_dcs_pieces_under_768_bytes() -> None:
    text = "x" * 1500  # 2000 bytes of base64: the plain sequence is 2008 bytes
    plain = osc52_sequence(text, env={})
    wrapped = osc52_sequence(text, env={"STY": "1234.pts-0.host"})
    assert len(plain) == 2008
    assert wrapped == (
        f"{ESC}P{plain[:760]}{ST}" f"{ESC}P{plain[760:1520]}{ST}" f"{ESC}P{plain[1520:]}{ST}"
    )
    pieces = wrapped.split(ST)[:-1]
    assert len(pieces) == 3
    for piece in pieces:
        assert piece.startswith(f"{ESC}P")
        assert len((piece + ST).encode()) < 768
    assert "".join(p[2:] for p in pieces) == plain  # what the outer terminal sees
    assert SCREEN_CHUNK_BYTES + 4 < 768


def test_payload_decodes_back_to_the_text() -> None:
    text = "Answer with [1] and 中文 and 😀\n```py\nx = 1\n```"
    sequence = osc52_sequence(text, env={})
    payload = sequence[len("\x1b]52;c;"):-1]
    assert base64.b64decode(payload).decode("utf-8") == text


# ----------------------------------------------------------------------------- size guard


def _text_with_payload_length(length: int) -> str:
    """ASCII text whose base64 is exactly ``length`` bytes (length divisible by 4)."""
    return "a" * (length // 4 * 3)


def test_size_guard_accepts_the_limit_and_refuses_one_step_over() -> None:
    at_limit = _text_with_payload_length(OSC52_MAX_BYTES)
    assert len(osc52_sequence(at_limit, env={})) == OSC52_MAX_BYTES + len("\x1b]52;c;\x07")
    with pytest.raises(ValueError, match="exceed"):
        osc52_sequence(at_limit + "a", env={})


def test_oversized_copy_is_refused_not_truncated() -> None:
    written: list[str] = []
    result = copy_text(_text_with_payload_length(OSC52_MAX_BYTES) + "abc", what="thread",
                       write_terminal=written.append, env={"SSH_TTY": "/dev/pts/1"},
                       platform="linux")
    assert written == []
    assert not result.ok
    assert "too large for OSC 52" in result.failed["osc52"]
    assert "Save it to a file instead?" in result.message


# ----------------------------------------------------------------------------- SSH / display


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [
        ({}, "linux", False),  # console or headless: no clipboard to write
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({}, "darwin", True),
        ({}, "win32", True),
        ({"SSH_CONNECTION": "10.0.0.2 5000 10.0.0.1 22"}, "linux", False),
        ({"SSH_TTY": "/dev/pts/3"}, "linux", False),
        ({"SSH_CLIENT": "10.0.0.2 5000 22"}, "linux", False),
        ({"SSH_TTY": "/dev/pts/3"}, "darwin", False),  # pbcopy would fill the remote Mac's
        ({"SSH_TTY": "/dev/pts/3", "DISPLAY": "localhost:10.0"}, "linux", True),  # ssh -X
        ({"SSH_TTY": "/dev/pts/3", "DISPLAY": "localhost:10.0"}, "darwin", False),
        ({"TMUX": "x", "DISPLAY": ":0"}, "linux", True),
        ({"TMUX": "x", "SSH_CONNECTION": "a b c d"}, "linux", False),
    ],
)
def test_local_clipboard_available(env: dict, platform: str, expected: bool) -> None:
    assert local_clipboard_available(env, platform) is expected


# ----------------------------------------------------------------------------- copy_text


class FakePyperclip:
    """Stands in for the third-party module at its boundary."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.copied: list[str] = []

    def copy(self, text: str) -> None:
        if self.error is not None:
            raise self.error
        self.copied.append(text)


class PyperclipException(RuntimeError):
    pass


def test_local_session_uses_both_paths() -> None:
    written: list[str] = []
    clip = FakePyperclip()
    result = copy_text("hello", what="answer with 3 sources", write_terminal=written.append,
                       env={"DISPLAY": ":0"}, platform="linux", pyperclip_module=clip)
    assert result.ok
    assert written == ["\x1b]52;c;aGVsbG8=\x07"]
    assert clip.copied == ["hello"]
    assert result.succeeded == ["osc52", "system"]
    assert result.message == ("Copied answer with 3 sources (5 chars) to the system clipboard; "
                              "also sent via OSC 52")
    assert result.hint == ""


def test_ssh_in_tmux_sends_osc52_only_and_says_sent() -> None:
    written: list[str] = []
    clip = FakePyperclip()
    result = copy_text("hello", what="code block 2", write_terminal=written.append,
                       env={"SSH_CONNECTION": "a b c d", "TMUX": "x"}, platform="linux",
                       pyperclip_module=clip)
    assert result.ok
    assert clip.copied == []  # the remote clipboard is not the user's
    assert written == [osc52_sequence("hello", env={"TMUX": "x"})]
    assert result.message == (
        "Sent code block 2 (5 chars) to the terminal clipboard via OSC 52 (tmux)")
    assert result.failed == {"system": "SSH session without a display"}
    assert "set-clipboard on" in result.hint


def test_pyperclip_missing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyperclip", None)  # makes `import pyperclip` fail
    result = copy_text("hello", write_terminal=None, env={"DISPLAY": ":0"}, platform="linux")
    assert not result.ok
    assert result.failed == {"osc52": "no terminal", "system": "pyperclip is not installed"}
    assert result.message.startswith("Could not copy text (5 chars)")
    assert result.message.endswith("Save it to a file instead?")


def test_pyperclip_failure_is_reported_in_one_line() -> None:
    error = PyperclipException(
        "Pyperclip could not find a copy/paste mechanism for your system.\n"
        "For more information, please visit https://pyperclip.readthedocs.io")
    result = copy_text("hello", write_terminal=lambda s: None, env={"DISPLAY": ":0"},
                       platform="linux", pyperclip_module=FakePyperclip(error))
    assert result.ok  # OSC 52 still went out
    assert result.failed == {
        "system": "Pyperclip could not find a copy/paste mechanism for your system"}
    assert "\n" not in result.message


def test_real_pyperclip_without_a_clipboard_tool_is_a_reported_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The real module, on a Linux box with a display variable but no clipboard tool: the
    stock-Ubuntu situation that crashed Elia and Posting."""
    pyperclip = pytest.importorskip("pyperclip")
    if not sys.platform.startswith("linux"):
        pytest.skip("pyperclip picks pbcopy / the Windows API elsewhere")
    if "microsoft" in Path("/proc/version").read_text().lower():
        pytest.skip("WSL: pyperclip uses clip.exe")
    monkeypatch.setattr(pyperclip, "copy", pyperclip.copy)  # restored: pyperclip caches a backend
    monkeypatch.setenv("DISPLAY", ":99")  # pyperclip reads the real environment
    monkeypatch.setenv("PATH", "/nonexistent")  # no xclip, xsel, wl-copy or klipper
    for qt in ("qtpy", "PyQt5"):  # a Qt backend would try to open the display
        monkeypatch.setitem(sys.modules, qt, None)
    result = copy_text("hello", write_terminal=None, env={"DISPLAY": ":99"}, platform="linux")
    assert not result.ok
    assert "copy/paste mechanism" in result.failed["system"]


def test_terminal_write_failure_is_reported_not_raised() -> None:
    def broken(_: str) -> None:
        raise OSError(5, "Input/output error")

    result = copy_text("hello", write_terminal=broken, env={}, platform="linux")
    assert not result.ok
    assert "Input/output error" in result.failed["osc52"]


def test_chars_counts_characters_not_bytes() -> None:
    result = copy_text("中文😀", write_terminal=lambda s: None, env={}, platform="linux")
    assert result.chars == 3
    assert "(3 chars)" in result.message


# ----------------------------------------------------------------------------- save_to_file


def test_save_to_file_writes_private_files_and_never_overwrites(tmp_path) -> None:
    folder = tmp_path / "saved" / "nested"
    first = save_to_file("one ✓\n", folder)
    second = save_to_file("two\n", folder)
    assert first != second
    assert first.read_text(encoding="utf-8") == "one ✓\n"
    assert second.read_text(encoding="utf-8") == "two\n"
    for path in (first, second):
        assert path.parent == folder
        assert path.name.startswith("sonar-tui-copy-") and path.suffix == ".md"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
