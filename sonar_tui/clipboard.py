"""Copy text to the user's clipboard from wherever the app runs: locally, over SSH, inside tmux
or GNU screen. Never raises.

Two paths, both tried on every copy:

- **OSC 52**: an escape sequence the *local* terminal turns into a clipboard write, so it works
  over SSH. It travels through tmux/screen only when wrapped for them; nothing confirms that
  the terminal accepted it (Terminal.app ignores it; tmux needs ``set-clipboard on`` or
  ``allow-passthrough on``), so the message says "sent", not "copied".
- **pyperclip**: the system clipboard of the machine running the app, which is the user's only
  on a local session (or with a forwarded X display). Imported lazily; a missing module or
  clipboard tool (xclip/xsel/wl-clipboard) is a reported failure, never a crash.

When neither can work, :class:`CopyResult` says so and the UI offers :func:`save_to_file`.
No Textual here: the UI passes a ``write_terminal`` callable (its driver's ``write``).
"""

from __future__ import annotations

import base64
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from sonar_tui.sanitize import clean_line

# hterm's osc52.sh (Chromium OS) and the widely copied tmux/vim yank scripts cap a whole OSC 52
# sequence at 100 000 bytes: terminals drop or truncate longer ones (hterm at 100 000; several
# others have similar fixed buffers), and a truncated base64 payload puts garbage, or nothing,
# on the clipboard. So a payload over this is refused, never cut: 100 000 bytes of base64 hold
# 75 000 bytes of UTF-8 text.
OSC52_MAX_BYTES = 100_000
# GNU screen keeps string sequences in a 768-byte buffer (since 4.2.1; 512 and 256 before) and
# cuts longer ones, so the sequence goes through in DCS pieces that each stay under it even
# with the 4 wrapper bytes (ESC P ... ESC \).
SCREEN_CHUNK_BYTES = 760

ESC = "\x1b"
BEL = "\x07"
ST = ESC + "\\"


def osc52_payload(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def multiplexer(env: Mapping[str, str]) -> str | None:
    """"tmux" or "screen" when the app runs inside one (tmux wins when both are set)."""
    if env.get("TMUX"):
        return "tmux"
    if env.get("STY"):
        return "screen"
    return None


def osc52_sequence(text: str, *, env: Mapping[str, str]) -> str:
    """The bytes that ask the terminal to put ``text`` on its clipboard.

    Plain: ``ESC ] 52 ; c ; <base64> BEL``. Inside tmux: the plain sequence (tmux handles it
    itself with ``set-clipboard on``, also filling its paste buffer) followed by the same
    sequence in tmux's DCS passthrough (``ESC P tmux; <sequence with every ESC doubled> ESC \\``,
    delivered with ``allow-passthrough on``); whichever the user's tmux allows gets through, and
    two identical writes are harmless. Inside GNU screen: the sequence cut into pieces of
    :data:`SCREEN_CHUNK_BYTES`, each wrapped ``ESC P ... ESC \\``; screen passes them on and
    the terminal sees them joined.

    Raises ValueError when the base64 payload exceeds :data:`OSC52_MAX_BYTES`.
    """
    payload = osc52_payload(text)
    if len(payload) > OSC52_MAX_BYTES:
        raise ValueError(f"{len(payload)} bytes of base64 exceed the OSC 52 limit "
                         f"of {OSC52_MAX_BYTES}")
    plain = f"{ESC}]52;c;{payload}{BEL}"
    match multiplexer(env):
        case "tmux":
            return plain + f"{ESC}Ptmux;{plain.replace(ESC, ESC + ESC)}{ST}"
        case "screen":
            return "".join(f"{ESC}P{plain[i:i + SCREEN_CHUNK_BYTES]}{ST}"
                           for i in range(0, len(plain), SCREEN_CHUNK_BYTES))
    return plain


def is_ssh_session(env: Mapping[str, str]) -> bool:
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))


def local_clipboard_available(env: Mapping[str, str], platform: str) -> bool:
    """Whether the system clipboard of this machine is the user's.

    True with a display (``DISPLAY``/``WAYLAND_DISPLAY``, including an X display forwarded over
    SSH) or on macOS/Windows, but not in a plain SSH session: there pyperclip would write the
    remote machine's clipboard (or fail), not the one the user pastes from.
    """
    has_display = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    if is_ssh_session(env):
        return has_display and not platform.startswith(("darwin", "win32", "cygwin"))
    return has_display or platform.startswith(("darwin", "win32", "cygwin"))


@dataclass(frozen=True, slots=True)
class CopyPath:
    """One way of copying, tried or skipped."""

    name: str  # "osc52" or "system"
    ok: bool
    detail: str  # "tmux", or why it failed / was skipped


@dataclass(frozen=True, slots=True)
class CopyResult:
    ok: bool  # at least one path succeeded (for OSC 52: was written)
    message: str  # one line for a notification
    paths: tuple[CopyPath, ...] = field(default_factory=tuple)
    chars: int = 0
    hint: str = ""  # what to check when only OSC 52 was sent ("" otherwise)

    @property
    def succeeded(self) -> list[str]:
        return [p.name for p in self.paths if p.ok]

    @property
    def failed(self) -> dict[str, str]:
        return {p.name: p.detail for p in self.paths if not p.ok}


def copy_text(
    text: str,
    *,
    what: str = "text",
    write_terminal: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    pyperclip_module: ModuleType | object | None = None,
) -> CopyResult:
    """Copy ``text`` by every path that can work here; report which did.

    ``what`` names the content for the message ("answer with 3 sources"). ``write_terminal``
    writes raw bytes to the terminal (None: no terminal, e.g. headless). ``env`` and
    ``platform`` default to the real ones; ``pyperclip_module`` replaces ``import pyperclip``.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    paths = [_try_osc52(text, write_terminal, env), _try_system(text, env, platform,
                                                                 pyperclip_module)]
    ok = any(p.ok for p in paths)
    return CopyResult(ok, _message(what, len(text), paths), tuple(paths), len(text),
                      _hint(paths))


def _try_osc52(text: str, write_terminal: Callable[[str], None] | None,
               env: Mapping[str, str]) -> CopyPath:
    if write_terminal is None:
        return CopyPath("osc52", False, "no terminal")
    try:
        sequence = osc52_sequence(text, env=env)
    except ValueError:
        limit_kb = OSC52_MAX_BYTES * 3 // 4 // 1000
        return CopyPath("osc52", False, f"too large for OSC 52 (over {limit_kb} KB)")
    try:
        write_terminal(sequence)
    except Exception as error:  # the terminal went away: report, never crash a copy
        return CopyPath("osc52", False, _short(error) or "terminal write failed")
    return CopyPath("osc52", True, multiplexer(env) or "")


def _try_system(text: str, env: Mapping[str, str], platform: str,
                pyperclip_module: ModuleType | object | None) -> CopyPath:
    if not local_clipboard_available(env, platform):
        reason = "SSH session without a display" if is_ssh_session(env) else "no display"
        return CopyPath("system", False, reason)
    try:
        module: Any = pyperclip_module  # pyperclip ships no type hints
        if module is None:
            module = importlib.import_module("pyperclip")  # lazily: slow-ish, optional
        module.copy(text)
    except ImportError:
        return CopyPath("system", False, "pyperclip is not installed")
    except Exception as error:  # PyperclipException (no xclip/xsel/wl-copy) or anything else
        return CopyPath("system", False, _short(error) or type(error).__name__)
    return CopyPath("system", True, "")


def _short(error: BaseException) -> str:
    """The first sentence of an error, for a one-line message."""
    text = clean_line(str(error))
    first = text.split(". ", 1)[0].rstrip(".")
    return first if len(first) <= 100 else first[:99] + "…"


def _message(what: str, chars: int, paths: list[CopyPath]) -> str:
    size = f"{what} ({chars} chars)"
    osc, system = paths
    osc_label = f"OSC 52 ({osc.detail})" if osc.detail else "OSC 52"
    if system.ok and osc.ok:
        return f"Copied {size} to the system clipboard; also sent via {osc_label}"
    if system.ok:
        return f"Copied {size} to the system clipboard"
    if osc.ok:
        return f"Sent {size} to the terminal clipboard via {osc_label}"
    return (f"Could not copy {size}: OSC 52: {osc.detail}; system clipboard: {system.detail}. "
            "Save it to a file instead?")


_OSC52_HINTS = {
    "tmux": "tmux passes OSC 52 on with `set -s set-clipboard on` (or `allow-passthrough on`)",
    "screen": "GNU screen passes OSC 52 on only if the outer terminal accepts it",
    "": "Terminal.app ignores OSC 52; iTerm2 needs clipboard access enabled",
}


def _hint(paths: list[CopyPath]) -> str:
    osc, system = paths
    return _OSC52_HINTS.get(osc.detail, "") if osc.ok and not system.ok else ""


def save_to_file(text: str, directory: Path | str, *, stem: str = "sonar-tui-copy",
                 suffix: str = ".md") -> Path:
    """Write ``text`` to a new file in ``directory`` (created if needed), readable only by the
    user (0600), named ``<stem>-YYYYmmdd-HHMMSS[-n]<suffix>``; never overwrites. Returns the path.
    """
    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1000):
        path = folder / (f"{base}{suffix}" if attempt == 0 else f"{base}-{attempt}{suffix}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        return path
    raise FileExistsError(f"no free file name for {base}{suffix} in {folder}")
