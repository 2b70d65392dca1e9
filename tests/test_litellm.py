"""Through a real LiteLLM proxy in front of the mock: `sonar-tui ask --json` as a user runs it.

LiteLLM cannot share the project's environment (``litellm[proxy]`` pins ``rich<14``; Textual
8.2.8 needs ``rich>=14.2``), so it lives in a virtual environment of its own and runs as the
separate process it is in real use. The tests look for its ``litellm`` command in
``$SONAR_TUI_LITELLM``, then ``.venv-litellm/bin/litellm`` in the repository, then on PATH,
and skip (saying how to install it) when there is none:

    python3 -m venv .venv-litellm && .venv-litellm/bin/pip install 'litellm[proxy]==1.108.7'
    python -m pytest -n0 tests/test_litellm.py

The proxy is configured as the README's gateway section shows, with two routes to the mock:
its ``perplexity/`` provider (``/v1/chat/completions``; streams lose the sources there) and a
pass-through route (``/perplexity``; Perplexity's own bytes, sources included). Nothing
leaves 127.0.0.1: LiteLLM reads its bundled cost map and any other outbound request goes to
a closed local port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sonar_tui.mock import start_mock

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "sk-gateway-test-7f3a9c2e5b8d1f4a6c0e"
UPSTREAM_KEY = "pplx-upstream-key-held-by-the-proxy"
QUESTION = "How does DNS resolution work?"
CHUNKS = 24

CONFIG = """\
model_list:
  - model_name: sonar
    litellm_params:
      model: perplexity/sonar
      api_base: {mock}
      api_key: os.environ/PERPLEXITYAI_API_KEY
litellm_settings:
  telemetry: false
  num_retries: 0
router_settings:
  disable_cooldowns: true
  num_retries: 0
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: "/perplexity"
      target: "{mock}"
      include_subpath: true
      auth: true
      headers:
        Authorization: "bearer os.environ/PERPLEXITYAI_API_KEY"
"""


def litellm_command() -> str | None:
    for candidate in (os.environ.get("SONAR_TUI_LITELLM"),
                      str(ROOT / ".venv-litellm" / "bin" / "litellm"), shutil.which("litellm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


COMMAND = litellm_command()
pytestmark = pytest.mark.skipif(
    COMMAND is None,
    reason="the LiteLLM proxy is not installed: python3 -m venv .venv-litellm && "
           ".venv-litellm/bin/pip install 'litellm[proxy]==1.108.7' (its own venv: it pins "
           "rich<14, which Textual cannot use), or set SONAR_TUI_LITELLM to its litellm command")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """(mock handle, proxy URL): LiteLLM on loopback, in front of the mock."""
    mock = start_mock("default", chunks=CHUNKS, api_key=UPSTREAM_KEY)
    folder = tmp_path_factory.mktemp("litellm")
    config = folder / "litellm.yaml"
    config.write_text(CONFIG.format(mock=mock.url))
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}"  # any outbound request fails here, locally
    env = {**os.environ, "LITELLM_MASTER_KEY": MASTER_KEY, "PERPLEXITYAI_API_KEY": UPSTREAM_KEY,
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
           "NO_PROXY": "127.0.0.1,localhost", "NO_COLOR": "1"}
    log = (folder / "litellm.log").open("wb")
    proxy = subprocess.Popen([COMMAND, "--config", str(config), "--host", "127.0.0.1",
                              "--port", str(port)], cwd=folder, env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proxy.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("LiteLLM did not start:\n"
                                     + (folder / "litellm.log").read_text()[-3000:])
            time.sleep(0.25)
        yield mock, url
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proxy.kill()
        log.close()
        mock.stop()


def ask(tmp_path, base_url: str, *args: str, key: str = MASTER_KEY, path: str,
        **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PERPLEXITY_API_KEY": key, "PERPLEXITY_BASE_URL": base_url,
                   "SONAR_TUI_PATH": path, "SONAR_TUI_MAX_ATTEMPTS": "1",
                   "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.run([sys.executable, "-m", "sonar_tui", "ask", "--db",
                           str(tmp_path / "threads.db"), QUESTION, "--json", "--model", "sonar",
                           *args], capture_output=True, text=True, env=environment, timeout=120)


def complete(data: dict, *, sources: bool) -> None:
    assert data["text"].rstrip().endswith(f"({CHUNKS} chunks).")
    assert data["finish_reason"] == "stop" and data["api"] == "sonar"
    assert data["usage"]["total_tokens"] > 0 and data["cost"] > 0
    if sources:
        assert len(data["citations"]) >= 3
        assert data["citations"] == [s["url"] for s in data["search_results"]]
        assert all(s["title"] for s in data["search_results"])
        assert len(set(data["citations"])) == len(data["citations"])


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "non-streamed"])
def test_pass_through_route_gives_everything(gateway, tmp_path, stream):
    mock, url = gateway
    run = ask(tmp_path, url + "/perplexity", *([] if stream else ["--no-stream"]),
              path="/chat/completions")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    complete(json.loads(run.stdout), sources=True)
    received = mock.service.requests[-1]
    assert received.headers["authorization"] == f"bearer {UPSTREAM_KEY}"  # the proxy's key
    assert MASTER_KEY not in json.dumps(received.headers)


def test_model_route_non_streamed_gives_everything(gateway, tmp_path):
    _, url = gateway
    run = ask(tmp_path, url, "--no-stream", path="/v1/chat/completions")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    complete(json.loads(run.stdout), sources=True)


def test_model_route_streamed_gives_text_usage_cost_and_says_sources_were_dropped(
        gateway, tmp_path):
    _, url = gateway
    run = ask(tmp_path, url, path="/v1/chat/completions")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    complete(data, sources=False)  # usage and cost: asked for with stream_options
    assert data["citations"] == []
    [note] = run.stderr.splitlines()
    assert note.startswith("sonar-tui: note: This answer cites sources ([1]")
    assert "try --no-stream" in note
    off = ask(tmp_path, url, path="/v1/chat/completions", SONAR_TUI_STREAM_USAGE="false")
    assert off.returncode == 0 and json.loads(off.stdout)["usage"] is None


@pytest.mark.parametrize("route, path", [("", "/v1/chat/completions"),
                                         ("/perplexity", "/chat/completions")])
def test_a_key_the_proxy_does_not_know_is_an_auth_error_naming_it(gateway, tmp_path, route,
                                                                   path):
    _, url = gateway
    run = ask(tmp_path, url + route, key="sk-not-the-master-key", path=path)
    assert run.returncode == 3, run.stderr
    data = json.loads(run.stdout)
    assert data["error"]["kind"] == "auth" and data["error"]["status"] == 400
    assert "No connected db." in run.stderr and "master key" in run.stderr
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in run.stderr  # the host that refused it
    assert "Traceback" not in run.stderr and "sk-not-the-master-key" not in run.stderr


@pytest.mark.parametrize("profile, kind, code, words", [
    ("429", "rate_limit", 1, "rate limit exceeded"),
    ("401-json", "auth", 3, "Invalid API key provided"),
    ("400", "invalid_request", 1, "roles should be alternating"),
    ("500", "server", 1, "internal server error"),
])
def test_upstream_errors_through_the_proxy_read_plainly(gateway, tmp_path, profile, kind, code,
                                                        words):
    mock, url = gateway
    mock.service.configure(profile=profile)
    try:
        run = ask(tmp_path, url, path="/v1/chat/completions")
    finally:
        mock.service.configure(profile="default")
    assert run.returncode == code, run.stderr
    data = json.loads(run.stdout)
    assert data["error"]["kind"] == kind
    message = data["error"]["message"]
    assert words in message
    assert not message.startswith("litellm.") and "model group" not in message
    lines = run.stderr.splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("sonar-tui: ")
    assert "Retry in inf" not in run.stderr and "Traceback" not in run.stderr


def test_an_unknown_model_is_the_proxys_own_words(gateway, tmp_path):
    _, url = gateway
    run = ask(tmp_path, url, "--model", "nope", path="/v1/chat/completions")
    assert run.returncode == 1
    assert "Invalid model name passed in model=nope" in json.loads(run.stdout)["error"]["message"]
