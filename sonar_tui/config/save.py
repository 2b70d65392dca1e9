"""Writing config.toml back without harm.

Saving writes only what the user changed in this session: a changed value is written to its
key, a value changed back to its default removes the key, and everything else — comments,
layout, unknown keys and tables, values that came from flags or the environment — is left
exactly as it was (``tomlkit`` edits the document in place). The API key is written only by
``save_api_key``. New files are created with mode 0600 (their directory 0700) and every
write goes through a private temporary file renamed over the original. A file that could not
be read when it was loaded is never written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions

from sonar_tui.api.settings import ConnectionSettings, RequestSettings
from sonar_tui.config.loaded import ConfigWriteError, LoadedConfig, ValueSource
from sonar_tui.config.schema import SECTION_FIELDS, SECTIONS, AppearanceSettings, CopySettings

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
        for f in SECTION_FIELDS[section.table].values():
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
    updated: dict[str, Any] = {section.attr: new[section.table] for section in SECTIONS
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
