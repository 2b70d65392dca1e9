"""Field reliability in the app (Pilot): settings that must block sending, damaged files,
a thread deleted by another instance, regenerating without losing the answer."""

from __future__ import annotations

import pytest

from sonar_tui.config import load_config
from tests.ui.appkit import FAKE_KEY, Harness, ask, idle, notices, ready, wait_until


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=40)
    yield h
    h.close()


@pytest.mark.parametrize("where", ["env", "file"])
async def test_an_invalid_base_url_is_reported_and_nothing_is_sent(harness, where):
    env = {"PERPLEXITY_API_KEY": FAKE_KEY}
    if where == "env":
        env["PERPLEXITY_BASE_URL"] = "notaurl"
    else:
        harness.config_path.parent.mkdir(parents=True)
        harness.config_path.write_text('[api]\nbase_url = "ftp://files.example.com"\n')
    app = harness.app(config=load_config(harness.config_path, env=env))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        assert "nothing is sent until it is fixed" in notices(app)
        await ask(pilot, "Where would this go?")
        await wait_until(pilot, lambda: "Not sent (base_url)" in notices(app) and idle(app),
                         "the refusal")
        assert app.main.composer.text == "Where would this go?"  # kept for a resend
        assert app.main.sidebar.threads == []  # nothing saved
        assert "Traceback" not in notices(app)
    assert harness.mock.requests == []


async def test_lone_surrogates_from_a_gateway_are_shown_and_saved(tmp_path):
    from tests.gateways import lone_surrogates, start_gateway
    from tests.ui.appkit import ask_and_wait, last_answer

    gateway = start_gateway(lone_surrogates, "related", chunks=60)
    harness = Harness(tmp_path)
    try:
        config = load_config(harness.config_path, env={"PERPLEXITY_API_KEY": FAKE_KEY,
                                                       "PERPLEXITY_BASE_URL": gateway.url,
                                                       "SONAR_TUI_MODEL": "sonar-reasoning-pro"})
        app = harness.app(config=config)
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, "What is zqxw?")
            view = last_answer(app)
            assert view.status == "complete", notices(app)
            assert "\ufffdqxw" in view.body.source
            assert any("\ufffd" in s["title"] for s in view.sources)
            assert "Unexpected error" not in notices(app) and "Could not save" not in notices(app)
            thread_id = app.main.thread_id
        store_answer = [m for m in await app_messages(harness, thread_id)
                        if m.role == "assistant"][0]
        assert store_answer.status == "complete" and "\ufffdqxw" in store_answer.content
        assert "\ufffdqxw" in store_answer.reasoning and store_answer.related
    finally:
        harness.close()
        gateway.stop()


async def app_messages(harness: Harness, thread_id: int):
    from sonar_tui.store import Store

    store = await Store.open(harness.db_path)
    try:
        return await store.load_messages(thread_id)
    finally:
        await store.close()
