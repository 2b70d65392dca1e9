"""The Agent API's background mode in the client: where it exists, one read of a job, a
cancel, and the polling schedule. Real HTTP against the mock on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from sonar_tui.api.background import (
    JobSnapshot,
    PollSchedule,
    background_unavailable,
    read_snapshot,
)
from sonar_tui.api.client import PerplexityClient
from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import (
    Failed,
    Finished,
    Retrying,
    SourcesUpdate,
    StepsUpdate,
    TextDelta,
    UsageUpdate,
)
from sonar_tui.api.settings import ConnectionSettings, RequestSettings
from sonar_tui.mock import last_line, start_mock_async

KEY = "pplx-FAKE0123456789abcdefBACKGROUNDKEY"
QUESTION = "Survey the history of TLS"
DEEP = RequestSettings(model="sonar-deep-research")


def client_for(url: str, **connection) -> PerplexityClient:
    settings = ConnectionSettings(base_url=url, api_mode="agent", max_attempts=2, **connection)
    return PerplexityClient(settings, KEY, sleep=_no_sleep)


async def _no_sleep(_seconds: float) -> None:
    return None


async def submit(client: PerplexityClient, question: str = QUESTION):
    return [e async for e in client.submit_background(
        AskRequest(question, DEEP, [], [], "thread-uid"))]


# ----------------------------------------------------------------------------- availability


@pytest.mark.parametrize("connection, available", [
    (ConnectionSettings(), True),  # Perplexity, auto mode: the job goes to the Agent API
    (ConnectionSettings(api_mode="agent"), True),
    (ConnectionSettings(api_mode="sonar"), False),
    (ConnectionSettings(base_url="https://openrouter.ai/api"), False),
    (ConnectionSettings(base_url="https://openrouter.ai/api", api_mode="agent"), True),
    (ConnectionSettings(base_url="http://127.0.0.1:4000",
                        agent_endpoints=["http://127.0.0.1:4000"]), True),
])
def test_background_mode_exists_only_where_the_agent_api_is(connection, available):
    reason = background_unavailable(connection)
    assert (reason is None) == available
    if not available:
        assert "no background mode" in reason
    if connection.api_mode == "sonar":
        assert 'api_mode to "auto" or "agent"' in reason
    elif not available:
        assert "openrouter.ai is a gateway" in reason


# ----------------------------------------------------------------------------- the schedule


def test_polls_back_off_to_a_cap_with_jitter():
    mid = PollSchedule(2.0, rng=lambda: 0.5)  # no jitter at the midpoint
    waits = [mid.next() for _ in range(10)]
    assert waits[:4] == [2.0, 3.0, 4.5, 6.75]
    assert max(waits) == 30.0 and waits[-1] == 30.0  # 15 x the first interval
    low, high = PollSchedule(2.0, rng=lambda: 0.0), PollSchedule(2.0, rng=lambda: 0.999999)
    assert low.next() == pytest.approx(1.6) and high.next() == pytest.approx(2.4)


def test_a_failure_backs_off_faster_and_retry_after_is_never_cut_short():
    schedule = PollSchedule(1.0, rng=lambda: 0.5)
    assert schedule.after_failure() == 2.0
    assert schedule.after_failure() == 4.0
    assert schedule.after_failure(retry_after=60.0) >= 60.0  # beyond the cap: still honoured
    assert schedule.after_failure(retry_after=0.5) == 15.0  # shorter than the backoff
    schedule.soon()
    assert schedule.next() == 1.0


# ----------------------------------------------------------------------------- snapshots


def test_a_running_snapshot_reports_progress_and_no_end(fixtures_dir):
    final = json.loads((fixtures_dir / "agent" /
                        "vercel-ai__agent-nonstream-web-search-fast.json").read_text())
    running = {**final, "status": "in_progress", "usage": None,
               "output": [i for i in final["output"] if i["type"] == "search_results"]}
    snapshot = read_snapshot(running)
    assert isinstance(snapshot, JobSnapshot) and not snapshot.finished
    kinds = {type(e) for e in snapshot.events}
    assert StepsUpdate in kinds and SourcesUpdate in kinds
    assert not kinds & {Finished, Failed, TextDelta, UsageUpdate}
    done = read_snapshot(json.dumps(final))
    assert done.finished and isinstance(done.events[-1], Finished)
    assert read_snapshot(b"<html>nope</html>").kind is ErrorKind.PROTOCOL
    assert read_snapshot({"status": "queued"}).kind is ErrorKind.PROTOCOL  # no id


def test_a_job_waiting_for_tool_results_has_ended_for_this_client():
    snapshot = read_snapshot({"id": "resp_1", "object": "response", "status": "requires_action",
                              "output": [], "model": "x", "created_at": 1})
    assert snapshot.finished and isinstance(snapshot.events[-1], Failed)
    assert "tool result" in snapshot.events[-1].error.message


# ----------------------------------------------------------------------------- over HTTP


async def test_a_job_is_submitted_read_at_each_stage_and_lands_whole():
    async with start_mock_async(chunks=12, job_polls=3, job_seconds=None) as mock, \
            client_for(mock.url) as client:
        (created,) = await submit(client)
        assert isinstance(created, JobSnapshot) and created.status == "queued"
        body = mock.service.last_body("/v1/responses")
        assert body["background"] is True and body["stream"] is False
        assert body["effort"] == "high"  # sonar-deep-research's level
        assert mock.requests[-1].headers["x-conversation-id"] == "thread-uid"
        reads = [await client.retrieve_response("/v1/responses", created.response_id)
                 for _ in range(3)]
    assert [r.status for r in reads] == ["queued", "in_progress", "completed"]
    assert any(isinstance(e, StepsUpdate) for e in reads[1].events)
    final = reads[2]
    text = "".join(e.text for e in final.events if isinstance(e, TextDelta))
    assert text.endswith(last_line(12))
    assert any(isinstance(e, UsageUpdate) and e.usage.cost for e in final.events)
    assert isinstance(final.events[-1], Finished) and final.events[-1].reason == "stop"


async def test_cancel_is_asked_and_a_second_cancel_is_refused_with_400():
    async with start_mock_async(chunks=12, job_polls=None, job_seconds=None) as mock, \
            client_for(mock.url) as client:
        (created,) = await submit(client)
        assert await client.cancel_response("/v1/responses", created.response_id) \
            == "cancelling"
        after = await client.retrieve_response("/v1/responses", created.response_id)
        assert after.status == "cancelled" and isinstance(after.events[-1], Failed)
        again = await client.cancel_response("/v1/responses", created.response_id)
        assert again.status == 400 and again.kind is ErrorKind.INVALID_REQUEST


async def test_a_forgotten_job_reads_as_not_found():
    async with start_mock_async(chunks=12) as mock, \
            client_for(mock.url) as client:
        error = await client.retrieve_response("/v1/responses", "resp_unknown/../x")
        assert error.kind is ErrorKind.NOT_FOUND and error.status == 404
    # The id went as one escaped path segment, whatever it held.
    assert mock.requests[-1].path == "/v1/responses/resp_unknown%2F..%2Fx"


async def test_a_rate_limited_read_carries_retry_after_and_a_dropped_one_is_a_network_error():
    async with start_mock_async(chunks=12, job_polls=3, job_seconds=None) as mock, \
            client_for(mock.url) as client:
        (created,) = await submit(client)
        mock.service.configure(profile="poll-429", fault_times=1)
        limited = await client.retrieve_response("/v1/responses", created.response_id)
        assert limited.kind is ErrorKind.RATE_LIMIT and limited.retry_after == 1.0
        mock.service.configure(profile="poll-drop", fault_times=1)
        dropped = await client.retrieve_response("/v1/responses", created.response_id)
        assert dropped.kind is ErrorKind.NETWORK and KEY not in dropped.message
        # Neither spent a stage of the job.
        again = await client.retrieve_response("/v1/responses", created.response_id)
        assert again.status == "queued"


async def test_submitting_retries_only_what_cannot_have_started_a_job():
    async with start_mock_async(chunks=12, job_polls=3, job_seconds=None) as mock:
        mock.service.configure(profile="429", fault_times=1)
        async with client_for(mock.url) as client:
            events = await submit(client)
            assert [type(e) for e in events] == [Retrying, JobSnapshot]
            assert len(mock.service.jobs.ids()) == 1
            # A connection dropped after the request was sent might have started one: no retry.
            mock.service.configure(profile="disconnect", fault_times=1)
            events = await submit(client)
            assert [type(e) for e in events] == [Failed]
            assert events[0].error.kind is ErrorKind.NETWORK


async def test_a_refused_key_or_settings_never_send_anything():
    async with start_mock_async(chunks=12) as mock:
        async with PerplexityClient(ConnectionSettings(base_url=mock.url, api_mode="agent"),
                                    None) as client:
            (failed,) = await submit(client)
            assert failed.error.kind is ErrorKind.AUTH
        async with client_for(mock.url) as client:
            bad = [e async for e in client.submit_background(AskRequest(
                QUESTION, RequestSettings(response_format="regex", response_schema="x"), [],
                [], None))]
            assert bad[0].error.kind is ErrorKind.INVALID_SETTINGS
    assert mock.requests == []
