"""v4: the Agent API response id of each answer, and where it was answered.

A thread's next question can then continue the previous answer with
``previous_response_id`` instead of replaying the whole history. The id is only valid on
the service that issued it, so the answer also records that service's base URL
(``response_endpoint``: scheme, host, port and path, never credentials or a query). Answers
written before v4 have neither and are continued by replaying the history, as before.
"""

VERSION = 4
DESCRIPTION = "response ids for continuing a thread"

STATEMENTS = (
    "ALTER TABLE messages ADD COLUMN response_id TEXT",
    "ALTER TABLE messages ADD COLUMN response_endpoint TEXT",
)
