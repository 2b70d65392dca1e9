"""The README stays true: every key binding, config key and mock profile it should list."""

from __future__ import annotations

import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from sonar_tui.api.settings import ConnectionSettings, RequestSettings
from sonar_tui.config import AppearanceSettings, CopySettings
from sonar_tui.config.reference import config_reference_markdown, readme_section
from sonar_tui.mock.profiles import PROFILES
from sonar_tui.ui.app import SonarApp
from sonar_tui.ui.widgets.citations import SourceList
from sonar_tui.ui.widgets.composer import Composer
from sonar_tui.ui.widgets.conversation import Conversation
from sonar_tui.ui.widgets.sidebar import ThreadList

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("bindings", [SonarApp.BINDINGS, Composer.BINDINGS,
                                      Conversation.BINDINGS, ThreadList.BINDINGS,
                                      SourceList.BINDINGS])
def test_every_binding_id_is_in_the_key_table(bindings):
    for binding in bindings:
        if binding.id:
            assert f"`{binding.id}`" in README, binding.id


@pytest.mark.parametrize("cls", [RequestSettings, ConnectionSettings, AppearanceSettings,
                                 CopySettings])
def test_every_config_key_is_in_the_reference(cls):
    for field in fields(cls):
        assert f"`{field.name}`" in README, field.name


def test_the_configuration_reference_is_exactly_what_the_schema_generates():
    section = readme_section(README)
    assert section is not None, "README.md lost its config-reference marks"
    assert section == config_reference_markdown(), (
        "README.md's configuration reference is out of date: run "
        "`python -m sonar_tui.config --update README.md`")


def test_every_mock_profile_is_listed():
    for name in PROFILES:
        assert f"| `{name}` |" in README, name


def test_ci_runs_exactly_the_readmes_test_command():
    assert "cmd=$(.ci/test-command)" in (ROOT / ".ci" / "run").read_text()
    command = subprocess.run([str(ROOT / ".ci" / "test-command")], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert command.endswith("python -m pytest")
    assert f"```sh\n{command}\n```" in README
    assert "pip install -e '.[test]'" in command
