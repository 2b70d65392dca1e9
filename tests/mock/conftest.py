"""Fixtures for the mock server tests: a running mock and a client for it."""

from __future__ import annotations

import httpx
import pytest

from sonar_tui.mock import start_mock
from tests.mock.helpers import AUTH


@pytest.fixture
def mock():
    with start_mock() as handle:
        yield handle


@pytest.fixture
def client(mock):
    with httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as http:
        yield http
