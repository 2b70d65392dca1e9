"""The loopback mock of Perplexity's Sonar and Agent APIs (tests, demo, screenshots, benchmarks).

Entry points: :func:`start_mock` (thread), :func:`start_mock_async` (current loop),
:func:`serve` (blocking), :class:`MockService` (the handler), :data:`PROFILES`.
Answers end with :func:`last_line` (prefix :data:`LAST_LINE_PREFIX`).
"""

from sonar_tui.mock.content import DEFAULT_CHUNKS, LAST_LINE_PREFIX, build_answer, last_line
from sonar_tui.mock.profiles import PROFILES
from sonar_tui.mock.runner import AsyncMockHandle, MockHandle, serve, start_mock, start_mock_async
from sonar_tui.mock.service import MockService

__all__ = ["DEFAULT_CHUNKS", "LAST_LINE_PREFIX", "PROFILES", "AsyncMockHandle", "MockHandle",
           "MockService", "build_answer", "last_line", "serve", "start_mock", "start_mock_async"]
