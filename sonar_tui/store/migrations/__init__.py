"""Ordered schema migrations; the version lives in ``PRAGMA user_version``.

Each module ``vN_*.py`` holds ``VERSION``, ``DESCRIPTION`` and ``STATEMENTS`` (a tuple of
single SQL statements: ``executescript`` would commit half-way, and a migration must be one
transaction). Never edit a released migration: add the next one. Tests build every earlier
schema by running the migrations up to that version, fill it with data, and upgrade it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from sonar_tui.store.migrations import (
    v1_initial,
    v2_fulltext,
    v3_attachments_writers,
    v4_response_ids,
    v5_background_jobs,
    v6_session_state,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _from_module(module: ModuleType) -> Migration:
    return Migration(module.VERSION, module.DESCRIPTION, tuple(module.STATEMENTS))


MIGRATIONS: tuple[Migration, ...] = tuple(
    _from_module(m) for m in (v1_initial, v2_fulltext, v3_attachments_writers, v4_response_ids,
                              v5_background_jobs, v6_session_state)
)
LATEST_VERSION = MIGRATIONS[-1].version

assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1)), "gap in migrations"
