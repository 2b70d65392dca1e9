"""config.toml: precedence, validation, and writes that keep what the user wrote."""

from __future__ import annotations

import os
import stat
from dataclasses import fields, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonar_tui import paths
from sonar_tui.api.settings import ConnectionSettings, RequestSettings
from sonar_tui.config import (
    AppearanceSettings,
    ConfigWriteError,
    CopySettings,
    config_reference_markdown,
    environment_variables,
    load_config,
    mask_key,
    remember_agent_endpoint,
    save_api_key,
    save_config,
    sending_blocked,
)

KEY = "pplx-0123456789abcdefSECRETwxyz"

COMMENTED = """\
# My sonar-tui settings.
# Written by hand; keep these comments.

[request]
model = "sonar"          # the cheap one
search_mode = "academic"
# domains I trust
domain_filter = ["nature.com", "arxiv.org"]

[appearance]
theme = "sonar-light"    # easier in daylight

[my-notes]               # not ours: must survive
anything = { nested = [1, 2, 3] }
"""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def by_key(loaded) -> dict[str, str]:
    return {p.key: p.reason for p in loaded.problems}


# ----------------------------------------------------------------------------- reading


def test_missing_file_gives_defaults_without_problems(tmp_path):
    loaded = load_config(tmp_path / "none.toml", env={})
    assert loaded.request == RequestSettings()
    assert loaded.connection == ConnectionSettings()
    assert loaded.appearance == AppearanceSettings()
    assert loaded.copy == CopySettings()
    assert loaded.keymap == {}
    assert (loaded.problems, loaded.warnings, loaded.api_key) == ([], [], None)
    assert loaded.file_ok and not loaded.file_exists


def test_default_path_follows_the_environment(tmp_path):
    assert load_config(env={}).path == paths.config_dir() / "config.toml"
    assert str(paths.config_dir()).startswith(str(tmp_path))  # conftest isolates XDG dirs
    custom = tmp_path / "elsewhere.toml"
    assert load_config(env={"SONAR_TUI_CONFIG": str(custom)}).path == custom


def test_every_section_and_type_is_read(tmp_path):
    path = write(tmp_path / "c.toml", """
api_key = "{key}"
[request]
model = "sonar-pro"
domain_filter = ["-reddit.com"]
max_tokens = 900
temperature = 1        # an integer is a fine number
return_images = true
[api]
base_url = "http://127.0.0.1:8080"
idle_timeout = 30
max_attempts = 5
agent_endpoints = ["https://gw.example.com"]
[appearance]
citation_panel = "bottom"
follow_streaming = false
[copy]
citation_style = "inline"
[keymap]
"composer.send" = "ctrl+e"
"app.new_thread" = "ctrl+n,f6"
""".replace("{key}", KEY))
    loaded = load_config(path, env={})
    assert loaded.problems == []
    assert loaded.request.model == "sonar-pro"
    assert loaded.request.domain_filter == ["-reddit.com"]
    assert loaded.request.max_tokens == 900
    assert loaded.request.temperature == 1.0 and isinstance(loaded.request.temperature, float)
    assert loaded.request.return_images is True
    assert loaded.connection.base_url == "http://127.0.0.1:8080"
    assert loaded.connection.idle_timeout == 30.0
    assert loaded.connection.max_attempts == 5
    assert loaded.connection.uses_agent() is False
    assert loaded.connection.agent_endpoints == ["https://gw.example.com"]
    assert loaded.appearance == AppearanceSettings(citation_panel="bottom", follow_streaming=False)
    assert loaded.copy.citation_style == "inline"
    assert loaded.keymap == {"composer.send": "ctrl+e", "app.new_thread": "ctrl+n,f6"}
    assert (loaded.api_key, loaded.api_key_source) == (KEY, "file")
    assert loaded.sources["request.model"].kind == "file"
    assert "request.search_mode" not in loaded.sources  # still the default


def test_unknown_keys_and_invalid_values_are_reported_and_the_rest_applies(tmp_path):
    path = write(tmp_path / "c.toml", """
colour = "blue"
[request]
model = "sonar-pro"
temprature = 0.5
temperature = 3.5
max_tokens = "lots"
recency = "fortnight"
country = "DE"
base_url = "http://127.0.0.1:1"
[api]
max_attempts = 9
api_mode = "agent"
[appearance]
citation_panel = "left"
follow_streaming = "yes"
[keymap]
"composer.send" = ""
"app.quit" = "ctrl+q"
quit = "ctrl+q"
[reqest]
model = "x"
""")
    loaded = load_config(path, env={})
    problems = by_key(loaded)
    assert all(p.file == str(path) for p in loaded.problems)
    assert "unknown key or table" in problems["colour"]
    assert "did you mean 'temperature'" in problems["request.temprature"]
    assert "below 2" in problems["request.temperature"] and "3.5" in problems["request.temperature"]
    assert "using the default" in problems["request.temperature"]
    assert "whole number" in problems["request.max_tokens"]
    assert "fortnight" in problems["request.recency"]
    assert "belongs in [api]" in problems["request.base_url"]
    assert "1 to 5" in problems["api.max_attempts"]
    assert "'left' is not one of right, bottom, hidden" in problems["appearance.citation_panel"]
    assert "true or false" in problems["appearance.follow_streaming"]
    assert "keymap.composer.send" in problems
    assert "did you mean 'app.quit'" in problems["keymap.quit"]
    assert "did you mean 'request'" in problems["reqest"]
    # Each bad key fell back to its default; every good key still applies.
    assert loaded.request.temperature is None and loaded.request.max_tokens is None
    assert loaded.request.recency == ""
    assert loaded.connection.max_attempts == 3
    assert loaded.appearance.citation_panel == "right" and loaded.appearance.follow_streaming
    assert (loaded.request.model, loaded.request.country) == ("sonar-pro", "DE")
    assert loaded.connection.api_mode == "agent"
    assert loaded.connection.base_url == ConnectionSettings().base_url
    assert loaded.keymap == {"app.quit": "ctrl+q"}
    assert loaded.file_ok
    # One readable line each: file, key, reason.
    line = str(next(p for p in loaded.problems if p.key == "api.max_attempts"))
    assert line.startswith(f"{path}: api.max_attempts: ") and "\n" not in line


def test_combination_rules_drop_the_culprit_and_keep_the_rest(tmp_path):
    path = write(tmp_path / "c.toml", """
[request]
recency = "week"
published_after = "01/01/2025"
response_format = "json_schema"
model = "sonar"
search_type = "pro"
""")
    loaded = load_config(path, env={})
    problems = by_key(loaded)
    assert set(problems) == {"request.recency", "request.response_format", "request.search_type"}
    assert "cannot be combined with date filters" in problems["request.recency"]
    assert "JSON schema is required" in problems["request.response_format"]
    assert loaded.request.recency == "" and loaded.request.published_after == "01/01/2025"
    assert loaded.request.response_format == "none"
    assert loaded.request.search_type == ""


def test_a_malformed_file_starts_on_defaults_and_is_never_rewritten(tmp_path):
    text = '[request]\nmodel = "sonar-pro"\ntemperature = = 0.2\n'
    path = write(tmp_path / "c.toml", text)
    loaded = load_config(path, env={})
    assert not loaded.file_ok
    assert loaded.request == RequestSettings()
    (problem,) = loaded.problems
    assert problem.file == str(path)
    assert "line 3" in problem.reason and "column" in problem.reason
    with pytest.raises(ConfigWriteError, match="left untouched"):
        save_config(loaded, request=replace(loaded.request, model="sonar-pro"))
    with pytest.raises(ConfigWriteError):
        save_api_key(loaded, KEY)
    with pytest.raises(ConfigWriteError):
        remember_agent_endpoint(loaded, "https://api.perplexity.ai")
    assert path.read_text() == text


def test_a_file_broken_after_loading_is_not_overwritten(tmp_path):
    path = write(tmp_path / "c.toml", '[request]\nmodel = "sonar"\n')
    loaded = load_config(path, env={})
    path.write_text("[request\n")
    with pytest.raises(ConfigWriteError, match="no longer valid TOML"):
        save_config(loaded, request=RequestSettings(model="sonar-pro"))
    assert path.read_text() == "[request\n"


def test_a_file_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b'[request]\nmodel = "caf\xe9"\n')
    loaded = load_config(path, env={})
    assert not loaded.file_ok and "UTF-8" in loaded.problems[0].reason


# ----------------------------------------------------------------------------- precedence


def test_precedence_flag_over_env_over_file_over_defaults(tmp_path):
    path = write(tmp_path / "c.toml", f"""
api_key = "{KEY}"
[request]
model = "sonar-pro"
[api]
base_url = "http://127.0.0.1:1111"
""")
    env = {"PERPLEXITY_API_KEY": "pplx-from-the-environment-0000",
           "PERPLEXITY_BASE_URL": "http://127.0.0.1:2222",
           "SONAR_TUI_MODEL": "sonar-reasoning-pro"}
    flags = {"api_key": "pplx-from-the-command-line-1111",
             "base_url": "http://127.0.0.1:3333", "model": "sonar-deep-research"}

    assert load_config(tmp_path / "none.toml", env={}).connection.base_url == \
        "https://api.perplexity.ai"
    file_only = load_config(path, env={})
    assert (file_only.connection.base_url, file_only.request.model) == \
        ("http://127.0.0.1:1111", "sonar-pro")
    assert file_only.api_key_source == "file"

    with_env = load_config(path, env=env)
    assert (with_env.connection.base_url, with_env.request.model) == \
        ("http://127.0.0.1:2222", "sonar-reasoning-pro")
    assert (with_env.api_key, with_env.api_key_source) == (env["PERPLEXITY_API_KEY"], "env")
    assert str(with_env.sources["api.base_url"]) == "$PERPLEXITY_BASE_URL"

    with_flags = load_config(path, env=env, flags=flags)
    assert (with_flags.connection.base_url, with_flags.request.model) == \
        ("http://127.0.0.1:3333", "sonar-deep-research")
    assert (with_flags.api_key, with_flags.api_key_source) == (flags["api_key"], "flag")
    assert with_flags.sources["request.model"].kind == "flag"

    # Flags left unset (None, as argparse gives them) change nothing.
    unset = load_config(path, env={}, flags={"model": None, "base_url": None, "api_key": None})
    assert (unset.request.model, unset.api_key_source) == ("sonar-pro", "file")


def test_environment_variables_are_parsed_per_type_and_bad_ones_ignored(tmp_path):
    path = write(tmp_path / "c.toml", "[request]\ntemperature = 0.3\n")
    loaded = load_config(path, env={
        "SONAR_TUI_API_MODE": "agent",
        "SONAR_TUI_THEME": "nord",
        "SONAR_TUI_FOLLOW_STREAMING": "off",
        "SONAR_TUI_MAX_ATTEMPTS": "2",
        "SONAR_TUI_IDLE_TIMEOUT": "12.5",
        "SONAR_TUI_TEMPERATURE": "hot",       # refused: the file's 0.3 applies
        "SONAR_TUI_TOP_P": "1.5",             # valid number, invalid value: the default applies
        "SONAR_TUI_BASE_URL": "http://127.0.0.1:5555",
        "PERPLEXITY_BASE_URL": "http://127.0.0.1:6666",  # the app's own name wins
        "SONAR_TUI_COUNTRY": "",              # empty means not set
    })
    assert loaded.connection.api_mode == "agent" and loaded.connection.uses_agent()
    assert loaded.appearance.theme == "nord"
    assert loaded.appearance.follow_streaming is False
    assert loaded.connection.max_attempts == 2 and loaded.connection.idle_timeout == 12.5
    assert loaded.connection.base_url == "http://127.0.0.1:5555"
    assert loaded.request.temperature == 0.3
    assert loaded.request.top_p is None
    problems = {p.file: p for p in loaded.problems}
    assert set(problems) == {"$SONAR_TUI_TEMPERATURE", "$SONAR_TUI_TOP_P"}
    assert problems["$SONAR_TUI_TEMPERATURE"].key == "request.temperature"
    assert problems["$SONAR_TUI_TEMPERATURE"].reason == \
        f"must be a number (got 'hot'); using the value from {path}"
    assert "between 0 and 1" in problems["$SONAR_TUI_TOP_P"].reason


def test_a_wrongly_typed_file_value_says_what_applies_instead(tmp_path):
    path = write(tmp_path / "c.toml", '[request]\nmax_tokens = 1e3\n[api]\nmax_attempts = "2"\n')
    loaded = load_config(path, env={"SONAR_TUI_MAX_TOKENS": "500"})
    problems = by_key(loaded)
    assert problems["request.max_tokens"] == \
        "must be a whole number (got 1000.0); using the value from $SONAR_TUI_MAX_TOKENS"
    assert problems["api.max_attempts"] == "must be a whole number (got '2'); using the default"
    assert (loaded.request.max_tokens, loaded.connection.max_attempts) == (500, 3)


def test_an_invalid_flag_falls_back_to_the_file_value(tmp_path):
    path = write(tmp_path / "c.toml", '[api]\nmax_attempts = 4\n')
    loaded = load_config(path, env={}, flags={"max_attempts": "9"})
    assert loaded.connection.max_attempts == 4
    (problem,) = loaded.problems
    assert (problem.file, problem.key) == ("--max-attempts", "api.max_attempts")
    assert f"using the value from {path}" in problem.reason
    with pytest.raises(ValueError):
        load_config(path, env={}, flags={"no_such_setting": 1})


@pytest.mark.parametrize("source", ["flag", "env", "file", "file-wrong-type"])
def test_an_invalid_base_url_never_falls_back_and_blocks_sending(tmp_path, source):
    # Falling back would send the question and the key to a service the user did not name:
    # the file's gateway, or api.perplexity.ai.
    file_url = {"file": '"notaurl"', "file-wrong-type": "5"}.get(source, '"http://127.0.0.1:4"')
    path = write(tmp_path / "c.toml", f"[api]\nbase_url = {file_url}\n")
    env = {"PERPLEXITY_BASE_URL": "ftp://nope"} if source == "env" else {}
    flags = {"base_url": "notaurl"} if source == "flag" else {}
    loaded = load_config(path, env=env, flags=flags)
    (problem,) = [p for p in loaded.problems if p.key == "api.base_url"]
    label = {"flag": "--base-url", "env": "$PERPLEXITY_BASE_URL"}.get(source, str(path))
    assert problem.file == label
    assert "must start with http:// or https://" in problem.reason
    assert problem.reason.endswith("nothing is sent until it is fixed")
    assert loaded.connection.base_url != ConnectionSettings().base_url
    assert sending_blocked(loaded) is not None
    assert sending_blocked(load_config(path, env={}, flags={"base_url": "http://x"})) is None


def test_environment_variables_list_covers_the_documented_names():
    names = {name for name, _ in environment_variables()}
    assert {"PERPLEXITY_API_KEY", "PERPLEXITY_BASE_URL", "SONAR_TUI_MODEL", "SONAR_TUI_API_MODE",
            "SONAR_TUI_THEME", "SONAR_TUI_CONFIG", "SONAR_TUI_BASE_URL"} <= names
    assert "SONAR_TUI_DOMAIN_FILTER" not in names  # lists come from the file or flags only


# ----------------------------------------------------------------------------- the API key


def test_mask_key_shows_only_the_last_four():
    assert mask_key(KEY) == "••••••••wxyz"
    assert mask_key("short-key") == "••••••••"
    assert mask_key(None) == mask_key("") == ""


def test_the_key_never_appears_in_repr(tmp_path):
    path = write(tmp_path / "c.toml", f'api_key = "{KEY}"\n')
    loaded = load_config(path, env={})
    assert loaded.api_key == KEY
    for text in (repr(loaded), str(loaded), repr(loaded.problems), loaded.masked_api_key):
        assert KEY not in text and "SECRET" not in text
    from_env = load_config(path, env={"PERPLEXITY_API_KEY": KEY}, flags={"api_key": KEY})
    assert KEY not in repr(from_env)


def test_world_readable_file_with_a_key_warns(tmp_path):
    path = write(tmp_path / "c.toml", f'api_key = "{KEY}"\n', mode=0o644)
    (warning,) = load_config(path, env={}).warnings
    assert "readable by other users (mode 0644)" in warning and f"chmod 600 {path}" in warning
    assert KEY not in warning
    path.chmod(0o600)
    assert load_config(path, env={}).warnings == []
    keyless = write(tmp_path / "open.toml", '[request]\nmodel = "sonar"\n', mode=0o644)
    assert load_config(keyless, env={}).warnings == []


def test_save_api_key_makes_the_file_private(tmp_path):
    path = write(tmp_path / "c.toml", '# mine\n[request]\nmodel = "sonar-pro"\n', mode=0o644)
    loaded = save_api_key(load_config(path, env={}), KEY)
    assert (loaded.api_key, loaded.api_key_source) == (KEY, "file")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f'# mine\napi_key = "{KEY}"\n\n[request]\nmodel = "sonar-pro"\n'
    reloaded = load_config(path, env={})
    assert reloaded.api_key == KEY and reloaded.warnings == []
    removed = save_api_key(reloaded, None)
    assert removed.api_key is None and "api_key" not in path.read_text()
    with pytest.raises(ConfigWriteError):
        save_api_key(removed, "pplx-with a space")


def test_a_key_from_the_environment_is_never_written(tmp_path):
    path = tmp_path / "cfg" / "config.toml"
    loaded = load_config(path, env={"PERPLEXITY_API_KEY": KEY, "SONAR_TUI_MODEL": "sonar-pro"})
    assert loaded.api_key == KEY
    saved = save_config(loaded, request=replace(loaded.request, recency="week"),
                        appearance=replace(loaded.appearance, theme="sonar-light"))
    text = path.read_text()
    assert KEY not in text and "api_key" not in text
    assert "sonar-pro" not in text  # the environment's model was not changed, so not saved
    assert 'recency = "week"' in text and 'theme = "sonar-light"' in text
    assert saved.api_key == KEY and saved.api_key_source == "env"
    remember_agent_endpoint(saved, "https://api.perplexity.ai/")
    assert KEY not in path.read_text()


def test_the_file_key_survives_other_saves_untouched(tmp_path):
    path = write(tmp_path / "c.toml", f'api_key = "{KEY}"  # from the dashboard\n')
    loaded = load_config(path, env={})
    save_config(loaded, request=replace(loaded.request, model="sonar-pro"))
    assert path.read_text().startswith(f'api_key = "{KEY}"  # from the dashboard\n')


# ----------------------------------------------------------------------------- writing


def test_round_trip_keeps_comments_and_unknown_tables_byte_for_byte(tmp_path):
    path = write(tmp_path / "c.toml", COMMENTED)
    loaded = load_config(path, env={})
    assert [p.key for p in loaded.problems] == ["my-notes"]  # reported, and kept below
    save_config(loaded, request=replace(loaded.request, model="sonar-pro"),
                appearance=loaded.appearance, copy=loaded.copy)
    assert path.read_text() == COMMENTED.replace(
        'model = "sonar"          # the cheap one', 'model = "sonar-pro"          # the cheap one')


def test_a_value_reset_to_its_default_removes_its_key(tmp_path):
    path = write(tmp_path / "c.toml", COMMENTED)
    loaded = load_config(path, env={})
    saved = save_config(loaded, request=replace(loaded.request, search_mode="web",
                                                domain_filter=["nature.com"]))
    text = path.read_text()
    assert "search_mode" not in text
    assert 'domain_filter = ["nature.com"]' in text and "# domains I trust" in text
    assert "request.search_mode" not in saved.sources
    assert load_config(path, env={}).request == saved.request


def test_a_new_file_is_private_from_the_start(tmp_path):
    path = tmp_path / "new-dir" / "config.toml"
    loaded = load_config(path, env={})
    save_config(loaded, connection=replace(loaded.connection, base_url="http://127.0.0.1:9"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary left
    text = path.read_text()
    assert text.startswith("# sonar-tui configuration")
    assert load_config(path, env={}).connection.base_url == "http://127.0.0.1:9"


def test_an_existing_mode_is_kept_when_no_key_is_written(tmp_path):
    path = write(tmp_path / "c.toml", "[request]\n", mode=0o640)
    save_config(load_config(path, env={}), request=RequestSettings(model="sonar-pro"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_writes_go_through_a_symlink(tmp_path):
    real = write(tmp_path / "dotfiles" / "sonar.toml", "# tracked in git\n")
    link = tmp_path / "cfg" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(real)
    save_config(load_config(link, env={}), copy=CopySettings(citation_style="inline"))
    assert link.is_symlink()
    assert real.read_text() == '# tracked in git\n\n[copy]\ncitation_style = "inline"\n'


def test_invalid_values_are_refused_and_nothing_is_written(tmp_path):
    path = write(tmp_path / "c.toml", COMMENTED)
    loaded = load_config(path, env={})
    with pytest.raises(ConfigWriteError, match="temperature"):
        save_config(loaded, appearance=replace(loaded.appearance, theme="nord"),
                    request=replace(loaded.request, temperature=5.0))
    with pytest.raises(ConfigWriteError, match="citation_panel"):
        save_config(loaded, appearance=replace(loaded.appearance, citation_panel="top"))
    assert path.read_text() == COMMENTED


def test_keymap_is_saved_and_removed(tmp_path):
    path = write(tmp_path / "c.toml",
                 '[keymap]\n"composer.send" = "ctrl+s"  # muscle memory\n"app.quit" = "f10"\n')
    loaded = load_config(path, env={})
    saved = save_config(loaded, keymap={"composer.send": "ctrl+s", "app.copy_answer": "ctrl+y"})
    assert path.read_text() == \
        '[keymap]\n"composer.send" = "ctrl+s"  # muscle memory\n"app.copy_answer" = "ctrl+y"\n'
    assert saved.keymap == {"composer.send": "ctrl+s", "app.copy_answer": "ctrl+y"}


def test_remember_agent_endpoint_appends_once(tmp_path):
    path = write(tmp_path / "c.toml", '[api]\nbase_url = "https://gw.example.com/"\n')
    loaded = load_config(path, env={})
    assert not loaded.connection.uses_agent()
    remembered = remember_agent_endpoint(loaded, loaded.connection.base_url)
    assert remembered.connection.uses_agent()
    assert remembered.connection.agent_endpoints == ["https://gw.example.com"]
    again = remember_agent_endpoint(remembered, "https://gw.example.com")
    assert again is remembered
    reloaded = load_config(path, env={})
    assert reloaded.connection.agent_endpoints == ["https://gw.example.com"]
    assert reloaded.connection.uses_agent()
    second = remember_agent_endpoint(reloaded, "https://other.example.com")
    assert load_config(path, env={}).connection.agent_endpoints == \
        ["https://gw.example.com", "https://other.example.com"]
    assert second.connection.agent_endpoints == load_config(path, env={}).connection.agent_endpoints


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(system_prompt=_text, region=_text,
       max_tokens=st.one_of(st.none(), st.integers(1, 10**9)),
       temperature=st.one_of(st.none(), st.floats(0, 1.99)),
       domains=st.lists(st.sampled_from(["nature.com", "arxiv.org", "https://a.example/x"]),
                        max_size=3, unique=True),
       idle=st.floats(0.001, 1e6))
def test_any_valid_settings_survive_a_save_and_reload(tmp_path, system_prompt, region,
                                                      max_tokens, temperature, domains, idle):
    path = tmp_path / "prop" / "config.toml"
    loaded = load_config(path, env={})
    request = replace(loaded.request, system_prompt=system_prompt, region=region,
                      max_tokens=max_tokens, temperature=temperature, domain_filter=domains)
    connection = replace(loaded.connection, idle_timeout=idle)
    save_config(loaded, request=request, connection=connection)
    reloaded = load_config(path, env={})
    assert reloaded.problems == []
    assert (reloaded.request, reloaded.connection) == (request, connection)
    # A second round from the file just written: only the change is applied.
    save_config(reloaded, request=replace(request, model="sonar-pro"))
    assert load_config(path, env={}).request == replace(request, model="sonar-pro")
    path.unlink()


# ----------------------------------------------------------------------------- reference


def test_reference_mentions_every_key_and_variable():
    text = config_reference_markdown()
    for cls, table in ((RequestSettings, "request"), (ConnectionSettings, "api"),
                       (AppearanceSettings, "appearance"), (CopySettings, "copy")):
        for f in fields(cls):
            assert f"| `[{table}]` | `{f.name}` |" in text, f.name
    for name, _ in environment_variables():
        assert f"`{name}`" in text
    assert "`api_key`" in text and "`[keymap]`" in text
    assert '| `[request]` | `model` | string | `"sonar"` |' in text
    assert "| `[request]` | `temperature` | number, optional | (unset) |" in text
    assert "One of: `right`, `bottom`, `hidden`." in text


def test_setting_names_are_unique_across_sections():
    names = [f.name for cls in (RequestSettings, ConnectionSettings, AppearanceSettings,
                                CopySettings) for f in fields(cls)]
    assert len(names) == len(set(names))
    assert os.environ.get("PERPLEXITY_API_KEY") is None  # conftest keeps the real key out


@pytest.mark.parametrize("url", ["notaurl", "ftp://files.example.com", "api.perplexity.ai",
                                 "http//x", "https://", "file:///etc/passwd", " "])
def test_every_kind_of_invalid_base_url_blocks_sending(tmp_path, url):
    loaded = load_config(tmp_path / "none.toml", env={"PERPLEXITY_BASE_URL": url})
    blocked = sending_blocked(loaded)
    assert blocked is not None and blocked.file == "$PERPLEXITY_BASE_URL"


def test_keymap_keys_that_are_no_keys_or_clash_are_reported_and_ignored(tmp_path):
    """A typo'd key would show in the footer and do nothing; a clash silences one action
    (quit, here): both are said at start-up, and the defaults stay."""
    path = tmp_path / "c.toml"
    path.write_text('[keymap]\n"app.search" = "not a key!!"\n'
                    '"app.toggle_citations" = "ctrl+q"\n'
                    '"app.toggle_sidebar" = "ctrl+b"\n"composer.send" = "ctrl+b"\n'
                    '"app.copy_answer" = "f12"\n')
    loaded = load_config(path, env={})
    problems = {p.key: p.reason for p in loaded.problems}
    assert "is not a key name" in problems["keymap.app.search"]
    assert "'app.quit'" in problems["keymap.app.toggle_citations"]
    assert "'composer.send'" in problems["keymap.app.toggle_sidebar"]
    assert "'app.toggle_sidebar'" in problems["keymap.composer.send"]
    assert loaded.keymap == {"app.copy_answer": "f12"}  # the sound remap holds
