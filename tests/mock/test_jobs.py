"""Background jobs on the mock: created at once, read stage by stage, cancelled, and there for
whoever asks next (another connection, another process), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from sonar_tui.mock import last_line, start_mock
from sonar_tui.mock.jobs import JobBoard
from tests.mock.contract import agent_response_problems, cancel_problems
from tests.mock.helpers import AUTH

QUESTION = "Survey the history of TLS"


def create(client: httpx.Client, **fields) -> dict:
    body = {"effort": "high", "input": QUESTION, "background": True, **fields}
    response = client.post("/v1/responses", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def read(mock, response_id: str, path: str = "/v1/responses") -> httpx.Response:
    # A new connection per read: the job lives in the server, not in a connection.
    with httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client:
        return client.get(f"{path}/{response_id}")


@pytest.fixture
def jobs_mock():
    with start_mock(chunks=12, job_polls=3, job_seconds=None) as mock:
        yield mock


@pytest.fixture
def http(jobs_mock):
    with httpx.Client(base_url=jobs_mock.url, headers=AUTH, timeout=10) as client:
        yield client


def test_a_job_moves_queued_in_progress_completed_one_stage_per_read(jobs_mock, http):
    created = create(http)
    assert (created["status"], created["output"], created["usage"]) == ("queued", [], None)
    assert created["background"] is True and agent_response_problems(created) == []
    stages = [read(jobs_mock, created["id"]).json() for _ in range(4)]
    assert [s["status"] for s in stages] == ["queued", "in_progress", "completed", "completed"]
    assert all(agent_response_problems(s) == [] for s in stages)
    in_progress = stages[1]
    # Searches so far, never the text: it comes with the end.
    assert [item["type"] for item in in_progress["output"]] == ["search_results"]
    final = stages[2]
    text = "".join(part["text"] for item in final["output"] if item["type"] == "message"
                   for part in item["content"])
    assert text.endswith(last_line(12))
    assert final["usage"]["cost"]["total_cost"] > 0 and final["background"] is True
    assert stages[3] == final  # the end does not change


def test_a_job_survives_the_client_going_away(jobs_mock):
    with httpx.Client(base_url=jobs_mock.url, headers=AUTH, timeout=10) as first:
        response_id = create(first)["id"]
    # The creating connection is closed; any later client finds the job and sees it through.
    statuses = [read(jobs_mock, response_id, path).json()["status"]
                for path in ("/v1/responses", "/v1/agent", "/responses")]
    assert statuses == ["queued", "in_progress", "completed"]
    assert jobs_mock.service.jobs.reads(response_id) == 3


def test_a_held_job_waits_until_released():
    with start_mock(chunks=12, job_polls=None, job_seconds=None) as mock, \
            httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client:
        response_id = create(client)["id"]
        statuses = [client.get(f"/v1/responses/{response_id}").json()["status"]
                    for _ in range(5)]
        assert statuses == ["queued"] + ["in_progress"] * 4
        assert mock.service.release_jobs(response_id) == 1
        assert client.get(f"/v1/responses/{response_id}").json()["status"] == "completed"


def test_a_timed_job_follows_the_clock():
    now = [100.0]
    board = JobBoard(clock=lambda: now[0])
    with start_mock(chunks=12, job_seconds=10.0) as mock:
        mock.service.jobs = board
        with httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client:
            response_id = create(client)["id"]
            seen = []
            for t in (100.0, 101.0, 102.0, 109.9, 110.0):
                now[0] = t
                seen.append(client.get(f"/v1/responses/{response_id}").json()["status"])
    assert seen == ["queued", "queued", "in_progress", "in_progress", "completed"]


def test_cancel_then_read_is_cancelled_and_a_second_cancel_is_refused(jobs_mock, http):
    response_id = create(http)["id"]
    assert read(jobs_mock, response_id).json()["status"] == "queued"
    cancelled = http.post(f"/v1/responses/{response_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json() == {"response_id": response_id, "status": "cancelling"}
    assert cancel_problems(cancelled.json()) == []
    after = read(jobs_mock, response_id).json()
    assert after["status"] == "cancelled" and agent_response_problems(after) == []
    assert not any(item["type"] == "message" for item in after["output"])
    again = http.post(f"/v1/responses/{response_id}/cancel")
    assert again.status_code == 400 and again.json()["error"]["type"] == "invalid_request"


def test_cancel_of_an_unknown_id_is_404_and_of_a_finished_job_400(jobs_mock, http):
    assert http.post("/v1/responses/resp_nope/cancel").status_code == 404
    response_id = create(http)["id"]
    jobs_mock.service.release_jobs()
    assert read(jobs_mock, response_id).json()["status"] == "completed"
    assert http.post(f"/v1/responses/{response_id}/cancel").status_code == 400
    # A foreground response has always ended.
    done = http.post("/v1/responses", json={"effort": "low", "input": "Hi"}).json()
    assert http.post(f"/v1/responses/{done['id']}/cancel").status_code == 400


def test_a_failing_job_fails_with_the_sdks_error_shape(jobs_mock, http):
    jobs_mock.service.configure(profile="agent-failed")
    response_id = create(http)["id"]
    stages = [read(jobs_mock, response_id).json() for _ in range(3)]
    assert [s["status"] for s in stages] == ["queued", "in_progress", "failed"]
    assert stages[2]["error"]["message"] and agent_response_problems(stages[2]) == []


def test_a_hidden_job_store_false_reads_as_404(jobs_mock, http):
    response_id = create(http, store=False)["id"]
    gone = read(jobs_mock, response_id)
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found"


def test_a_completed_job_can_be_continued(jobs_mock, http):
    response_id = create(http)["id"]
    jobs_mock.service.release_jobs()
    follow_up = http.post("/v1/responses", json={"effort": "low", "input": "And TLS 1.3?",
                                                 "previous_response_id": response_id})
    assert follow_up.status_code == 200
    early = create(http)["id"]  # unfinished: not yet a valid continuation
    refused = http.post("/v1/responses", json={"effort": "low", "input": "More",
                                               "previous_response_id": early})
    assert refused.status_code == 400


@pytest.mark.parametrize("profile, status", [("poll-429", 429), ("poll-drop", None)])
def test_polling_faults_hit_only_reads(jobs_mock, http, profile, status):
    response_id = create(http)["id"]
    jobs_mock.service.configure(profile=profile, fault_times=1)
    # Creating is untouched by the profile (it spends no use of fault_times either).
    create(http)
    if status is None:
        with pytest.raises(httpx.TransportError):
            read(jobs_mock, response_id)
    else:
        refused = read(jobs_mock, response_id)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert read(jobs_mock, response_id).json()["status"] == "queued"  # the fault is spent


def test_cancel_refused_profile_answers_404_and_the_job_runs_on(jobs_mock, http):
    response_id = create(http)["id"]
    jobs_mock.service.configure(profile="cancel-refused")
    assert http.post(f"/v1/responses/{response_id}/cancel").status_code == 404
    assert [read(jobs_mock, response_id).json()["status"] for _ in range(3)] == [
        "queued", "in_progress", "completed"]
