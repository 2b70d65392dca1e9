"""Helpers for the mock server tests: an SSE reader that splits lines as the spec says, and
request shortcuts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Sse:
    """A stream split the way the SSE spec says: lines end at \\n (or \\r\\n) only."""

    raw: bytes
    events: list[tuple[str | None, str]] = field(default_factory=list)  # (event, data)
    comments: list[str] = field(default_factory=list)
    blank_runs: int = 0  # blank lines beyond the one that ends each event

    def payloads(self) -> list[Any]:
        """Every data payload that is JSON, parsed (others skipped, as a tolerant client)."""
        result = []
        for _, data in self.events:
            try:
                result.append(json.loads(data))
            except json.JSONDecodeError:
                continue
        return result

    def bad_payloads(self) -> list[str]:
        bad = []
        for _, data in self.events:
            try:
                json.loads(data)
            except json.JSONDecodeError:
                bad.append(data)
        return bad


def parse_sse(raw: bytes) -> Sse:
    sse = Sse(raw)
    event: str | None = None
    data: list[str] = []
    previous_blank = True
    for line in raw.decode("utf-8").split("\n"):
        line = line.removesuffix("\r")
        if not line:
            if data:
                sse.events.append((event, "\n".join(data)))
            elif previous_blank:
                sse.blank_runs += 1
            event, data = None, []
            previous_blank = True
            continue
        previous_blank = False
        if line.startswith(":"):
            sse.comments.append(line[1:].strip())
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        sse.events.append((event, "\n".join(data)))
    return sse


def ask_sonar(client: httpx.Client, question: str = "What is HTTP/3?", *, path="/chat/completions",
              stream: bool = True, **fields: Any) -> httpx.Response:
    body = {"model": "sonar", "messages": [{"role": "user", "content": question}],
            "stream": stream, **fields}
    return client.post(path, json=body)


def ask_agent(client: httpx.Client, question: str = "What is HTTP/3?", *, path="/v1/responses",
              stream: bool = True, **fields: Any) -> httpx.Response:
    body = {"preset": "fast", "input": question, "stream": stream, **fields}
    return client.post(path, json=body)
