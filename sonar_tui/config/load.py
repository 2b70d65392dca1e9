"""Loading config.toml with every source in its place: flags > environment > file > defaults.

The environment knows ``PERPLEXITY_API_KEY``, ``PERPLEXITY_BASE_URL`` and
``SONAR_TUI_<FIELD>`` for every scalar setting of every section (``SONAR_TUI_MODEL``,
``SONAR_TUI_API_MODE``, ``SONAR_TUI_THEME``...; see ``schema.environment_variables()``). An
empty variable counts as not set. List settings (domain filters, agent endpoints) come only
from the file or flags.

Loading never fails. Every value is type-checked and then validated with the same rules as
the settings screen; a wrong value is reported (source, key, reason) and ignored, so the next
source down (in the end the default) applies while the rest of the file still does. A file
that is not valid TOML is reported with its line and column, the app starts on the defaults,
and the file is never rewritten (``save_*`` refuse) so nothing the user wrote is lost.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sonar_tui import paths
from sonar_tui.actions import BY_ID, closest_id, key_clashes, key_problem, unknown_id_reason
from sonar_tui.api.settings import validate_connection_settings
from sonar_tui.config.loaded import ConfigProblem, LoadedConfig, ValueSource
from sonar_tui.config.schema import (
    ENV_API_KEY,
    FIELDS,
    SECTION_FIELDS,
    SECTIONS,
    Section,
    SettingField,
)

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


def _check_type(f: SettingField, value: Any) -> tuple[Any, str | None]:
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


def _parse_text(f: SettingField, text: str) -> tuple[Any, str | None]:
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

    def build(self, section: Section) -> Any:
        values = {name: top[1] for name in SECTION_FIELDS[section.table]
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
                known = SECTION_FIELDS[name]
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
        if binding_id not in BY_ID:
            problems.append(ConfigProblem(label, f"keymap.{binding_id}",
                                          unknown_id_reason(closest_id(binding_id))))
        elif isinstance(keys, str) and keys.strip():
            why = key_problem(keys.strip())
            if why is None:
                keymap[binding_id] = keys.strip()
            else:
                problems.append(ConfigProblem(label, f"keymap.{binding_id}", why))
        else:
            problems.append(ConfigProblem(
                label, f"keymap.{binding_id}",
                'must be a key such as "ctrl+s" (comma-separate several)'))
    # A clash would silence one action (quit, even): the remap is ignored, the default kept.
    for binding_id, why in key_clashes(keymap).items():
        problems.append(ConfigProblem(label, f"keymap.{binding_id}",
                                      why + "; this remap is ignored"))
        del keymap[binding_id]
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
    file_key: str | None = None
    keymap: dict[str, str] = {}
    if document is not None:
        file_key, keymap = _read_file_layer(document, str(path), layers, problems)
    _read_env_layer(env, layers)
    _read_flag_layer(flags, layers)
    built = _resolve(layers, problems)

    api_key_source: Literal["flag", "env", "file"] | None
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
