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
            assert any("\ufffd" in s.title for s in view.sources)
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


# ----------------------------------------------------------------------------- broken config files


def unwritable(harness: Harness):
    """A config path nobody can create (its directory is a file: root ignores modes)."""
    blocker = harness.tmp_path / "not-a-directory"
    blocker.write_text("a file where the config directory should be")
    return blocker / "config.toml"


async def test_settings_that_cannot_be_saved_apply_for_the_session(harness):
    from textual.widgets import TextArea  # noqa: F401  (the field's editor)

    path = unwritable(harness)
    app = harness.app(config=load_config(path, env={"PERPLEXITY_API_KEY": FAKE_KEY,
                                                    "PERPLEXITY_BASE_URL": harness.mock.url}))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "SettingsScreen",
                         "the settings screen")
        app.screen.fields["request.system_prompt"].text_area.load_text("Answer in French.")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "could not be written" in notices(app),
                         "the failed write to be reported")
        assert "this session" in notices(app) and "Traceback" not in notices(app)
        assert app.config.request.system_prompt == "Answer in French."
        await ask(pilot, "Bonjour?")
        await wait_until(pilot, lambda: harness.mock.requests and idle(app), "the answer")
        body = harness.service.last_body()
        assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
        app.theme = "sonar-light"  # the theme picker saves at once: same failure, same rule
        await wait_until(pilot, lambda: "Theme not saved" in notices(app), "the theme report")
        assert app.theme == "sonar-light" and app.is_running
    assert not path.exists()


async def test_the_api_switch_with_an_unwritable_config_says_so_and_answers(harness):
    from tests.ui.appkit import ask_and_wait, last_answer

    harness.configure(profile="403-retired")
    app = harness.app(config=load_config(unwritable(harness), env={
        "PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": harness.mock.url}))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Switch, please")
        assert last_answer(app).status == "complete" and last_answer(app).api == "agent"
        assert "not saved" in notices(app) and "could not be written" in notices(app)


async def test_deeply_nested_config_and_theme_files_are_reported_and_skipped(harness):
    deep = "[" * 1000 + "]" * 1000
    harness.config_path.parent.mkdir(parents=True)
    harness.config_path.write_text(f"x = {deep}\n")
    themes = harness.config_path.parent / "themes"
    themes.mkdir()
    (themes / "deep.toml").write_text(f'primary = "#102030"\nx = {deep}\n')
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        shown = notices(app)
        assert f"{harness.config_path}: is nested too deeply" in shown
        assert f"{themes / 'deep.toml'}: is nested too deeply" in shown
        await ask(pilot, "Still working?")
        await wait_until(pilot, lambda: app.main.conversation.answers() and idle(app),
                         "the answer")


async def test_a_theme_chosen_outside_the_settings_screen_is_saved(harness):
    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        app.theme = "sonar-light"  # what the command palette's theme picker does
        await wait_until(pilot, lambda: harness.config_path.exists(), "the config write")
    assert load_config(harness.config_path, env={}).appearance.theme == "sonar-light"


# ----------------------------------------------------------------------------- a damaged database


async def open_from_sidebar(pilot, app, thread_id: int) -> None:
    """Highlight the thread in the sidebar and press Enter, as a user does."""
    listing = app.main.sidebar.option_list
    listing.focus()
    index = [t.id for t in app.main.sidebar.threads].index(thread_id)
    listing.highlighted = index
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


async def test_opening_a_thread_on_a_damaged_page_says_so_and_the_rest_still_works(tmp_path):
    import asyncio

    from tests.damage import damage, fill

    harness = Harness(tmp_path, chunks=20)
    try:
        ids = await fill(harness.db_path)
        await asyncio.to_thread(damage, harness.db_path, "messages")
        app = harness.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            assert len(app.main.sidebar.threads) == 6  # the list itself is intact
            await open_from_sidebar(pilot, app, ids[0])  # on the damaged page
            await wait_until(pilot, lambda: "Database damaged" in notices(app), "the report")
            shown = notices(app)
            assert ".recover" in shown and "export" in shown and "disk space" not in shown
            assert "Traceback" not in shown and app.is_running
            await open_from_sidebar(pilot, app, ids[-1])  # an intact thread still opens
            await wait_until(pilot, lambda: app.main.thread_id == ids[-1], "the intact thread")
            assert app.main.conversation.last_question().text.startswith("Question 5")
            await pilot.press("ctrl+n")
            await ask(pilot, "Can I still ask?")  # new rows go to intact pages
            await wait_until(pilot, lambda: app.main.conversation.answers() and idle(app),
                             "the new answer")
            assert app.main.conversation.answers()[-1].status == "complete"
    finally:
        harness.close()


async def test_searching_a_damaged_index_says_so_and_the_app_keeps_running(tmp_path):
    import asyncio

    from tests.damage import damage, fill

    harness = Harness(tmp_path, chunks=20)
    try:
        ids = await fill(harness.db_path)
        await asyncio.to_thread(damage, harness.db_path, "message_fts_data")
        app = harness.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            await pilot.press("ctrl+f")
            await pilot.press(*"lorem")
            await wait_until(pilot, lambda: "Database damaged" in notices(app), "the report")
            shown = notices(app)
            assert "search" in shown.lower() and ".recover" in shown
            assert "Traceback" not in shown and app.is_running
            await open_from_sidebar(pilot, app, ids[2])  # threads still open
            await wait_until(pilot, lambda: app.main.thread_id == ids[2], "the thread")
    finally:
        harness.close()


async def test_a_thread_deleted_by_another_instance_mid_answer_is_said_and_kept_on_screen(
        tmp_path):
    from sonar_tui.mock import last_line
    from sonar_tui.store import Store
    from tests.ui.appkit import last_answer

    harness = Harness(tmp_path, chunks=300)
    harness.configure(hold_at=150)  # held in the middle until the thread is deleted
    try:
        app = harness.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            await ask(pilot, "An answer someone else deletes")
            await wait_until(pilot, lambda: app.live and next(iter(app.live.values()))
                             .message_id and len(last_answer(app).body.source) > 200
                             and harness.service.streams_held() == 1,
                             "the answer to be streaming")
            thread_id = app.main.thread_id
            other = await Store.open(harness.db_path)  # another sonar-tui on the same file
            try:
                assert await other.delete_thread(thread_id)
            finally:
                await other.close()
            harness.release()
            await wait_until(pilot, lambda: idle(app), "the answer to end")
            await app.workers.wait_for_complete()
            await pilot.pause()
            shown = notices(app)
            assert "Thread deleted elsewhere" in shown and "deleted" in shown
            assert "disk space" not in shown and "Traceback" not in shown
            assert shown.count("Thread deleted elsewhere") == 1  # said once, not per checkpoint
            view = last_answer(app)  # still on screen, whole
            assert view.body.source.rstrip().endswith(last_line(300))
            assert app.main.thread_id == thread_id
            assert thread_id not in [t.id for t in app.main.sidebar.threads]
            await pilot.press("ctrl+n")  # leaving it: it is gone
            await pilot.pause()
            assert app.main.thread is None and app.is_running
    finally:
        harness.close()


async def test_fixing_an_invalid_base_url_in_the_settings_unblocks_sending(harness):
    env = {"PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": "notaurl"}
    app = harness.app(config=load_config(harness.config_path, env=env))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "SettingsScreen",
                         "the settings screen")
        field = app.screen.fields["api.base_url"]
        assert field.input.value == "notaurl"  # the bad value is shown, to be fixed
        field.input.value = harness.mock.url
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Settings saved" in notices(app), "the save")
        await ask(pilot, "Now?")
        await wait_until(pilot, lambda: app.main.conversation.answers() and idle(app),
                         "the answer")
        assert app.main.conversation.answers()[-1].status == "complete"
    assert len(harness.mock.requests) == 1


async def test_regenerate_in_a_thread_deleted_elsewhere_is_refused_not_left_waiting(harness):
    """ctrl+r where the service refuses before sending (here: the thread was deleted by
    another sonar-tui) must not leave an answer 'waiting for the first byte' forever."""
    from sonar_tui.store import Store
    from tests.ui.appkit import ask_and_wait, last_answer

    app = harness.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "An answer to regenerate")
        old = last_answer(app)
        other = await Store.open(harness.db_path)  # another sonar-tui on the same file
        try:
            assert await other.delete_thread(app.main.thread_id)
        finally:
            await other.close()
        for _ in range(2):  # a second ctrl+r adds no second placeholder either
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: idle(app), "the regenerate to end")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert app.main.answer_views() == [old]  # the old answer, nothing waiting
        assert old.status == "complete"
        assert "Regenerate" in notices(app)
