"""Threads in SQLite. No Textual, no ``sonar_tui.api``: the service converts between the two.

Entry point: ``store = await Store.open(paths.default_db_path())``.
"""

from sonar_tui.store.answer_writer import AnswerWriter
from sonar_tui.store.errors import (
    MessageNotFoundError,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreImportError,
    StoreVersionError,
    StoreWriteError,
    ThreadNotFoundError,
)
from sonar_tui.store.models import (
    HIGHLIGHT_CLOSE,
    HIGHLIGHT_OPEN,
    AttachmentRecord,
    FinalAnswer,
    ImportResult,
    JobRecord,
    MessageRecord,
    SearchHit,
    ThreadData,
    ThreadRecord,
)
from sonar_tui.store.store import Store

__all__ = [
    "AnswerWriter",
    "AttachmentRecord",
    "FinalAnswer",
    "HIGHLIGHT_CLOSE",
    "HIGHLIGHT_OPEN",
    "ImportResult",
    "JobRecord",
    "MessageNotFoundError",
    "MessageRecord",
    "SearchHit",
    "Store",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreImportError",
    "StoreVersionError",
    "StoreWriteError",
    "ThreadData",
    "ThreadNotFoundError",
    "ThreadRecord",
]
