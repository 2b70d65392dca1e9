"""The settings schema: every section of config.toml, its fields, types, defaults and help.

``RequestSettings`` and ``ConnectionSettings`` live in :mod:`sonar_tui.api.settings` (the API
layer sends them); the app-only sections (appearance, copy) are defined here. ``FIELDS``
describes every field of every section once (its table, type, default and the metadata the
settings screen and the README reference are written from), so loading, saving, the
environment variables, ``sonar-tui config`` and the reference all read one list.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from sonar_tui.api.settings import (
    ConnectionSettings,
    RequestSettings,
    SettingsProblem,
    validate_connection_settings,
    validate_request_settings,
)

DEFAULT_THEME = "sonar-dark"
CITATION_PANELS = ("right", "bottom", "hidden")
CITATION_STYLES = ("references", "inline")
JOB_NOTIFY_CHOICES = ("auto", "bell", "osc9", "osc777", "off")

ENV_API_KEY = "PERPLEXITY_API_KEY"
ENV_PREFIX = "SONAR_TUI_"
# Other tools already export these; ours (SONAR_TUI_<FIELD>) wins when both are set.
ENV_ALIASES: dict[str, tuple[str, ...]] = {"base_url": ("PERPLEXITY_BASE_URL",)}


def _meta(label: str, help: str, *, choices: tuple = (), section: str) -> dict:
    # The same keys as sonar_tui.api.settings uses, so one renderer serves every section.
    return {"label": label, "help": help, "choices": choices, "agent": True, "section": section}


@dataclass(slots=True)
class AppearanceSettings:
    theme: str = field(default=DEFAULT_THEME, metadata=_meta(
        "Theme", "sonar-dark, sonar-light, sonar-high-contrast, sonar-phosphor, any of "
        "Textual's themes, or a theme file in the themes/ folder next to config.toml.",
        section="appearance"))
    citation_panel: str = field(default="right", metadata=_meta(
        "Citation panel", "Where the sources of the selected answer are shown.",
        choices=CITATION_PANELS, section="appearance"))
    follow_streaming: bool = field(default=True, metadata=_meta(
        "Follow streaming", "Keep the newest text in view while an answer streams "
        "(scrolling up pauses it).", section="appearance"))
    job_notify: str = field(default="auto", metadata=_meta(
        "When a job finishes", "How a finished background job calls you back when you are "
        "elsewhere (another thread or window), besides the notice in the app: auto (a "
        "desktop notification where the terminal is known to show one, OSC 9 or OSC 777; "
        "the bell elsewhere), bell, osc9, osc777, or off.", choices=JOB_NOTIFY_CHOICES,
        section="appearance"))


@dataclass(slots=True)
class CopySettings:
    citation_style: str = field(default="references", metadata=_meta(
        "Citation style", "How [n] markers are written when an answer is copied: references "
        "keeps [n] and appends the numbered sources; inline turns each [n] into a Markdown "
        "link to its source.", choices=CITATION_STYLES, section="copy"))


def _choice(name: str, value: str, choices: tuple[str, ...]) -> list[SettingsProblem]:
    if value in choices:
        return []
    return [SettingsProblem(name, f"'{value}' is not one of {', '.join(choices)}")]


def validate_appearance_settings(a: AppearanceSettings) -> list[SettingsProblem]:
    # Whether the theme exists is known only once the UI has loaded the theme files.
    problems = [] if a.theme.strip() else [SettingsProblem("theme", "must name a theme")]
    return (problems + _choice("citation_panel", a.citation_panel, CITATION_PANELS)
            + _choice("job_notify", a.job_notify, JOB_NOTIFY_CHOICES))


def validate_copy_settings(c: CopySettings) -> list[SettingsProblem]:
    return _choice("citation_style", c.citation_style, CITATION_STYLES)


@dataclass(frozen=True, slots=True)
class Section:
    """One table of config.toml and the settings dataclass it fills."""

    table: str  # the TOML table
    attr: str  # the LoadedConfig attribute
    cls: type
    validate: Callable[[Any], list[SettingsProblem]]


SECTIONS: tuple[Section, ...] = (
    Section("request", "request", RequestSettings, validate_request_settings),
    Section("api", "connection", ConnectionSettings, validate_connection_settings),
    Section("appearance", "appearance", AppearanceSettings, validate_appearance_settings),
    Section("copy", "copy", CopySettings, validate_copy_settings),
)


@dataclass(frozen=True, slots=True)
class SettingField:
    """One setting: where it lives, its type and default, and its label/help/choices."""

    section: Section
    name: str
    kind: type  # bool, int, float, str or list (of str)
    optional: bool  # None (unset) allowed: absent from the file
    default: Any
    metadata: Mapping[str, Any]

    @property
    def key(self) -> str:
        return f"{self.section.table}.{self.name}"

    @property
    def env_names(self) -> tuple[str, ...]:
        if self.kind is list:
            return ()
        return (ENV_PREFIX + self.name.upper(), *ENV_ALIASES.get(self.name, ()))


def _describe_fields(section: Section) -> Iterator[SettingField]:
    hints = typing.get_type_hints(section.cls)
    for f in fields(section.cls):
        hint, optional = hints[f.name], False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = True
        kind = typing.get_origin(hint) or hint
        default = f.default if f.default is not MISSING else \
            f.default_factory()  # type: ignore[operator]  # every field has one of the two
        yield SettingField(section, f.name, kind, optional, default, f.metadata)


# Field names are unique across sections, so flags and SONAR_TUI_<FIELD> need no prefix.
FIELDS: dict[str, SettingField] = {}
for _section in SECTIONS:
    for _f in _describe_fields(_section):
        assert _f.name not in FIELDS, f"setting name {_f.name!r} is used by two sections"
        FIELDS[_f.name] = _f
SECTION_FIELDS: dict[str, dict[str, SettingField]] = {
    s.table: {f.name: f for f in FIELDS.values() if f.section is s} for s in SECTIONS}


def environment_variables() -> list[tuple[str, str]]:
    """Every environment variable read, with the setting it sets (for docs and --help)."""
    found = [(ENV_API_KEY, "the API key (wins over the file)"),
             ("SONAR_TUI_CONFIG", "the config file to use"),
             ("SONAR_TUI_DB", "the thread database to use")]
    for f in FIELDS.values():
        found.extend((name, f"[{f.section.table}] {f.name}") for name in f.env_names)
    return found
