"""The action registry is the one source of every key: bindings, palette, help, README, keymap."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.command import CommandPalette
from textual.content import Content
from textual.widgets import OptionList

from sonar_tui.actions import (
    ACTIONS,
    BY_ID,
    MULTIPLEXER_PREFIXES,
    SCOPE_TITLES,
    closest_id,
    key_table_markdown,
    readme_key_table,
)
from sonar_tui.config import load_config
from sonar_tui.ui.app import SonarApp
from sonar_tui.ui.screens.help import HelpScreen
from sonar_tui.ui.screens.modals import ConfirmScreen, PickScreen, TextInputScreen, UrlScreen
from sonar_tui.ui.screens.settings import SettingsScreen
from sonar_tui.ui.screens.welcome import WelcomeScreen
from sonar_tui.ui.widgets.citations import SourceList
from sonar_tui.ui.widgets.composer import Composer
from sonar_tui.ui.widgets.conversation import Conversation
from sonar_tui.ui.widgets.setting_fields import ChoiceBar, EntryList
from sonar_tui.ui.widgets.sidebar import ThreadList
from tests.ui.appkit import Harness, notices, ready, wait_until

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

OWNERS = {"app": [SonarApp], "composer": [Composer], "conversation": [Conversation],
          "threads": [ThreadList], "sources": [SourceList],
          "settings": [SettingsScreen, EntryList, ChoiceBar], "help": [HelpScreen],
          "confirm": [ConfirmScreen], "input": [TextInputScreen], "pick": [PickScreen],
          "url": [UrlScreen], "welcome": [WelcomeScreen]}


def bindings_of(cls) -> list[Binding]:
    return [b for b in cls.BINDINGS if isinstance(b, Binding)]


def test_ids_are_unique_and_scoped():
    assert len(BY_ID) == len(ACTIONS)
    for action in ACTIONS:
        assert action.scope in SCOPE_TITLES, action.id
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", action.id), action.id


@pytest.mark.parametrize("scope", list(OWNERS))
def test_every_binding_is_generated_from_the_registry(scope):
    """Each class's keys are exactly its scope's actions (id, keys, action): none typed by
    hand, none missing."""
    generated = {(b.id, b.key, b.action) for cls in OWNERS[scope] for b in bindings_of(cls)}
    expected = {(a.id, a.keys, a.action) for a in ACTIONS if a.scope == scope and a.keys}
    assert generated == expected


def test_no_default_key_is_a_terminal_multiplexer_prefix():
    for action in ACTIONS:
        assert not set(action.keys.split(",")) & MULTIPLEXER_PREFIXES, action.id


def test_readme_key_table_is_the_generated_one():
    table = readme_key_table(README)
    assert table is not None, "README.md lost its <!-- key-table --> marks"
    assert table == key_table_markdown(), (
        "README.md's key table is out of date: run "
        "`python -m sonar_tui.actions --update README.md`")


def test_readme_keymap_examples_use_real_ids(tmp_path):
    blocks = re.findall(r"```toml\n(.*?)```", README, flags=re.S)
    keymaps = [block for block in blocks if "[keymap]" in block]
    assert keymaps, "the README shows no [keymap] example"
    for number, block in enumerate(keymaps):
        path = tmp_path / f"example{number}.toml"
        path.write_text(block, encoding="utf-8")
        loaded = load_config(path, env={})
        assert loaded.problems == [], [str(p) for p in loaded.problems]
        assert loaded.keymap and set(loaded.keymap) <= set(BY_ID)


@pytest.mark.parametrize(("typed", "meant"), [
    ("copy_answer", "app.copy_answer"),
    ("app.copy_anwser", "app.copy_answer"),
    ("sidebar.renam", "sidebar.rename"),
    ("toggle_sidebar", "app.toggle_sidebar"),
])
def test_the_closest_valid_id_is_suggested(typed, meant):
    assert closest_id(typed) == meant


def test_an_unknown_keymap_id_is_a_config_problem_and_the_rest_applies(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\n"app.copy_anwser" = "f12"\n"app.new_thread" = "f10"\n')
    loaded = load_config(path, env={})
    problems = {p.key: p.reason for p in loaded.problems}
    assert "did you mean 'app.copy_answer'" in problems["keymap.app.copy_anwser"]
    assert loaded.keymap == {"app.new_thread": "f10"}


def test_the_cli_reports_an_unknown_keymap_id_on_stderr(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\n"copy_answer" = "f12"\n')
    env = {**os.environ, "SONAR_TUI_CONFIG": str(path), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "sonar_tui", "config"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert "keymap.copy_answer" in done.stderr
    assert "did you mean 'app.copy_answer'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=20)
    yield h
    h.close()


async def test_the_app_reports_an_unknown_keymap_id_and_applies_the_rest(harness):
    harness.config_path.parent.mkdir(parents=True, exist_ok=True)
    harness.config_path.write_text(
        '[keymap]\n"app.toggle_sidbar" = "ctrl+b"\n"app.toggle_citations" = "f10"\n'
        '"app.copy_thread" = "f12"\n')
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert "did you mean 'app.toggle_sidebar'" in notices(app)
        main = app.main
        await pilot.press("f10")  # remapped
        await wait_until(pilot, lambda: main.has_class("-citations-hidden"), "the new key")
        await pilot.press("ctrl+g")  # its default key is gone
        await pilot.pause()
        assert main.has_class("-citations-hidden")
        # A palette-only action got a key: pressing it runs the action.
        await pilot.press("f12")
        await wait_until(pilot, lambda: "No thread to copy" in notices(app), "copy thread")


async def test_the_palette_shows_every_action_and_its_words_literally(harness):
    app = harness.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {a.palette for a in ACTIONS if a.palette} <= titles
        assert "Keys" not in titles  # our Help replaces Textual's key panel
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"copy answer with")
        options = app.screen.query_one(OptionList)

        def shown() -> str:
            return "\n".join(str(options.get_option_at_index(i).prompt)
                             for i in range(options.option_count))
        await wait_until(pilot, lambda: "references" in shown(), "the copy command")
        assert "Markdown with [n] markers" in shown()  # not eaten as markup


async def test_help_shows_the_registry_with_the_users_keys(harness):
    config = harness.config()
    config.keymap = {"app.toggle_sidebar": "ctrl+b"}
    app = harness.app(config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.plain_text
        for scope in ("app", "composer", "conversation", "threads", "sources"):
            for action in ACTIONS:
                if action.scope == scope and action.keys:
                    assert action.help in text, action.id
        assert "Next [n] citation" in text
        lines = text.splitlines()
        # The user's key, not the default, beside the action.
        assert lines[lines.index("Show or hide the thread list") - 1] == "ctrl+b"


def test_registry_words_survive_markup():
    """Short labels go to the footer (parsed as markup) and the Keys panel (not): they must
    mean the same in both. Longer words are escaped where markup is parsed."""
    for action in ACTIONS:
        assert Content.from_markup(action.label).plain == action.label, action.id
        if action.palette:
            assert Content.from_markup(action.palette).plain == action.palette, action.id


def _notify_calls_without_markup_false() -> list[str]:
    found = []
    for path in (ROOT / "sonar_tui" / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "notify"):
                markup = next((k.value for k in node.keywords if k.arg == "markup"), None)
                if not (isinstance(markup, ast.Constant) and markup.value is False):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_notification_is_plain_text():
    """Notifications carry paths, titles, error bodies and "[n]": Textual would read any of
    them as markup (and drop or restyle it) unless told not to."""
    assert _notify_calls_without_markup_false() == []
