"""The settings form's field widgets: one per kind of value, each with a label, its
control, and a line of help, notes and errors.

Labels and help come from the settings schema (``sonar_tui.config.schema.FIELDS``: the
dataclass fields' metadata); the screen picks a widget per field from its type and choices
(``sonar_tui.ui.screens.settings``). Text from the user or the config is shown as
``Content(text)``, never parsed as markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, OptionList, Select, SelectionList, Static, Switch, TextArea
from textual.widgets.option_list import Option

from sonar_tui.actions import BY_ID
from sonar_tui.api.settings import IMAGE_FORMATS, KNOWN_MODELS
from sonar_tui.config.schema import FIELDS
from sonar_tui.ui.bindings import binding

CUSTOM_MODEL = "\x00custom"  # the model Select's value that reveals the custom name input

ERROR_STYLE = "$text-error"
WARNING_STYLE = "$text-warning"
MUTED_STYLE = "$foreground-muted"  # $text-muted is "auto 60%", which Content styles ignore

Note = tuple[str, str]  # (text, style)



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
        base_id = "field-" + key.replace(".", "-").replace("_", "-")
        super().__init__(id=base_id, classes=f"setting-field {classes}".strip())
        self.base_id = base_id  # the controls' ids start with it
        self.key = key
        self.table, self.setting = key.split(".", 1)
        schema = FIELDS.get(self.setting)
        meta = schema.metadata if schema is not None else {}
        self.label_text: str = label or meta.get("label", self.setting)
        self.help_text: str = help or meta.get("help", "")
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
        suggester = (SuggestFromList(list(suggestions), case_sensitive=False)
                     if suggestions else None)
        self.input = Input(value, placeholder=placeholder, suggester=suggester, validate_on=(),
                           id=self.base_id + "-input", classes=width)

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
    BINDINGS = [binding(BY_ID[f"settings.{name}_choice"])
                for name in ("previous", "next", "first", "last")]
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

    def __init__(self, options: list[tuple[str, str]], value: str, *,
                 id: str | None = None) -> None:
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
                                  value=value, allow_blank=False, id=self.base_id + "-select")
        else:
            self.control = ChoiceBar(self.options, value, id=self.base_id + "-choice")

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
        self.switch = Switch(value, animate=False, id=self.base_id + "-switch")

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
                                  id=self.base_id + "-text", classes=height_class)

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
        kwargs.setdefault("help", FIELDS[key.split(".", 1)[1]].metadata["help"] +
                          " In the list, delete removes an entry and Enter edits it.")
        super().__init__(key, **kwargs)
        self.entries: list[str] = list(value)
        self.limit = limit
        self.check = check
        self.input = Input(placeholder=placeholder, validate_on=(), id=self.base_id + "-input")
        self.entry_list = EntryList(*self._options(), id=self.base_id + "-list", markup=False)
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
            id=self.base_id + "-list")
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
                                          allow_blank=False, id=self.base_id + "-select")
        self.custom = Input("" if known else value, placeholder="model name, e.g. openai/gpt-5",
                            validate_on=(), id=self.base_id + "-custom")
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
