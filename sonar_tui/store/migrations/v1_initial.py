"""v1: threads, messages and what an answer carries (sources, related questions, images)."""

VERSION = 1
DESCRIPTION = "initial schema"

STATEMENTS = (
    """
    CREATE TABLE threads (
        id          INTEGER PRIMARY KEY,
        uid         TEXT    NOT NULL UNIQUE,
        title       TEXT    NOT NULL DEFAULT '',
        created_at  REAL    NOT NULL,
        updated_at  REAL    NOT NULL,
        pinned      INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
        overrides   TEXT    NOT NULL DEFAULT '{}',
        last_api    TEXT,
        last_model  TEXT
    )
    """,
    "CREATE INDEX threads_by_updated ON threads (updated_at, id)",
    """
    CREATE TABLE messages (
        id            INTEGER PRIMARY KEY,
        thread_id     INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        role          TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
        content       TEXT    NOT NULL DEFAULT '',
        reasoning     TEXT    NOT NULL DEFAULT '',
        steps         TEXT    NOT NULL DEFAULT '[]',
        status        TEXT    NOT NULL DEFAULT 'complete'
                      CHECK (status IN ('complete', 'streaming', 'interrupted', 'cancelled', 'error')),
        error         TEXT,
        model         TEXT,
        api           TEXT,
        settings      TEXT    NOT NULL DEFAULT '{}',
        usage         TEXT,
        cost          REAL,
        finish_reason TEXT,
        created_at    REAL    NOT NULL,
        finished_at   REAL
    )
    """,
    "CREATE INDEX messages_by_thread ON messages (thread_id, id)",
    """
    CREATE TABLE sources (
        id            INTEGER PRIMARY KEY,
        message_id    INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position      INTEGER NOT NULL,
        number        INTEGER NOT NULL,
        url           TEXT    NOT NULL,
        title         TEXT    NOT NULL DEFAULT '',
        date          TEXT,
        last_updated  TEXT,
        snippet       TEXT,
        origin        TEXT
    )
    """,
    "CREATE INDEX sources_by_message ON sources (message_id, position)",
    """
    CREATE TABLE related_questions (
        message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        question    TEXT    NOT NULL,
        PRIMARY KEY (message_id, position)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE images (
        id          INTEGER PRIMARY KEY,
        message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        url         TEXT    NOT NULL,
        origin_url  TEXT,
        width       INTEGER,
        height      INTEGER,
        title       TEXT
    )
    """,
    "CREATE INDEX images_by_message ON images (message_id, position)",
)
