"""v5: background jobs, so that a deep-research answer outlives the process that asked for it.

A job is a question sent with the Agent API's ``background: true``: the service answers at
once with an id and the answer is fetched later by polling. The row is written before the
request leaves (``status = 'submitting'``, no ``response_id``) and gets its id the moment the
service gives one, so a crash at any point leaves a row that says what is known. The answer
itself is written as an ordinary finished message when the job ends (``answer_id``), in the
same transaction that sets ``finished_at``: a job is unfinished exactly while ``finished_at``
is NULL, and the next start of the app or the CLI polls every such job.

- ``endpoint``: the base URL the job was created on, without credentials (like
  ``messages.response_endpoint``); it can only be polled there. ``path`` is the Agent API
  path it was created with (``/v1/responses`` or ``/v1/agent``).
- ``replaces_id``: a regenerated answer's predecessor; it is deleted in the transaction that
  writes a complete answer, and kept when the job fails (a failed retry costs nothing).
- ``steps`` / ``sources``: what the service has reported so far (shown while it runs).
- ``status``: the service's word for it (``queued``, ``in_progress``, ``cancelling``,
  ``completed``, ``failed``, ``cancelled``, ``incomplete``) or sonar-tui's (``submitting``,
  ``gone``: the service no longer knows it; ``lost``: its id never arrived; ``abandoned``:
  it could not be cancelled, so it is no longer followed).
"""

VERSION = 5
DESCRIPTION = "background jobs"

STATEMENTS = (
    """
    CREATE TABLE jobs (
        id           INTEGER PRIMARY KEY,
        thread_id    INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        question_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        answer_id    INTEGER REFERENCES messages (id) ON DELETE SET NULL,
        replaces_id  INTEGER REFERENCES messages (id) ON DELETE SET NULL,
        response_id  TEXT,
        endpoint     TEXT    NOT NULL,
        path         TEXT    NOT NULL,
        status       TEXT    NOT NULL DEFAULT 'submitting',
        settings     TEXT    NOT NULL DEFAULT '{}',
        model        TEXT,
        steps        TEXT    NOT NULL DEFAULT '[]',
        sources      TEXT    NOT NULL DEFAULT '[]',
        error        TEXT,
        polls        INTEGER NOT NULL DEFAULT 0,
        created_at   REAL    NOT NULL,
        updated_at   REAL    NOT NULL,
        checked_at   REAL,
        finished_at  REAL
    )
    """,
    "CREATE INDEX jobs_by_thread ON jobs (thread_id, id)",
    # Start-up and the sidebar ask "which jobs are unfinished": a tiny partial index.
    "CREATE INDEX jobs_unfinished ON jobs (thread_id, id) WHERE finished_at IS NULL",
)
