"""The automatic switch to the Agent API never breaks a working setup (issue 13, section 3).

Each case goes through the real ``ChatService`` and ``PerplexityClient`` over loopback, with a
real config file in ``tmp_path``: switch only on the retirement 403; remember only once the
Agent API answered; a failed Agent retry leaves config.toml alone and reports both errors;
behind a gateway the user's model name goes to the Agent API; a config file that cannot be
written never fails an answer.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import ApiSwitched, Failed, Finished, Started, build_answer
from sonar_tui.config import forget_agent_endpoints, load_config
from sonar_tui.service import AgentEndpointRemembered, ChatService

from .wire import AGENT, KEY, RETIREMENT_403, SONAR, agent_wire, raw, sse

AGENT_STREAM = agent_wire(AGENT / "vercel-ai__agent-stream-web-search-fast.chunks.jsonl")
SONAR_STREAM = (SONAR / "vercel-ai__sonar-stream-usage-cost.chunks.jsonl").read_bytes()
FORBIDDEN = b'{"error":{"message":"This key may not use sonar-pro","type":"permission_denied"}}'


def routes(chat, agent):
    """Chat-completion paths answer ``chat``, Agent paths ``agent`` (callables or responses)."""
    async def handler(request):
        answer = agent if request.path.endswith(("/responses", "/agent")) else chat
        return answer(request) if callable(answer) else answer
    return handler


def retired():
    return raw(403, RETIREMENT_403.read_bytes())


def agent_ok():
    return sse([AGENT_STREAM])


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text('# mine\n[request]\nmodel = "sonar"\n')
    return path


def service_for(url, path, **env):
    config = load_config(path, env={"PERPLEXITY_API_KEY": KEY, "PERPLEXITY_BASE_URL": url, **env})
    return ChatService(None, config)


async def ask(service, question="q"):
    events = [e async for e in service.ask(question, save=False)]
    answer = build_answer([e for e in events if not isinstance(e, AgentEndpointRemembered)])
    return events, answer


def remembered(events):
    return [e for e in events if isinstance(e, AgentEndpointRemembered)]


async def test_the_retirement_403_switches_and_is_remembered_after_the_agent_answered(
        serve, config_file):
    server = await serve(routes(retired(), agent_ok()))
    service = service_for(server.url, config_file)
    events, answer = await ask(service)
    assert answer.error is None and answer.api == "agent" and answer.text
    kinds = [type(e) for e in events]
    assert kinds.index(ApiSwitched) < kinds.index(Started) < kinds.index(AgentEndpointRemembered)
    assert remembered(events) == [AgentEndpointRemembered(server.url, True)]
    text = config_file.read_text()
    assert text.startswith("# mine\n") and f'agent_endpoints = ["{server.url}"]' in text
    # The next question goes straight to the Agent API, and nothing is said again.
    events, answer = await ask(service)
    assert answer.api == "agent" and not remembered(events)
    assert [r.path for r in server.requests] == ["/chat/completions", "/v1/responses",
                                                 "/v1/responses"]
    await service.aclose()
    # A new session (a restart) reads the switch from the file.
    again = service_for(server.url, config_file)
    assert again.config.connection.uses_agent()


@pytest.mark.parametrize("status, body", [
    (403, FORBIDDEN),
    (403, b"Forbidden"),
    (401, b'{"error":{"message":"chat_completions_not_available","type":"invalid_api_key"}}'),
    (404, b'{"error":{"message":"Not found","type":"not_found"}}'),
])
async def test_only_the_retirement_403_switches(serve, config_file, status, body):
    before = config_file.read_bytes()
    server = await serve(routes(raw(status, body), agent_ok()))
    service = service_for(server.url, config_file)
    events, answer = await ask(service)
    assert answer.error.status == status and answer.api != "agent"
    assert not any(isinstance(e, ApiSwitched) for e in events)
    assert [r.path for r in server.requests] == ["/chat/completions"]
    assert config_file.read_bytes() == before
    await service.aclose()


@pytest.mark.parametrize("agent_reply, kind", [
    (raw(500, b'{"error":{"message":"agent backend down","type":"server_error"}}'),
     ErrorKind.SERVER),
    (raw(400, b'{"error":{"message":"unknown model","type":"invalid_model","code":400}}'),
     ErrorKind.INVALID_REQUEST),
    (raw(404, b"404 page not found", "text/plain"), ErrorKind.NOT_FOUND),
])
async def test_a_failed_agent_retry_leaves_the_config_alone_and_reports_both(
        serve, config_file, agent_reply, kind):
    before = config_file.read_bytes()
    server = await serve(routes(retired(), agent_reply))
    service = service_for(server.url, config_file, SONAR_TUI_MAX_ATTEMPTS="1")
    events, answer = await ask(service)
    assert any(isinstance(e, ApiSwitched) for e in events) and not remembered(events)
    error = answer.error
    assert error.kind is kind
    first = json.loads(agent_reply.body)["error"]["message"] if agent_reply.body[:1] == b"{" \
        else "404 page not found"
    assert first in error.message  # the Agent API's words ...
    assert "Sonar is now the Agent API" in error.message and "403" in error.message  # ... and why
    assert config_file.read_bytes() == before
    assert not service.config.connection.agent_endpoints
    # Not remembered: the next question tries chat completions again.
    await ask(service)
    assert [r.path for r in server.requests][-2:] == ["/chat/completions", "/v1/responses"]
    await service.aclose()


async def test_behind_a_gateway_the_users_model_name_goes_to_the_agent_api(serve, config_file):
    seen = []

    def agent(request):
        seen.append(request.json())
        return raw(400, b'{"error":{"message":"model my-alias is not routed here",'
                        b'"type":"invalid_request_error","param":null,"code":"400"}}')
    before = config_file.read_bytes()
    server = await serve(routes(retired(), agent))
    service = service_for(server.url, config_file, SONAR_TUI_MODEL="my-alias")
    events, answer = await ask(service)
    assert seen[0]["model"] == "my-alias" and "preset" not in seen[0]
    assert answer.error.kind is ErrorKind.INVALID_REQUEST
    assert "my-alias is not routed here" in answer.error.message
    assert not remembered(events) and config_file.read_bytes() == before
    await service.aclose()


async def test_a_gateway_that_accepts_the_users_model_is_remembered(serve, config_file):
    seen = []

    def agent(request):
        seen.append(request.json())
        return agent_ok()
    server = await serve(routes(retired(), agent))
    service = service_for(server.url, config_file, SONAR_TUI_MODEL="sonar-pro")
    events, answer = await ask(service)
    assert seen[0]["model"] == "sonar-pro" and answer.error is None
    assert remembered(events)[0].saved
    await service.aclose()


def read_only(path):
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)


@pytest.mark.parametrize("what", ["directory", "file"])
async def test_a_config_that_cannot_be_written_never_fails_the_answer(serve, config_file, what):
    before = config_file.read_bytes()
    read_only(config_file.parent if what == "directory" else config_file)
    try:
        server = await serve(routes(retired(), agent_ok()))
        service = service_for(server.url, config_file)
        events, answer = await ask(service)
        assert answer.error is None and answer.api == "agent" and answer.text
        assert isinstance(events[-1], (Finished, AgentEndpointRemembered))
        [note] = remembered(events)
        assert not note.saved and "read-only" in note.problem
        assert str(config_file.parent if what == "directory" else config_file) in note.problem
        # The switch holds for the session, and it is said only once.
        events, answer = await ask(service)
        assert answer.api == "agent" and not remembered(events)
        assert [r.path for r in server.requests] == ["/chat/completions", "/v1/responses",
                                                     "/v1/responses"]
        await service.reconfigure(service.config)  # e.g. other settings saved meanwhile
        events, answer = await ask(service)
        assert answer.api == "agent" and not remembered(events)
        await service.aclose()
    finally:
        config_file.parent.chmod(0o700)
        config_file.chmod(0o600)
    assert config_file.read_bytes() == before


async def test_a_missing_config_folder_is_created_for_the_switch(serve, tmp_path):
    path = tmp_path / "new" / "deeper" / "config.toml"
    server = await serve(routes(retired(), agent_ok()))
    service = service_for(server.url, path)
    events, _ = await ask(service)
    assert remembered(events)[0].saved and "agent_endpoints" in path.read_text()
    await service.aclose()


async def test_forgetting_the_switch_asks_chat_completions_again(serve, config_file):
    server = await serve(routes(retired(), agent_ok()))
    service = service_for(server.url, config_file)
    await ask(service)
    service.forget_agent_endpoints()
    assert "agent_endpoints" not in config_file.read_text()
    assert config_file.read_text().startswith("# mine\n")
    events, _ = await ask(service)  # switches again (Perplexity still says so)
    assert [r.path for r in server.requests][-2:] == ["/chat/completions", "/v1/responses"]
    assert remembered(events)[0].saved
    await service.aclose()
    loaded = load_config(config_file, env={})
    assert forget_agent_endpoints(loaded).connection.agent_endpoints == []
    assert "agent_endpoints" not in config_file.read_text()


async def test_a_switch_in_forced_sonar_mode_is_an_error_not_a_switch(serve, config_file):
    server = await serve(routes(retired(), agent_ok()))
    service = service_for(server.url, config_file, SONAR_TUI_API_MODE="sonar")
    events, answer = await ask(service)
    assert answer.error.kind is ErrorKind.RETIRED
    assert isinstance(events[-1], Failed) and len(server.requests) == 1
    await service.aclose()


def test_root_is_no_exception_to_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(folder)
    try:
        loaded = load_config(folder / "config.toml", env={})
        from sonar_tui.config import ConfigWriteError, remember_agent_endpoint
        with pytest.raises(ConfigWriteError, match="read-only"):
            remember_agent_endpoint(loaded, "https://gw.example")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


async def test_sonar_stream_passes_untouched_when_no_switch(serve, config_file):
    server = await serve(routes(sse([b"data: " + line + b"\n\n" for line in
                                     SONAR_STREAM.split(b"\n") if line]), agent_ok()))
    service = service_for(server.url, config_file)
    _, answer = await ask(service)
    assert answer.api == "sonar" and answer.error is None
    await service.aclose()
