"""Starting the mock: in-process for tests and the demo, or as a blocking server.

- ``with start_mock(profile=...) as mock:`` runs it on a daemon thread (any caller).
- ``async with start_mock_async(profile=...) as mock:`` runs it on the current event loop
  (tests that are already async).
- ``serve(port=..., profile=...)`` blocks until Ctrl-C (``sonar-tui mock-server``).

Options are the :class:`~sonar_tui.mock.service.MockService` keywords: ``api_key``,
``chunks``, ``pace``, ``fault_times``, ``seed``, ``clock``, ``job_polls``, ``job_seconds``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TextIO

from sonar_tui.mock.http import HttpServer, ServerThread
from sonar_tui.mock.profiles import DEFAULT_PROFILE
from sonar_tui.mock.service import MockService


class MockHandle(ServerThread):
    """A running mock on its own thread: ``.url``, ``.service``, ``.requests``, ``.stop()``."""

    def __init__(self, service: MockService, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(service, host, port)
        self.service = service


def start_mock(profile: str = DEFAULT_PROFILE, *, host: str = "127.0.0.1", port: int = 0,
               **options: Any) -> MockHandle:
    """Start a mock on a daemon thread; already listening when this returns."""
    return MockHandle(MockService(profile, **options), host, port).start()


class AsyncMockHandle(HttpServer):
    """A running mock on the caller's event loop (``async with``): ``.url``, ``.service``."""

    def __init__(self, service: MockService, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(service, host, port)
        self.service = service


def start_mock_async(profile: str = DEFAULT_PROFILE, *, host: str = "127.0.0.1", port: int = 0,
                     **options: Any) -> AsyncMockHandle:
    """``async with start_mock_async(...) as mock:`` (or ``await ....start()``)."""
    return AsyncMockHandle(MockService(profile, **options), host, port)


def serve(host: str = "127.0.0.1", port: int = 0, profile: str = DEFAULT_PROFILE, *,
          out: TextIO | None = None, **options: Any) -> None:
    """Serve until Ctrl-C. Prints the base URL first (scripts can read it from stdout)."""
    out = out or sys.stdout
    service = MockService(profile, **options)

    async def run() -> None:
        async with HttpServer(service, host, port) as server:
            print(f"Mock Perplexity API listening on {server.url} (profile {profile}); "
                  "Ctrl-C stops it.", file=out, flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print("Mock server stopped.", file=out, flush=True)


__all__ = ["AsyncMockHandle", "MockHandle", "serve", "start_mock", "start_mock_async"]
