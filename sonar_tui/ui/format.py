"""Small display formatters shared by the widgets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], float]


def relative_time(timestamp: float, now: float | None = None) -> str:
    """'now', '5m', '3h', '2d', then a short date: compact enough for a sidebar."""
    now = time.time() if now is None else now
    delta = max(0.0, now - timestamp)
    if delta < 60:
        return "now"
    if delta < 3600:
        return f"{int(delta // 60)}m"
    if delta < 86400:
        return f"{int(delta // 3600)}h"
    if delta < 7 * 86400:
        return f"{int(delta // 86400)}d"
    moment = datetime.fromtimestamp(timestamp)
    if moment.year == datetime.fromtimestamp(now).year:
        return moment.strftime("%b %d").replace(" 0", " ")
    return moment.strftime("%Y-%m-%d")


def format_elapsed(seconds: float) -> str:
    """A running time as compact as a sidebar needs: "45s", "12m", "1h05"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "–"
    if cost == 0:
        return "$0"
    if cost < 0.01:
        return f"${cost:.4f}"
    return f"${cost:.2f}"


def format_tokens(count: int | None) -> str:
    if not count:
        return "0"
    if count < 1000:
        return str(count)
    return f"{count / 1000:.1f}k"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
