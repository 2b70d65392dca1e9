"""The terminal call-back when a background job ends: bell or OSC 9 / OSC 777, as the terminal
supports, wrapped for tmux and screen, never carrying a control sequence from a title."""

from __future__ import annotations

import pytest

from sonar_tui.notify import callback_sequence, detect

BEL, ESC = "\x07", "\x1b"


@pytest.mark.parametrize("env, way", [
    ({}, "bell"),
    ({"TERM": "xterm-256color"}, "bell"),
    ({"TERM_PROGRAM": "iTerm.app"}, "osc9"),
    ({"LC_TERMINAL": "iTerm2", "TERM_PROGRAM": "tmux"}, "osc9"),  # iTerm2 over SSH, in tmux
    ({"TERM": "xterm-kitty"}, "osc9"),
    ({"KITTY_WINDOW_ID": "3", "TERM": "tmux-256color"}, "osc9"),
    ({"TERM_PROGRAM": "WezTerm"}, "osc9"),
    ({"TERM_PROGRAM": "ghostty"}, "osc9"),
    ({"TERM": "foot"}, "osc777"),
    ({"TERM": "rxvt-unicode-256color"}, "osc777"),
    ({"VTE_VERSION": "7600", "TERM": "xterm-256color"}, "bell"),  # only with a distro patch
])
def test_auto_uses_a_notification_only_where_the_terminal_is_known_to_show_it(env, way):
    assert detect(env) == way


def test_each_mode_writes_its_sequence():
    env: dict[str, str] = {}
    assert callback_sequence("bell", "Title", "Body", env) == BEL
    assert callback_sequence("off", "Title", "Body", env) == ""
    assert callback_sequence("osc9", "Research done", "TLS history", env) == \
        f"{ESC}]9;Research done: TLS history{BEL}"
    assert callback_sequence("osc777", "Done; really", "a;b", env) == \
        f"{ESC}]777;notify;Done, really;a,b{BEL}"
    assert callback_sequence("auto", "T", "B", {"TERM": "foot"}).startswith(f"{ESC}]777;")
    assert callback_sequence("nonsense", "T", "B", env) == ""


def test_inside_tmux_and_screen_the_notification_is_wrapped_and_the_bell_rings_too():
    tmux = callback_sequence("osc9", "Done", "x", {"TMUX": "/tmp/tmux-0/default,1,0"})
    assert tmux == f"{BEL}{ESC}Ptmux;{ESC}{ESC}]9;Done: x{BEL}{ESC}\\"
    screen = callback_sequence("osc9", "Done", "x", {"STY": "123.pts-0"})
    assert screen == f"{BEL}{ESC}P{ESC}]9;Done: x{BEL}{ESC}\\"
    assert callback_sequence("bell", "Done", "x", {"TMUX": "1"}) == BEL


def test_remote_text_cannot_smuggle_a_sequence_and_is_kept_short():
    hostile = "Evil\x1b]52;c;ZXZpbA==\x07 title\x9b31m" + "x" * 300
    sequence = callback_sequence("osc9", hostile, "body\x1b[2J", {})
    inner = sequence[len(f"{ESC}]9;"):-1]
    assert ESC not in inner and BEL not in inner and "\x9b" not in inner
    assert len(inner) < 260
