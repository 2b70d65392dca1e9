"""The App owns the service, the workers and the lifecycle; the main screen owns its widgets.

The App talks to ``MainScreen`` through the screen's own methods and attributes (named for
what happens: ``question_saved``, ``sources_changed``, ``show_attachments``...), never by
reaching into the widgets the screen composes. Without this check the App drifts back to
``main.composer.text`` and ``main.query_one("#attachments")``, and a change of layout in the
screen breaks the App.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sonar_tui.ui.app

APP_SOURCE = Path(sonar_tui.ui.app.__file__).read_text(encoding="utf-8")

# The main screen's widgets, as the screen exposes them to its own code and to tests.
SCREEN_WIDGETS = {"composer", "conversation", "sidebar", "citations", "status"}
# Widget modules the App may take constants or types from, but not widgets to drive.
WIDGET_CLASSES = {"Composer", "Conversation", "Sidebar", "ThreadList", "CitationPanel",
                  "SourceList", "StatusLine"}


def _is_the_screen(node: ast.expr) -> bool:
    """``main`` or ``self.main`` (how the App names its main screen)."""
    return (isinstance(node, ast.Name) and node.id == "main") or (
        isinstance(node, ast.Attribute) and node.attr == "main")


def test_the_app_never_reaches_into_the_screens_widgets():
    reached = []
    for node in ast.walk(ast.parse(APP_SOURCE)):
        # "status" is also a word for an answer's or a job's state: only main.status counts.
        if isinstance(node, ast.Attribute) and node.attr in SCREEN_WIDGETS and (
                node.attr != "status" or _is_the_screen(node.value)):
            reached.append(f"line {node.lineno}: .{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"query", "query_one", "query_exactly_one"}):
            reached.append(f"line {node.lineno}: .{node.func.attr}(...)")
    assert reached == []


def test_the_app_imports_no_widget_it_could_drive():
    imported = {alias.name for node in ast.walk(ast.parse(APP_SOURCE))
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert imported & WIDGET_CLASSES == set()
