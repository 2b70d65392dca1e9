"""Background jobs on the Agent API: where they exist, what a poll says, and when to poll.

A question sent with ``background: true`` is answered at once with an id and ``status:
queued``; the answer is fetched by polling ``GET /v1/responses/{id}``, which moves through
``queued`` and ``in_progress`` to ``completed``, ``failed``, ``cancelled`` (or, in recordings,
``incomplete``), and ``POST /v1/responses/{id}/cancel`` asks it to stop (Perplexity's SDK,
``perplexity/generated/api.py``: ``ResponsesResource.create/retrieve/cancel``). The HTTP calls
are :class:`~sonar_tui.api.client.PerplexityClient` methods; this module holds what they
share with the service that follows jobs.

Only Perplexity's Agent API has a background mode: Sonar chat completions and the
chat-completions gateways (OpenRouter, LiteLLM) answer while the connection lasts or not at
all, so :func:`background_unavailable` says why a job cannot be started there.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sonar_tui.api.agent import parse_agent_progress, parse_agent_response
from sonar_tui.api.errors import ApiError, ErrorKind, is_perplexity_url
from sonar_tui.api.events import Event
from sonar_tui.api.settings import ConnectionSettings

# Statuses of a job still running; anything else has ended (``requires_action`` too: this
# client provides no tool results or approvals, so such a job can never go on).
RUNNING_STATUSES = frozenset({"queued", "in_progress", "cancelling"})


def background_unavailable(connection: ConnectionSettings) -> str | None:
    """Why questions cannot be sent as background jobs with these settings; None when they
    can (Perplexity's own service, or a base URL known to speak the Agent API)."""
    if connection.api_mode == "sonar":
        return ('api_mode is "sonar", and Sonar chat completions have no background mode; '
                'set api_mode to "auto" or "agent" to use the Agent API\'s.')
    if is_perplexity_url(connection.base_url) or connection.uses_agent():
        return None
    host = urlsplit(connection.base_url).hostname or connection.base_url
    return (f"{host} is a gateway serving chat completions, which have no background mode "
            "(only Perplexity's Agent API has one); if it serves the Agent API, set "
            'api_mode to "agent".')


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """What one read of a job found. ``events``: for a job that has ended, the whole answer
    (``Started`` ... ``Finished``/``Failed``); for one still running, what it has reported so
    far (steps, sources, images), without a terminal event."""

    response_id: str
    status: str
    events: tuple[Event, ...]

    @property
    def finished(self) -> bool:
        return self.status not in RUNNING_STATUSES


def read_snapshot(body: bytes | str | dict) -> JobSnapshot | ApiError:
    """A response object from the create request or a poll, or why it is not one."""
    if not isinstance(body, dict):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            body = {}
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        return ApiError(ErrorKind.PROTOCOL, "The service's answer about the background job "
                        "is not an Agent API response object (it has no id).")
    status = body.get("status")
    status = status if isinstance(status, str) and status else "completed"
    if status in RUNNING_STATUSES:
        return JobSnapshot(body["id"], status, tuple(parse_agent_progress(body)))
    return JobSnapshot(body["id"], status, tuple(parse_agent_response(body)))


class PollSchedule:
    """When to check a job next.

    Soon at first, then less and less often (x1.5 each time) up to ``CAP_FACTOR`` times the
    first interval (2 s -> 30 s by default): research takes minutes, and nobody needs its
    answer within a second of it ending. Every wait is jittered by +-20% so that several
    jobs, or several clients following one job, do not poll in step. A failed check (the
    network, a 5xx) backs off faster (x2, same cap); a rate limit's ``Retry-After`` is always
    honoured, never waited less.
    """

    GROWTH = 1.5
    FAILURE_GROWTH = 2.0
    JITTER = 0.2
    CAP_FACTOR = 15

    def __init__(self, first: float, *, rng: Callable[[], float] = random.random) -> None:
        self.first = max(0.01, float(first))
        self.cap = self.first * self.CAP_FACTOR
        self.interval = self.first
        self._rng = rng

    def _jittered(self, seconds: float) -> float:
        return max(0.0, seconds * (1 + self.JITTER * (2 * self._rng() - 1)))

    def next(self) -> float:
        """The wait after a check that worked."""
        wait = self._jittered(self.interval)
        self.interval = min(self.cap, self.interval * self.GROWTH)
        return wait

    def after_failure(self, retry_after: float | None = None) -> float:
        """The wait after a check that failed; at least ``retry_after`` when the service
        said how long to wait."""
        self.interval = min(self.cap, self.interval * self.FAILURE_GROWTH)
        wait = self._jittered(self.interval)
        if retry_after is not None:
            wait = max(wait, retry_after * (1 + self.JITTER * self._rng()))
        return wait

    def soon(self) -> None:
        """Start again from the first interval (something changed: a cancel was asked)."""
        self.interval = self.first


__all__ = ["JobSnapshot", "PollSchedule", "RUNNING_STATUSES", "background_unavailable",
           "read_snapshot"]
