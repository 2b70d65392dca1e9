"""Loopback servers for API tests, stopped after each test."""

from __future__ import annotations

import pytest

from sonar_tui.mock.http import HttpServer


@pytest.fixture
async def serve():
    """``server = await serve(handler)``: a real HTTP server on 127.0.0.1 for this test."""
    servers: list[HttpServer] = []

    async def start(handler) -> HttpServer:
        server = await HttpServer(handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
