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
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.lazy import Lazy
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Select, SelectionList, Static, Switch, TextArea
from textual.widgets.option_list import Option

from sonar_tui.actions import BY_ID
from sonar_tui.api.agent import agent_unsupported
from sonar_tui.api.settings import (
    AGENT_MODEL_MAP,
    DOMAIN_FILTER_LIMIT,
    IMAGE_FILTER_LIMIT,
    IMAGE_FORMATS,
    KNOWN_MODELS,
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
from sonar_tui.ui.bindings import binding


@dataclass
class SettingsResult:
    """What the user saved. The app persists it (config file or thread overrides)."""

    scope: Literal["defaults", "thread"]
    request: RequestSettings  # the full effective settings the user saved
    connection: ConnectionSettings | None  # None for a thread: the connection is global
    appearance: AppearanceSettings | None
    copy: CopySettings | None


# Config tables in form order; a field's key is "<table>.<name>" as in LoadedConfig.sources.
_TABLE_CLASSES: dict[str, type] = {
    "request": RequestSettings,
    "api": ConnectionSettings,
    "appearance": AppearanceSettings,
    "copy": CopySettings,
}
_METADATA: dict[str, Mapping[str, Any]] = {
    f"{table}.{f.name}": f.metadata for table, cls in _TABLE_CLASSES.items() for f in fields(cls)
}
_DATE_FIELDS = ("published_after", "published_before", "updated_after", "updated_before")
CUSTOM_MODEL = "\x00custom"  # the model Select's value that reveals the custom name input

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
_HELP_OVERRIDES: dict[str, str] = {
    "api.api_mode": "auto: chat completions, switching to the Agent API when Perplexity says "
                    "Sonar is retired there (and remembering it); sonar: chat completions only; "
                    "agent: always the Agent API.",
    "request.response_format": "none (free text), a JSON schema the answer must follow, or a "
                               "regular expression (Sonar only).",
    "copy.citation_style": "How [n] markers are written when an answer is copied: references "
                           "keeps [n] and lists the sources after; inline links turns each [n] "
                           "into a Markdown link.",
    # The docs advise leaving sampling alone; say so where the user decides.
    "request.temperature": "0 to below 2. Blank = the service default (0.2), which the "
                           "docs recommend keeping.",
    "request.top_p": "0 to 1. Blank = the service default (0.9), which the docs recommend "
                     "keeping.",
    "request.max_tokens": "Upper bound on the answer's length; blank = service default.",
}

ERROR_STYLE = "$text-error"
WARNING_STYLE = "$text-warning"
MUTED_STYLE = "$foreground-muted"  # $text-muted is "auto 60%", which Content styles ignore

Note = tuple[str, str]  # (text, style)


# ----------------------------------------------------------------------------- fields


class SettingField(Vertical):
    """One setting: a label, its control(s), and a line of help, notes and errors.

    Subclasses provide the control (``compose_control``), turn it into a value (``read``,
    which also reports text that is not a value at all, such as "abc" for a number) and
    set it (``write``). They post ``Edited`` whenever the user changes the value.
    """

    class Edited(Message):
        def __init__(self, field: SettingField) -> None:
            super().__init__()
            self.field = field

    def __init__(self, key: str, *, label: str | None = None, help: str | None = None,
                 classes: str = "") -> None:
        super().__init__(id="field-" + key.replace(".", "-").replace("_", "-"),
                         classes=f"setting-field {classes}".strip())
        meta = _METADATA.get(key, {})
        self.key = key
        self.table, self.setting = key.split(".", 1)
        self.label_text: str = label or meta.get("label", self.setting)
        self.help_text: str = help or _HELP_OVERRIDES.get(key) or meta.get("help", "")
        self.agent_capable: bool = meta.get("agent", True)
        self.error: str | None = None
        self._notes: tuple[Note, ...] = ()
        self._badges: tuple[Note, ...] = ()
        # The label is the field's border title: one widget fewer per field, which matters
        # with fifty fields (each widget costs about a millisecond to mount).
        self.border_title = self._label_content()
        self._info = Static(self._info_content(), classes="field-info", markup=False)

    # -- subclass API

    def compose_control(self) -> ComposeResult:
        raise NotImplementedError

    def read(self) -> tuple[Any, str | None]:
        """(value, None), or (None, why the text is not a value)."""
        raise NotImplementedError

    def write(self, value: Any) -> None:
        raise NotImplementedError

    @property
    def focus_target(self) -> Widget:
        raise NotImplementedError

    # -- shared

    def compose(self) -> ComposeResult:
        yield from self.compose_control()
        yield self._info

    def edited(self) -> None:
        self.post_message(self.Edited(self))

    def show(self, *, error: str | None, notes: Iterable[Note] = (),
             badges: Iterable[Note] = ()) -> None:
        """Update what the field says; repaints only what changed."""
        notes, badges = tuple(notes), tuple(badges)
        if badges != self._badges:
            self._badges = badges
            self.border_title = self._label_content()
        if error != self.error or notes != self._notes:
            self.error, self._notes = error, notes
            self._info.update(self._info_content())
            self.set_class(error is not None, "-invalid")

    @property
    def label_plain(self) -> str:
        """The label line as shown (with its badges), without styles."""
        return self._label_content().plain

    @property
    def info_plain(self) -> str:
        """The lines under the control as shown (error, help, notes), without styles."""
        return self._info_content().plain

    def set_label(self, text: str) -> None:
        if text != self.label_text:
            self.label_text = text
            self.border_title = self._label_content()

    def focus_control(self) -> None:
        self.focus_target.focus()
        self.scroll_visible(top=True, animate=False)

    def _label_content(self) -> Content:
        parts: list[str | tuple[str, str]] = [(self.label_text, "bold")]
        for text, style in self._badges:
            parts += ["  ", (text, style)]
        return Content.assemble(*parts)

    def _info_content(self) -> Content:
        lines: list[Content] = []
        if self.error:
            lines.append(Content.assemble(("✗ " + self.error, ERROR_STYLE)))
        if self.help_text:
            lines.append(Content.assemble((self.help_text, MUTED_STYLE)))
        lines.extend(Content.assemble((text, style)) for text, style in self._notes)
        return Content("\n").join(lines)


class TextField(SettingField):
    """A one-line text setting (model names, URLs, paths, places, dates)."""

    def __init__(self, key: str, value: str, *, placeholder: str = "",
                 suggestions: Iterable[str] = (), width: str = "", **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        suggester = SuggestFromList(list(suggestions), case_sensitive=False) if suggestions else None
        self.input = Input(value, placeholder=placeholder, suggester=suggester, validate_on=(),
                           id=self.id + "-input", classes=width)

    def compose_control(self) -> ComposeResult:
        yield self.input

    def read(self) -> tuple[Any, str | None]:
        return self.input.value.strip(), None

    def write(self, value: Any) -> None:
        self.input.value = value

    @property
    def focus_target(self) -> Widget:
        return self.input

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.edited()


class NumberField(TextField):
    """A number typed as text; blank means "unset" where the setting allows it."""

    def __init__(self, key: str, value: int | float | None, *, kind: type,
                 optional: bool, **kwargs: Any) -> None:
        super().__init__(key, "" if value is None else _number_text(value),
                         placeholder="service default" if optional else "", width="-short",
                         **kwargs)
        self.kind, self.optional = kind, optional
        # The restriction Input's own number types use; validation stays ours.
        self.input.type = "integer" if kind is int else "number"

    def read(self) -> tuple[Any, str | None]:
        text = self.input.value.strip()
        if not text:
            return (None, None) if self.optional else (None, "a value is required")
        try:
            value: int | float = int(text) if self.kind is int else float(text)
        except ValueError:
            return None, "must be a whole number" if self.kind is int else "must be a number"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "must be a finite number"
        return value, None

    def write(self, value: Any) -> None:
        self.input.value = "" if value is None else _number_text(value)


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ChoiceBar(Widget, can_focus=True):
    """Every choice in one row; left/right (or a click) picks one.

    Lighter than a Select (one widget instead of six) and every option stays in view, which
    suits the short fixed lists most settings have.
    """

    COMPONENT_CLASSES = {"choice-bar--selected"}
    BINDINGS = [
        Binding("left", "step(-1)", "Previous choice", show=False),
        Binding("right", "step(1)", "Next choice", show=False),
        Binding("home", "pick(0)", "First choice", show=False),
        Binding("end", "pick(-1)", "Last choice", show=False),
    ]
    DEFAULT_CSS = """
    ChoiceBar {
        width: auto;
        height: 3;
        padding: 0 1;
        border: tall $border-blurred;
        background: $surface;
        pointer: pointer;
        & > .choice-bar--selected {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: bold;
        }
        &:focus {
            border: tall $border;
            background-tint: $foreground 5%;
            & > .choice-bar--selected {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    class Changed(Message):
        def __init__(self, bar: ChoiceBar, value: str) -> None:
            super().__init__()
            self.bar = bar
            self.value = value

        @property
        def control(self) -> ChoiceBar:
            return self.bar

    def __init__(self, options: list[tuple[str, str]], value: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.options = options  # (label, value)
        self.index = [choice for _, choice in options].index(value)

    @property
    def value(self) -> str:
        return self.options[self.index][1]

    @value.setter
    def value(self, value: str) -> None:
        self._select([choice for _, choice in self.options].index(value))

    def _select(self, index: int) -> None:
        if index != self.index:
            self.index = index
            self.refresh()
            self.post_message(self.Changed(self, self.value))

    def action_step(self, delta: int) -> None:
        self._select((self.index + delta) % len(self.options))

    def action_pick(self, index: int) -> None:
        self._select(index % len(self.options))

    def render(self) -> Content:
        selected = self.get_visual_style("choice-bar--selected")
        parts: list[str | tuple[str, Any]] = []
        for index, (label, _) in enumerate(self.options):
            if index:
                parts.append(" ")
            parts.append((f" {label} ", selected) if index == self.index else f" {label} ")
        return Content.assemble(*parts)

    def on_click(self, event: Any) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x = 0
        for index, (label, _) in enumerate(self.options):
            width = Content(label).cell_length + 2
            if x <= offset.x < x + width:
                self._select(index)
                return
            x += width + 1


class ChoiceField(SettingField):
    """One of a fixed set of values: a choice bar, or a Select for long lists (themes)."""

    def __init__(self, key: str, value: str, options: Iterable[tuple[str, str]], *,
                 menu: bool = False, **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        self.options = list(options)
        if value not in self.choices:
            self.options.append((value, value))  # keep an unknown value visible
        self.control: ChoiceBar | Select[str]
        if menu:
            self.control = Select([(Content(label), choice) for label, choice in self.options],
                                  value=value, allow_blank=False, id=self.id + "-select")
        else:
            self.control = ChoiceBar(self.options, value, id=self.id + "-choice")

    @property
    def choices(self) -> list[str]:
        return [choice for _, choice in self.options]

    def compose_control(self) -> ComposeResult:
        yield self.control

    def read(self) -> tuple[Any, str | None]:
        return self.control.value, None

    def write(self, value: Any) -> None:
        self.control.value = value

    @property
    def focus_target(self) -> Widget:
        return self.control

    @on(Select.Changed)
    @on(ChoiceBar.Changed)
    def _changed(self, event: Message) -> None:
        event.stop()
        self.edited()


class SwitchField(SettingField):
    def __init__(self, key: str, value: bool, **kwargs: Any) -> None:
        super().__init__(key, classes="-switch", **kwargs)
        self.switch = Switch(value, animate=False, id=self.id + "-switch")

    def compose_control(self) -> ComposeResult:
        yield self.switch

    def read(self) -> tuple[Any, str | None]:
        return self.switch.value, None

    def write(self, value: Any) -> None:
        self.switch.value = value

    @property
    def focus_target(self) -> Widget:
        return self.switch

    @on(Switch.Changed)
    def _changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.edited()


class MultilineField(SettingField):
    def __init__(self, key: str, value: str, *, height_class: str = "", **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        self.text_area = TextArea(value, soft_wrap=True, tab_behavior="focus",
                                  show_line_numbers=False, highlight_cursor_line=False,
                                  id=self.id + "-text", classes=height_class)

    def compose_control(self) -> ComposeResult:
        yield self.text_area

    def read(self) -> tuple[Any, str | None]:
        return self.text_area.text, None

    def write(self, value: Any) -> None:
        self.text_area.load_text(value)

    @property
    def focus_target(self) -> Widget:
        return self.text_area

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.edited()


class EntryList(OptionList):
    """The entries of a ListField; delete removes the highlighted one, Enter edits it."""

    BINDINGS = [binding(BY_ID["settings.remove_entry"])]

    class Remove(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def action_remove(self) -> None:
        if self.highlighted is not None:
            self.post_message(self.Remove(self.highlighted))


class ListField(SettingField):
    """An editable list of entries: type one and press Enter to add it.

    While an entry is being typed it counts as part of the list, so the shared rules
    (count limit, no mixing of allowed and excluded entries) are checked as it is typed,
    and a valid entry still in the input when saving is saved too.
    """

    def __init__(self, key: str, value: list[str], *, limit: int,
                 check: Callable[[list[str]], str | None], placeholder: str,
                 **kwargs: Any) -> None:
        kwargs.setdefault("help", _METADATA[key]["help"] +
                          " In the list, delete removes an entry and Enter edits it.")
        super().__init__(key, **kwargs)
        self.entries: list[str] = list(value)
        self.limit = limit
        self.check = check
        self.input = Input(placeholder=placeholder, validate_on=(), id=self.id + "-input")
        self.entry_list = EntryList(*self._options(), id=self.id + "-list", markup=False)
        self.entry_list.display = bool(self.entries)

    def compose_control(self) -> ComposeResult:
        yield self.input
        yield self.entry_list

    def _options(self) -> list[Option]:
        return [Option(Content(entry)) for entry in self.entries]

    @property
    def pending(self) -> str:
        return self.input.value.strip()

    def read(self) -> tuple[Any, str | None]:
        candidate = self.entries + ([self.pending] if self.pending else [])
        if self.pending and self.pending in self.entries:
            return self.entries, f"'{self.pending}' is already in the list"
        return candidate, None

    def write(self, value: Any) -> None:
        self.entries = list(value)
        self.input.value = ""
        self._refresh_entries()

    @property
    def focus_target(self) -> Widget:
        return self.input

    def _refresh_entries(self, highlight: int | None = None) -> None:
        self.entry_list.set_options(self._options())
        self.entry_list.display = bool(self.entries)
        if self.entries and highlight is not None:
            self.entry_list.highlighted = min(highlight, len(self.entries) - 1)
        self.edited()

    def count_badge(self) -> Note:
        candidate, _ = self.read()
        kind = ""
        if candidate:
            kind = " · excluding" if candidate[0].startswith("-") else " · only these"
        style = ERROR_STYLE if len(candidate) > self.limit else MUTED_STYLE
        return f"{len(candidate)}/{self.limit}{kind}", style

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self.edited()

    @on(Input.Submitted)
    def _add(self, event: Input.Submitted) -> None:
        event.stop()
        entry = self.pending
        if not entry:
            return
        candidate, error = self.read()
        if error is None:
            error = self.check(candidate)
        if error is None:
            self.entries.append(entry)
            self.input.value = ""
            self._refresh_entries()
        else:
            self.edited()  # the screen shows why

    @on(EntryList.Remove)
    def _remove(self, event: EntryList.Remove) -> None:
        event.stop()
        del self.entries[event.index]
        self._refresh_entries(highlight=event.index)
        if not self.entries:
            self.input.focus()

    @on(OptionList.OptionSelected)
    def _edit(self, event: OptionList.OptionSelected) -> None:
        """Enter on an entry takes it back into the input for editing."""
        event.stop()
        if self.pending:
            return  # never overwrite what is being typed
        entry = self.entries.pop(event.option_index)
        self.input.value = entry
        self.input.focus()
        self._refresh_entries()


class FormatsField(SettingField):
    """Image formats: a fixed set, so a list of toggles rather than typing."""

    def __init__(self, key: str, value: list[str], **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        chosen = set(value)
        self.selection: SelectionList[str] = SelectionList(
            *[(Content(fmt), fmt, fmt in chosen) for fmt in IMAGE_FORMATS],
            id=self.id + "-list")
        self._extra = [fmt for fmt in value if fmt not in IMAGE_FORMATS]

    def compose_control(self) -> ComposeResult:
        yield self.selection

    def read(self) -> tuple[Any, str | None]:
        chosen = set(self.selection.selected)
        return [fmt for fmt in IMAGE_FORMATS if fmt in chosen] + self._extra, None

    def write(self, value: Any) -> None:
        self._extra = [fmt for fmt in value if fmt not in IMAGE_FORMATS]
        self.selection.deselect_all()
        for fmt in value:
            if fmt in IMAGE_FORMATS:
                self.selection.select(fmt)

    @property
    def focus_target(self) -> Widget:
        return self.selection

    @on(SelectionList.SelectedChanged)
    def _changed(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        self.edited()


class ModelField(SettingField):
    """The known Sonar models with what each is for, or any name a gateway serves."""

    def __init__(self, key: str, value: str, **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        options = [(Content.assemble((name, "bold"), ("  " + about, MUTED_STYLE)), name)
                   for name, about in KNOWN_MODELS.items()]
        options.append((Content("Custom… (a model your gateway serves)"), CUSTOM_MODEL))
        known = value in KNOWN_MODELS
        self.select: Select[str] = Select(options, value=value if known else CUSTOM_MODEL,
                                          allow_blank=False, id=self.id + "-select")
        self.custom = Input("" if known else value, placeholder="model name, e.g. openai/gpt-5",
                            validate_on=(), id=self.id + "-custom")
        self.custom.display = not known

    def compose_control(self) -> ComposeResult:
        yield self.select
        yield self.custom

    def read(self) -> tuple[Any, str | None]:
        if self.select.value == CUSTOM_MODEL:
            name = self.custom.value.strip()
            return (name, None) if name else (None, "type the model's name")
        return self.select.value, None

    def write(self, value: Any) -> None:
        if value in KNOWN_MODELS:
            self.select.value = value
        else:
            self.custom.value = value
            self.select.value = CUSTOM_MODEL

    @property
    def focus_target(self) -> Widget:
        return self.custom if self.select.value == CUSTOM_MODEL else self.select

    @on(Select.Changed)
    def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        custom = event.value == CUSTOM_MODEL
        if custom != self.custom.display:
            self.custom.display = custom
            if custom and self.select.has_focus:
                self.custom.focus()
        self.edited()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self.edited()


# ----------------------------------------------------------------------------- the screen


class _Form(VerticalScroll, can_focus=False):
    """The scrolling form. Not a tab stop itself: focusing a field scrolls to it."""


class _Section(Vertical):
    """A heading and its fields; says when it is mounted (most sections mount lazily)."""

    class Ready(Message):
        pass

    def on_mount(self) -> None:
        self.post_message(self.Ready())


SECTION_TITLES = {"model": "Model", "search": "Search", "answer": "Answer", "api": "API",
                  "appearance": "Appearance"}


class SettingsScreen(ModalScreen[SettingsResult | None]):
    """Edit the defaults (``thread_title=None``) or one thread's request settings."""

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-narrow"), (110, "-wide")]

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
    SettingsScreen _Section { height: auto; }
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
        self._sections_pending = 0
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
        if section not in self._sections:
            self._sections_pending += 1
        self._sections.setdefault(section, []).append(widget)
        if isinstance(widget, SettingField):
            self.fields[widget.key] = widget

    def _build_fields(self) -> None:
        r = self._start_request
        add = self._add
        add("model", ModelField("request.model", r.model))
        add("model", self._choice("request.agent_effort", r.agent_effort))
        add("model", TextField("request.agent_model", r.agent_model,
                               placeholder=self._agent_model_placeholder(r.model),
                               suggestions=AGENT_MODEL_SUGGESTIONS))

        add("search", SwitchField("request.disable_search", r.disable_search))
        add("search", self._choice("request.search_mode", r.search_mode))
        add("search", self._choice("request.search_type", r.search_type))
        add("search", self._choice("request.search_context_size", r.search_context_size))
        add("search", ListField(
            "request.domain_filter", r.domain_filter, limit=DOMAIN_FILTER_LIMIT,
            check=_domain_check(DOMAIN_FILTER_LIMIT, "domain_filter"),
            placeholder="nature.com, or -reddit.com to exclude; Enter adds"))
        add("search", self._choice("request.recency", r.recency))
        for name in _DATE_FIELDS:
            add("search", TextField(f"request.{name}", getattr(r, name),
                                    placeholder="MM/DD/YYYY", width="-short"))
        add("search", TextField("request.country", r.country, placeholder="e.g. US",
                                width="-short"))
        add("search", TextField("request.region", r.region))
        add("search", TextField("request.city", r.city))
        add("search", SwitchField("request.return_related_questions", r.return_related_questions))
        add("search", SwitchField("request.return_images", r.return_images))
        add("search", ListField(
            "request.image_domain_filter", r.image_domain_filter, limit=IMAGE_FILTER_LIMIT,
            check=_domain_check(IMAGE_FILTER_LIMIT, "image_domain_filter"),
            placeholder="example.com, or -example.com to exclude; Enter adds"))
        add("search", FormatsField("request.image_format_filter", r.image_format_filter,
                                   help=f"Only images in these formats (none ticked = any); "
                                        "space toggles."))

        add("answer", MultilineField("request.system_prompt", r.system_prompt))
        add("answer", self._choice("request.reasoning_effort", r.reasoning_effort))
        add("answer", NumberField("request.max_tokens", r.max_tokens, kind=int, optional=True))
        add("answer", NumberField("request.temperature", r.temperature, kind=float,
                                  optional=True))
        add("answer", NumberField("request.top_p", r.top_p, kind=float, optional=True))
        add("answer", self._choice("request.stream_mode", r.stream_mode))
        add("answer", self._choice("request.response_format", r.response_format))
        add("answer", MultilineField("request.response_schema", r.response_schema,
                                     height_class="-tall"))

        if self.scope == "thread":
            return
        c, a = self.config.connection, self.config.appearance
        add("api", Static(self._key_status(), classes="key-status", id="settings-key-status",
                          markup=False))
        add("api", self._choice("api.api_mode", c.api_mode))
        add("api", TextField("api.base_url", c.base_url))
        add("api", TextField("api.path", c.path))
        add("api", TextField("api.agent_path", c.agent_path))
        add("api", SwitchField("api.conversation_header", c.conversation_header))
        add("api", SwitchField("api.stream_usage", c.stream_usage))
        add("api", NumberField("api.connect_timeout", c.connect_timeout, kind=float,
                               optional=False))
        add("api", NumberField("api.idle_timeout", c.idle_timeout, kind=float, optional=False))
        add("api", NumberField("api.research_idle_timeout", c.research_idle_timeout,
                               kind=float, optional=False))
        add("api", NumberField("api.max_attempts", c.max_attempts, kind=int, optional=False))
        add("api", SwitchField("api.background_research", c.background_research))
        add("api", NumberField("api.job_poll_interval", c.job_poll_interval, kind=float,
                               optional=False))
        if c.agent_endpoints:
            add("api", Horizontal(
                Static(self._endpoints_status(c.agent_endpoints), id="settings-endpoints",
                       markup=False),
                Button("Forget", id="settings-forget-endpoints", compact=True,
                       tooltip="Forget these: auto mode asks through chat completions again"),
                id="settings-endpoints-row", classes="key-status"))

        add("appearance", ChoiceField("appearance.theme", a.theme,
                                      [(name, name) for name in self._theme_names(a.theme)],
                                      menu=True))
        add("appearance", self._choice("appearance.citation_panel", a.citation_panel))
        add("appearance", SwitchField("appearance.follow_streaming", a.follow_streaming))
        add("appearance", self._choice("appearance.job_notify", a.job_notify))
        add("appearance", self._choice("copy.citation_style", self.config.copy.citation_style))

    def _choice(self, key: str, value: str) -> ChoiceField:
        name = key.split(".", 1)[1]
        labels = _CHOICE_LABELS.get(name, {})
        choices = _METADATA[key].get("choices") or tuple(labels)
        return ChoiceField(key, value, [(labels.get(c, c), c) for c in choices])

    def _theme_names(self, current: str) -> list[str]:
        names = list(self._themes) if self._themes is not None else sorted(self.app.available_themes)
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
            with _Form(id="settings-form"):
                # Only the first section is mounted with the screen; the others follow right
                # after the first paint, so the screen opens quickly however long the form.
                for index, (section, widgets) in enumerate(self._sections.items()):
                    body = _Section(
                        Static(SECTION_TITLES[section], id=f"section-{section}",
                               classes="section-title", markup=False),
                        *widgets, id=f"settings-section-{section}")
                    yield body  # LAZYTEST
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
        self.fields["request.model"].focus_target.focus()

    @on(_Section.Ready)
    def _section_ready(self, event: _Section.Ready) -> None:
        event.stop()
        self._sections_pending -= 1
        if self._sections_pending <= 0:
            self._all_mounted.set()

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
        for key, field in self.fields.items():
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
