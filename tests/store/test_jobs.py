"""Background jobs in the store: recorded before the request leaves, followed while unfinished,
ended with their answer in one transaction, and ended only once when two processes race."""

from __future__ import annotations

import asyncio

import pytest

from sonar_tui.store import FinalAnswer, Store
from sonar_tui.store.migrations import LATEST_VERSION

from .conftest import SOURCES, STEPS, USAGE, assert_consistent, raw

ENDPOINT = "https://api.perplexity.ai"


async def new_job(store: Store, question: str = "Survey the history of TLS"):
    message = await store.add_user_message(None, question)
    job = await store.add_job(message.thread_id, message.id, endpoint=ENDPOINT,
                              path="/v1/responses", settings={"model": "sonar-deep-research",
                                                              "api_key": "pplx-SECRET"},
                              model="sonar-deep-research")
    return message, job


async def test_a_job_is_recorded_before_its_id_exists_and_shows_on_its_thread(store):
    message, job = await new_job(store)
    assert (job.status, job.response_id, job.finished) == ("submitting", None, False)
    assert job.question == message.content and job.thread_title == message.content
    assert "api_key" not in job.settings  # secret-named settings never reach the disk
    thread = await store.get_thread(message.thread_id)
    assert (thread.job_status, thread.job_started_at) == ("submitting", job.created_at)
    assert not thread.has_streaming
    assert await store.job_submitted(job.id, "resp_1", "queued")
    listed = await store.list_threads()
    assert listed[0].job_status == "queued"
    assert (await store.get_job(job.id)).response_id == "resp_1"
    # Exports are about content: a job's transient state is not in them.
    exported = (await store.export_thread(message.thread_id)).to_dict()["thread"]
    assert "job_status" not in exported and "job_started_at" not in exported


async def test_progress_is_kept_and_counted(store):
    _, job = await new_job(store)
    await store.job_submitted(job.id, "resp_1", "queued")
    assert await store.job_checked(job.id, status="in_progress", steps=STEPS, sources=SOURCES)
    assert await store.job_checked(job.id, error={"kind": "network", "message": "blip"})
    saved = await store.get_job(job.id)
    assert (saved.status, saved.polls) == ("in_progress", 2)
    assert saved.steps == STEPS and saved.sources == SOURCES  # None left them as they were
    assert saved.error == {"kind": "network", "message": "blip"}
    await store.job_checked(job.id, status="in_progress")
    assert (await store.get_job(job.id)).error is None


async def test_finishing_writes_the_answer_after_its_question_in_one_go(store, db_path):
    message, job = await new_job(store)
    await store.job_submitted(job.id, "resp_1", "in_progress")
    answer_id = await store.finish_job(
        job.id, "completed", FinalAnswer(
            "complete", "TLS began as SSL [1].", steps=STEPS, sources=SOURCES, usage=USAGE,
            cost=0.005, model="openai/gpt-5.2", finish_reason="stop", response_id="resp_1",
            response_endpoint=ENDPOINT))
    assert answer_id is not None
    done = await store.get_job(job.id)
    assert (done.status, done.answer_id, done.finished) == ("completed", answer_id, True)
    question, answer = await store.load_messages(message.thread_id)
    assert (question.id, answer.id) == (message.id, answer_id)
    assert (answer.status, answer.content, answer.api, answer.model) == (
        "complete", "TLS began as SSL [1].", "agent", "openai/gpt-5.2")
    assert answer.sources[0]["url"] == SOURCES[0]["url"] and answer.usage == USAGE
    assert (answer.response_id, answer.response_endpoint) == ("resp_1", ENDPOINT)
    assert answer.created_at == job.created_at and answer.finished_at >= job.created_at
    assert answer.settings == {"model": "sonar-deep-research"}
    thread = await store.get_thread(message.thread_id)
    assert thread.job_status is None and thread.message_count == 2
    assert [h.message_id for h in await store.search("SSL")] == [answer_id]
    # A finished job takes no more progress.
    assert not await store.job_checked(job.id, status="in_progress")
    assert not await store.job_submitted(job.id, "resp_2", "queued")
    assert_consistent(db_path)


async def test_two_processes_finishing_one_job_write_one_answer(db_path):
    first, second = await Store.open(db_path), await Store.open(db_path)
    try:
        message, job = await new_job(first)
        results = await asyncio.gather(
            first.finish_job(job.id, "completed", FinalAnswer("complete", "From one")),
            second.finish_job(job.id, "completed", FinalAnswer("complete", "From two")))
        assert sorted(r is None for r in results) == [False, True]
        messages = await first.load_messages(message.thread_id)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[1].id == next(r for r in results if r is not None)
    finally:
        await first.close()
        await second.close()
    assert_consistent(db_path)


async def test_listing_puts_unfinished_jobs_first(store):
    jobs = [(await new_job(store, f"Question {n}"))[1] for n in range(4)]
    for job in jobs[:2]:
        await store.finish_job(job.id, "failed", FinalAnswer(
            "error", "", error={"kind": "server", "message": "no"}))
    listed = await store.list_jobs()
    assert [j.id for j in listed] == [jobs[2].id, jobs[3].id, jobs[1].id, jobs[0].id]
    assert [j.id for j in await store.list_jobs(unfinished=True)] == [jobs[2].id, jobs[3].id]
    assert (await store.thread_job(jobs[0].thread_id)).status == "failed"
    assert await store.thread_job(jobs[0].thread_id, unfinished=True) is None
    assert (await store.list_jobs(limit=1))[0].id == jobs[2].id


async def test_deleting_the_thread_or_the_question_removes_the_job(store):
    message, job = await new_job(store)
    assert await store.delete_message(message.id)
    assert await store.get_job(job.id) is None
    message, job = await new_job(store)
    assert await store.delete_thread(message.thread_id)
    assert await store.list_jobs() == []


async def test_a_finish_needs_a_final_status(store):
    _, job = await new_job(store)
    with pytest.raises(ValueError):
        await store.finish_job(job.id, "completed", FinalAnswer("streaming", ""))  # type: ignore[arg-type]


async def test_unfinished_jobs_are_found_through_the_partial_index(store, db_path):
    await new_job(store)
    with raw(db_path) as conn:
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE finished_at IS NULL"))
        assert "jobs_unfinished" in plan
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    conn.close()
