"""v3: image attachments, live-writer tracking for crash recovery, indexes for big histories.

- ``attachments``: the user's images per question (metadata always, bytes only on request).
- ``writers`` + ``messages.writer_session/checkpoint_at``: which process is streaming a row
  and when it last showed life, so that recovery after a crash never steals the row of
  another instance that is streaming right now. Rows left ``streaming`` by a v2 database have
  no writer and are recovered as crashed, which is what they are.
- ``threads_by_pinned`` serves the sidebar's "pinned first, newest first" page straight from
  an index; ``messages_streaming`` makes ``has_streaming`` and recovery a tiny lookup.
"""

VERSION = 3
DESCRIPTION = "attachments, writer heartbeats, listing indexes"

STATEMENTS = (
    """
    CREATE TABLE attachments (
        id          INTEGER PRIMARY KEY,
        message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        name        TEXT    NOT NULL,
        mime        TEXT    NOT NULL,
        size        INTEGER NOT NULL,
        sha256      TEXT    NOT NULL,
        data        BLOB
    )
    """,
    "CREATE INDEX attachments_by_message ON attachments (message_id, position)",
    """
    CREATE TABLE writers (
        session     TEXT    PRIMARY KEY,
        pid         INTEGER NOT NULL,
        host        TEXT    NOT NULL,
        started_at  REAL    NOT NULL,
        last_seen   REAL    NOT NULL
    ) WITHOUT ROWID
    """,
    "ALTER TABLE messages ADD COLUMN writer_session TEXT",
    "ALTER TABLE messages ADD COLUMN checkpoint_at REAL",
    "CREATE INDEX messages_streaming ON messages (thread_id) WHERE status = 'streaming'",
    "CREATE INDEX threads_by_pinned ON threads (pinned, updated_at, id)",
)
