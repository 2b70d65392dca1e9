"""v6: where the user left off: the last thread open, and the unsent draft of each thread.

``app_state`` is a small key-value table for facts about the app rather than a thread
(``last_thread``; ``new_thread_draft``, the draft typed in a thread not created yet).
``drafts`` holds one unsent question per thread and goes with its thread when that is
deleted (foreign key cascade).
"""

VERSION = 6
DESCRIPTION = "the last thread used and unsent drafts"

STATEMENTS = (
    "CREATE TABLE app_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE drafts ("
    " thread_id INTEGER PRIMARY KEY REFERENCES threads(id) ON DELETE CASCADE,"
    " text TEXT NOT NULL,"
    " updated_at REAL NOT NULL)",
)
