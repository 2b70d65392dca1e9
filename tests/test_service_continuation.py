"""A thread's next question continues the previous Agent API answer by its response id.

The real service layer, a real database in tmp_path and the mock over loopback HTTP: the
question goes with ``previous_response_id`` (and without the history) only after a
completed Agent answer from the same base URL; otherwise, or when the service refuses the
id, the history is replayed as before.
"""

from __future__ import annotations

import pytest

from sonar_tui.api.conversation import continuation_endpoint
from sonar_tui.api.events import Failed, Finished
from sonar_tui.config import load_config
from sonar_tui.mock import start_mock
from sonar_tui.service import AnswerSaved, ChatService
from sonar_tui.store import Store

CHUNKS = 16


@pytest.fixture
def mock():
    with start_mock(chunks=CHUNKS) as handle:
        yield handle


def service_for(store: Store, tmp_path, url: str, api_mode: str = "agent") -> ChatService:
    config = load_config(tmp_path / "config.toml", env={
        "PERPLEXITY_API_KEY": "test-key", "PERPLEXITY_BASE_URL": url,
        "SONAR_TUI_API_MODE": api_mode})
    return ChatService(store, config)


async def ask(service: ChatService, question: str, thread_id: int | None = None):
    events = [e async for e in service.ask(question, thread_id=thread_id)]
    saved = next(e for e in events if isinstance(e, AnswerSaved))
    assert any(isinstance(e, (Finished, Failed)) for e in events), events
    return saved


def agent_bodies(mock) -> list[dict]:
    return mock.service.bodies("/v1/responses")


async def test_the_next_question_continues_the_previous_answer(tmp_path, mock):
    async with await Store.open(tmp_path / "db.sqlite") as store:
        service = service_for(store, tmp_path, mock.url)
        first = await ask(service, "What is QUIC?")
        answer = await store.get_message(first.message_id)
        assert answer.response_id.startswith("resp_")
        assert answer.response_endpoint == continuation_endpoint(mock.url)

        second = await ask(service, "And how does it differ from TCP?", first.thread_id)
        sent = agent_bodies(mock)[-1]
        assert sent["previous_response_id"] == answer.response_id
        assert sent["input"] == "And how does it differ from TCP?"
        again = await store.get_message(second.message_id)
        assert again.response_id not in (None, answer.response_id)

        # Regenerating the last answer continues from the one before its question.
        [e async for e in service.answer_again(first.thread_id)]
        assert agent_bodies(mock)[-1]["previous_response_id"] == answer.response_id
        await service.aclose()


async def test_another_base_url_replays_the_history(tmp_path, mock):
    async with await Store.open(tmp_path / "db.sqlite") as store:
        first = await ask(service_for(store, tmp_path, mock.url), "What is QUIC?")
        with start_mock(chunks=CHUNKS) as elsewhere:
            service = service_for(store, tmp_path, elsewhere.url)
            await ask(service, "And TCP?", first.thread_id)
            await service.aclose()
            [sent] = agent_bodies(elsewhere)
    assert "previous_response_id" not in sent
    assert [item["role"] for item in sent["input"]] == ["user", "assistant", "user"]


async def test_an_id_the_service_forgot_falls_back_to_the_history(tmp_path, mock):
    async with await Store.open(tmp_path / "db.sqlite") as store:
        service = service_for(store, tmp_path, mock.url)
        first = await ask(service, "What is QUIC?")
        mock.service.forget_responses()  # expired on the service's side
        second = await ask(service, "And TCP?", first.thread_id)
        await service.aclose()
        assert second.status == "complete"
        assert (await store.get_message(second.message_id)).response_id.startswith("resp_")
    refused, replayed = agent_bodies(mock)[-2:]
    assert "previous_response_id" in refused and "previous_response_id" not in replayed
    assert [item["role"] for item in replayed["input"]] == ["user", "assistant", "user"]


@pytest.mark.parametrize("profile", ["agent-incomplete", "agent-failed"])
async def test_an_answer_that_did_not_complete_is_not_continued(tmp_path, mock, profile):
    async with await Store.open(tmp_path / "db.sqlite") as store:
        service = service_for(store, tmp_path, mock.url)
        mock.service.configure(profile=profile, fault_times=1)
        first = await ask(service, "What is QUIC?")
        await ask(service, "And TCP?", first.thread_id)
        await service.aclose()
    assert "previous_response_id" not in agent_bodies(mock)[-1]


async def test_sonar_answers_and_old_answers_replay_the_history(tmp_path, mock):
    async with await Store.open(tmp_path / "db.sqlite") as store:
        sonar = service_for(store, tmp_path, mock.url, api_mode="sonar")
        first = await ask(sonar, "What is QUIC?")
        assert (await store.get_message(first.message_id)).response_id is None
        await sonar.aclose()
        agent = service_for(store, tmp_path, mock.url)
        await ask(agent, "And TCP?", first.thread_id)
        await agent.aclose()
    assert "previous_response_id" not in agent_bodies(mock)[-1]


def test_the_endpoint_never_keeps_credentials_or_a_query():
    assert continuation_endpoint("https://user:pplx-secret@Gateway.example:8443/v1/?key=k#x") \
        == "https://gateway.example:8443/v1"
    assert continuation_endpoint("https://api.perplexity.ai/") == "https://api.perplexity.ai"
    assert continuation_endpoint("http://[::1]:8080") == "http://[::1]:8080"
    assert continuation_endpoint("not a url") == ""
    assert continuation_endpoint("http://host:99999") == ""
