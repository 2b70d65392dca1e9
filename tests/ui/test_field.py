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
