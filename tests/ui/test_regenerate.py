"""ctrl+r never loses the answer the user has: the old one stays, on screen and in the
database, until the new one has produced text; a retry that fails (or is stopped) before
its first word leaves it exactly as it was."""

from __future__ import annotations

import pytest

from sonar_tui.mock import last_line
from sonar_tui.store import Store
from tests.ui.appkit import (
    Harness,
    ask_and_wait,
    idle,
    last_answer,
    notices,
    ready,
    wait_until,
)


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, chunks=40)
    yield h
    h.close()


async def stored_answers(harness: Harness) -> list:
    store = await Store.open(harness.db_path)
    try:
        (thread,) = await store.list_threads()
        return [m for m in await store.load_messages(thread.id) if m.role == "assistant"]
    finally:
        await store.close()


@pytest.mark.parametrize("profile", ["500", "401-json"])
async def test_a_failed_regenerate_keeps_the_old_answer(harness, profile):
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "What is a good answer?")
        old = last_answer(app).body.source
        assert old.rstrip().endswith(last_line(40))
        harness.configure(profile=profile)  # every try of the regenerate fails
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "previous answer is kept" in notices(app) and idle(app),
                         "the failed regenerate to be reported", timeout=30)
        await app.workers.wait_for_complete()
        await pilot.pause()
        views = app.main.conversation.answers()
        assert len(views) == 1 and views[0].body.source == old  # still on screen
        assert views[0].status == "complete" and "Traceback" not in notices(app)
        assert "HTTP" in notices(app)  # and why the new one failed
    (answer,) = await stored_answers(harness)
    assert answer.status == "complete" and answer.content == old


async def test_regenerate_keeps_the_old_answer_until_the_new_one_has_text(harness):
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Answer me twice")
        old_id, old = last_answer(app).message_id, last_answer(app).body.source
        # Retry-After: 1 — a wait before the first word; another seed, another answer.
        harness.configure(profile="429", seed=7)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: harness.service.requests[-1:] and
                         len(harness.service.requests) >= 2, "the regenerate request")
        # Waiting for the retry: the old answer is still there, on screen and stored.
        views = app.main.conversation.answers()
        assert views[0].message_id == old_id and views[0].status == "complete"
        assert [a.id for a in await stored_answers(harness)] == [old_id]
        harness.configure(profile="default")
        await wait_until(pilot, lambda: idle(app), "the new answer", timeout=30)
        await app.workers.wait_for_complete()
        await pilot.pause()
        views = app.main.conversation.answers()
        assert len(views) == 1 and views[0].status == "complete"
        new = views[0].body.source
        assert new != old and new.rstrip().endswith(last_line(40))
    (answer,) = await stored_answers(harness)
    assert answer.status == "complete" and answer.content == new


async def test_stopping_a_regenerate_before_its_first_word_keeps_the_old_answer(harness):
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Keep this one")
        old = last_answer(app).body.source
        harness.configure(profile="429")  # waits a second before trying again
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(harness.service.requests) >= 2, "the request")
        await pilot.press("escape")
        await wait_until(pilot, lambda: idle(app), "the stop")
        await app.workers.wait_for_complete()
        await pilot.pause()
        views = app.main.conversation.answers()
        assert len(views) == 1 and views[0].body.source == old
        assert "previous answer is kept" in notices(app)
    (answer,) = await stored_answers(harness)
    assert answer.status == "complete" and answer.content == old


async def test_regenerate_after_text_replaces_the_old_answer_even_if_it_then_fails(harness):
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Replace me")
        old = last_answer(app).body.source
        harness.configure(profile="disconnect", chunks=200)  # text first, then the drop
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: idle(app), "the new answer to end", timeout=30)
        await app.workers.wait_for_complete()
        await pilot.pause()
        views = app.main.conversation.answers()
        assert len(views) == 1 and views[0].status == "error" and views[0].body.source
    (answer,) = await stored_answers(harness)
    assert answer.status == "error" and answer.content and answer.content != old
