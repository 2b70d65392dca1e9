"""Theme files (TOML, one theme per file) turned into Textual themes.

The bundled themes live in ``themes/`` at the top of the repository and ship inside the
wheel as the package ``sonar_tui.themes``; users add their own in the ``themes/`` folder
next to ``config.toml``. A theme file holds ``textual.theme.Theme``'s fields plus a
``[variables]`` table for the app's own colours (``APP_THEME_VARIABLES``) and any override of
the variables Textual generates::

    name = "my-theme"             # optional: the file name without .toml
    dark = true
    primary = "#22b8cf"
    background = "#101619"
    [variables]
    citation-marker = "#7fe3f2"

Every colour is checked with ``textual.color.Color.parse`` when the file is loaded, so a
typo is reported with its file and key instead of breaking the stylesheet later.

The app's stylesheet uses the app variables with every theme, Textual's built-in ones
included; those get ``theme_variable_defaults(theme)``, literal colours (Textual refuses
``$accent`` there) chosen for dark or light themes and checked for contrast against all
the built-ins. The App wires it in with::

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)
"""

from __future__ import annotations

import difflib
import importlib.resources
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.design import ColorSystem
from textual.theme import Theme

from sonar_tui.config import DEFAULT_THEME

# What each app variable colours (documentation for theme authors and the README).
APP_THEME_VARIABLES: dict[str, str] = {
    "citation-marker": "the [n] citation markers in answers",
    "citation-marker-background": "the background behind a [n] marker",
    "reasoning-background": "the background of the model's reasoning (thinking) block",
    "reasoning-foreground": "the text of the reasoning block",
    "source-domain": "domain names in the sources list",
    "streaming-indicator": "the indicator shown while an answer streams",
}

# For dark themes. Markers and reasoning sit on translucent tints so they blend with any
# background; every pair keeps at least 4.5:1 on the background and surface of each of
# Textual's built-in dark themes (tests/test_themes.py checks it).
APP_THEME_VARIABLE_DEFAULTS: dict[str, str] = {
    "citation-marker": "#a8e4ff",
    "citation-marker-background": "#8cd8ff26",
    "reasoning-background": "#ffffff0f",
    "reasoning-foreground": "#cbd1d6",
    "source-domain": "#9fdcb9",
    "streaming-indicator": "#4fc3f7",
}
# The same for light themes.
APP_THEME_VARIABLE_DEFAULTS_LIGHT: dict[str, str] = {
    "citation-marker": "#0a4a6e",
    "citation-marker-background": "#0a4a6e1f",
    "reasoning-background": "#0000000d",
    "reasoning-foreground": "#3d4347",
    "source-domain": "#1a5c3e",
    "streaming-indicator": "#0a6496",
}

COLOUR_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface",
                 "panel", "boost", "warning", "error", "success")
_BOOL_FIELDS = ("dark", "ansi")
_FRACTION_FIELDS = ("luminosity_spread", "text_alpha")
_THEME_KEYS = {f.name for f in fields(Theme)}
# Names Textual generates for every theme; a theme file may override them.
TEXTUAL_VARIABLES = frozenset(ColorSystem(primary="#000000").generate())
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# "<colour>" or "<colour> <percentage>", as Textual's CSS accepts for colour values.
_ALPHA_SUFFIX_RE = re.compile(r"^(?P<colour>.+?)\s+(?P<percent>\d+(?:\.\d+)?)%$")


def theme_variable_defaults(theme: Theme) -> dict[str, str]:
    """The app variables' fallbacks suited to ``theme`` (a theme's own values win)."""
    return dict(APP_THEME_VARIABLE_DEFAULTS if theme.dark else APP_THEME_VARIABLE_DEFAULTS_LIGHT)


class ThemeFileError(ValueError):
    """A theme file that cannot be used: which file, which key, and why."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f"{file}: {key}: {reason}" if key else f"{file}: {reason}")


@dataclass(frozen=True, slots=True)
class ThemeProblem:
    file: str
    reason: str  # includes the key when one is to blame

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"

    @classmethod
    def from_error(cls, error: ThemeFileError) -> ThemeProblem:
        return cls(error.file, f"{error.key}: {error.reason}" if error.key else error.reason)


def _check_colour(file: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(file, key, 'must be a colour in quotes, e.g. "#22b8cf"')
    match = _ALPHA_SUFFIX_RE.match(value.strip())
    colour, percent = (match["colour"], float(match["percent"])) if match else (value, None)
    try:
        Color.parse(colour)
    except ColorParseError:
        raise ThemeFileError(file, key, f"'{value}' is not a colour (use #rrggbb, #rrggbbaa, "
                             "rgb(r, g, b), hsl(...) or a colour name)") from None
    if percent is not None and percent > 100:
        raise ThemeFileError(file, key, f"'{value}': the percentage must be at most 100")
    return value.strip()


def _unknown(file: str, key: str, known: Iterable[str], what: str) -> ThemeFileError:
    guess = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else ""
    return ThemeFileError(file, key, f"unknown {what}{hint}")


def load_theme_file(path: Path | Traversable) -> Theme:
    """One theme from one TOML file; ``ThemeFileError`` names the file and key at fault."""
    file = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(file, "", f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(file, "", f"is not valid TOML: {exc}") from None
    except RecursionError:  # valid TOML nested hundreds deep: tomllib recurses per level
        raise ThemeFileError(file, "", "is nested too deeply to read") from None

    stem = path.name.removesuffix(".toml")
    options: dict[str, Any] = {"name": data.pop("name", stem)}
    if not isinstance(options["name"], str) or not _NAME_RE.match(options["name"]):
        raise ThemeFileError(file, "name", "must be lower-case letters, digits, - or _ "
                             "(it becomes a CSS class)")
    if "primary" not in data:
        raise ThemeFileError(file, "primary", "is required")
    for key, value in data.items():
        if key in COLOUR_FIELDS:
            options[key] = _check_colour(file, key, value)
        elif key in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise ThemeFileError(file, key, "must be true or false")
            options[key] = value
        elif key in _FRACTION_FIELDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value <= 1:
                raise ThemeFileError(file, key, "must be a number from 0 to 1")
            options[key] = float(value)
        elif key == "variables":
            options[key] = _check_variables(file, value)
        else:
            raise _unknown(file, key, _THEME_KEYS - {"name"}, "key")
    return Theme(**options)


def _check_variables(file: str, table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ThemeFileError(file, "variables", "must be a table: [variables]")
    variables: dict[str, str] = {}
    for name, value in table.items():
        key = f"variables.{name}"
        if name in APP_THEME_VARIABLES:
            variables[name] = _check_colour(file, key, value)
        elif name in TEXTUAL_VARIABLES:
            # Not only colours (e.g. "block-cursor-text-style"); Textual checks the value.
            if not isinstance(value, str) or not value.strip():
                raise ThemeFileError(file, key, "must be a CSS value in quotes")
            variables[name] = value.strip()
        else:
            raise _unknown(file, key, [*APP_THEME_VARIABLES, *TEXTUAL_VARIABLES], "variable")
    return variables


def bundled_theme_paths() -> list[Traversable]:
    """The theme files shipped with sonar-tui, by file name.

    Found through the ``sonar_tui.themes`` package (a wheel or an editable install maps the
    repository's ``themes/`` to it); a checkout run without installing reads ``themes/``
    beside the package directly.
    """
    try:
        root: Traversable = importlib.resources.files("sonar_tui.themes")
    except ModuleNotFoundError:
        root = Path(__file__).resolve().parents[2] / "themes"
    return sorted((p for p in root.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)


def load_all_themes(user_dir: Path) -> tuple[list[Theme], list[ThemeProblem]]:
    """The bundled themes, then the user's ``*.toml`` in ``user_dir``.

    A file that cannot be used is reported and skipped; the others still load. A user
    theme may replace a bundled one by using its name; two user files with one name are
    a mistake, and the second is skipped.
    """
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for path in bundled_theme_paths():
        try:
            theme = load_theme_file(path)
        except ThemeFileError as exc:  # a packaging bug, but never a reason not to start
            problems.append(ThemeProblem.from_error(exc))
        else:
            themes[theme.name] = theme
    try:
        user_files = sorted(p for p in user_dir.glob("*.toml") if not p.name.startswith("."))
    except OSError as exc:
        unreadable = ThemeProblem(str(user_dir), f"cannot be read: {exc}")
        return list(themes.values()), [*problems, unreadable]
    user_names: dict[str, Path] = {}
    for path in user_files:
        try:
            theme = load_theme_file(path)
        except ThemeFileError as exc:
            problems.append(ThemeProblem.from_error(exc))
            continue
        except Exception as exc:  # whatever else a user's file can provoke: skip it, say why
            problems.append(ThemeProblem(str(path), f"cannot be used ({type(exc).__name__}: "
                                         f"{exc}); skipped"))
            continue
        if theme.name in user_names:
            problems.append(ThemeProblem(str(path), f"name: '{theme.name}' is already used by "
                                         f"{user_names[theme.name].name}; skipped"))
            continue
        user_names[theme.name] = path
        themes[theme.name] = theme
    return list(themes.values()), problems


def pick_theme(requested: str, available: Iterable[str]) -> tuple[str, str | None]:
    """The theme to start with, and a message when the requested one does not exist."""
    names = set(available)
    if requested in names:
        return requested, None
    fallback = DEFAULT_THEME if DEFAULT_THEME in names else "textual-dark"
    return fallback, f"theme '{requested}' was not found; using {fallback}"


__all__ = [
    "APP_THEME_VARIABLES",
    "APP_THEME_VARIABLE_DEFAULTS",
    "APP_THEME_VARIABLE_DEFAULTS_LIGHT",
    "DEFAULT_THEME",
    "ThemeFileError",
    "ThemeProblem",
    "bundled_theme_paths",
    "load_all_themes",
    "load_theme_file",
    "pick_theme",
    "theme_variable_defaults",
]
