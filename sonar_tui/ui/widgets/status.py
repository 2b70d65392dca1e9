"""The status line: model, API, active search settings, usage of the last answer and thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from sonar_tui.sanitize import clean_line
from sonar_tui.ui.format import format_cost, format_tokens


@dataclass
class StatusInfo:
    model: str = ""
    api: str = ""  # "sonar" | "agent" | "" (not asked yet)
    api_mode: str = "auto"
    search: str = ""
    overrides: bool = False
    last_tokens: int | None = None
    last_cost: float | None = None
    thread_tokens: int = 0
    thread_cost: float | None = None
    streaming: int = 0  # answers being written in any thread
    jobs: int = 0  # background jobs being followed
    demo: bool = False
    agent_ignored: int = 0  # settings the Agent API will not use


def status_content(info: StatusInfo, width: int | None = None) -> Content:
    """The status line; when ``width`` is short, the least useful parts go first (thread
    totals, then the search settings, then the API name) rather than being cut off."""
    sep = Content(" │ ").stylize("$foreground-muted")
    parts: list[tuple[int, Content]] = []  # (rank: higher goes first when short, part)
    if info.demo:
        parts.append((0, Content(" DEMO ").stylize("bold reverse $text-warning")))
    parts.append((0, Content(clean_line(info.model) or "sonar").stylize("bold")))
    api = {"agent": "Agent API", "sonar": "Sonar API"}.get(info.api)
    if api is None:
        api = {"agent": "Agent API", "sonar": "Sonar API"}.get(info.api_mode, "auto API")
    api_part = Content(api)
    if info.agent_ignored and (info.api == "agent" or info.api_mode == "agent"):
        count = info.agent_ignored
        api_part += Content(f" ({count} setting{'s' if count > 1 else ''} n/a)").stylize(
            "$text-warning")
    parts.append((2, api_part))
    search = Content("search: " + (info.search or "web"))
    if info.overrides:
        search += Content(" · thread overrides").stylize("$text-accent")
    parts.append((3 if not info.overrides else 1, search))
    if info.last_tokens is not None or info.last_cost is not None:
        parts.append((1, Content(f"last {format_tokens(info.last_tokens)} tok "
                                 f"{format_cost(info.last_cost)}")))
    if info.thread_tokens:
        parts.append((4, Content(f"thread {format_tokens(info.thread_tokens)} tok "
                                 f"{format_cost(info.thread_cost)}")))
    if info.streaming:
        parts.append((0, Content(f"● {info.streaming} streaming").stylize(
            "$streaming-indicator")))
    if info.jobs:
        parts.append((0, Content(f"◷ {info.jobs} background job{'s' if info.jobs > 1 else ''}")
                      .stylize("$streaming-indicator")))
    line = sep.join(part for _, part in parts)
    while width is not None and line.cell_length > width and any(rank for rank, _ in parts):
        worst = max(rank for rank, _ in parts)
        parts = [(rank, part) for rank, part in parts if rank != worst]
        line = sep.join(part for _, part in parts)
    return line


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; color: $text; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = StatusInfo()

    def show(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self.info, name, value)
        self._render_line()

    def on_resize(self) -> None:
        self._render_line()

    def _render_line(self) -> None:
        width = self.content_region.width if self.is_mounted and self.size.width else None
        self.update(status_content(self.info, width))
