"""Hostile content: text from the network (or the user's own paste) is data, never control.

Escape sequences, C0/C1 controls and NUL never reach the screen; Rich/Textual markup shows
literally and does nothing; only http(s) URLs are ever opened; long lines and wide text keep
the layout. Checked on what the compositor would send to the terminal (``screen_text``),
on the widgets' contents, and on the app's behaviour when clicked and keyed at.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.app import App, ComposeResult

from sonar_tui.sanitize import clean_text
from sonar_tui.ui.themes import theme_variable_defaults
from sonar_tui.ui.widgets.answer import URL_META, AnswerView, LinkLines, RelatedList
from sonar_tui.ui.widgets.citations import SourceOption
from sonar_tui.ui.widgets.markdown import LinkClicked
from sonar_tui.ui.widgets.stream import StreamingMarkdown
from tests.ui.appkit import (
    FAKE_KEY,
    Harness,
    Tmux,
    ask_and_wait,
    controls_in,
    idle,
    last_answer,
    notices,
    poll,
    ready,
    screen_text,
    wait_until,
)

HOSTILE_ENV = {"SONAR_TUI_RETURN_IMAGES": "true", "SONAR_TUI_RETURN_RELATED_QUESTIONS": "true"}


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, "hostile", chunks=40)
    yield h
    h.close()


async def scan_conversation(pilot) -> list[str]:
    """Page through the whole conversation; the control characters seen on any screen."""
    app = pilot.app
    conversation = app.main.conversation
    conversation.scroll_home(animate=False)
    await pilot.pause()
    found: set[str] = set()
    while True:
        text = screen_text(app)
        found.update(controls_in(text))
        width = app.size.width
        assert all(cell_len(line) <= width for line in text.splitlines()), \
            "a line of the screen is wider than the terminal"
        if conversation.scroll_y >= conversation.max_scroll_y:
            return sorted(found)
        conversation.scroll_to(y=conversation.scroll_y + conversation.size.height,
                               animate=False)
        await pilot.pause()


def widget_texts(view: AnswerView) -> list[str]:
    """Everything an answer view holds that comes from the network, as shown."""
    texts = [view.body.source, str(view.query_one("#answer-header").render())]
    texts += [content.plain for content in view.body.shown_contents()]
    for related in view.query(RelatedList):
        texts += [str(related.get_option_at_index(i).prompt) for i in range(related.option_count)]
    for images in view.query(LinkLines):
        texts.append(str(images.render()))
    return texts


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
async def test_a_hostile_answer_never_puts_a_control_character_on_screen(harness, size):
    app = harness.app(config=harness.config(**HOSTILE_ENV))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Show me something hostile")
        view = last_answer(app)
        assert view.status == "complete" and view.related and view.images
        for text in widget_texts(view):
            assert controls_in(text) == [], text[:200]
        for option in app.main.citations.source_list._options:
            if isinstance(option, SourceOption):
                assert controls_in(str(option.prompt)) == []
        # Markup is text: shown as typed, never styled or turned into an action.
        shown = "\n".join(content.plain for content in view.body.shown_contents())
        assert "[bold]bold?[/bold]" in shown and "[@click=app.quit]quit the app[/]" in shown
        assert "[link=https://evil.example]click me[/link]" in shown
        assert await scan_conversation(pilot) == []
        app.main.citations.source_list.focus()
        await pilot.pause()
        assert controls_in(screen_text(app)) == []
        assert controls_in(app.export_screenshot()) == []  # the SVG a user might share
        assert app.is_running


async def test_a_hostile_answer_reopened_from_the_database_stays_clean(harness):
    app = harness.app(config=harness.config(**HOSTILE_ENV))
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Show me something hostile")
        thread_id = app.main.thread_id
        await pilot.press("ctrl+n")
        await app.main.open_thread(thread_id)  # the same answer, now from the database
        await pilot.pause()
        assert controls_in(last_answer(app).body.source) == []
        assert await scan_conversation(pilot) == []


CLICK_TARGETS = ("[@click=app.quit]", "quit the app", "[link=", "click me", "[bold]", "run",
                 "passwd", "page", "javascript:alert(2)", "[red on white]", "innocent-looking")


async def test_clicking_on_markup_and_unsafe_links_triggers_nothing(harness, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")  # a local display: safe links open in a browser
    app = harness.app(config=harness.config(**HOSTILE_ENV))
    opened: list[str] = []
    app.open_url = lambda url, *args, **kwargs: opened.append(url)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Show me something hostile")
        conversation = app.main.conversation
        conversation.scroll_home(animate=False)
        await pilot.pause()
        clicked: set[str] = set()
        while True:  # page by page, click every hostile bit of text that is on screen
            for y, line in enumerate(screen_text(app).splitlines()):
                for target in CLICK_TARGETS:
                    index = line.find(target)
                    if index >= 0:
                        await pilot.click(offset=(cell_len(line[:index]) + 1, y))
                        clicked.add(target)
            if conversation.scroll_y >= conversation.max_scroll_y:
                break
            conversation.scroll_to(y=conversation.scroll_y + conversation.size.height,
                                   animate=False)
            await pilot.pause()
        await pilot.pause()
        assert {"[@click=app.quit]", "[link=", "run", "passwd"} <= clicked
        assert app.is_running and app.return_code is None
        # The markup did nothing. A bare http(s) URL in the text is a link like any other
        # (linkified; it names its own target), so it is the only thing that may have opened.
        assert set(opened) <= {"https://evil.example"}


async def test_only_http_links_open_and_the_app_says_why(harness, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")  # a local display: safe links open in a browser
    app = harness.app(config=harness.config(**HOSTILE_ENV))
    opened: list[str] = []
    app.open_url = lambda url, *args, **kwargs: opened.append(url)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Show me something hostile")
        view = last_answer(app)
        urls = [source.url for source in view.sources]
        assert sum(url.startswith(("javascript:", "file:", "data:")) for url in urls) == 3

        # Enter on every source in the panel.
        source_list = app.main.citations.source_list
        source_list.focus()
        for index in range(len(view.sources)):
            source_list.highlighted = index
            await pilot.press("enter")
            await pilot.pause()
        assert opened == ["https://example.org/normal"]
        refusals = notices(app).count("only http(s) links are opened")
        assert refusals == len(view.sources) - 1

        # Links inside the answer: only http(s) ones are links at all.
        opened.clear()
        hrefs = view.body.links()
        assert hrefs and all("https://" in action or "http://" in action for action in hrefs)
        for href in ("javascript:alert(document.cookie)", "file:///etc/passwd",
                     "data:text/html;base64,PHNjcmlwdD4=", "https://example.org/ok"):
            view.body.post_message(LinkClicked(view.body, href))
        await pilot.pause()
        await pilot.pause()
        assert opened == ["https://example.org/ok"]

        # Returned images: the unsafe ones carry no link to click.
        images = view.query_one(LinkLines)
        image_urls = [span.style.meta.get(URL_META) for span in images.render().spans
                      if hasattr(span.style, "meta") and span.style.meta.get(URL_META)]
        assert all(url.startswith("https://") for url in image_urls)
        assert "(unsafe link, not opened)" in str(images.render())


async def test_a_related_question_made_of_markup_is_asked_as_text(harness):
    app = harness.app(config=harness.config(**HOSTILE_ENV))
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await ask_and_wait(pilot, "Show me something hostile")
        related = last_answer(app).query_one(RelatedList)
        index = next(i for i in range(related.option_count)
                     if "@click" in str(related.get_option_at_index(i).prompt))
        harness.configure(profile="default")
        related.focus()
        related.highlighted = index
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.main.conversation.answers()) == 2
                         and idle(app), "the related question's answer")
        assert app.is_running
        sent = harness.service.last_body()["messages"][-1]["content"]
        assert sent == "[@click=app.quit]What happens if I click?[/]"


HOSTILE_QUESTION = ("What is \x1b]0;pwned\x07[bold]DNS[/bold]? [@click=app.quit]x[/] "
                    "\x1b[2J\x9b31m \u202eevil\u202c")


async def test_a_hostile_question_gives_a_clean_thread_title(tmp_path):
    harness = Harness(tmp_path, chunks=40)
    try:
        app = harness.app()
        async with app.run_test(size=(160, 40)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, HOSTILE_QUESTION)
            sidebar = app.main.sidebar.query_one("ThreadList")
            prompt = str(sidebar.get_option_at_index(0).prompt)
            assert controls_in(prompt) == [] and "\u202e" not in prompt
            assert prompt.startswith("What is")
            assert controls_in(app.main.sub_title) == []
            assert last_answer(app).status == "complete" and app.is_running
        sent = harness.service.last_body()["messages"][-1]["content"]
        assert sent == HOSTILE_QUESTION  # the user's text is sent as typed: it is theirs
    finally:
        harness.close()


async def test_a_hostile_question_shows_as_text_in_the_conversation(tmp_path):
    harness = Harness(tmp_path, chunks=40)
    try:
        app = harness.app()
        async with app.run_test(size=(160, 40)) as pilot:
            await ready(pilot)
            await ask_and_wait(pilot, HOSTILE_QUESTION)
            question = app.main.conversation.last_question()
            text = question.query_one(StreamingMarkdown)
            shown = " ".join(content.plain for content in text.shown_contents())
            assert "[bold]DNS[/bold]" in shown and "[@click=app.quit]x[/]" in shown
            assert controls_in(shown) == []
            assert controls_in(screen_text(app)) == []
    finally:
        harness.close()


async def test_a_thread_title_keeps_no_remnant_of_escape_sequences(tmp_path):
    from sonar_tui.store import Store

    async with await Store.open(tmp_path / "threads.db") as store:
        message = await store.add_user_message(None, HOSTILE_QUESTION)
        thread = await store.get_thread(message.thread_id)
    assert "]0;pwned" not in thread.title and "[2J" not in thread.title
    assert thread.title.startswith("What is [bold]DNS[/bold]?")


async def test_hostile_configuration_values_are_shown_as_text(tmp_path):
    harness = Harness(tmp_path, chunks=40)
    harness.config_path.parent.mkdir(parents=True)
    harness.config_path.write_text(
        '"\\u001b]52;c;ZXZpbA==\\u0007key" = 1\n'
        "[request]\n"
        'search_mode = "\\u001b[31mweb"\n'
        '"[@click=app.quit]x[/]" = 2\n'
        "[appearance]\n"
        'theme = "[@click=app.quit]\\u001b]0;pwned\\u0007"\n', encoding="utf-8")
    try:
        app = harness.app(config=harness.config(SONAR_TUI_COUNTRY="\x1b[2J\x9b"))
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            await ready(pilot)
            shown = notices(app)
            assert "search_mode" in shown and "theme" in shown.lower()
            await wait_until(pilot, lambda: len(app.screen.query("Toast")) >= 5, "the toasts")
            await pilot.pause()
            assert controls_in(screen_text(app)) == []
            assert controls_in(shown) == [], shown
            await ask_and_wait(pilot, "Still works?")
            assert last_answer(app).status == "complete" and app.is_running
    finally:
        harness.close()


# ----------------------------------------------------------------------------- a real terminal

def needs_tmux(test):
    """A real-terminal test: needs tmux, and runs with the slow tests (CI runs them alone)."""
    return pytest.mark.slow(
        pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")(test))


def terminal_app(harness: Harness, tmp_path) -> Tmux:
    env = {**os.environ, "PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": harness.mock.url,
           "TERM": "xterm-256color"}
    tmux = Tmux(env, tmp_path)
    tmux.start([sys.executable, "-m", "sonar_tui", "--db", str(harness.db_path)], (160, 50))
    poll(lambda: "Ask anything" in tmux.screen(), "the app's first screen")
    return tmux


def terminal_untouched(tmux: Tmux, title: str) -> None:
    """No escape sequence acted on the terminal: same title, nothing on the clipboard."""
    assert tmux.title() == title
    assert tmux.buffers() == ""


@needs_tmux
async def test_a_streamed_hostile_answer_leaves_a_real_terminal_alone(harness, tmp_path):
    tmux = terminal_app(harness, tmp_path)
    try:
        title = tmux.title()
        tmux.keys("Show me something hostile", literal=True)
        tmux.keys("Enter")
        poll(lambda: "End of answer (40 chunks)" in tmux.screen(), "the whole answer")
        terminal_untouched(tmux, title)
    finally:
        tmux.close()


@needs_tmux
async def test_a_hostile_thread_reopened_leaves_a_real_terminal_alone(harness, tmp_path):
    app = harness.app()
    async with app.run_test() as pilot:  # the hostile answer, saved as it arrived
        await ready(pilot)
        await ask_and_wait(pilot, "Show me something hostile")
    tmux = terminal_app(harness, tmp_path)
    try:
        title = tmux.title()
        # The start reopens the last thread used: the hostile one, read back from the database.
        poll(lambda: "Show me something" in tmux.screen(), "the thread list")
        poll(lambda: "Sources (5)" in tmux.screen(), "the thread to open")
        # Textual hands a key to the widget focused when the app reads it: End waits until
        # the conversation has focus (its keys are in the footer).
        tmux.keys("Tab")  # the composer -> the conversation, then its end: every block drawn
        poll(lambda: "Next source" in tmux.screen(), "the conversation to have focus")
        tmux.keys("End")
        poll(lambda: "End of answer (40 chunks)" in tmux.screen(), "the end of the answer")
        terminal_untouched(tmux, title)
    finally:
        tmux.close()


# ----------------------------------------------------------------------------- the widget alone


class MarkdownApp(App):
    """Just the answer's Markdown widget, with the theme variables its CSS needs."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        yield StreamingMarkdown(self.text)


async def rendered(text: str) -> str:
    app = MarkdownApp(text)
    async with app.run_test(size=(60, 30)) as pilot:
        await pilot.pause()
        return screen_text(app)


HOSTILE_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.lists(
    st.sampled_from(["\x1b[31m", "\x1b]52;c;QUJD\x07", "\x1b]8;;https://x.example\x1b\\",
                     "\x9b2J", "\x00", "\x07", "\r", "[bold]", "[@click=app.quit]", "[/]",
                     "# ", "- ", "| a | b |\n|---|---|\n", "```\n", "`", "**", "[1]", "\n\n",
                     "[x](javascript:alert(1))", "<b>", "&#27;", "&#x9b;", "漢字", "👩‍👩‍👧",
                     "e\u0301", "\u202e", "word "]), max_size=30).map("".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE_TEXT)
async def test_cleaned_text_renders_without_control_characters(text):
    # What the app feeds the widget: remote text after clean_text.
    screen = await rendered(clean_text(text))
    assert controls_in(screen) == []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example("\x1b[31mred\x1b[0m and \x9b2J")
@given(HOSTILE_TEXT)
async def test_raw_text_renders_without_control_characters(text):
    screen = await rendered(text)
    assert controls_in(screen) == []
