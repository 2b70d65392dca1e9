"""The settings screen, driven with Pilot inside a tiny host app that registers the themes
exactly as the real app does: validation while typing, saving, cancelling, both scopes, and
what the screen must never show (the API key, markup from user text)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from textual.app import App
from textual.color import Color
from textual.widgets import Input, Static

from sonar_tui.api.settings import ConnectionSettings, RequestSettings
from sonar_tui.config import AppearanceSettings, CopySettings, LoadedConfig, load_config, mask_key
from sonar_tui.ui.screens.settings import (
    CUSTOM_MODEL,
    ChoiceBar,
    SettingField,
    SettingsResult,
    SettingsScreen,
)
from sonar_tui.ui.themes import load_all_themes, theme_variable_defaults

FAKE_KEY = "pplx-0123456789abcdefghSECRETmiddle-wxyz"
AGENT_NOTE = "not available with the Agent API"


class Host(App[None]):
    """Loads and registers the bundled themes, with the app's theme variables."""

    def __init__(self, user_theme_dir: Path) -> None:
        super().__init__()
        self.user_theme_dir = user_theme_dir
        self.results: list[SettingsResult | None] = []

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def on_mount(self) -> None:
        themes, problems = load_all_themes(self.user_theme_dir)
        assert not problems, problems
        for theme in themes:
            self.register_theme(theme)
        self.theme = "sonar-dark"


def make_config(tmp_path: Path, text: str = "", *, env: dict[str, str] | None = None,
                flags: dict | None = None) -> LoadedConfig:
    path = tmp_path / "config.toml"
    if text:
        path.write_text(text, encoding="utf-8")
    config = load_config(path, env=env or {}, flags=flags)
    assert not config.problems, config.problems
    return config


@contextlib.asynccontextmanager
async def open_settings(tmp_path: Path, config: LoadedConfig, *, size: tuple[int, int] = (120, 40),
                        **kwargs) -> AsyncIterator[tuple]:
    app = Host(tmp_path / "themes")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = SettingsScreen(config, themes=sorted(app.available_themes), **kwargs)
        await app.push_screen(screen, callback=app.results.append)
        await screen.wait_until_mounted()
        await pilot.pause()
        yield pilot, screen, app


async def settled(pilot, widget) -> None:
    """Until ``widget`` is inside the form's view and stays where it is for a frame: the
    focus and the scroll to it are two requests, and a click between them misses."""
    form = pilot.app.screen.query_one("#settings-form")
    previous = None
    for _ in range(100):
        await pilot.pause()
        region = widget.region
        if region == previous and form.region.contains_region(region):
            return
        previous = region
    raise AssertionError(f"{widget!r} never settled in view")


async def type_into(pilot, widget: Input, text: str) -> None:
    """Clear the input, then type ``text`` key by key, as a user would."""
    widget.focus()
    widget.value = ""
    if text:
        await pilot.press(*text)
    await pilot.pause()


async def set_text(pilot, widget: Input, text: str) -> None:
    """Replace the input's text at once (Pilot types a key in ~60 ms; the app sees the
    same Input.Changed either way)."""
    widget.focus()
    widget.value = text
    await pilot.pause()


async def save(pilot) -> None:
    await pilot.press("ctrl+s")
    await pilot.pause()


def rendered_text(screen: SettingsScreen) -> str:
    """Every static text in the screen, as shown."""
    parts = []
    for static in screen.query(Static):
        content = static.content
        parts.append(getattr(content, "plain", str(content)))
    return "\n".join(parts)


def error_colour(app: App) -> Color:
    return Color.parse(app.get_css_variables()["error"])


def assert_refused(screen: SettingsScreen, app: Host, field: SettingField, fragment: str) -> None:
    assert app.screen is screen, "Save dismissed the screen despite an invalid field"
    assert app.results == []
    assert screen.focused is field.focus_target, f"focus is on {screen.focused}, not {field.key}"
    assert "Not saved" in screen.status_plain and fragment in screen.status_plain


# ----------------------------------------------------------------------------- validation


async def test_every_typed_field_is_checked_as_typed_and_blocks_saving(tmp_path):
    cases = [
        # key, refused text, part of the reason, accepted text
        ("request.agent_model", "pro search", "without spaces", "pro-search"),
        ("request.published_after", "13/45/2024", "is not a date in MM/DD/YYYY", "01/02/2024"),
        ("request.country", "USA", "two-letter country code", "US"),
        ("request.max_tokens", "0", "at least 1", "800"),
        ("request.temperature", "2", "below 2", "0.5"),
        ("request.top_p", "1.5", "between 0 and 1", "0.9"),
        ("api.base_url", "ftp://example.com", "http:// or https://", "http://127.0.0.1:8080"),
        ("api.path", "chat", "must start with /", "/v1/sonar"),
        ("api.agent_path", "/v1/ agent", "no spaces", "/v1/agent"),
        ("api.connect_timeout", "0", "above 0", "5"),
        ("api.idle_timeout", "-3", "above 0", "30"),
        ("api.research_idle_timeout", "", "a value is required", "900"),
        ("api.max_attempts", "9", "from 1 to 5", "2"),
    ]
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        for index, (key, bad, why, good) in enumerate(cases):
            field = screen.fields[key]
            await (type_into if index < 3 else set_text)(pilot, field.input, bad)
            assert field.error is not None and why in field.error, (key, field.error)
            assert why in field.info_plain, key
            assert field.has_class("-invalid"), key
            assert field.input.has_focus and field.input.styles.border_top[1] == error_colour(app)

            await save(pilot)
            assert_refused(screen, app, field, why)

            await set_text(pilot, field.input, good)
            assert field.error is None, (key, field.error)
            assert "✗" not in field.info_plain, key
            assert not field.has_class("-invalid"), key
            assert field.input.styles.border_top[1] != error_colour(app)
        assert "Not saved" not in screen.status_plain  # the refusal clears once all is valid

        await save(pilot)
    (result,) = app.results
    assert result.request.agent_model == "pro-search"
    assert result.request.published_after == "01/02/2024"
    assert result.request.country == "US"
    assert result.request.max_tokens == 800
    assert result.request.temperature == 0.5
    assert result.request.top_p == 0.9
    assert result.connection == replace(
        ConnectionSettings(), base_url="http://127.0.0.1:8080", path="/v1/sonar",
        agent_path="/v1/agent", connect_timeout=5.0, idle_timeout=30.0,
        research_idle_timeout=900.0, max_attempts=2)


async def test_custom_model_name_is_typed_checked_and_kept_literally(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        model = screen.fields["request.model"]
        assert not model.custom.display
        model.select.focus()
        await pilot.press("enter", "end", "enter")  # the last option is "Custom…"
        await pilot.pause()
        assert model.select.value == CUSTOM_MODEL
        assert model.custom.display
        assert model.error == "type the model's name"

        await type_into(pilot, model.custom, "my model")
        assert "without spaces" in (model.error or "")
        await save(pilot)
        assert_refused(screen, app, model, "without spaces")

        # Brackets are legal in a gateway's model name and must never become markup.
        await set_text(pilot, model.custom, "[b]gw/llama[/b]")
        assert model.error is None
        agent_model = screen.fields["request.agent_model"]
        assert agent_model.input.placeholder == "blank = [b]gw/llama[/b] (from the model)"
        await save(pilot)
    assert app.results[0].request.model == "[b]gw/llama[/b]"


async def test_domain_list_adds_removes_refuses_mixing_and_counts(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        domains = screen.fields["request.domain_filter"]
        assert domains.label_plain.endswith("0/20")
        assert "delete removes an entry and Enter edits it" in domains.info_plain
        assert not domains.entry_list.display

        await type_into(pilot, domains.input, "nature.com")
        await pilot.press("enter")
        await pilot.pause()
        assert domains.entries == ["nature.com"] and domains.input.value == ""
        assert "1/20 · only these" in domains.label_plain
        assert domains.entry_list.display

        await set_text(pilot, domains.input, "not a domain")
        assert "'not a domain' is not a domain like example.com" in domains.info_plain
        await pilot.press("enter")
        await pilot.pause()
        assert domains.entries == ["nature.com"]

        await type_into(pilot, domains.input, "-reddit.com")
        assert "mixes allowed and excluded" in (domains.error or "")
        await pilot.press("enter")
        await pilot.pause()
        assert domains.entries == ["nature.com"]
        await save(pilot)
        assert_refused(screen, app, domains, "mixes allowed and excluded")

        await set_text(pilot, domains.input, "nature.com")
        assert domains.error == "'nature.com' is already in the list"

        # A URL entry may hold brackets: shown literally, never as markup.
        literal = "https://example.com/[b]x[/b]"
        await set_text(pilot, domains.input, literal)
        await pilot.press("enter")
        await pilot.pause()
        assert domains.entries == ["nature.com", literal]
        assert domains.error is None
        assert domains.entry_list.get_option_at_index(1).prompt.plain == literal
        assert "2/20" in domains.label_plain

        domains.entry_list.focus()
        domains.entry_list.highlighted = 0
        await pilot.press("delete")
        await pilot.pause()
        assert domains.entries == [literal]

        # Enter on an entry takes it back into the input for editing.
        await pilot.press("enter")
        await pilot.pause()
        assert domains.entries == [] and domains.input.value == literal
        assert screen.focused is domains.input

        await save(pilot)  # a valid entry still in the input is saved too
    assert app.results[0].request.domain_filter == [literal]


async def test_domain_list_limit_is_shown_and_enforced(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        images = screen.fields["request.image_domain_filter"]
        ten = [f"-site{n}.example" for n in range(10)]
        images.write(ten)
        await pilot.pause()
        assert "10/10 · excluding" in images.label_plain
        assert images.error is None

        await set_text(pilot, images.input, "-one-more.example")
        assert "at most 10 entries (11 given)" in (images.error or "")
        assert "11/10" in images.label_plain
        await pilot.press("enter")
        await pilot.pause()
        assert images.entries == ten
        await save(pilot)
        assert_refused(screen, app, images, "at most 10 entries")

        await set_text(pilot, images.input, "")
        await save(pilot)
    assert app.results[0].request.image_domain_filter == ten


async def test_agent_effort_is_chosen_on_the_screen_and_a_pinned_one_stays_visible(tmp_path):
    config = make_config(tmp_path, '[request]\nagent_effort = "fast@2026-10-16.0"\n')
    async with open_settings(tmp_path, config) as (pilot, screen, app):
        effort = screen.fields["request.agent_effort"]
        assert isinstance(effort.control, ChoiceBar)
        assert effort.choices == ["", "fast", "low", "medium", "high", "xhigh",
                                  "fast@2026-10-16.0"]
        assert "not the model's reasoning effort" in effort.info_plain
        assert screen.fields["request.agent_model"].input.placeholder == \
            "blank = the effort level's model"
        effort.control.focus()
        await pilot.press("home", "right", "right", "right", "right")
        await pilot.pause()
        assert effort.read() == ("high", None)
        await save(pilot)
    assert app.results[0].request.agent_effort == "high"


async def test_recency_and_date_filters_exclude_each_other_and_say_why(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        recency = screen.fields["request.recency"]
        after = screen.fields["request.published_after"]
        before = screen.fields["request.published_before"]
        assert isinstance(recency.control, ChoiceBar)
        recency.control.focus()
        await pilot.press("right", "right", "right")
        await pilot.pause()
        assert recency.read() == ("week", None)
        for name in ("published_after", "published_before", "updated_after", "updated_before"):
            assert "Recency is set (week): clear it to filter by date." in \
                screen.fields[f"request.{name}"].info_plain

        await type_into(pilot, after.input, "01/02/2024")
        assert "cannot be combined with date filters" in (recency.error or "")
        assert recency.control.styles.border_top[1] == error_colour(app).with_alpha(0.6)
        assert "Date filters are set" in recency.info_plain
        await save(pilot)
        assert_refused(screen, app, recency, "cannot be combined")

        await pilot.press("home")  # focus is on recency: back to "any time"
        await pilot.pause()
        assert recency.error is None
        assert "Recency is set" not in after.info_plain

        await set_text(pilot, before.input, "01/01/2024")
        assert before.error == "is earlier than published after"
        await set_text(pilot, before.input, "3/1/2024")
        assert before.error is None
        await save(pilot)
    request = app.results[0].request
    assert (request.recency, request.published_after, request.published_before) == \
        ("", "01/02/2024", "3/1/2024")


async def test_pro_search_needs_sonar_pro_and_choice_bars_take_clicks(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        search_type = screen.fields["request.search_type"]
        bar = search_type.control
        search_type.focus_control()  # scrolls it into view
        await pilot.wait_for_scheduled_animations()  # the click must land after the scroll
        await settled(pilot, bar)
        # " default " " fast " " pro " " auto ", one space apart, after the border and padding.
        await pilot.click(bar, offset=(2 + 19, 1))
        await pilot.pause()
        assert search_type.read() == ("pro", None)
        assert search_type.error == "Pro Search works only with sonar-pro"
        await save(pilot)
        assert_refused(screen, app, search_type, "Pro Search works only with sonar-pro")

        screen.fields["request.model"].select.value = "sonar-pro"
        await pilot.pause()
        assert search_type.error is None
        await save(pilot)
    assert (app.results[0].request.model, app.results[0].request.search_type) == \
        ("sonar-pro", "pro")


async def test_response_format_json_schema_and_regex_are_validated(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        fmt = screen.fields["request.response_format"]
        schema = screen.fields["request.response_schema"]
        assert not schema.display  # nothing to write while the format is "none"

        fmt.control.focus()
        await pilot.press("right")
        await pilot.pause()
        assert schema.display and schema.label_plain.startswith("JSON schema")
        assert schema.error == "a JSON schema is required"

        schema.text_area.focus()
        await pilot.press(*'{"type": }')
        await pilot.pause()
        assert schema.error == "not valid JSON: Expecting value (line 1, column 10)"
        assert "line 1, column 10" in schema.info_plain
        assert schema.has_class("-invalid")

        schema.text_area.load_text('{\n  "a": [1,\n}')
        await pilot.pause()
        assert "(line 3, column 1)" in (schema.error or "")
        await save(pilot)
        assert_refused(screen, app, schema, "not valid JSON")

        schema.text_area.load_text("[1]")
        await pilot.pause()
        assert schema.error == "the schema must be a JSON object"

        good = json.dumps({"type": "object", "properties": {"answer": {"type": "string"}}})
        schema.text_area.load_text(good)
        await pilot.pause()
        assert schema.error is None and not schema.has_class("-invalid")

        fmt.control.focus()
        await pilot.press("right")
        await pilot.pause()
        assert schema.label_plain.startswith("Regular expression")
        schema.text_area.load_text("(")
        await pilot.pause()
        assert (schema.error or "").startswith("invalid regular expression: missing )")
        schema.text_area.load_text("^[a-z]+$")
        await pilot.pause()
        assert schema.error is None
        await save(pilot)
    request = app.results[0].request
    assert (request.response_format, request.response_schema) == ("regex", "^[a-z]+$")


# ----------------------------------------------------------------------------- results


async def test_save_returns_exactly_what_the_form_holds(tmp_path):
    config = make_config(tmp_path, '[request]\nmodel = "sonar-pro"\nsystem_prompt = "Be brief."\n'
                                   '[appearance]\ncitation_panel = "bottom"\n')
    async with open_settings(tmp_path, config) as (pilot, screen, app):
        fields = screen.fields
        fields["request.model"].select.value = "sonar-reasoning-pro"
        fields["request.search_mode"].control.focus()
        await pilot.press("right")  # web -> academic
        fields["request.disable_search"].switch.focus()
        await pilot.press("enter")
        fields["request.image_format_filter"].selection.focus()
        await pilot.press("space", "down", "space")  # gif, jpg
        fields["request.system_prompt"].text_area.load_text("Answer in French.\nCite sources.")
        fields["request.reasoning_effort"].control.focus()
        await pilot.press("end")
        fields["api.api_mode"].control.focus()
        await pilot.press("right")  # auto -> sonar
        fields["api.conversation_header"].switch.focus()
        await pilot.press("enter")
        fields["appearance.theme"].control.value = "sonar-light"
        fields["appearance.follow_streaming"].switch.focus()
        await pilot.press("enter")
        fields["copy.citation_style"].control.focus()
        await pilot.press("right")
        await pilot.pause()
        await save(pilot)

    assert app.results == [SettingsResult(
        scope="defaults",
        request=replace(config.request, model="sonar-reasoning-pro", search_mode="academic",
                        disable_search=True, image_format_filter=["gif", "jpg"],
                        system_prompt="Answer in French.\nCite sources.",
                        reasoning_effort="high"),
        connection=replace(config.connection, api_mode="sonar", conversation_header=False),
        appearance=AppearanceSettings(theme="sonar-light", citation_panel="bottom",
                                      follow_streaming=False),
        copy=CopySettings(citation_style="inline"),
    )]
    assert app.theme == "sonar-light"  # the previewed theme stays after saving


async def test_cancel_returns_none_and_restores_a_previewed_theme(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        screen.fields["appearance.theme"].control.value = "sonar-light"
        await pilot.pause()
        assert app.theme == "sonar-light"  # live preview
        await set_text(pilot, screen.fields["request.temperature"].input, "7")  # invalid, too
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]
        assert app.screen is not screen
        assert app.theme == "sonar-dark"


async def test_escape_closes_an_open_menu_before_the_screen(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        model = screen.fields["request.model"]
        model.select.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert model.select.expanded
        await pilot.press("escape")
        await pilot.pause()
        assert not model.select.expanded and app.screen is screen
        screen.fields["request.system_prompt"].text_area.focus()
        await pilot.press("x", "ctrl+s")  # ctrl+s saves from inside the text area, too
        await pilot.pause()
    assert app.results[0].request.system_prompt == "x"


async def test_reset_to_defaults_puts_every_field_back_but_needs_saving(tmp_path):
    config = make_config(tmp_path, """
[request]
model = "my-gateway/model"
domain_filter = ["nature.com"]
recency = "week"
temperature = 0.5
search_type = "fast"
response_format = "regex"
response_schema = "^a$"
[api]
api_mode = "agent"
base_url = "http://127.0.0.1:9999"
max_attempts = 5
agent_endpoints = ["https://api.perplexity.ai"]
[appearance]
theme = "sonar-light"
follow_streaming = false
[copy]
citation_style = "inline"
""")
    async with open_settings(tmp_path, config) as (pilot, screen, app):
        await pilot.click("#settings-reset")
        await pilot.pause()
        assert "Reset to the built-in defaults" in screen.status_plain
        assert app.screen is screen and app.results == []  # not saved yet
        assert screen.fields["request.model"].select.value == "sonar"
        assert screen.fields["request.domain_filter"].entries == []
        await save(pilot)
    (result,) = app.results
    assert result.request == RequestSettings()
    # The learned Agent API endpoints are state, not a preference: a reset keeps them.
    assert result.connection == replace(ConnectionSettings(),
                                        agent_endpoints=["https://api.perplexity.ai"])
    assert result.appearance == AppearanceSettings()
    assert result.copy == CopySettings()


# ----------------------------------------------------------------------------- thread scope


async def test_thread_scope_edits_only_request_settings_and_marks_overrides(tmp_path):
    config = make_config(tmp_path, '[request]\nmodel = "sonar"\n')
    title = "Why is the [b]sky[/b] blue? [link=http://x]y[/link]"
    thread = config.request.with_overrides({"model": "sonar-pro", "recency": "day",
                                            "temperature": 0.3})
    async with open_settings(tmp_path, config, thread_title=title,
                             thread_settings=thread) as (pilot, screen, app):
        assert {f.table for f in screen.fields.values()} == {"request"}
        assert not screen.query("#section-api") and not screen.query("#section-appearance")
        header = screen.query_one("#settings-header", Static).content.plain
        assert f"Settings for this thread: {title}" in header  # literally, not as markup
        assert "a new thread starts from the defaults" in header
        assert "API" not in header.split("Jump to:")[1]

        overridden = {k for k, f in screen.fields.items() if "overridden" in f.label_plain}
        assert overridden == {"request.model", "request.recency", "request.temperature"}

        screen.fields["request.search_mode"].control.focus()
        await pilot.press("right")
        await pilot.pause()
        assert "overridden" in screen.fields["request.search_mode"].label_plain

        await pilot.click("#settings-clear")
        await pilot.pause()
        assert not [k for k, f in screen.fields.items() if "overridden" in f.label_plain]
        assert app.results == []  # clearing still needs a save
        screen.fields["request.country"].input.value = "DE"
        await pilot.pause()
        await save(pilot)
    assert app.results == [SettingsResult("thread", replace(config.request, country="DE"),
                                          None, None, None)]


async def test_thread_scope_saves_the_thread_settings_it_was_given(tmp_path):
    config = make_config(tmp_path)
    thread = config.request.with_overrides({"domain_filter": ["-reddit.com"], "max_tokens": 99})
    async with open_settings(tmp_path, config, thread_title="t",
                             thread_settings=thread) as (pilot, screen, app):
        assert screen.fields["request.domain_filter"].entries == ["-reddit.com"]
        await save(pilot)
    assert app.results == [SettingsResult("thread", thread, None, None, None)]


# ----------------------------------------------------------------------------- what is shown


async def test_key_status_shows_the_masked_key_and_never_the_key(tmp_path):
    config = make_config(tmp_path, f'api_key = "{FAKE_KEY}"\n')
    async with open_settings(tmp_path, config) as (pilot, screen, app):
        status = screen.query_one("#settings-key-status", Static).content.plain
        assert mask_key(FAKE_KEY) in status and "wxyz" in status
        assert f"from {config.path}" in status
        screen.query_one("#settings-key-status").scroll_visible(animate=False)
        await pilot.pause()
        svg = app.export_screenshot()
        assert "wxyz" in svg  # the screenshot does show the key status...
        for secret in (FAKE_KEY, "SECRETmiddle", "0123456789abcdef"):
            assert secret not in svg  # ...but never the key itself
            assert secret not in rendered_text(screen)


async def test_key_status_names_the_environment_or_says_how_to_set_a_key(tmp_path):
    config = make_config(tmp_path, env={"PERPLEXITY_API_KEY": FAKE_KEY})
    async with open_settings(tmp_path, config) as (pilot, screen, app):
        status = screen.query_one("#settings-key-status", Static).content.plain
        assert "from $PERPLEXITY_API_KEY" in status and FAKE_KEY not in status
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        status = screen.query_one("#settings-key-status", Static).content.plain
        assert "No API key — set PERPLEXITY_API_KEY or api_key in config.toml" in status


async def test_values_from_the_environment_or_flags_say_so(tmp_path):
    config = make_config(tmp_path, '[request]\ncity = "Paris"\n',
                         env={"SONAR_TUI_MODEL": "sonar-pro"}, flags={"temperature": "0.7"})
    async with open_settings(tmp_path, config) as (pilot, screen, app):
        fields = screen.fields
        assert "set by $SONAR_TUI_MODEL — this overrides the file" in \
            fields["request.model"].info_plain
        assert "set by --temperature — this overrides the file" in \
            fields["request.temperature"].info_plain
        assert "set by" not in fields["request.city"].info_plain  # from the file
        assert "set by" not in fields["request.country"].info_plain
        await save(pilot)
    assert app.results[0].request.model == "sonar-pro"


async def test_agent_api_notes_are_always_there_and_emphasised_in_agent_mode(tmp_path):
    unsupported = {"request.search_mode", "request.search_type", "request.return_images",
                   "request.return_related_questions", "request.image_domain_filter",
                   "request.image_format_filter", "request.stream_mode"}
    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        noted = {k for k, f in screen.fields.items() if AGENT_NOTE in f.info_plain}
        assert noted == unsupported
        assert not any("⚠" in f.info_plain for f in screen.fields.values())

        images = screen.fields["request.return_images"]
        images.switch.focus()
        await pilot.press("enter")
        screen.fields["api.api_mode"].control.focus()
        await pilot.press("end")  # agent
        await pilot.pause()
        header = screen.query_one("#settings-header", Static).content.plain
        assert "The Agent API is in use" in header
        for key in unsupported:
            assert f"⚠ {AGENT_NOTE}" in screen.fields[key].info_plain, key
        assert "ignored while it is in use" in images.info_plain
        assert "ignored" not in screen.fields["request.stream_mode"].info_plain  # at default

        await pilot.press("home")  # back to auto
        await pilot.pause()
        assert "⚠" not in images.info_plain


async def test_a_remembered_agent_endpoint_emphasises_the_notes(tmp_path):
    config = make_config(tmp_path, '[api]\nagent_endpoints = ["https://api.perplexity.ai"]\n')
    async with open_settings(tmp_path, config) as (pilot, screen, app):
        assert f"⚠ {AGENT_NOTE}" in screen.fields["request.search_type"].info_plain
        assert "https://api.perplexity.ai" in rendered_text(screen)
        await pilot.click("#settings-cancel")
        await pilot.pause()
    assert app.results == [None]


async def test_small_terminal_every_section_and_field_is_reachable(tmp_path):
    async with open_settings(tmp_path, make_config(tmp_path), size=(80, 24)) as \
            (pilot, screen, app):
        dialog = screen.query_one("#settings-dialog")
        assert dialog.region == app.screen.region  # the whole terminal, nothing cut off
        form = screen.query_one("#settings-form")
        assert form.max_scroll_y > 0
        for button in ("#settings-save", "#settings-cancel", "#settings-reset"):
            assert screen.query_one(button).region.bottom <= 24

        for section in ("model", "search", "answer", "api", "appearance"):
            await screen.action_jump(section)
            await pilot.pause()
            title = screen.query_one(f"#section-{section}")
            assert form.region.contains_region(title.region), section

        # Tab walks every field in form order, then the buttons.
        chain = screen.focus_chain
        targets = [f.focus_target for f in screen.fields.values() if f.display]
        assert [w for w in chain if w in targets] == targets
        assert chain[-3:] == [screen.query_one(f"#settings-{b}")
                              for b in ("reset", "cancel", "save")]

        # ...and each field scrolls into view when it gets the focus.
        screen.fields["request.model"].focus_control()
        await pilot.pause()
        for _ in range(8):
            await pilot.press("tab")
            await pilot.pause()
            await pilot.wait_for_animation()
            assert form.region.contains_region(screen.focused.region), screen.focused
        assert screen.focused is targets[8]


def test_keys_have_ids_for_the_keymap():
    ids = {binding.id: binding.key for binding in SettingsScreen.BINDINGS}
    assert ids == {"settings.save": "ctrl+s", "settings.cancel": "escape"}


# ----------------------------------------------------------------------------- generated form


async def test_the_form_is_generated_from_the_schema(tmp_path):
    """Every setting is on the form with the schema's label and help, in a widget its type
    calls for; the help the README shows is the help the form shows (temperature included)."""
    from sonar_tui.config.schema import FIELDS
    from sonar_tui.ui.widgets.setting_fields import (
        ChoiceField,
        ListField,
        NumberField,
        SwitchField,
    )

    async with open_settings(tmp_path, make_config(tmp_path)) as (pilot, screen, app):
        shown = set(screen.fields)
        assert shown == {f.key for f in FIELDS.values()} - {"api.agent_endpoints"}
        for f in FIELDS.values():
            widget = screen.fields.get(f.key)
            if widget is None:
                continue
            assert widget.label_text == f.metadata["label"] or f.key == "request.response_schema"
            if f.kind is bool:
                assert isinstance(widget, SwitchField), f.key
            elif f.metadata.get("choices"):
                assert isinstance(widget, ChoiceField), f.key
            elif f.kind in (int, float):
                assert isinstance(widget, NumberField) and widget.optional == f.optional, f.key
            elif f.kind is list and f.key != "request.image_format_filter":
                assert isinstance(widget, ListField), f.key
            if f.key != "request.image_format_filter":
                assert widget.help_text.startswith(f.metadata["help"]), f.key
        temperature = screen.fields["request.temperature"]
        assert temperature.help_text == FIELDS["temperature"].metadata["help"]
        assert "recommend" in temperature.info_plain


async def test_the_first_frame_is_the_whole_visible_form(tmp_path):
    """No blank area filling in after the screen appears: the part of the form mounted with
    the screen already fills its viewport, at any terminal size."""
    for size in ((80, 24), (120, 40), (200, 70)):
        app = Host(tmp_path / "themes")
        frames: list[tuple[int, int, bool]] = []
        original = app._display

        def display(screen, renderable, frames=frames, original=original) -> None:
            original(screen, renderable)
            if isinstance(screen, SettingsScreen):
                form = screen.query_one("#settings-form")
                shown = sum(c.outer_size.height for c in form.children if c.display)
                frames.append((shown, form.scrollable_content_region.height,
                               screen._all_mounted.is_set()))

        app._display = display  # type: ignore[method-assign]
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            screen = SettingsScreen(make_config(tmp_path), themes=sorted(app.available_themes))
            await app.push_screen(screen)
            await screen.wait_until_mounted()
            await pilot.pause()
        assert frames, size
        for shown, viewport, everything in frames:
            assert everything or shown >= viewport > 0, (size, frames)
