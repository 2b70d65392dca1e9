"""Ways to start the mock: thread, current event loop, and the blocking command."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys

import httpx
import pytest

from sonar_tui.mock import PROFILES, start_mock, start_mock_async
from sonar_tui.mock.command import add_arguments, main
from tests.mock.helpers import AUTH, ask_sonar, parse_sse


def test_start_mock_options_reach_the_service():
    with start_mock("era-2024", chunks=25, seed=4, api_key="k") as mock:
        assert mock.url.startswith("http://127.0.0.1:")
        assert mock.service.profile == "era-2024" and mock.service.chunks == 25
        with httpx.Client(base_url=mock.url, headers={"Authorization": "Bearer k"}) as http:
            payloads = parse_sse(ask_sonar(http).content).payloads()
        assert len(payloads) == 26 and payloads[0]["object"] == "chat.completion"
        assert len(mock.requests) == 1
    with httpx.Client() as http, pytest.raises(httpx.ConnectError):
        http.get(mock.url + "/v1/models")  # stopped


async def test_async_variant_runs_on_the_current_loop():
    async with start_mock_async(chunks=10) as mock:
        async with httpx.AsyncClient(base_url=mock.url, headers=AUTH) as http:
            response = await http.post("/v1/responses", json={"preset": "fast", "input": "q"})
        assert response.status_code == 200
        assert response.json()["usage"]["output_tokens"] == 10
        assert mock.service.last_body() == {"preset": "fast", "input": "q"}
        assert len(mock.requests) == 1


def test_help_lists_every_profile(capsys):
    try:
        main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    for name in PROFILES:
        assert re.search(rf"^\s+{re.escape(name)}\s+\S", out, re.M), name


def test_add_arguments_parses_all_options():
    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--port", "8123", "--profile", "stall", "--chunks", "4000", "--pace", "200",
         "--fault-times", "2", "--api-key", "k", "--seed", "9"])
    assert (args.port, args.profile, args.chunks, args.pace, args.fault_times, args.api_key,
            args.seed) == (8123, "stall", 4000, 200.0, 2, "k", 9)


def test_python_m_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-m", "sonar_tui.mock", "--port", "0", "--profile", "500",
         "--fault-times", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
            assert ask_sonar(http, stream=False).status_code == 500
            assert ask_sonar(http, stream=False).status_code == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_fresh_servers_answer_identical_requests_with_identical_bytes():
    def exchange() -> list[bytes]:
        with start_mock() as mock, httpx.Client(base_url=mock.url, headers=AUTH) as http:
            return [ask_sonar(http).content, ask_sonar(http, stream=False).content,
                    http.post("/v1/responses", json={"preset": "fast", "input": "q",
                                                     "stream": True}).content]

    first, second = exchange(), exchange()
    assert first == second
    # Within one server every response gets its own id, like the real service.
    assert first[0].split(b'"', 4)[3] != first[1].split(b'"', 4)[3]


def test_last_body_keeps_non_json_bodies_as_text():
    with start_mock() as mock, httpx.Client(base_url=mock.url, headers=AUTH) as http:
        response = http.post("/chat/completions", content=b"{not json")
        assert response.status_code == 400
        assert mock.service.last_body() == "{not json"
        assert mock.service.bodies("/chat/completions") == ["{not json"]
