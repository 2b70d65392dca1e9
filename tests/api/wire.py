"""Helpers for API tests: fixtures framed as on the real wire, loopback servers, clients."""

from __future__ import annotations

import json
from pathlib import Path

from sonar_tui.api.client import PerplexityClient
from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.events import Answer, Event, build_answer
from sonar_tui.api.settings import ConnectionSettings
from sonar_tui.mock.http import Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SONAR = FIXTURES / "sonar"
AGENT = FIXTURES / "agent"
KEY = "pplx-test-key-0123456789"
RETIREMENT_403 = (AGENT / "cfdude-mcp-perplexity-pro__error-403-async-chat-completions"
                  "-not-available.json")


def jsonl(path: Path) -> list[bytes]:
    """The payload lines of a ``.chunks.jsonl`` file, bytes exactly as stored."""
    return [line for line in path.read_bytes().split(b"\n") if line]


def sonar_wire(path: Path, done: bool = True) -> bytes:
    """Sonar framing: ``data: <line>\\n\\n`` per chunk, optionally ``data: [DONE]``."""
    body = b"".join(b"data: " + line + b"\n\n" for line in jsonl(path))
    return body + (b"data: [DONE]\n\n" if done else b"")


def agent_wire(path: Path, event_lines: bool = True, done: bool = False) -> bytes:
    """Agent framing: ``event: <type>\\ndata: <line>\\n\\n`` per event, no ``[DONE]``."""
    out = []
    for line in jsonl(path):
        head = b""
        if event_lines:
            head = b"event: " + json.loads(line)["type"].encode() + b"\n"
        out.append(head + b"data: " + line + b"\n\n")
    return b"".join(out) + (b"data: [DONE]\n\n" if done else b"")


def split_events(wire: bytes) -> list[bytes]:
    """One HTTP chunk per SSE event, as a server flushing per event sends them."""
    return [part + b"\n\n" for part in wire.split(b"\n\n") if part]


def sse(items, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, list(items), dict(headers or {}), content_type="text/event-stream")


def raw(status: int, body: bytes, content_type: str = "application/json",
        headers: dict | None = None) -> Response:
    return Response(status, body, dict(headers or {}), content_type=content_type)


def chunks(data: bytes, cuts) -> list[bytes]:
    """``data`` cut at the given byte offsets (any order, duplicates allowed)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


class SleepRecorder:
    """Stands in for asyncio.sleep: records the delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_for(url: str, *, key: str | None = KEY, sleep=None, **connection) -> PerplexityClient:
    conn = ConnectionSettings(base_url=url, **connection)
    return PerplexityClient(conn, key, sleep=sleep or SleepRecorder())


async def collect(client: PerplexityClient, request: AskRequest) -> list[Event]:
    return [event async for event in client.stream(request)]


async def ask(url: str, request: AskRequest | None = None,
              **connection) -> tuple[list[Event], Answer]:
    async with client_for(url, **connection) as client:
        events = await collect(client, request or AskRequest("What is the population of SF?"))
    return events, build_answer(events)
