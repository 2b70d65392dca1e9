"""v2: full-text search over questions, finished answers, thread titles and source titles.

Three external-content FTS5 tables (no second copy of the text on disk), kept in sync by
triggers inside the writing transaction. Answers are indexed only once they leave
``streaming``: the content view hides streaming rows, and the message triggers fire only on
a transition into or out of a non-streaming state, so a checkpoint (streaming -> streaming)
costs nothing in the index. The invariant "the index holds exactly the rows of its content
view" is what FTS5's ``integrity-check`` verifies in the tests.
"""

VERSION = 2
DESCRIPTION = "full-text search"

# prefix = '3': search-as-you-type prefix-matches the last word from three letters on
# (store.search.MIN_PREFIX_CHARS); without an index of 3-letter prefixes a common one such as
# "the*" merges the doclists of every word it starts (67 ms instead of 6 ms on 100,000
# messages, for ~35% more index).
_TOKENIZE = "tokenize = 'unicode61 remove_diacritics 2', prefix = '3'"

STATEMENTS = (
    "CREATE VIEW message_search_docs AS SELECT id, content FROM messages WHERE status <> 'streaming'",
    f"""
    CREATE VIRTUAL TABLE message_fts USING fts5(
        content, content = 'message_search_docs', content_rowid = 'id', {_TOKENIZE}
    )
    """,
    f"CREATE VIRTUAL TABLE thread_fts USING fts5(title, content = 'threads', content_rowid = 'id', {_TOKENIZE})",
    f"CREATE VIRTUAL TABLE source_fts USING fts5(title, content = 'sources', content_rowid = 'id', {_TOKENIZE})",
    # -- messages: only non-streaming rows are in the index.
    """
    CREATE TRIGGER message_fts_insert AFTER INSERT ON messages WHEN new.status <> 'streaming' BEGIN
        INSERT INTO message_fts (rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TRIGGER message_fts_delete AFTER DELETE ON messages WHEN old.status <> 'streaming' BEGIN
        INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END
    """,
    """
    CREATE TRIGGER message_fts_update AFTER UPDATE OF status, content ON messages
    WHEN old.status <> 'streaming' OR new.status <> 'streaming' BEGIN
        INSERT INTO message_fts (message_fts, rowid, content)
            SELECT 'delete', old.id, old.content WHERE old.status <> 'streaming';
        INSERT INTO message_fts (rowid, content)
            SELECT new.id, new.content WHERE new.status <> 'streaming';
    END
    """,
    # -- thread titles
    """
    CREATE TRIGGER thread_fts_insert AFTER INSERT ON threads BEGIN
        INSERT INTO thread_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER thread_fts_delete AFTER DELETE ON threads BEGIN
        INSERT INTO thread_fts (thread_fts, rowid, title) VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER thread_fts_update AFTER UPDATE OF title ON threads BEGIN
        INSERT INTO thread_fts (thread_fts, rowid, title) VALUES ('delete', old.id, old.title);
        INSERT INTO thread_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
    # -- source titles
    """
    CREATE TRIGGER source_fts_insert AFTER INSERT ON sources BEGIN
        INSERT INTO source_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER source_fts_delete AFTER DELETE ON sources BEGIN
        INSERT INTO source_fts (source_fts, rowid, title) VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER source_fts_update AFTER UPDATE OF title ON sources BEGIN
        INSERT INTO source_fts (source_fts, rowid, title) VALUES ('delete', old.id, old.title);
        INSERT INTO source_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
    # -- index what v1 databases already hold
    "INSERT INTO message_fts (message_fts) VALUES ('rebuild')",
    "INSERT INTO thread_fts (thread_fts) VALUES ('rebuild')",
    "INSERT INTO source_fts (source_fts) VALUES ('rebuild')",
)
