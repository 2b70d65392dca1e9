"""Every body and event the mock sends, for every profile, as the official SDKs read them.

Three judges, all real third-party software: the pydantic models of Perplexity's SDK
(``perplexity/generated/api.py``, generated from their OpenAPI spec), Perplexity's SDK client,
and the OpenAI SDK's chat-completions and responses clients, over real HTTP on 127.0.0.1.
Malformed data belongs to the fault profiles only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import perplexity
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from perplexity import Perplexity
from pydantic import ValidationError

from sonar_tui.mock import PROFILES, last_line, start_mock
from sonar_tui.mock.profiles import POLL_FAULTS, STATUS_FAULTS, STREAM_FAULTS
from sonar_tui.mock.validation import SONAR_MODELS
from tests.mock.contract import (
    SONAR_DEVIATIONS,
    Exchange,
    agent_event_problems,
    agent_response_problems,
    cancel_problems,
    event_class_for,
    is_malformed,
    parse_json,
    sonar_problems,
    sse_data,
)
from tests.mock.helpers import AUTH

CHUNKS = 12
QUESTION = "What is HTTP/3?"
AGENT_ASKS = {
    "effort": {"effort": "low", "input": QUESTION},
    "preset": {"preset": "fast", "input": QUESTION},
    "model": {"model": "openai/gpt-5.1", "input": QUESTION, "tools": [{"type": "web_search"}]},
}
CUT_SHORT = {"disconnect", "stall"}  # answers that end in a transport failure
# Profiles that stand for an OpenAI-compatible gateway, not Perplexity: their chat wire is
# judged by the OpenAI SDK's models (what those gateways promise), not Perplexity's.
GATEWAYS = {"openrouter", "gateway"}
NOT_THE_API = {"captive-portal"}  # a web page answers with 200 instead of the service


def _read_timeout(profile: str) -> float:
    return 0.3 if profile == "stall" else 10.0


def _exchange(client: httpx.Client, method: str, path: str, label: str, api: str,
              body: dict | None = None) -> Exchange:
    try:
        with client.stream(method, path, json=body) as response:
            raw = b""
            failure = None
            try:
                for chunk in response.iter_raw():
                    raw += chunk
            except httpx.TransportError as exc:
                failure = type(exc).__name__
            exchange = Exchange(label, api, response.status_code,
                                response.headers.get("content-type", ""), raw, failure)
    except httpx.TransportError as exc:
        return Exchange(label, api, None, "", b"", type(exc).__name__)
    exchange.events = sse_data(raw) if exchange.streamed else []
    return exchange


def traffic(profile: str) -> Iterator[Exchange]:
    """What a client sees from the mock in ``profile``: each API, streamed and not."""
    timeout = httpx.Timeout(5.0, read=_read_timeout(profile))
    with start_mock(profile, chunks=CHUNKS, job_polls=3, job_seconds=None) as mock, \
            httpx.Client(base_url=mock.url, headers=AUTH, timeout=timeout) as client:
        completed = None
        for name, body in AGENT_ASKS.items():
            for stream in (False, True):
                exchange = _exchange(client, "POST", "/v1/responses",
                                     f"agent {name} stream={stream}", "agent",
                                     {**body, "stream": stream})
                if exchange.status == 200 and not exchange.streamed and completed is None:
                    completed = parse_json(exchange.raw.decode())
                yield exchange
        if isinstance(completed, dict) and completed.get("status") == "completed":
            yield _exchange(client, "POST", "/v1/responses", "agent continuation", "agent",
                            {"effort": "low", "input": "And HTTP/2?", "stream": True,
                             "previous_response_id": completed["id"]})
            yield _exchange(client, "GET", f"/v1/responses/{completed['id']}", "agent retrieve",
                            "agent")
        yield from _background_traffic(client)
        for model in SONAR_MODELS:
            for stream in (False, True):
                yield _exchange(client, "POST", "/chat/completions",
                                f"sonar {model} stream={stream}", "sonar",
                                {"model": model, "stream": stream,
                                 "messages": [{"role": "user", "content": QUESTION}]})
        yield _exchange(client, "POST", "/chat/completions", "sonar concise", "sonar",
                        {"model": "sonar", "stream": True, "stream_mode": "concise",
                         "messages": [{"role": "user", "content": QUESTION}]})


def _background_traffic(client: httpx.Client) -> Iterator[Exchange]:
    """A background job read at every stage (queued, in progress, ended), and another one
    cancelled, then read."""
    for name in ("read", "cancel"):
        created = _exchange(client, "POST", "/v1/responses", f"background create ({name})",
                            "agent", {"effort": "high", "input": QUESTION, "background": True})
        yield created
        job = parse_json(created.raw.decode("utf-8", "replace")) if created.status == 200 \
            else None
        if not isinstance(job, dict) or "id" not in job:
            return
        url = f"/v1/responses/{job['id']}"
        if name == "cancel":
            yield _exchange(client, "POST", f"{url}/cancel", "background cancel", "agent")
        for stage in range(1 if name == "cancel" else 3):
            yield _exchange(client, "GET", url, f"background retrieve {name} {stage}", "agent")


def _openai_chat_problems(payload, streamed: bool) -> list[str]:
    model = ChatCompletionChunk if streamed else ChatCompletion
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return []


def _problems(exchange: Exchange, profile: str) -> list[str]:
    if exchange.status != 200 or profile in NOT_THE_API:
        return []  # error envelopes: tests/mock/test_validation.py and the client tests below
    if profile in GATEWAYS and exchange.api == "sonar":
        payloads = ([parse_json(d) for d in exchange.events if d != "[DONE]"]
                    if exchange.streamed else [parse_json(exchange.raw.decode())])
        return [p for payload in payloads
                for p in _openai_chat_problems(payload, exchange.streamed)]
    if not exchange.streamed:
        payload = parse_json(exchange.raw.decode("utf-8", "replace"))
        if is_malformed(payload):
            return [] if exchange.failure else ["the body is not JSON"]
        if exchange.label == "background cancel":
            return cancel_problems(payload)
        if exchange.api == "agent":
            return agent_response_problems(payload)
        return sonar_problems(payload, "body")[0]
    problems = []
    for data in exchange.events:
        if exchange.api == "sonar" and data == "[DONE]":
            continue
        payload = parse_json(data)
        if is_malformed(payload):
            if profile not in STREAM_FAULTS:
                problems.append(f"malformed event outside the fault profiles: {data[:80]!r}")
            continue
        if exchange.api == "agent":
            problems.extend(agent_event_problems(payload))
        else:
            problems.extend(sonar_problems(payload, "stream")[0])
    return problems


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_body_and_event_satisfies_the_sdk_models(profile):
    failures = {}
    for exchange in traffic(profile):
        problems = _problems(exchange, profile)
        refused = exchange.status not in (200, None) and _expected_status(
            profile, exchange.api, exchange.label) is None
        if refused:  # a request any SDK may send, refused outside the status faults
            problems.append(f"HTTP {exchange.status}: {exchange.raw[:200]!r}")
        if problems:
            failures[exchange.label] = sorted(set(problems))[:5]
    assert not failures, json.dumps(failures, indent=1)


def test_malformed_data_appears_in_the_malformed_profile():
    exchanges = [x for x in traffic("malformed") if x.streamed]
    assert exchanges and all(any(is_malformed(parse_json(d)) for d in x.events)
                             for x in exchanges)


# ----------------------------------------------------------------------------- recordings


def _recorded_sonar(fixtures_dir) -> Iterator[tuple[str, str, dict]]:
    for path in sorted((fixtures_dir / "sonar").iterdir()):
        if path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                yield path.name, "stream", json.loads(line)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            if "choices" in data:
                yield path.name, "body", data


def test_recorded_sonar_wire_needs_exactly_the_listed_deviations(fixtures_dir):
    """The SDK's chat model is stricter than the live service; every deviation the mock may
    show is one a recording shows (or, for the one reported, is said to show)."""
    used: set[tuple] = set()
    for name, where, payload in _recorded_sonar(fixtures_dir):
        problems, deviations = sonar_problems(payload, where)
        assert problems == [], name
        used |= deviations
    recorded = {k for k, why in SONAR_DEVIATIONS.items() if why.startswith("recorded")}
    assert recorded <= used


def test_recorded_agent_wire_differs_from_the_sdk_only_where_clients_must_be_lenient(
        fixtures_dir):
    """Live capture vs the SDK: only the message's ``content: null`` when it is announced.
    The mock follows the SDK (``[]``); sonar-tui's parser accepts both."""
    folder = fixtures_dir / "agent"
    problems = []
    for line in (folder / "vercel-ai__agent-stream-web-search-fast.chunks.jsonl").open():
        problems += agent_event_problems(json.loads(line))
    assert problems == ["response.output_item.added: item.MessageOutputItemOutput.content: "
                        "Input should be a valid list"]
    for name in ("vercel-ai__agent-nonstream-web-search-fast.json",
                 "cfdude-mcp-perplexity-pro__nonstream-fast-preset-search.json"):
        assert agent_response_problems(json.loads((folder / name).read_text())) == [], name


# ----------------------------------------------------------------------------- real clients


def _expected_status(profile: str, api: str, label: str = "") -> int | None:
    statuses = {"401-json": 401, "401-html": 401, "400": 400, "429": 429,
                "429-no-retry-after": 429, "500": 500, "502-html": 502}
    if profile in statuses:
        return statuses[profile]
    if profile == "poll-429" and "retrieve" in label:
        return 429
    if profile == "cancel-refused" and label == "background cancel":
        return 404
    if profile == "403-retired" and api == "sonar":
        return 403
    return None


def _openai(mock, profile: str, base: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(api_key="test-key", base_url=mock.url + base, max_retries=0,
                         timeout=openai.Timeout(5.0, read=_read_timeout(profile)))


def _transport_errors() -> tuple[type[BaseException], ...]:
    return (openai.APIConnectionError, httpx.TransportError)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_the_openai_responses_client_reads_every_profile(profile):
    status = _expected_status(profile, "agent")
    with start_mock(profile, chunks=CHUNKS) as mock:
        client = _openai(mock, profile)
        ask = {"model": "openai/gpt-5.1", "input": QUESTION,
               "tools": [{"type": "web_search"}]}  # type: ignore[typeddict-item]
        if status is not None:
            with pytest.raises(openai.APIStatusError) as refused:
                client.responses.create(**ask)
            assert refused.value.status_code == status and str(refused.value)
            return
        if profile in CUT_SHORT:
            with pytest.raises(_transport_errors()):
                for _ in client.responses.create(**ask, stream=True):
                    pass
            return
        if profile == "malformed":
            with pytest.raises(json.JSONDecodeError):
                for _ in client.responses.create(**ask, stream=True):
                    pass
            return
        if profile in NOT_THE_API:
            # The OpenAI SDK hands the login page back as a string: what sonar-tui must not do.
            assert "<title>" in str(client.responses.create(**ask))
            return

        body = client.responses.create(**ask)
        if profile == "agent-failed":
            assert body.status == "failed" and isinstance(body.error.code, str)
            # The OpenAI SDK raises on any streamed event that carries an error.
            with pytest.raises(openai.APIError, match="model provider"):
                for _ in client.responses.create(**ask, stream=True):
                    pass
            return
        assert body.status == "completed"
        events = list(client.responses.create(**ask, stream=True))
        assert events[-1].type == "response.completed"
        final = events[-1].response
        assert final.output_text == body.output_text
        announced = [e.item for e in events if e.type == "response.output_item.added"
                     and e.item.type == "message"]
        assert [m.content for m in announced] == [[]]
        # Not tried: the SDK's accumulator (client.responses.stream), which needs the
        # response.content_part.added events OpenAI sends and Perplexity does not (neither
        # its SDK nor the captures have them), and refuses the recorded search_web call that
        # completes as a search_results item at the same output index.
        if profile == "agent-incomplete":
            assert final.incomplete_details.reason == "max_output_tokens"
            assert not final.output_text.endswith(last_line(CHUNKS))
        else:
            assert final.output_text.endswith(last_line(CHUNKS))


@pytest.mark.parametrize("profile", list(PROFILES))
def test_the_openai_chat_client_reads_every_profile(profile):
    status = _expected_status(profile, "sonar")
    with start_mock(profile, chunks=CHUNKS) as mock:
        client = _openai(mock, profile, base="")
        for model in ("sonar", "sonar-deep-research"):
            ask = {"model": model, "messages": [{"role": "user", "content": QUESTION}]}
            if status is not None:
                with pytest.raises(openai.APIStatusError) as refused:
                    client.chat.completions.create(**ask)
                assert refused.value.status_code == status
                continue
            if profile in CUT_SHORT:
                with pytest.raises(_transport_errors()):
                    for _ in client.chat.completions.create(**ask, stream=True):
                        pass
                continue
            if profile == "malformed":
                with pytest.raises(json.JSONDecodeError):
                    for _ in client.chat.completions.create(**ask, stream=True):
                        pass
                continue
            if profile in NOT_THE_API:
                assert "<title>" in str(client.chat.completions.create(**ask))
                continue
            whole = client.chat.completions.create(**ask)
            streamed = "".join(chunk.choices[0].delta.content or ""
                               for chunk in client.chat.completions.create(**ask, stream=True)
                               if chunk.choices)
            if profile == "huge-line":  # the stream never ends its last line: a prefix only
                assert streamed and whole.choices[0].message.content.startswith(streamed)
                continue
            assert streamed == whole.choices[0].message.content


@pytest.mark.parametrize("profile", sorted(set(PROFILES) - STATUS_FAULTS - CUT_SHORT
                                           - {"malformed"}))
def test_perplexitys_client_types_every_streamed_event_by_its_type(profile):
    """The SDK builds events leniently: an event it cannot read comes out as the wrong class
    (e.g. a response.created) instead of failing, which its users cannot notice."""
    with start_mock(profile, chunks=CHUNKS) as mock:
        client = Perplexity(api_key="test-key", base_url=mock.url, max_retries=0, timeout=10)
        for ask in ({"effort": "low"}, {"preset": "fast"}):
            events = list(client.responses.create(input=QUESTION, stream=True, **ask))
            assert events
            for event in events:
                assert isinstance(event, event_class_for(event.type)), event.type
            body = client.responses.create(input=QUESTION, **ask)
            if profile not in POLL_FAULTS:  # reading is what those profiles break
                assert body.id and client.responses.retrieve(body.id).id == body.id


# ----------------------------------------------------------------------------- background jobs


@pytest.mark.parametrize("profile, outcome", [("default", "completed"),
                                              ("agent-failed", "failed"),
                                              ("agent-incomplete", "completed")])
def test_perplexitys_client_follows_a_background_job(profile, outcome):
    """create(background=True), retrieve until it ends, cancel: Perplexity's own client reads
    every stage as its typed models."""
    with start_mock(profile, chunks=CHUNKS, job_polls=3, job_seconds=None) as mock:
        client = Perplexity(api_key="test-key", base_url=mock.url, max_retries=0, timeout=10)
        job = client.responses.create(input=QUESTION, effort="high", background=True)
        assert (job.status, job.output, job.background) == ("queued", [], True)
        stages = [client.responses.retrieve(job.id) for _ in range(3)]
        assert [s.status for s in stages] == ["queued", "in_progress", outcome]
        if outcome == "completed":
            assert stages[-1].output_text.endswith(last_line(CHUNKS)) == (profile == "default")
            assert stages[-1].usage is not None
        else:
            assert stages[-1].error is not None and stages[-1].error.message
        other = client.responses.create(input=QUESTION, effort="high", background=True)
        cancelling = client.responses.cancel(other.id)
        assert (cancelling.response_id, cancelling.status) == (other.id, "cancelling")
        assert client.responses.retrieve(other.id).status == "cancelled"
        with pytest.raises(perplexity.BadRequestError):
            client.responses.cancel(other.id)  # "An already terminal run returns 400"


def test_the_openai_responses_client_follows_a_background_job():
    with start_mock(chunks=CHUNKS, job_polls=2, job_seconds=None) as mock:
        client = _openai(mock, "default")
        job = client.responses.create(model="openai/gpt-5.1", input=QUESTION, background=True,
                                      tools=[{"type": "web_search"}])  # type: ignore[list-item]
        assert job.status == "queued" and job.background
        assert client.responses.retrieve(job.id).status == "queued"
        done = client.responses.retrieve(job.id)
        assert done.status == "completed" and done.output_text.endswith(last_line(CHUNKS))
