"""The headless layers never load the UI toolkit.

`sonar_tui/api/`, `sonar_tui/store/`, the service, the CLI's entry point and the other
non-UI modules must import neither Textual nor Rich: the CLI starts fast, the layers can be
tested and reused without a terminal, and an accidental `from textual ...` in the service
layer shows up here instead of in a review. Each module is imported in a fresh interpreter,
so what another test imported cannot hide a leak.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import sonar_tui
import sonar_tui.api
import sonar_tui.config
import sonar_tui.mock
import sonar_tui.store

UI_PACKAGES = ("textual", "rich")


def _modules_under(package) -> list[str]:
    # __main__ modules run a program when imported; what they import is their command's.
    return [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
            if not info.name.endswith(".__main__")]


HEADLESS = sorted({
    *_modules_under(sonar_tui.api),
    *_modules_under(sonar_tui.store),
    *_modules_under(sonar_tui.mock),
    *_modules_under(sonar_tui.config),
    "sonar_tui.actions",
    "sonar_tui.cli",
    "sonar_tui.clipboard",
    "sonar_tui.config",
    "sonar_tui.export",
    "sonar_tui.jobs",
    "sonar_tui.notify",
    "sonar_tui.paths",
    "sonar_tui.records",
    "sonar_tui.references",
    "sonar_tui.sanitize",
    "sonar_tui.service",
})

PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[2:])))
"""


def test_the_list_covers_the_layers():
    # walk_packages found the sub-modules (an empty list would make every case vacuous).
    assert "sonar_tui.api.client" in HEADLESS and "sonar_tui.store.store" in HEADLESS


@pytest.mark.parametrize("module", HEADLESS)
def test_a_headless_module_loads_no_ui_toolkit(module):
    result = subprocess.run([sys.executable, "-c", PROBE, module, *UI_PACKAGES],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"


def test_the_probe_does_see_a_ui_import():
    # The same probe on a UI module must report Textual, or the check above proves nothing.
    result = subprocess.run([sys.executable, "-c", PROBE, "sonar_tui.ui.app", *UI_PACKAGES],
                            capture_output=True, text=True, timeout=60)
    assert "textual" in result.stdout.split()


# What the store offers besides its data types and errors: the database itself. The CLI
# reaches threads, answers and exports only through the service (ChatService), which keeps
# the order of writes the product promises in one place.
STORE_ACCESS = {"Store", "AnswerWriter"}


def test_the_cli_reaches_the_database_only_through_the_service():
    tree = ast.parse(Path(sonar_tui.__file__).with_name("cli.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("sonar_tui.store") for alias in node.names}
    assert imported, "the CLI names the store's errors: the check must see those imports"
    assert not imported & STORE_ACCESS, f"cli.py imports {imported & STORE_ACCESS}"
