"""The settings screen: everything a user can steer, checked as it is typed.

One form serves two scopes:

* the defaults (no thread): the request settings new threads start from, the connection,
  the appearance and copying. The app writes the result to config.toml;
* one thread: only the request sections (Model, Search, Answer). Fields that differ from
  the defaults are marked "overridden"; the app stores the difference as the thread's
  overrides.

Every rule comes from the shared validators (``sonar_tui.api.settings``,
``sonar_tui.config``): each edit builds candidate settings from the whole form and validates
them, so rules that involve two fields (recency vs dates, Pro Search vs model) are reported
while typing, under the field the validator names. Text that comes from the user, the config
or the network is shown as ``Content(text)``, never parsed as markup, and the API key is
only ever shown through ``mask_key``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.lazy import Lazy
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Static

from sonar_tui.actions import BY_ID
from sonar_tui.api.agent import agent_unsupported
from sonar_tui.api.settings import (
    AGENT_MODEL_MAP,
    DOMAIN_FILTER_LIMIT,
    IMAGE_FILTER_LIMIT,
    ConnectionSettings,
    RequestSettings,
    validate_connection_settings,
    validate_domain_list,
    validate_request_settings,
)
from sonar_tui.config import (
    DEFAULT_THEME,
    AppearanceSettings,
    CopySettings,
    LoadedConfig,
    validate_appearance_settings,
    validate_copy_settings,
)
from sonar_tui.config.schema import FIELDS
from sonar_tui.config.schema import SettingField as SchemaField
from sonar_tui.ui.bindings import binding
from sonar_tui.ui.widgets.setting_fields import (
    CUSTOM_MODEL,
    ERROR_STYLE,
    MUTED_STYLE,
    WARNING_STYLE,
    ChoiceBar,
    ChoiceField,
    FormatsField,
    ListField,
    ModelField,
    MultilineField,
    Note,
    NumberField,
    SettingField,
    SwitchField,
    TextField,
)


@dataclass
class SettingsResult:
    """What the user saved. The app persists it (config file or thread overrides)."""

    scope: Literal["defaults", "thread"]
    request: RequestSettings  # the full effective settings the user saved
    connection: ConnectionSettings | None  # None for a thread: the connection is global
    appearance: AppearanceSettings | None
    copy: CopySettings | None


_DATE_FIELDS = ("published_after", "published_before", "updated_after", "updated_before")

# Short labels for the choice bars ("" is the unset value); the help line explains them.
# provider/model slugs the Agent API has served (agent-api.md 3.1); any other may be typed.
AGENT_MODEL_SUGGESTIONS = ("perplexity/sonar", "openai/gpt-5.1", "openai/gpt-5.2",
                           "openai/gpt-5.5", "anthropic/claude-sonnet-4-5",
                           "google/gemini-3-flash-preview", "xai/grok-4-1")
_CHOICE_LABELS: dict[str, dict[str, str]] = {
    "recency": {"": "any time"},
    "search_context_size": {"": "default"},
    "search_type": {"": "default"},
    "reasoning_effort": {"": "default"},
    "agent_effort": {"": "from the model"},
    "response_format": {"json_schema": "JSON schema"},
    "citation_style": {"inline": "inline links"},
    "job_notify": {"osc9": "OSC 9", "osc777": "OSC 777"},
}
# ----------------------------------------------------------------------------- the screen


class _Form(VerticalScroll, can_focus=False):
    """The scrolling form. Not a tab stop itself: focusing a field scrolls to it."""


class _Section(Vertical):
    """A heading and its fields; or, without a heading, the rest of a section's fields."""


class _Rest(Vertical):
    """The part of the form below the first screenful, mounted in one go right after the
    first paint: the screen opens fast, and what it first shows is already complete."""

    class Ready(Message):
        pass

    def on_mount(self) -> None:
        self.post_message(self.Ready())


# Rows a field takes at least (its label, a control, a line of help, a gap): the first
# screenful is filled by counting with it, so it is never short of the screen's height.
FIELD_ROWS_AT_LEAST = 4


SECTION_TITLES = {"model": "Model", "search": "Search", "answer": "Answer", "api": "API",
                  "appearance": "Appearance"}
# The form's section for a schema section with no heading of its own.
_FORM_SECTION = {"copy": "appearance"}
# Shown elsewhere in the form, not as a field of their own.
_NOT_FIELDS = {"api.agent_endpoints"}  # the "remembered endpoints" row and its Forget button


def form_section(f: SchemaField) -> str:
    section = f.metadata.get("section") or f.section.table
    return _FORM_SECTION.get(section, section)


def field_from_schema(f: SchemaField, value: Any) -> SettingField:
    """The widget a setting's type and choices call for: a switch for a bool, a row of
    choices for a fixed set, a number box for int/float (blank allowed when optional), an
    editable list for a list, a line of text otherwise."""
    if f.kind is bool:
        return SwitchField(f.key, value)
    choices = f.metadata.get("choices")
    if choices:
        labels = _CHOICE_LABELS.get(f.name, {})
        return ChoiceField(f.key, value, [(labels.get(c, c), c) for c in choices])
    if f.kind in (int, float):
        return NumberField(f.key, value, kind=f.kind, optional=f.optional)
    if f.kind is list:
        return ListField(f.key, value, limit=100, check=lambda entries: None,
                         placeholder="Enter adds")
    return TextField(f.key, value)


class SettingsScreen(ModalScreen[SettingsResult | None]):
    """Edit the defaults (``thread_title=None``) or one thread's request settings."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    BINDINGS = [binding(BY_ID["settings.save"]), binding(BY_ID["settings.cancel"])]

    DEFAULT_CSS = """
    SettingsScreen {
        align: center middle;
        background: $background 60%;
    }
    SettingsScreen #settings-dialog {
        width: 100%;
        height: 100%;
        background: $surface;
    }
    SettingsScreen.-wide #settings-dialog {
        width: 110;
        max-width: 95%;
        height: 92%;
        border: round $primary;
        padding: 0 1;
    }
    SettingsScreen #settings-header {
        height: auto;
        padding: 0 1;
        background: $panel;
        link-color: $text-primary;
        link-style: underline;
    }
    SettingsScreen #settings-form {
        height: 1fr;
        padding: 0 1;
        scrollbar-gutter: stable;
    }
    SettingsScreen _Section, SettingsScreen _Rest { height: auto; }
    /* Till the rest of the form is mounted the thumb would show the wrong length. */
    SettingsScreen #settings-form.-filling { scrollbar-visibility: hidden; }
    SettingsScreen .section-title {
        text-style: bold;
        color: $text-primary;
        border-bottom: solid $primary 50%;
        margin: 1 0 0 0;
    }
    SettingsScreen .setting-field {
        height: auto;
        margin: 0 0 1 0;
        border-top: blank;
        border-title-align: left;
        border-title-color: $foreground;
    }
    SettingsScreen .field-info { height: auto; padding: 0 1; }
    SettingsScreen .setting-field Input.-short { width: 22; }
    SettingsScreen .setting-field TextArea { height: 6; }
    SettingsScreen .setting-field TextArea.-tall { height: 10; }
    /* A refused value: the field's controls take Input's own "invalid" look. */
    SettingsScreen .setting-field.-invalid > Input,
    SettingsScreen .setting-field.-invalid > ChoiceBar,
    SettingsScreen .setting-field.-invalid > TextArea { border: tall $error 60%; }
    SettingsScreen .setting-field.-invalid > Input:focus,
    SettingsScreen .setting-field.-invalid > ChoiceBar:focus,
    SettingsScreen .setting-field.-invalid > TextArea:focus { border: tall $error; }
    SettingsScreen .setting-field EntryList {
        height: auto;
        max-height: 8;
        border: none;
        padding: 0 1;
        margin: 0 0 0 2;
        background: $boost;
    }
    SettingsScreen .setting-field SelectionList { height: auto; }
    SettingsScreen .key-status { height: auto; margin: 0 0 1 0; padding: 0 1; }
    SettingsScreen #settings-endpoints { width: 1fr; height: auto; }
    SettingsScreen #settings-endpoints-row Button { margin: 0 0 0 1; min-width: 10; }
    SettingsScreen #settings-footer {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    SettingsScreen #settings-status { width: 1fr; height: auto; padding: 0 1 0 0; }
    SettingsScreen #settings-footer Button { margin: 0 0 0 1; min-width: 10; }
    """

    def __init__(self, config: LoadedConfig, *, thread_title: str | None = None,
                 thread_settings: RequestSettings | None = None,
                 themes: list[str] | None = None,
                 forget_endpoints: Callable[[], str | None] | None = None) -> None:
        super().__init__()
        self._forget_endpoints = forget_endpoints
        # Textual sets the breakpoint class on the first resize, after mounting, which would
        # restyle every field once more; set it now (when there is an app) so that is a no-op.
        size = self._app_size()
        if size is not None:
            self.add_class(self._breakpoint_class(size.width))
        self.config = config
        self.thread_title = thread_title
        self.scope: Literal["defaults", "thread"] = "defaults" if thread_title is None else "thread"
        self._start_request = (thread_settings or config.request) if self.scope == "thread" \
            else config.request
        self._themes = themes
        self._original_theme: str | None = None
        self._ready = False
        self._pending_rest = False
        self._all_mounted = asyncio.Event()
        self._save_refused = False
        self._validation_scheduled = False
        self._header_uses_agent = False
        self.fields: dict[str, SettingField] = {}
        self._sections: dict[str, list[Widget]] = {}

    def _app_size(self) -> Any:
        try:
            return self.app.size
        except RuntimeError:  # NoActiveAppError: built outside a running app
            return None

    @classmethod
    def _breakpoint_class(cls, width: int) -> str:
        assert cls.HORIZONTAL_BREAKPOINTS
        return next(name for limit, name in sorted(cls.HORIZONTAL_BREAKPOINTS, reverse=True)
                    if width >= limit)

    # -- building

    @property
    def _tables(self) -> dict[str, Any]:
        """The values the form starts from, per config table."""
        return {"request": self._start_request, "api": self.config.connection,
                "appearance": self.config.appearance, "copy": self.config.copy}

    def _add(self, section: str, widget: Widget) -> None:
        self._sections.setdefault(section, []).append(widget)
        if isinstance(widget, SettingField):
            self.fields[widget.key] = widget

    def _build_fields(self) -> None:
        """Every setting of the schema, in its order, grouped by its section; the thread
        scope shows only the request's."""
        tables = self._tables
        for f in FIELDS.values():
            if f.key in _NOT_FIELDS or f.section.table not in tables:
                continue
            if self.scope == "thread" and f.section.table != "request":
                continue
            value = getattr(tables[f.section.table], f.name)
            override = self._overrides.get(f.key)
            widget = override(value) if override else field_from_schema(f, value)
            self._add(form_section(f), widget)
        # The form's order: its sections in turn, each in the schema's order.
        self._sections = {s: self._sections[s] for s in SECTION_TITLES if s in self._sections}
        self.fields = {w.key: w for widgets in self._sections.values() for w in widgets
                       if isinstance(w, SettingField)}
        if self.scope == "defaults":
            self._sections["api"].insert(0, Static(
                self._key_status(), classes="key-status", id="settings-key-status",
                markup=False))
            endpoints = self.config.connection.agent_endpoints
            if endpoints:
                self._sections["api"].append(Horizontal(
                    Static(self._endpoints_status(endpoints), id="settings-endpoints",
                           markup=False),
                    Button("Forget", id="settings-forget-endpoints", compact=True,
                           tooltip="Forget these: auto mode asks through chat completions "
                                   "again"),
                    id="settings-endpoints-row", classes="key-status"))

    @property
    def _overrides(self) -> dict[str, Callable[[Any], SettingField]]:
        """Fields that need more than their type gives: a hint, a picker, a limit."""
        date = {name: (lambda value, key=f"request.{name}": TextField(
            key, value, placeholder="MM/DD/YYYY", width="-short")) for name in _DATE_FIELDS}
        return {
            "request.model": lambda value: ModelField("request.model", value),
            "request.agent_model": lambda value: TextField(
                "request.agent_model", value,
                placeholder=self._agent_model_placeholder(self._start_request.model),
                suggestions=AGENT_MODEL_SUGGESTIONS),
            "request.system_prompt": lambda value: MultilineField("request.system_prompt",
                                                                  value),
            "request.response_schema": lambda value: MultilineField(
                "request.response_schema", value, height_class="-tall"),
            "request.domain_filter": lambda value: ListField(
                "request.domain_filter", value, limit=DOMAIN_FILTER_LIMIT,
                check=_domain_check(DOMAIN_FILTER_LIMIT, "domain_filter"),
                placeholder="nature.com, or -reddit.com to exclude; Enter adds"),
            "request.image_domain_filter": lambda value: ListField(
                "request.image_domain_filter", value, limit=IMAGE_FILTER_LIMIT,
                check=_domain_check(IMAGE_FILTER_LIMIT, "image_domain_filter"),
                placeholder="example.com, or -example.com to exclude; Enter adds"),
            "request.image_format_filter": lambda value: FormatsField(
                "request.image_format_filter", value,
                help="Only images in these formats (none ticked = any); space toggles."),
            "request.country": lambda value: TextField(
                "request.country", value, placeholder="e.g. US", width="-short"),
            "appearance.theme": lambda value: ChoiceField(
                "appearance.theme", value,
                [(name, name) for name in self._theme_names(value)], menu=True),
            **{f"request.{name}": make for name, make in date.items()},
        }

    def _theme_names(self, current: str) -> list[str]:
        names = (list(self._themes) if self._themes is not None
                 else sorted(self.app.available_themes))
        return names if current in names else [current, *names]

    @staticmethod
    def _agent_model_placeholder(model: str) -> str:
        if model in AGENT_MODEL_MAP:
            return "blank = the effort level's model"
        return f"blank = {model or '?'} (from the model)"

    @staticmethod
    def _endpoints_status(endpoints: list[str]) -> Content:
        if not endpoints:
            return Content.assemble(("Agent API endpoints: ", "bold"),
                                    ("none remembered; auto mode starts with chat completions.",
                                     MUTED_STYLE))
        return Content.assemble(
            ("Agent API endpoints (remembered): ", "bold"), ", ".join(endpoints),
            ("\nAuto mode goes straight to the Agent API at these base URLs, because chat "
             "completions were retired there.", MUTED_STYLE))

    async def action_forget_endpoints(self) -> None:
        """Forget the remembered switches now (the file is written at once, not on Save)."""
        problem = self._forget_endpoints() if self._forget_endpoints else "not available here"
        if problem:
            self._status.update(Content.assemble(("Not forgotten: ", f"bold {ERROR_STYLE}"),
                                                 problem))
            return
        self.config = replace(self.config, connection=replace(self.config.connection,
                                                              agent_endpoints=[]))
        self.query_one("#settings-endpoints", Static).update(self._endpoints_status([]))
        self.query_one("#settings-forget-endpoints", Button).disabled = True
        self._say("Forgotten: auto mode asks through chat completions again.")

    def _key_status(self) -> Content:
        masked = self.config.masked_api_key
        if not masked:
            return Content.assemble(("API key: ", "bold"), (
                "No API key — set PERPLEXITY_API_KEY or api_key in config.toml", WARNING_STYLE))
        where = {"env": "from $PERPLEXITY_API_KEY", "flag": "from --api-key",
                 "file": f"from {self.config.path}"}.get(self.config.api_key_source or "", "")
        return Content.assemble(("API key: ", "bold"), masked, (f"  {where}", MUTED_STYLE))

    def compose(self) -> ComposeResult:
        self._build_fields()  # here, not in __init__: the theme list may come from the app
        self._header_widget = Static(self._header(), id="settings-header", markup=False)
        self._status = Static(self._hint(), id="settings-status", markup=False)
        with Vertical(id="settings-dialog"):
            yield self._header_widget
            first, rest = self._split_at_first_screenful()
            with _Form(id="settings-form", classes="-filling" if rest else ""):
                yield from first
                if rest:
                    yield Lazy(_Rest(*rest))
            with Horizontal(id="settings-footer"):
                yield self._status
                if self.scope == "thread":
                    yield Button("Clear overrides", id="settings-clear", compact=True)
                else:
                    yield Button("Reset to defaults", id="settings-reset", compact=True)
                yield Button("Cancel", id="settings-cancel", compact=True)
                yield Button("Save", id="settings-save", variant="primary", compact=True)
        # Every field's notes and state before it is mounted: no second layout pass for them.
        self.validate()

    def _split_at_first_screenful(self) -> tuple[list[Widget], list[Widget]]:
        """The sections as widgets: those that fill the first screenful, and the rest."""
        size = self._app_size()
        budget = size.height if size is not None else 50
        rows = 0
        first: list[Widget] = []
        rest: list[Widget] = []
        for section, widgets in self._sections.items():
            title = Static(SECTION_TITLES[section], id=f"section-{section}",
                           classes="section-title", markup=False)
            if rows >= budget:
                rest.append(_Section(title, *widgets, id=f"settings-section-{section}"))
                continue
            rows += 2
            shown = 0
            while shown < len(widgets) and rows < budget:
                rows += FIELD_ROWS_AT_LEAST
                shown += 1
            first.append(_Section(title, *widgets[:shown], id=f"settings-section-{section}"))
            if shown < len(widgets):
                rest.append(_Section(*widgets[shown:], id=f"settings-section-{section}-rest"))
        self._pending_rest = bool(rest)
        return first, rest

    def _header(self, uses_agent: bool = False) -> Content:
        if self.scope == "thread":
            title = Content.assemble(("Settings for this thread: ", "bold"),
                                     (self.thread_title or "", "bold $text-primary"))
            about = ("Changes apply to this thread only; a new thread starts from the "
                     "defaults. Fields marked overridden differ from the defaults.")
        else:
            title = Content.assemble(("Settings", "bold"))
            about = "Defaults for new threads, the connection and the look."
        lines = [title, Content.assemble((about, MUTED_STYLE)),
                 Content.from_markup(
                     "Jump to: " + " · ".join(
                         f"[@click=screen.jump('{s}')]"
                         f"{SECTION_TITLES[s]}[/]" for s in self._sections))]
        if uses_agent:
            lines.append(Content.assemble((
                "⚠ The Agent API is in use: settings marked ⚠ have no equivalent there "
                "and are ignored.", WARNING_STYLE)))
        return Content("\n").join(lines)

    @property
    def status_plain(self) -> str:
        """The footer's message (key hints, or why the last Save was refused)."""
        content = self._status.content
        return content.plain if isinstance(content, Content) else str(content)

    def _hint(self) -> Content:
        return Content.assemble(("ctrl+s save · esc cancel", MUTED_STYLE))

    def on_mount(self) -> None:
        self._original_theme = self.app.theme
        self._ready = True
        if not self._pending_rest:
            self._all_mounted.set()
        self.fields["request.model"].focus_target.focus()

    @on(_Rest.Ready)
    def _rest_ready(self, event: _Rest.Ready) -> None:
        event.stop()
        self._all_mounted.set()
        self.query_one(_Form).remove_class("-filling")

    def _schedule_validation(self) -> None:
        """Validate once for a burst of edits (a reset changes many fields at once)."""
        if not self._validation_scheduled:
            self._validation_scheduled = True
            self.call_next(self._scheduled_validation)

    def _scheduled_validation(self) -> None:
        self._validation_scheduled = False
        self.validate()

    async def wait_until_mounted(self) -> None:
        """Every section is mounted (they follow the first paint)."""
        await self._all_mounted.wait()

    # -- validation

    def collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The settings the form holds, per table, and why each invalid field is refused."""
        tables = self._tables
        values: dict[str, dict[str, Any]] = {table: {} for table in tables}
        errors: dict[str, str] = {}
        for key, field in self.fields.items():
            if not field.is_mounted:
                continue  # mounted right after the first paint; till then it holds its start
            value, why = field.read()
            if why is not None:
                errors[key] = why
                continue
            values[field.table][field.setting] = value
        built = {table: replace(tables[table], **values[table]) for table in tables}
        checks: dict[str, Callable[[Any], list]] = {"request": validate_request_settings}
        if self.scope == "defaults":
            checks.update(api=validate_connection_settings,
                          appearance=validate_appearance_settings, copy=validate_copy_settings)
        for table, check in checks.items():
            for problem in check(built[table]):
                key = f"{table}.{problem.field}"
                errors.setdefault(key, problem.message)
        return built, errors

    def validate(self) -> dict[str, str]:
        """Check the whole form and show every field's state; returns the errors."""
        built, errors = self.collect()
        request: RequestSettings = built["request"]
        connection: ConnectionSettings = built["api"]
        uses_agent = connection.uses_agent()
        ignored = set(agent_unsupported(request)) if uses_agent else set()

        if uses_agent != self._header_uses_agent:
            self._header_uses_agent = uses_agent
            self._header_widget.update(self._header(uses_agent))
        schema = self.fields["request.response_schema"]
        schema.display = request.response_format != "none"
        schema.set_label("Regular expression" if request.response_format == "regex"
                         else "JSON schema")
        agent_model = self.fields["request.agent_model"]
        if isinstance(agent_model, TextField):
            agent_model.input.placeholder = self._agent_model_placeholder(request.model)

        for key, field in self.fields.items():
            notes: list[Note] = []
            source = self.config.sources.get(key) if self.scope == "defaults" else None
            if source is not None and source.kind in ("env", "flag"):
                notes.append((f"set by {source.label} — this overrides the file", WARNING_STYLE))
            notes.extend(self._exclusivity_notes(field.setting, request))
            if not field.agent_capable:
                notes.append(self._agent_note(field.setting, uses_agent, field.setting in ignored))
            badges: list[Note] = []
            if isinstance(field, ListField):
                badges.append(field.count_badge())
            if self.scope == "thread" and field.table == "request" and \
                    getattr(request, field.setting) != getattr(self.config.request, field.setting):
                badges.append(("overridden", "bold $text-accent"))
            field.show(error=errors.get(key), notes=notes, badges=badges)
        if self._save_refused and not errors:
            self._save_refused = False
            self._status.update(self._hint())
        return errors

    @staticmethod
    def _exclusivity_notes(name: str, request: RequestSettings) -> list[Note]:
        # The API refuses recency together with date filters; say so before it does.
        if name in _DATE_FIELDS and request.recency:
            return [(f"Recency is set ({request.recency}): clear it to filter by date.",
                     WARNING_STYLE)]
        if name == "recency" and request.uses_date_filters:
            return [("Date filters are set: recency cannot be combined with them.",
                     WARNING_STYLE)]
        return []

    @staticmethod
    def _agent_note(name: str, uses_agent: bool, ignored: bool) -> Note:
        text = "not available with the Agent API"
        if name == "search_mode":
            text = "not available with the Agent API (except sec, sent as its finance search)"
        if ignored:
            return (f"⚠ {text} — ignored while it is in use", f"bold {WARNING_STYLE}")
        if uses_agent:
            return (f"⚠ {text}", WARNING_STYLE)
        return (text, MUTED_STYLE)

    @on(SettingField.Edited)
    def _edited(self, event: SettingField.Edited) -> None:
        event.stop()
        if not self._ready:
            return  # mounting, not editing: compose already showed every field's state
        if event.field.key == "appearance.theme":
            self._preview_theme()
        self._schedule_validation()

    def _preview_theme(self) -> None:
        name, _ = self.fields["appearance.theme"].read()
        if name != self.app.theme and name in self.app.available_themes:
            self.app.theme = name

    # -- actions

    async def action_jump(self, section: str) -> None:
        await self.wait_until_mounted()
        self.query_one(f"#section-{section}").scroll_visible(top=True, animate=False)

    async def action_save(self) -> None:
        await self.wait_until_mounted()
        errors = self.validate()
        status = self._status
        if errors:
            self._save_refused = True
            first = next((f for f in self.fields.values() if f.key in errors), None)
            if first is None:  # a rule about a field the form does not show
                status.update(Content.assemble(("Not saved: ", f"bold {ERROR_STYLE}"),
                                               "; ".join(errors.values())))
                return
            first.focus_control()
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            status.update(Content.assemble(
                ("Not saved: ", f"bold {ERROR_STYLE}"), f"{first.label_text} {errors[first.key]}",
                more))
            return
        built, _ = self.collect()
        if self.scope == "thread":
            result = SettingsResult("thread", built["request"], None, None, None)
        else:
            result = SettingsResult("defaults", built["request"], built["api"],
                                    built["appearance"], built["copy"])
        self.dismiss(result)

    def action_cancel(self) -> None:
        if self._original_theme is not None and self.app.theme != self._original_theme:
            self.app.theme = self._original_theme
        self.dismiss(None)

    def reset_to(self, tables: Mapping[str, Any]) -> None:
        """Put every field of the given tables back to those values (saving is still needed)."""
        for field in self.fields.values():
            if field.table in tables:
                field.write(getattr(tables[field.table], field.setting))
        self.validate()

    async def action_reset_defaults(self) -> None:
        await self.wait_until_mounted()
        defaults: dict[str, Any] = {"request": RequestSettings()}
        if self.scope == "defaults":
            defaults.update(api=ConnectionSettings(), appearance=AppearanceSettings(),
                            copy=CopySettings())
            theme_field = self.fields["appearance.theme"]
            if isinstance(theme_field, ChoiceField) and DEFAULT_THEME not in theme_field.choices:
                defaults["appearance"].theme = theme_field.read()[0]
        self.reset_to(defaults)
        self._say("Reset to the built-in defaults; ctrl+s saves.")

    async def action_clear_overrides(self) -> None:
        await self.wait_until_mounted()
        self.reset_to({"request": self.config.request})
        self._say("Every field is back to the defaults; ctrl+s saves.")

    def _say(self, text: str) -> None:
        self._status.update(Content.assemble((text, MUTED_STYLE)))

    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {"settings-save": "save", "settings-cancel": "cancel",
                   "settings-reset": "reset_defaults", "settings-clear": "clear_overrides",
                   "settings-forget-endpoints": "forget_endpoints"}
        action = actions.get(event.button.id or "")
        if action is not None:
            await self.run_action(action)


def _domain_check(limit: int, name: str) -> Callable[[list[str]], str | None]:
    def check(entries: list[str]) -> str | None:
        problems = validate_domain_list(entries, limit, name)
        return problems[0].message if problems else None
    return check


__all__ = ["CUSTOM_MODEL", "ChoiceBar", "SettingField", "SettingsResult", "SettingsScreen"]
