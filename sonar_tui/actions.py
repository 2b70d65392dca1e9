"""Every user action in one registry: its id, default keys, words, and where it applies.

The App's and the widgets' ``BINDINGS``, the command palette, the help screen (F1), the
README's key table and the validation of ``[keymap]`` in config.toml are all generated from
``ACTIONS``; nothing else lists keys. Pure data, no Textual: the config loader (and so the
CLI) checks keymap ids against it without loading the UI.

Words are written once and must read the same everywhere: some Textual surfaces parse them
as markup (the palette, footer tooltips) and some do not (the Keys panel), so
``sonar_tui.ui.bindings`` escapes them where markup is parsed, and the help screen shows them
as plain Content.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Scope = Literal["app", "composer", "conversation", "threads", "sources", "settings",
                "search", "help", "confirm", "input", "pick", "url", "export", "welcome"]

# Where each scope applies, in the order the help screen and the README list them.
SCOPE_TITLES: dict[str, str] = {
    "app": "Everywhere",
    "composer": "Composer",
    "conversation": "Conversation",
    "threads": "Thread list",
    "search": "Thread search box",
    "sources": "Sources panel",
    "settings": "Settings screen",
    "help": "Help screen",
    "confirm": "Confirmation dialogs",
    "input": "Text dialogs",
    "pick": "Pick dialogs",
    "url": "Link dialog",
    "export": "Export dialog",
    "welcome": "Welcome screen",
}

# tmux's prefix and GNU screen's: a default on either is swallowed by the multiplexer that
# many of our users run us in (over SSH). Users may still choose them in [keymap].
MULTIPLEXER_PREFIXES = frozenset({"ctrl+b", "ctrl+a"})


@dataclass(frozen=True, slots=True)
class Action:
    id: str  # stable: the [keymap] key; "<scope>.<name>"
    action: str  # the Textual action run ("copy_answer", "app.copy_code('pick')")
    keys: str  # default key(s), comma-separated; "" = none (palette only)
    label: str  # short, for the footer
    help: str  # one line: the help screen, the README, tooltips, the palette
    scope: Scope
    show: bool = True  # in the footer
    priority: bool = False
    key_display: str | None = None
    palette: str | None = None  # the command palette's title; None: not in the palette


def _a(id: str, action: str, keys: str, label: str, help: str, **options) -> Action:
    scope = id.split(".", 1)[0]
    scope = "threads" if scope == "sidebar" else scope
    return Action(id, action, keys, label, help, scope, **options)  # type: ignore[arg-type]


ACTIONS: tuple[Action, ...] = (
    # -- everywhere (the App) --------------------------------------------------------------
    _a("app.new_thread", "new_thread", "ctrl+n", "New", "Start a new thread",
       palette="New thread"),
    _a("app.search", "search", "ctrl+f", "Search", "Search every thread (full text)",
       palette="Search threads"),
    # Early: on a narrow screen the footer shows only the first keys, and Help is the one
    # that leads to all the others.
    _a("app.help", "help", "f1,question_mark", "Help", "This help: every key",
       palette="Help"),
    _a("app.stop", "escape", "escape", "Stop",
       "Stop the streaming answer (its partial text is kept); close the thread drawer",
       show=False, palette="Stop answer"),
    _a("app.regenerate", "regenerate", "ctrl+r", "Regenerate",
       "Answer the last question again, or retry after an error",
       palette="Regenerate answer"),
    _a("app.edit_last", "edit_last", "f2", "Edit last",
       "Take back the last question to edit and resend it", show=False,
       palette="Edit last question"),
    _a("app.copy_answer", "copy_answer", "ctrl+o", "Copy",
       "Copy the selected answer with its references (Markdown with [n] markers and a "
       "source list)", palette="Copy answer with references"),
    _a("app.copy_answer_plain", "copy_answer_plain", "", "Copy plain",
       "Copy the selected answer as plain text, without markers or Markdown emphasis",
       palette="Copy answer as plain text"),
    _a("app.copy_code", "copy_code('pick')", "ctrl+l", "Copy code",
       "Copy one of the answer's code blocks (pick by number)", show=False,
       palette="Copy code block…"),
    _a("app.copy_nearest_code", "copy_code('nearest')", "", "Copy nearest code",
       "Copy the code block nearest the middle of the view",
       palette="Copy nearest code block"),
    _a("app.copy_thread", "copy_thread", "", "Copy thread",
       "Copy the whole thread as Markdown, every question and answer with sources",
       palette="Copy thread as Markdown"),
    _a("app.export_markdown", "export_thread('md')", "", "Export Markdown",
       "Write the thread to a .md file", palette="Export thread (Markdown)"),
    _a("app.export_json", "export_thread('json')", "", "Export JSON",
       "Write everything the database holds for the thread to a .json file",
       palette="Export thread (JSON)"),
    _a("app.toggle_reasoning", "toggle_reasoning", "ctrl+t", "Reasoning",
       "Fold or unfold the selected answer's reasoning", show=False,
       palette="Toggle reasoning"),
    _a("app.toggle_citations", "toggle_citations", "ctrl+g", "Sources",
       "Show or hide the sources panel", palette="Toggle sources panel"),
    # f9, not ctrl+b: ctrl+b is tmux's prefix (Harlequin offers f9 for its sidebar too).
    _a("app.toggle_sidebar", "toggle_sidebar", "f9", "Sidebar",
       "Show or hide the thread list", show=False, palette="Toggle sidebar"),
    _a("app.settings", "settings", "ctrl+s", "Settings",
       "Settings: the defaults, the API, the look", palette="Settings"),
    _a("app.thread_settings", "thread_settings", "f4", "Thread settings",
       "Settings for this thread only (overrides)", show=False, palette="Thread settings"),
    _a("app.clear_overrides", "clear_overrides", "f5", "Clear thread overrides",
       "Clear this thread's overrides: it goes back to the defaults", show=False,
       palette="Clear thread overrides"),
    _a("app.attach", "attach", "f3", "Attach image",
       "Attach an image to the next question", show=False, palette="Attach image"),
    # Not F6: the composer (a TextArea) selects a line with it.
    _a("app.ask_background", "ask_background", "f8", "Background",
       "Send the question as a background job (it survives quitting, a dropped link or a "
       "crash)", show=False, palette="Send as background job"),
    _a("app.cancel_job", "cancel_job", "", "Cancel job",
       "Stop this thread's background job on the service", show=False,
       palette="Cancel background job"),
    _a("app.quit", "quit", "ctrl+q", "Quit", "Quit", priority=True),
    # -- the composer ---------------------------------------------------------------------
    _a("composer.send", "submit", "enter", "Send", "Send the question", priority=True),
    _a("composer.newline", "newline", "ctrl+j,shift+enter", "Newline",
       "New line in the question", priority=True, key_display="ctrl+j"),
    _a("composer.recall", "recall_previous", "up", "Previous question",
       "Earlier questions (in an empty composer)", show=False),
    # -- the conversation (when focused) ----------------------------------------------------
    _a("conversation.follow", "follow", "end", "Follow",
       "Jump to the bottom and follow the answer", show=False),
    _a("conversation.top", "top", "home", "Top", "Jump to the top of the thread", show=False),
    _a("conversation.previous_answer", "select_answer(-1)", "left_square_bracket",
       "Prev answer", "Select the previous answer", show=False),
    _a("conversation.next_answer", "select_answer(1)", "right_square_bracket",
       "Next answer", "Select the next answer", show=False),
    _a("conversation.next_marker", "marker(1)", "n", "Next source",
       "Next [n] citation: highlight it and its source"),
    _a("conversation.previous_marker", "marker(-1)", "N,shift+n", "Prev source",
       "Previous [n] citation", show=False),
    _a("conversation.go_to_source", "go_to_source", "enter", "Go to source",
       "Jump to the highlighted citation's source", show=False),
    _a("conversation.copy", "app.copy_answer", "y", "Copy",
       "Copy the answer with its references"),
    _a("conversation.copy_plain", "app.copy_answer_plain", "Y,shift+y", "Copy plain",
       "Copy the answer as plain text", show=False),
    _a("conversation.copy_code", "app.copy_code('nearest')", "c", "Copy code",
       "Copy the code block nearest the middle of the view"),
    _a("conversation.pick_code", "app.copy_code('pick')", "C,shift+c", "Pick code",
       "Pick a code block to copy", show=False),
    _a("conversation.toggle_reasoning", "toggle_reasoning", "t", "Reasoning",
       "Fold or unfold the reasoning", show=False),
    _a("conversation.scroll_down", "scroll_down", "j,down", "Down", "Scroll down a line",
       show=False),
    _a("conversation.scroll_up", "scroll_up", "k,up", "Up", "Scroll up a line", show=False),
    # Unanimated: an animated page scroll takes most of a second to arrive while an answer
    # streams.
    _a("conversation.page_up", "page(-1)", "pageup", "Page up", "Scroll up a page",
       show=False),
    _a("conversation.page_down", "page(1)", "pagedown", "Page down", "Scroll down a page",
       show=False),
    # -- the thread list ------------------------------------------------------------------
    _a("sidebar.rename", "rename", "r", "Rename", "Rename the thread"),
    _a("sidebar.pin", "pin", "p", "Pin", "Pin or unpin the thread"),
    _a("sidebar.delete", "delete", "d,delete", "Delete", "Delete the thread (asks first)"),
    _a("sidebar.filter", "filter", "slash", "Filter", "Search threads", show=False),
    _a("search.clear", "clear_search", "escape", "Clear search",
       "Leave the search: the thread list comes back", show=False),
    # -- the sources panel ----------------------------------------------------------------
    _a("sources.copy_url", "copy_url", "y", "Copy URL", "Copy the source's URL"),
    _a("sources.back", "back", "escape,backspace", "Back to answer",
       "Back to the citation in the answer"),
    # -- the settings screen --------------------------------------------------------------
    _a("settings.save", "save", "ctrl+s", "Save", "Save the settings", priority=True),
    _a("settings.cancel", "cancel", "escape", "Cancel", "Close without saving"),
    _a("settings.previous_choice", "step(-1)", "left", "Previous choice",
       "In a row of choices: the previous one", show=False),
    _a("settings.next_choice", "step(1)", "right", "Next choice",
       "In a row of choices: the next one", show=False),
    _a("settings.first_choice", "pick(0)", "home", "First choice",
       "In a row of choices: the first one", show=False),
    _a("settings.last_choice", "pick(-1)", "end", "Last choice",
       "In a row of choices: the last one", show=False),
    _a("settings.remove_entry", "remove", "delete,backspace", "Remove entry",
       "Remove the highlighted entry of a list (domains, formats)"),
    # -- dialogs --------------------------------------------------------------------------
    _a("help.close", "dismiss", "escape,q,f1,question_mark", "Close", "Close the help"),
    _a("confirm.yes", "answer(True)", "y", "Yes", "Yes: do it"),
    _a("confirm.no", "answer(False)", "n,escape", "No", "No: leave things as they are"),
    _a("input.cancel", "cancel", "escape", "Cancel", "Close without changing anything"),
    _a("pick.cancel", "cancel", "escape", "Cancel", "Close without picking"),
    _a("url.copy", "copy", "y,c", "Copy URL", "Copy the link"),
    _a("url.close", "close", "escape,q", "Close", "Close the link dialog"),
    _a("export.cancel", "cancel", "escape", "Cancel", "Close without writing anything"),
    _a("welcome.demo", "choose('demo')", "d", "Demo", "Try the offline demo"),
    _a("welcome.continue", "choose('continue')", "c,escape", "Continue",
       "Continue to the app"),
    _a("welcome.quit", "app.quit", "ctrl+q", "Quit", "Quit"),
)

BY_ID: dict[str, Action] = {action.id: action for action in ACTIONS}


def actions_in(scope: str) -> list[Action]:
    return [action for action in ACTIONS if action.scope == scope]


def closest_id(unknown: str, ids: Iterable[str] | None = None) -> str | None:
    """The valid id the user most likely meant ("copy_answer" -> "app.copy_answer")."""
    ids = list(BY_ID if ids is None else ids)
    # A bare name (the README once showed them so) matches its scoped id outright.
    suffix = [i for i in ids if i.split(".", 1)[-1] == unknown]
    if len(suffix) == 1:
        return suffix[0]
    close = difflib.get_close_matches(unknown, ids, n=1, cutoff=0.5)
    if close:
        return close[0]
    close = difflib.get_close_matches(unknown, [i.split(".", 1)[-1] for i in ids], n=1,
                                      cutoff=0.6)
    return next((i for i in ids if close and i.split(".", 1)[-1] == close[0]), None)


# A key as Textual names it: modifiers joined by '+', then one printable character or a name
# ("ctrl+s", "f12", "shift+enter", "question_mark", "["). Checked here, without Textual,
# so that config.toml can be validated by the headless loader.
_KEY = re.compile(r"^(?:(?:ctrl|shift|alt|meta|super|hyper)\+)*(?:[a-z0-9_]+|[^\s,+])$")


def key_problem(keys: str) -> str | None:
    """Why ``keys`` (comma-separated) is not a usable key list, or None."""
    parts = [part.strip() for part in keys.split(",")]
    bad = [part for part in parts if not _KEY.match(part)]
    if not parts or bad:
        return (f"{bad[0]!r} is not a key name" if bad and bad[0] else "empty key") + \
            ' (keys look like "ctrl+s", "f12", "shift+enter"; comma-separate several)'
    return None


# The scopes of the main screen, where the App's own keys apply too (a dialog's keys are
# its own while it is open, so "esc" closing a dialog is no clash with the App's Esc).
_MAIN_SCREEN = {"app", "composer", "conversation", "threads", "search", "sources"}


def key_clashes(keymap: dict[str, str]) -> dict[str, str]:
    """For each remapped id whose key another action also answers to where both apply
    (the same scope, or anywhere for the App's keys): why, naming the other action."""
    def keys_of(action: Action, keys: str | None = None) -> set[str]:
        keys = keymap.get(action.id, action.keys) if keys is None else keys
        return {part.strip() for part in keys.split(",") if part.strip()}

    clashes: dict[str, str] = {}
    for binding_id in keymap:
        mine = BY_ID.get(binding_id)
        if mine is None:
            continue
        for other in ACTIONS:
            both = {mine.scope, other.scope}
            meet = mine.scope == other.scope or ("app" in both and both <= _MAIN_SCREEN)
            if other is mine or not meet:
                continue
            # Keys the defaults already share are layered on purpose (Esc: the focused
            # part's own first, then the App's), not a clash the user made.
            shared = (keys_of(mine) & keys_of(other)) - (
                keys_of(mine, mine.keys) & keys_of(other, other.keys))
            if shared:
                key = sorted(shared)[0]
                clashes[binding_id] = (f"{key} is also the key of '{other.id}' "
                                       f"({other.help.rstrip('.')}); one of them would never "
                                       "run: give one another key")
                break
    return clashes


def unknown_id_reason(suggestion: str | None) -> str:
    hint = f"; did you mean '{suggestion}'?" if suggestion else ""
    return f"no action has this id (the ids are in the README's key table){hint}"


# -- words for people ----------------------------------------------------------------------

_KEY_NAMES = {"left_square_bracket": "[", "right_square_bracket": "]", "slash": "/",
              "question_mark": "?", "escape": "esc", "delete": "del"}


def key_label(keys: str) -> str:
    """'ctrl+j,shift+enter' -> 'ctrl+j / shift+enter', with readable names."""
    return " / ".join(_KEY_NAMES.get(part.strip(), part.strip())
                      for part in keys.split(",") if part.strip())


def key_table_markdown() -> str:
    """The README's key table (between its key-table marks): one row per action with keys."""
    rows = ["| Where | Key | Action | Binding id |", "|---|---|---|---|"]
    for scope, title in SCOPE_TITLES.items():
        for action in actions_in(scope):
            keys = key_label(action.keys) if action.keys else "(palette)"
            rows.append(f"| {title} | `{keys}` | {action.help} | `{action.id}` |")
    return "\n".join(rows) + "\n"


KEY_TABLE_START = "<!-- key-table -->"
KEY_TABLE_END = "<!-- /key-table -->"


def readme_key_table(readme: str) -> str | None:
    """What the README holds between its key-table marks (None: the marks are missing)."""
    start, end = readme.find(KEY_TABLE_START), readme.find(KEY_TABLE_END)
    if start < 0 or end < start:
        return None
    return readme[start + len(KEY_TABLE_START):end].strip("\n") + "\n"


def with_key_table(readme: str) -> str:
    """The README with its key table regenerated."""
    start, end = readme.find(KEY_TABLE_START), readme.find(KEY_TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {KEY_TABLE_START} ... {KEY_TABLE_END} marks")
    return (readme[:start + len(KEY_TABLE_START)] + "\n" + key_table_markdown()
            + readme[end:])


if __name__ == "__main__":  # python -m sonar_tui.actions [--update README.md]
    import sys
    from pathlib import Path

    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        target = Path(sys.argv[2])
        target.write_text(with_key_table(target.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(key_table_markdown())
