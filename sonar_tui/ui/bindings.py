"""Textual Bindings and palette commands generated from the action registry.

A class declares ``BINDINGS = bindings_for("composer")``; it never lists keys itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding, BindingType
from textual.markup import escape

from sonar_tui.actions import BY_ID, Action, actions_in, key_label


def binding(action: Action) -> Binding:
    # Textual parses a binding's description and tooltip as markup in the footer: "[n]" in
    # the words would vanish without the escape.
    return Binding(action.keys, action.action, escape(action.label), show=action.show,
                   key_display=action.key_display, priority=action.priority,
                   tooltip=escape(action.help), id=action.id)


def bindings_for(scope: str) -> list[BindingType]:
    """The Bindings of every action of ``scope`` that has a default key."""
    return [binding(action) for action in actions_in(scope) if action.keys]


def keyless_bindings(scope: str, keymap: Mapping[str, str]) -> list[Binding]:
    """Bindings for actions that have no default key but got one in the user's [keymap]
    (Textual's keymap only moves bindings that exist)."""
    result = []
    for action in actions_in(scope):
        keys = keymap.get(action.id)
        if not action.keys and keys:
            result.append(Binding(keys, action.action, escape(action.label), show=False,
                                  tooltip=escape(action.help), id=action.id))
    return result


def help_rows(scope: str, keymap: Mapping[str, str]) -> list[tuple[str, str]]:
    """(keys, what it does) for the help screen, with the user's keymap applied."""
    rows = []
    for action in actions_in(scope):
        keys = keymap.get(action.id, action.keys)
        if keys:
            rows.append((key_label(keys), action.help))
    return rows


def palette_entries() -> list[tuple[str, str, Action]]:
    """(title, help, action) of every palette entry, the help escaped: the palette parses
    it as markup."""
    return [(action.palette, escape(action.help), action)
            for action in BY_ID.values() if action.palette]
