"""Misbehaving gateways in front of the real mock: its answers, rewritten on the wire.

A gateway wraps :class:`~sonar_tui.mock.service.MockService` and rewrites every JSON string
value of every SSE ``data:`` line (and of whole JSON bodies) before it leaves, the way a
buggy proxy between the client and Perplexity would. Object keys, status lines and the SSE
framing stay the mock's own, so both wire protocols and every profile still work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sonar_tui.mock.http import Response, ServerThread, _iterate
from sonar_tui.mock.service import MockService

Rewrite = Callable[[str], str]


def rewrite_strings(value: Any, rewrite: Rewrite) -> Any:
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list):
        return [rewrite_strings(v, rewrite) for v in value]
    if isinstance(value, dict):
        return {k: rewrite_strings(v, rewrite) for k, v in value.items()}
    return value


def _rewrite_json(raw: bytes, rewrite: Rewrite) -> bytes:
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    # ensure_ascii writes a lone surrogate as the "\ud800" escape a real gateway would send.
    return json.dumps(rewrite_strings(data, rewrite), ensure_ascii=True).encode()


def _rewrite_sse(chunk: bytes, rewrite: Rewrite) -> bytes:
    lines = chunk.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            lines[i] = b"data: " + _rewrite_json(payload, rewrite)
    return b"\n".join(lines)


class RewritingGateway:
    """The mock, with ``rewrite`` applied to every string value it answers."""

    def __init__(self, rewrite: Rewrite, profile: str = "default", **options: Any) -> None:
        self.mock = MockService(profile, **options)
        self.rewrite = rewrite
        self.requests = self.mock.requests

    async def __call__(self, request):
        response = await self.mock(request)
        if not isinstance(response, Response):
            return response
        if not response.streaming:
            response.body = _rewrite_json(bytes(response.body), self.rewrite)  # type: ignore[arg-type]
            return response
        body = response.body

        async def rewritten():
            async for item in _iterate(body):  # type: ignore[arg-type]
                yield _rewrite_sse(item, self.rewrite) if isinstance(item, bytes) else item
        response.body = rewritten()
        return response


def start_gateway(rewrite: Rewrite, profile: str = "default", **options: Any) -> ServerThread:
    server = ServerThread(RewritingGateway(rewrite, profile, **options))
    return server.start()


# A lone surrogate for every "z": the mock's answers about "zqxw" then carry one in the text,
# the reasoning, every source title, URL and snippet, image titles and related questions.
def lone_surrogates(text: str) -> str:
    return text.replace("z", "\ud800").replace("Z", "\udfff")
