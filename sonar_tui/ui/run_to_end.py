"""Let a change to the widget tree finish even when the task awaiting it is cancelled.

Textual's ``Widget.remove()`` returns an awaitable that gathers the removed widgets' own
message-loop tasks. Cancelling a task while it awaits that gather cancels those message loops
too; Textual's own bookkeeping for the same removal then meets a cancelled task and the app's
message loop ends without a word (the app just stops). Workers are cancelled routinely here
(an exclusive worker replaced by a newer one, Esc stopping an answer, a timer stopped, a thread
switched away from), so anything such a task does to the DOM goes through :func:`run_to_end`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def run_to_end(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` in its own task; a cancellation of the caller is delivered only
    after that task has finished, so the widget tree is never left half-changed."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])  # asyncio.wait never cancels what it waits for
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as never retrieved
        raise
