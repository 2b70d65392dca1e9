"""Theme files: the bundled ones load, read well, reach the CSS, and ship in the package."""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path

import pytest
from setuptools import find_namespace_packages
from textual.app import App, ComposeResult
from textual.color import Color
from textual.theme import BUILTIN_THEMES, Theme
from textual.widgets import Static

from sonar_tui.config import AppearanceSettings
from sonar_tui.ui.themes import (
    APP_THEME_VARIABLE_DEFAULTS,
    APP_THEME_VARIABLE_DEFAULTS_LIGHT,
    APP_THEME_VARIABLES,
    COLOUR_FIELDS,
    DEFAULT_THEME,
    ThemeFileError,
    bundled_theme_paths,
    load_all_themes,
    load_theme_file,
    pick_theme,
    theme_variable_defaults,
)

REPO = Path(__file__).resolve().parents[1]
BUNDLED = {"sonar-dark", "sonar-light", "sonar-high-contrast", "sonar-phosphor"}

GOOD_USER_THEME = """\
name = "my-dusk"
primary = "#c678dd"
background = "#1b1d23"
[variables]
citation-marker = "#e5c07b 90%"
footer-key-foreground = "#c678dd"
"""


def contrast(foreground: str, background: str, base: str | None = None) -> float:
    """WCAG 2 contrast ratio; translucent colours are first laid over ``base``."""

    def luminance(colour: Color) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(colour.r) + 0.7152 * channel(colour.g) + 0.0722 * channel(colour.b)

    under = Color.parse(base) if base else Color(0, 0, 0)
    fg = under + Color.parse(foreground)
    bg = under + Color.parse(background)
    lighter, darker = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def bundled() -> dict[str, Theme]:
    themes, problems = load_all_themes(Path("/nonexistent-user-theme-dir"))
    assert problems == []
    return {t.name: t for t in themes}


# ----------------------------------------------------------------------------- bundled themes


def test_every_bundled_theme_loads_completely():
    themes = bundled()
    assert set(themes) == BUNDLED
    assert DEFAULT_THEME == "sonar-dark" == AppearanceSettings().theme
    for path in bundled_theme_paths():
        theme = load_theme_file(path)
        assert theme.name == path.name.removesuffix(".toml")
        for name in COLOUR_FIELDS:
            if name != "boost":
                assert getattr(theme, name), f"{theme.name} leaves {name} to chance"
        assert set(APP_THEME_VARIABLES) <= set(theme.variables), theme.name
    assert themes["sonar-light"].dark is False
    assert all(themes[n].dark for n in BUNDLED - {"sonar-light"})


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_themes_keep_their_text_readable(name):
    theme = bundled()[name]
    v = theme.variables
    floor = 7.0 if name == "sonar-high-contrast" else 4.5  # WCAG AAA / AA for text
    for where in (theme.background, theme.surface, theme.panel):
        assert contrast(theme.foreground, where) >= 7.0
        for colour in ("primary", "secondary", "accent", "warning", "error", "success"):
            assert contrast(getattr(theme, colour), where) >= floor, (colour, where)
        assert contrast(v["source-domain"], where) >= floor
        assert contrast(v["streaming-indicator"], where) >= 3.0  # a glyph, not text
    marker = contrast(v["citation-marker"], v["citation-marker-background"], theme.background)
    assert marker >= floor
    assert contrast(v["reasoning-foreground"], v["reasoning-background"], theme.background) >= floor


def test_high_contrast_is_really_high_contrast():
    theme = bundled()["sonar-high-contrast"]
    assert (theme.foreground, theme.background) == ("#ffffff", "#000000")
    assert theme.text_alpha == 1.0
    assert min(contrast(getattr(theme, c), theme.background)
               for c in ("primary", "secondary", "accent", "error", "success")) >= 7.0
    assert contrast(theme.variables["text-muted"], theme.background) >= 7.0


@pytest.mark.parametrize("name", sorted(n for n, t in BUILTIN_THEMES.items() if not t.ansi))
def test_defaults_read_well_on_every_builtin_theme(name):
    theme = BUILTIN_THEMES[name]
    colours = theme.to_color_system().generate()
    d = theme_variable_defaults(theme)
    assert d == (APP_THEME_VARIABLE_DEFAULTS if theme.dark else APP_THEME_VARIABLE_DEFAULTS_LIGHT)
    for where, floor in (("background", 4.5), ("surface", 4.5), ("panel", 3.0)):
        base = colours[where]
        assert contrast(d["citation-marker"], d["citation-marker-background"], base) >= floor
        assert contrast(d["reasoning-foreground"], d["reasoning-background"], base) >= floor
        assert contrast(d["source-domain"], base) >= floor
        assert contrast(d["streaming-indicator"], base) >= 3.0


def test_defaults_are_literal_colours_for_every_app_variable():
    for defaults in (APP_THEME_VARIABLE_DEFAULTS, APP_THEME_VARIABLE_DEFAULTS_LIGHT):
        assert set(defaults) == set(APP_THEME_VARIABLES)
        for value in defaults.values():
            assert not value.startswith("$")
            Color.parse(value)


# ----------------------------------------------------------------------------- user themes


def test_bad_user_themes_are_reported_and_skipped_while_good_ones_load(tmp_path):
    (tmp_path / "dusk.toml").write_text(GOOD_USER_THEME)
    (tmp_path / "bad-colour.toml").write_text('primary = "#12345"\n')
    (tmp_path / "unknown-key.toml").write_text('primary = "#123456"\nbackgroud = "#000000"\n')
    (tmp_path / "syntax.toml").write_text('primary = "#123456\n')
    (tmp_path / "bad-var.toml").write_text(
        'primary = "#123456"\n[variables]\ncitation-markr = "red"\n')
    (tmp_path / "var-colour.toml").write_text(
        'primary = "#123456"\n[variables]\nsource-domain = "blurple"\n')
    (tmp_path / "no-primary.toml").write_text('background = "#000000"\n')
    (tmp_path / "bad-name.toml").write_text('name = "My Theme"\nprimary = "#123456"\n')
    (tmp_path / "twin.toml").write_text(GOOD_USER_THEME)
    (tmp_path / "notes.txt").write_text("not a theme")

    themes, problems = load_all_themes(tmp_path)
    names = [t.name for t in themes]
    assert names[:4] == sorted(BUNDLED) and names[4:] == ["my-dusk"]
    dusk = themes[-1]
    assert dusk.variables["citation-marker"] == "#e5c07b 90%"
    reported = {Path(p.file).name: p.reason for p in problems}
    assert set(reported) == {"bad-colour.toml", "unknown-key.toml", "syntax.toml", "bad-var.toml",
                             "var-colour.toml", "no-primary.toml", "bad-name.toml", "twin.toml"}
    assert reported["bad-colour.toml"].startswith("primary: '#12345' is not a colour")
    assert reported["unknown-key.toml"] == "backgroud: unknown key; did you mean 'background'?"
    assert "not valid TOML" in reported["syntax.toml"] and "line 1" in reported["syntax.toml"]
    assert "did you mean 'citation-marker'" in reported["bad-var.toml"]
    assert reported["var-colour.toml"].startswith("variables.source-domain: 'blurple'")
    assert reported["no-primary.toml"] == "primary: is required"
    assert reported["bad-name.toml"].startswith("name:")
    assert "already used by dusk.toml" in reported["twin.toml"]
    assert all(str(tmp_path) in str(p) for p in problems)


def test_a_theme_file_error_names_file_and_key(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('primary = "#123456"\ndark = "yes"\n')
    with pytest.raises(ThemeFileError) as caught:
        load_theme_file(path)
    assert (caught.value.file, caught.value.key) == (str(path), "dark")
    assert str(caught.value) == f"{path}: dark: must be true or false"


def test_a_user_theme_may_replace_a_bundled_one(tmp_path):
    (tmp_path / "mine.toml").write_text('name = "sonar-dark"\nprimary = "#ff00ff"\n')
    themes, problems = load_all_themes(tmp_path)
    assert problems == []
    assert [t.primary for t in themes if t.name == "sonar-dark"] == ["#ff00ff"]


def test_pick_theme_falls_back_to_the_default():
    assert pick_theme("nord", ["nord", "sonar-dark"]) == ("nord", None)
    name, message = pick_theme("no-such", ["nord", "sonar-dark"])
    assert name == "sonar-dark" and "no-such" in message


# ----------------------------------------------------------------------------- in a real app


class ThemeHost(App):
    CSS = """
    #marker { color: $citation-marker; background: $citation-marker-background; }
    #reasoning { color: $reasoning-foreground; background: $reasoning-background; }
    #domain { color: $source-domain; }
    #indicator { color: $streaming-indicator; }
    """

    def __init__(self, themes: list[Theme]) -> None:
        super().__init__()
        self._extra_themes = themes

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        for name in ("marker", "reasoning", "domain", "indicator"):
            yield Static(name, id=name)

    def on_mount(self) -> None:
        for theme in self._extra_themes:
            self.register_theme(theme)


def resolved(app: App) -> dict[str, Color]:
    return {"citation-marker": app.query_one("#marker").styles.color,
            "citation-marker-background": app.query_one("#marker").styles.background,
            "reasoning-foreground": app.query_one("#reasoning").styles.color,
            "source-domain": app.query_one("#domain").styles.color,
            "streaming-indicator": app.query_one("#indicator").styles.color}


async def test_app_variables_resolve_with_bundled_and_builtin_themes(tmp_path):
    (tmp_path / "dusk.toml").write_text(GOOD_USER_THEME)
    themes, problems = load_all_themes(tmp_path)
    assert problems == []
    app = ThemeHost(themes)
    async with app.run_test() as pilot:
        for theme in themes:
            app.theme = theme.name
            await pilot.pause()
            want = {**theme_variable_defaults(theme), **theme.variables}
            assert app.theme_variables["citation-marker"] == want["citation-marker"]
            got = resolved(app)
            for name in ("citation-marker-background", "reasoning-foreground", "source-domain",
                         "streaming-indicator"):
                assert got[name] == Color.parse(want[name]), (theme.name, name)
        # "<colour> <percentage>" reaches the CSS as a translucent colour.
        assert resolved(app)["citation-marker"] == Color.parse("#e5c07b").with_alpha(0.9)

        app.theme = "sonar-high-contrast"
        await pilot.pause()
        assert app.theme_variables["text-muted"] == "#e6e6e6"

        for builtin, defaults in (("textual-dark", APP_THEME_VARIABLE_DEFAULTS),
                                  ("textual-light", APP_THEME_VARIABLE_DEFAULTS_LIGHT),
                                  ("nord", APP_THEME_VARIABLE_DEFAULTS)):
            app.theme = builtin
            await pilot.pause()
            got = resolved(app)
            assert {k: got[k] for k in got} == {k: Color.parse(defaults[k]) for k in got}, builtin


# ----------------------------------------------------------------------------- packaging


def test_bundled_themes_are_found_through_the_package():
    root = importlib.resources.files("sonar_tui.themes")
    packaged = sorted(p.name for p in root.iterdir() if p.name.endswith(".toml"))
    assert packaged == sorted(f"{n}.toml" for n in BUNDLED)
    assert [p.name for p in bundled_theme_paths()] == packaged
    assert sorted(p.name for p in (REPO / "themes").glob("*.toml")) == packaged


def test_every_package_is_listed_for_the_wheel():
    """pyproject lists packages by hand (to map themes/): a new sub-package must be added."""
    setuptools_table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools_table["package-dir"] == {"sonar_tui.themes": "themes"}
    found = find_namespace_packages(where=str(REPO), include=["sonar_tui", "sonar_tui.*"])
    # Directories holding only data ship through the package-data globs, not as packages.
    code = {p for p in found if any((REPO / p.replace(".", "/")).glob("*.py"))}
    missing = (code | {"sonar_tui.themes"}) - set(setuptools_table["packages"])
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"
    gone = [p for p in setuptools_table["packages"] if p != "sonar_tui.themes"
            and not (REPO / p.replace(".", "/") / "__init__.py").is_file()]
    assert not gone, f"listed in pyproject.toml but not a package in the repository: {gone}"
