"""The configuration file: read it with every source in its place, write it back without harm.

``config.toml`` lives in the platform config directory (``$SONAR_TUI_CONFIG`` or
``--config PATH`` point elsewhere). Its layout::

    api_key = "pplx-..."   # optional; PERPLEXITY_API_KEY wins over it

    [request]      # RequestSettings: the defaults for new threads (model, search filters...)
    model = "sonar-pro"

    [api]          # ConnectionSettings: where and how to reach the service
    base_url = "https://api.perplexity.ai"

    [appearance]   # AppearanceSettings
    theme = "sonar-dark"
    citation_panel = "right"      # right | bottom | hidden
    follow_streaming = true

    [copy]         # CopySettings
    citation_style = "references" # references | inline

    [keymap]       # binding id = key(s), applied with Textual's App.set_keymap
    "app.copy_answer" = "ctrl+y"

TOML has no null: an unset string is ``""`` and an unset number (``max_tokens``,
``temperature``, ``top_p``) is simply left out.

Precedence, highest first: command-line flags, the environment, the file, the defaults.
The environment knows ``PERPLEXITY_API_KEY``, ``PERPLEXITY_BASE_URL`` and
``SONAR_TUI_<FIELD>`` for every scalar setting of every section (``SONAR_TUI_MODEL``,
``SONAR_TUI_API_MODE``, ``SONAR_TUI_THEME``...; see ``environment_variables()``). An empty
variable counts as not set. List settings (domain filters, agent endpoints) come only from
the file or flags.

Loading never fails. Every value is type-checked and then validated with the same rules as
the settings screen; a wrong value is reported (source, key, reason) and ignored, so the next
source down (in the end the default) applies while the rest of the file still does. A file
that is not valid TOML is reported with its line and column, the app starts on the defaults,
and the file is never rewritten (``save_*`` refuse) so nothing the user wrote is lost.

Saving writes only what the user changed in this session: a changed value is written to its
key, a value changed back to its default removes the key, and everything else — comments,
layout, unknown keys and tables, values that came from flags or the environment — is left
exactly as it was (``tomlkit`` edits the document in place). The API key is written only by
``save_api_key``. New files are created with mode 0600 (their directory 0700) and every
write goes through a private temporary file renamed over the original.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
import tempfile
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import tomlkit
import tomlkit.exceptions

from sonar_tui import paths
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

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# A problem reported on a field whose value is already the default is caused by another one.
_CULPRITS: dict[str, tuple[str, ...]] = {"response_schema": ("response_format",)}
# Settings that never fall back to a lower source: the base URL says where the question and
# the key go, and an invalid one replaced by the file's or the default service would send
# them somewhere the user did not name. It stays in effect, reported, and nothing is sent
# (``ChatService`` refuses, the CLI exits 2) until it is fixed.
NO_FALLBACK = frozenset({"base_url"})
BLOCKED_SUFFIX = "nothing is sent until it is fixed"


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


# ----------------------------------------------------------------------------- the schema


@dataclass(frozen=True, slots=True)
class _Section:
    table: str  # the TOML table
    attr: str  # the LoadedConfig attribute
    cls: type
    validate: Callable[[Any], list[SettingsProblem]]


SECTIONS: tuple[_Section, ...] = (
    _Section("request", "request", RequestSettings, validate_request_settings),
    _Section("api", "connection", ConnectionSettings, validate_connection_settings),
    _Section("appearance", "appearance", AppearanceSettings, validate_appearance_settings),
    _Section("copy", "copy", CopySettings, validate_copy_settings),
)


@dataclass(frozen=True, slots=True)
class _Field:
    section: _Section
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


def _describe_fields(section: _Section) -> Iterator[_Field]:
    hints = typing.get_type_hints(section.cls)
    for f in fields(section.cls):
        hint, optional = hints[f.name], False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = True
        kind = typing.get_origin(hint) or hint
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        yield _Field(section, f.name, kind, optional, default, f.metadata)


# Field names are unique across sections, so flags and SONAR_TUI_<FIELD> need no prefix.
FIELDS: dict[str, _Field] = {}
for _section in SECTIONS:
    for _f in _describe_fields(_section):
        assert _f.name not in FIELDS, f"setting name {_f.name!r} is used by two sections"
        FIELDS[_f.name] = _f
_SECTION_FIELDS = {s.table: {f.name: f for f in FIELDS.values() if f.section is s}
                   for s in SECTIONS}


def environment_variables() -> list[tuple[str, str]]:
    """Every environment variable read, with the setting it sets (for docs and --help)."""
    found = [(ENV_API_KEY, "the API key (wins over the file)"),
             ("SONAR_TUI_CONFIG", "the config file to use"),
             ("SONAR_TUI_DB", "the thread database to use")]
    for f in FIELDS.values():
        found.extend((name, f"[{f.section.table}] {f.name}") for name in f.env_names)
    return found


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a setting: where it came from, which key, and why."""

    file: str  # the config file, or "$VARIABLE", or "--flag"
    key: str  # "request.temperature", "keymap.send", or "" for the whole file
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ValueSource:
    kind: Literal["flag", "env", "file"]
    label: str  # "--model", "$SONAR_TUI_MODEL", or the config file's path

    def __str__(self) -> str:
        return self.label


@dataclass
class LoadedConfig:
    path: Path
    request: RequestSettings
    connection: ConnectionSettings
    appearance: AppearanceSettings
    copy: CopySettings
    keymap: dict[str, str]
    api_key: str | None = field(default=None, repr=False)
    api_key_source: Literal["flag", "env", "file"] | None = None
    # "request.model" -> where its value came from; absent keys hold their defaults.
    sources: dict[str, ValueSource] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_ok: bool = True  # False: the file exists but could not be read; never write it
    file_exists: bool = False

    @property
    def masked_api_key(self) -> str:
        return mask_key(self.api_key)


class ConfigWriteError(Exception):
    """The config file was not written (the message says why and what to do).

    ``session`` is the config the change would have produced when only the write failed
    (an unwritable directory, a full disk): callers keep it in effect for this session.
    It is None when the new values themselves were refused.
    """

    session: LoadedConfig | None = None


def mask_key(key: str | None) -> str:
    """``••••••••abcd``: enough to recognise a key, never enough to use it.

    Keys shorter than 12 characters are masked entirely, since their last four would be
    a third of the secret.
    """
    if not key:
        return ""
    return "•" * 8 + (key[-4:] if len(key) >= 12 else "")


# ----------------------------------------------------------------------------- loading


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$SONAR_TUI_CONFIG``, else ``config.toml`` in the platform config directory."""
    override = env.get("SONAR_TUI_CONFIG")
    return Path(override).expanduser() if override else paths.config_dir() / "config.toml"


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a list nested hundreds deep, which TOML allows
        return "a deeply nested value"
    return text if len(text) <= 40 else text[:37] + "..."


def _check_type(f: _Field, value: Any) -> tuple[Any, str | None]:
    """The value converted to the field's type, or why it cannot be."""
    if f.kind is bool:
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if f.kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (value, None) if ok else (None, "must be a whole number")
    if f.kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            return float(value), None
        return None, "must be a finite number"
    if f.kind is str:
        return (value, None) if isinstance(value, str) else (None, "must be a string in quotes")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value), None
    return None, 'must be a list of strings, e.g. ["a", "b"]'


def _parse_text(f: _Field, text: str) -> tuple[Any, str | None]:
    """An environment variable (or a flag given as text) converted to the field's type."""
    if f.kind is str:
        return text, None
    if f.kind is bool:
        word = text.strip().lower()
        if word in _TRUE_WORDS or word in _FALSE_WORDS:
            return word in _TRUE_WORDS, None
        return None, "must be true or false (1/0, yes/no, on/off also work)"
    try:
        number = int(text) if f.kind is int else float(text)
    except ValueError:
        return None, "must be a whole number" if f.kind is int else "must be a number"
    return _check_type(f, number)


@dataclass(slots=True)
class _Layers:
    """Each field's values from the sources that set it, lowest precedence first."""

    stacks: dict[str, list[tuple[ValueSource, Any]]] = field(default_factory=dict)
    # Values refused (wrong type, or invalid): (field, source, value, why).
    refused: list[tuple[str, ValueSource, Any, str]] = field(default_factory=list)

    def push(self, name: str, source: ValueSource, value: Any) -> None:
        self.stacks.setdefault(name, []).append((source, value))

    def refuse(self, name: str, source: ValueSource, value: Any, why: str) -> None:
        self.refused.append((name, source, value, why))

    def top(self, name: str) -> tuple[ValueSource, Any] | None:
        stack = self.stacks.get(name)
        return stack[-1] if stack else None

    def build(self, section: _Section) -> Any:
        values = {name: top[1] for name in _SECTION_FIELDS[section.table]
                  if (top := self.top(name)) is not None}
        return section.cls(**values)


def _read_document(path: Path, problems: list[ConfigProblem]) -> tuple[dict | None, bool, bool]:
    """(parsed document, file_ok, file_exists)."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # no such file (nor could there be one)
        return None, True, False
    except OSError as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot be read ({exc.strerror}); "
                                      "starting with the defaults and leaving the file alone"))
        return None, False, True
    try:
        return tomllib.loads(raw.decode("utf-8")), True, True
    except UnicodeDecodeError as exc:
        reason = f"is not UTF-8 text (byte {exc.start})"
    except tomllib.TOMLDecodeError as exc:
        reason = f"is not valid TOML: {exc}"  # tomllib says "(at line L, column C)"
    except RecursionError:  # x = [[[[…]]]]: valid TOML, but tomllib recurses per level
        reason = "is nested too deeply to read (arrays or tables inside each other)"
    problems.append(ConfigProblem(str(path), "", f"{reason}; starting with the defaults and "
                                  "leaving the file untouched until it is fixed"))
    return None, False, True


def _unknown_key_reason(table: str | None, key: str, known: list[str]) -> str:
    owner = FIELDS.get(key)
    if table is not None and owner is not None:
        return f"unknown key in [{table}]; it belongs in [{owner.section.table}]"
    guess = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else ""
    return ("unknown key" if table is not None else "unknown key or table") + hint


def _read_file_layer(document: dict, label: str, layers: _Layers,
                     problems: list[ConfigProblem]) -> tuple[str | None, dict[str, str]]:
    """Push the file's settings; return (its api_key, its keymap)."""
    file_source = ValueSource("file", label)
    api_key: str | None = None
    keymap: dict[str, str] = {}
    tables = {s.table: s for s in SECTIONS}
    top_level = ["api_key", "keymap", *tables]
    for name, value in document.items():
        if name == "api_key":
            if isinstance(value, str):
                api_key = value.strip() or None
            else:
                problems.append(ConfigProblem(label, name, "must be a string in quotes"))
        elif name == "keymap" or name in tables:
            if not isinstance(value, dict):
                problems.append(ConfigProblem(label, name, f"must be a table: [{name}]"))
            elif name == "keymap":
                keymap = _read_keymap(value, label, problems)
            else:
                known = _SECTION_FIELDS[name]
                for key, item in value.items():
                    f = known.get(key)
                    if f is None:
                        problems.append(ConfigProblem(
                            label, f"{name}.{key}", _unknown_key_reason(name, key, list(known))))
                        continue
                    converted, why = _check_type(f, item)
                    if why and key in NO_FALLBACK:
                        converted, why = _show(item), None  # stays, and fails validation
                    if why:
                        layers.refuse(key, file_source, item, why)
                    else:
                        layers.push(key, file_source, converted)
        else:
            problems.append(ConfigProblem(label, name, _unknown_key_reason(None, name, top_level)))
    return api_key, keymap


def _read_keymap(table: dict, label: str, problems: list[ConfigProblem]) -> dict[str, str]:
    keymap: dict[str, str] = {}
    for binding_id, keys in table.items():
        if isinstance(keys, str) and keys.strip():
            keymap[binding_id] = keys.strip()
        else:
            problems.append(ConfigProblem(
                label, f"keymap.{binding_id}",
                'must be a key such as "ctrl+s" (comma-separate several)'))
    return keymap


def _read_env_layer(env: Mapping[str, str], layers: _Layers) -> None:
    for f in FIELDS.values():
        for name in f.env_names:
            text = env.get(name)
            if not text:
                continue
            value, why = _parse_text(f, text)
            if why:
                layers.refuse(f.name, ValueSource("env", f"${name}"), text, why)
            else:
                layers.push(f.name, ValueSource("env", f"${name}"), value)
            break  # the first variable set wins, even when its value is refused


def _read_flag_layer(flags: Mapping[str, Any], layers: _Layers) -> None:
    for name, value in flags.items():
        if name == "api_key" or value is None:
            continue
        f = FIELDS.get(name)
        if f is None:
            raise ValueError(f"no setting is called {name!r}")  # a bug in the caller
        source = ValueSource("flag", "--" + name.replace("_", "-"))
        if isinstance(value, str) and f.kind is not str:
            converted, why = _parse_text(f, value)
        else:
            converted, why = _check_type(f, value)
        if why:
            layers.refuse(name, source, value, why)
        else:
            layers.push(name, source, converted)


def _resolve(layers: _Layers, problems: list[ConfigProblem]) -> dict[str, Any]:
    """Build every section, dropping each value its validator refuses.

    A refused value is removed from the top of its field's stack, so the next source down
    (in the end the default) applies; validation then runs again, because a combination
    rule may involve another field. Each round removes at least one value, so it ends.
    Every refusal (these and the type errors met while reading) becomes one problem that
    says which value now applies. A ``NO_FALLBACK`` value is not removed: it is reported
    as blocking instead.
    """
    blocked: dict[str, str] = {}
    while True:
        built = {s.table: layers.build(s) for s in SECTIONS}
        dropped = False
        for section in SECTIONS:
            messages: dict[str, list[str]] = {}
            for p in section.validate(built[section.table]):
                messages.setdefault(p.field, []).append(p.message)
            for name, texts in messages.items():
                culprits = [name] if layers.top(name) else [
                    c for c in _CULPRITS.get(name, ()) if layers.top(c)]
                for culprit in culprits:
                    if culprit in NO_FALLBACK:
                        blocked[culprit] = "; ".join(texts)
                        continue
                    source, value = layers.stacks[culprit].pop()
                    layers.refuse(culprit, source, value, "; ".join(texts))
                    dropped = True
        if not dropped:
            break
    for name, why in blocked.items():
        top = layers.top(name)
        assert top is not None
        problems.append(ConfigProblem(top[0].label, FIELDS[name].key,
                                      f"{why} (got {_show(top[1])}); {BLOCKED_SUFFIX}"))
    for name, source, value, why in layers.refused:
        now = layers.top(name)
        using = f"the value from {now[0]}" if now else "the default"
        problems.append(ConfigProblem(source.label, FIELDS[name].key,
                                      f"{why} (got {_show(value)}); using {using}"))
    return built


def sending_blocked(loaded: LoadedConfig) -> ConfigProblem | None:
    """Why nothing may be sent with these settings (an invalid base URL), or None.

    Checked by everything that sends (the service, the CLI) against the settings in effect
    now, so a value fixed on the settings screen unblocks at once.
    """
    for problem in validate_connection_settings(loaded.connection):
        if problem.field in NO_FALLBACK:
            f = FIELDS[problem.field]
            source = loaded.sources.get(f.key)
            value = getattr(loaded.connection, problem.field)
            return ConfigProblem(source.label if source else "the settings", f.key,
                                 f"{problem.message} (got {_show(value)}); {BLOCKED_SUFFIX}")
    return None


def load_config(path: Path | None = None, *, env: Mapping[str, str] = os.environ,
                flags: Mapping[str, Any] | None = None) -> LoadedConfig:
    """Every setting from flags > environment > file > defaults. Never raises for bad input.

    ``flags`` maps setting names (``model``, ``base_url``, ``api_mode``... and ``api_key``)
    to values; ``None`` means "not given". Text values are parsed like environment values.
    """
    path = Path(path).expanduser() if path is not None else default_path(env)
    flags = flags or {}
    problems: list[ConfigProblem] = []
    warnings: list[str] = []
    layers = _Layers()

    document, file_ok, file_exists = _read_document(path, problems)
    file_key, keymap = (None, {})
    if document is not None:
        file_key, keymap = _read_file_layer(document, str(path), layers, problems)
    _read_env_layer(env, layers)
    _read_flag_layer(flags, layers)
    built = _resolve(layers, problems)

    api_key, api_key_source = file_key, ("file" if file_key else None)
    if env.get(ENV_API_KEY, "").strip():
        api_key, api_key_source = env[ENV_API_KEY].strip(), "env"
    if isinstance(flags.get("api_key"), str) and flags["api_key"].strip():
        api_key, api_key_source = flags["api_key"].strip(), "flag"

    if file_key and os.name == "posix":
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0
        if mode & 0o077:
            warnings.append(f"{path.name} is readable by other users (mode {mode:04o}) and "
                            f"contains an API key; run chmod 600 {path}")

    sources = {FIELDS[name].key: stack[-1][0] for name, stack in layers.stacks.items() if stack}
    return LoadedConfig(
        path=path,
        request=built["request"],
        connection=built["api"],
        appearance=built["appearance"],
        copy=built["copy"],
        keymap=keymap,
        api_key=api_key,
        api_key_source=api_key_source,
        sources=sources,
        problems=problems,
        warnings=warnings,
        file_ok=file_ok,
        file_exists=file_exists,
    )


# ----------------------------------------------------------------------------- saving

_REMOVE = object()
_NEW_FILE_HEADER = ("sonar-tui configuration. Edit freely: comments and layout are kept.\n"
                    "Every key is described in the README, section Configuration.")


def save_config(loaded: LoadedConfig, *, request: RequestSettings | None = None,
                connection: ConnectionSettings | None = None,
                appearance: AppearanceSettings | None = None, copy: CopySettings | None = None,
                keymap: dict[str, str] | None = None) -> LoadedConfig:
    """Write the settings that differ from ``loaded``; return the config now in effect.

    A value changed back to its default removes its key. Raises ``ConfigWriteError`` when
    the file cannot be written or a new value is invalid (nothing is written then).
    """
    new = {"request": request, "api": connection, "appearance": appearance, "copy": copy}
    changes: list[tuple[str | None, str, Any]] = []
    sources = dict(loaded.sources)
    file_source = ValueSource("file", str(loaded.path))
    for section in SECTIONS:
        settings = new[section.table]
        if settings is None:
            continue
        problems = section.validate(settings)
        if problems:
            raise ConfigWriteError(f"not saved: [{section.table}] " + "; ".join(map(str, problems)))
        old = getattr(loaded, section.attr)
        for f in _SECTION_FIELDS[section.table].values():
            value = getattr(settings, f.name)
            if value == getattr(old, f.name):
                continue
            if value == f.default:
                changes.append((section.table, f.name, _REMOVE))
                sources.pop(f.key, None)
            else:
                changes.append((section.table, f.name, value))
                sources[f.key] = file_source
    if keymap is not None:
        for binding_id, keys in keymap.items():
            if not isinstance(keys, str) or not keys.strip():
                raise ConfigWriteError(f"not saved: keymap.{binding_id} needs a key")
            if loaded.keymap.get(binding_id) != keys:
                changes.append(("keymap", binding_id, keys))
        changes.extend(("keymap", b, _REMOVE) for b in loaded.keymap if b not in keymap)
    updated = {section.attr: new[section.table] for section in SECTIONS
               if new[section.table] is not None}
    # What holds from now on, saved or not (a failed write keeps it for the session).
    session = replace(loaded, **updated, keymap=dict(loaded.keymap if keymap is None else keymap),
                      sources=dict(loaded.sources))
    try:
        _require_writable(loaded)
        if changes:
            _edit_file(loaded.path, changes)
    except ConfigWriteError as exc:
        exc.session = session
        raise
    return replace(session, sources=sources, file_exists=loaded.file_exists or bool(changes))


def save_api_key(loaded: LoadedConfig, key: str | None) -> LoadedConfig:
    """Store (or with ``None``/``""`` remove) the API key in the file, made private (0600).

    A key given by flag or environment stays in effect for this session, as it would at
    the next start.
    """
    _require_writable(loaded)
    key = (key or "").strip() or None
    if key is not None and any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigWriteError("not saved: an API key has no spaces or control characters")
    _edit_file(loaded.path, [(None, "api_key", key if key else _REMOVE)], private=True)
    # The write made the file private, so the "readable by others" warning no longer holds.
    warnings = [w for w in loaded.warnings if "contains an API key" not in w]
    if loaded.api_key_source in ("flag", "env"):
        return replace(loaded, file_exists=True, warnings=warnings)
    return replace(loaded, api_key=key, api_key_source="file" if key else None,
                   file_exists=True, warnings=warnings)


def remember_agent_endpoint(loaded: LoadedConfig, base_url: str) -> LoadedConfig:
    """Record that ``base_url`` retired chat completions and its Agent API answered
    (``[api] agent_endpoints``).

    Auto mode then starts with the Agent API there. Raises ``ConfigWriteError`` like
    ``save_config``; the caller keeps the switch for the session either way.
    """
    url = base_url.rstrip("/")
    known = loaded.connection.agent_endpoints
    if any(u.rstrip("/") == url for u in known):
        return loaded
    return save_config(loaded, connection=replace(loaded.connection,
                                                  agent_endpoints=[*known, url]))


def forget_agent_endpoints(loaded: LoadedConfig) -> LoadedConfig:
    """Forget every remembered Agent API switch (``[api] agent_endpoints``): auto mode asks
    through chat completions again (and switches again if Perplexity still says so)."""
    if not loaded.connection.agent_endpoints:
        return loaded
    return save_config(loaded, connection=replace(loaded.connection, agent_endpoints=[]))


def _require_writable(loaded: LoadedConfig) -> None:
    if not loaded.file_ok:
        raise ConfigWriteError(f"{loaded.path} was not readable as TOML when sonar-tui started, "
                               "so it is left untouched; fix it (or move it away) and restart")


def _edit_file(path: Path, changes: list[tuple[str | None, str, Any]], *,
               private: bool = False) -> None:
    """Apply ``(table, key, value | _REMOVE)`` changes to the file on disk, keeping the rest."""
    target = Path(os.path.realpath(path))  # write through a symlink (dotfile managers)
    try:
        text = target.read_text(encoding="utf-8")
        existing_mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        text, existing_mode = None, None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigWriteError(f"{path} cannot be read, so it was not changed: {exc}") from exc
    try:
        document = tomlkit.parse(text) if text is not None else tomlkit.document()
    except (tomlkit.exceptions.TOMLKitError, RecursionError) as exc:
        raise ConfigWriteError(f"{path} was changed on disk and is no longer valid TOML "
                               f"({exc or 'nested too deeply'}); not overwriting it") from exc
    _refuse_read_only(path, target, existing_mode)
    if text is None:
        for line in _NEW_FILE_HEADER.splitlines():
            document.add(tomlkit.comment(line))
        document.add(tomlkit.nl())

    for table_name, key, value in changes:
        if table_name is None:
            container: Any = document
        elif table_name in document:
            container = document[table_name]
            if not isinstance(container, dict):
                raise ConfigWriteError(f"{path}: '{table_name}' is not a table; fix it by hand")
        elif value is _REMOVE:
            continue
        else:
            document[table_name] = tomlkit.table()
            container = document[table_name]
        if value is _REMOVE:
            container.pop(key, None)
        else:
            container[key] = value

    mode = 0o600 if existing_mode is None or (private and existing_mode & 0o077) else existing_mode
    try:
        _write_atomically(target, tomlkit.dumps(document), mode)
    except OSError as exc:  # a read-only directory, a full disk, a file where a dir should be
        reason = exc.strerror or type(exc).__name__
        where = exc.filename or target
        raise ConfigWriteError(f"{path} could not be written ({reason}: {where}); the change "
                               "applies to this session only") from exc


def _refuse_read_only(path: Path, target: Path, mode: int | None) -> None:
    """A file or folder its owner made read-only is left alone, even by root (who could
    write it anyway, and whose atomic rename would replace a read-only file)."""
    if mode is not None and not mode & 0o200:
        raise ConfigWriteError(f"{path} is read-only (mode {mode:04o}), so it was not changed")
    try:
        folder_mode = stat.S_IMODE(target.parent.stat().st_mode)
    except OSError:
        return  # missing: it is created (or the write fails and says why)
    if not folder_mode & 0o200:
        raise ConfigWriteError(f"{target.parent} is read-only (mode {folder_mode:04o}), so "
                               f"{path.name} could not be written there")


def _write_atomically(target: Path, text: str, mode: int) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with os.open(..., 0o600): the content is never visible to
    # others, not even between creation and a chmod.
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            if mode != 0o600:
                os.fchmod(handle.fileno(), mode)  # the user's own looser mode, kept
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- reference


def _type_name(f: _Field) -> str:
    name = {bool: "boolean", int: "integer", float: "number", str: "string",
            list: "list of strings"}[f.kind]
    return f"{name}, optional" if f.optional else name


def _toml_value(value: Any) -> str:
    return "(unset)" if value is None else f"`{tomlkit.item(value).as_string()}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference_markdown() -> str:
    """Every key of config.toml and every environment variable, as Markdown tables."""
    rows = ["| Section | Key | Type | Default | Meaning |", "|---|---|---|---|---|",
            "| (top) | `api_key` | string | (unset) | The Perplexity API key. "
            f"`{ENV_API_KEY}` wins over it. There is deliberately no command-line flag (a key "
            "on the command line shows in `ps`). The file is created private (mode 0600). |"]
    for f in FIELDS.values():
        meaning = f.metadata.get("help", "")
        choices = f.metadata.get("choices", ())
        if choices:
            meaning += " One of: " + ", ".join(f"`{c}`" if c else "(blank)" for c in choices) + "."
        rows.append(f"| `[{f.section.table}]` | `{f.name}` | {_type_name(f)} | "
                    f"{_toml_value(f.default)} | {_cell(meaning)} |")
    rows.append('| `[keymap]` | a binding id | string | | The key(s) for that binding, e.g. '
                '`"app.copy_answer" = "f9"` (ids are in the key bindings table; quote them, '
                'they contain a dot); comma-separate several keys. |')
    env_rows = ["| Variable | Sets |", "|---|---|"]
    env_rows += [f"| `{name}` | {_cell(meaning)} |" for name, meaning in environment_variables()]
    return "\n".join([
        "### config.toml", "",
        "Unset strings are `\"\"`; unset numbers are left out of the file.", "",
        *rows, "",
        "### Environment variables", "",
        "Precedence: command-line flags, then these variables, then the file, then the "
        "defaults. An empty variable counts as not set.", "",
        *env_rows, "",
    ])


__all__ = [
    "AppearanceSettings",
    "CITATION_PANELS",
    "CITATION_STYLES",
    "JOB_NOTIFY_CHOICES",
    "ConfigProblem",
    "ConfigWriteError",
    "CopySettings",
    "DEFAULT_THEME",
    "LoadedConfig",
    "ValueSource",
    "config_reference_markdown",
    "default_path",
    "environment_variables",
    "forget_agent_endpoints",
    "load_config",
    "mask_key",
    "remember_agent_endpoint",
    "save_api_key",
    "save_config",
    "sending_blocked",
    "validate_appearance_settings",
    "validate_copy_settings",
]
