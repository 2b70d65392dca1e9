"""Calling the user back when a background job ends while they are elsewhere.

Two ways through the terminal, whichever it supports: the bell (every terminal; tmux
forwards it and marks the window), or a desktop notification by escape sequence: OSC 9
(``ESC ] 9 ; text BEL``: iTerm2, WezTerm, Ghostty, kitty, ConEmu) or OSC 777
(``ESC ] 777 ; notify ; title ; body BEL``: foot, rxvt-unicode). A terminal ignores an OSC
it does not know, but then the user hears nothing, so ``auto`` sends one only where the
terminal is known to show it, and rings the bell elsewhere. Inside tmux or GNU screen the
sequence goes wrapped for passthrough (tmux needs ``allow-passthrough on``), together with
the bell, which they pass on by themselves.

Pure functions of the environment: no Textual, no I/O (the app writes what they return).
"""

from __future__ import annotations

from collections.abc import Mapping

from sonar_tui.clipboard import multiplexer
from sonar_tui.sanitize import clean_line

ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"
MODES = ("auto", "bell", "osc9", "osc777", "off")
MAX_TEXT = 120

# Terminals known to show OSC 9 / OSC 777 notifications, by what they put in the
# environment (LC_TERMINAL and the *_PANE/*_WINDOW variables survive SSH and tmux more
# often than TERM_PROGRAM does).
_OSC9_PROGRAMS = frozenset({"iTerm.app", "WezTerm", "ghostty"})
_OSC9_MARKERS = ("KITTY_WINDOW_ID", "WEZTERM_PANE", "GHOSTTY_RESOURCES_DIR", "ConEmuANSI")
_OSC777_TERMS = ("foot", "rxvt-unicode")


def detect(env: Mapping[str, str]) -> str:
    """The way ``auto`` calls back in this terminal: "osc9", "osc777" or "bell"."""
    if env.get("TERM_PROGRAM") in _OSC9_PROGRAMS or env.get("LC_TERMINAL") == "iTerm2" \
            or env.get("TERM") == "xterm-kitty" or any(env.get(m) for m in _OSC9_MARKERS):
        return "osc9"
    if env.get("TERM", "").startswith(_OSC777_TERMS):
        return "osc777"
    return "bell"


def callback_sequence(mode: str, title: str, body: str, env: Mapping[str, str]) -> str:
    """What to write to the terminal to call the user back ("" for ``off``)."""
    if mode == "auto":
        mode = detect(env)
    if mode == "off" or mode not in MODES:
        return ""
    if mode == "bell":
        return BEL
    title, body = _text(title), _text(body)
    if mode == "osc9":
        plain = f"{ESC}]9;{title}: {body}{BEL}" if body else f"{ESC}]9;{title}{BEL}"
    else:  # osc777: fields are separated by ";", so none may hold one
        plain = f"{ESC}]777;notify;{title.replace(';', ',')};{body.replace(';', ',')}{BEL}"
    match multiplexer(env):
        case "tmux":
            return BEL + f"{ESC}Ptmux;{plain.replace(ESC, ESC + ESC)}{ST}"
        case "screen":
            return BEL + f"{ESC}P{plain}{ST}"
    return plain


def _text(text: str) -> str:
    """One line of plain text: remote words (a thread's title) carry no control sequence."""
    line = clean_line(text)
    return line if len(line) <= MAX_TEXT else line[:MAX_TEXT - 1] + "…"


__all__ = ["MODES", "callback_sequence", "detect"]
