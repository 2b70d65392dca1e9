"""StreamingMarkdown on its own: segments, incremental parsing, rows, selection, clicks,
and laying out only what is near the view."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Offset
from textual.selection import Selection

from sonar_tui.mock import build_answer
from sonar_tui.ui.themes import theme_variable_defaults
from sonar_tui.ui.widgets.conversation import Conversation
from sonar_tui.ui.widgets.markdown import (
    Block,
    CitationClicked,
    LinkClicked,
    block_lines,
    parse_blocks,
)
from sonar_tui.ui.widgets.stream import (
    StreamingMarkdown,
    boundaries,
    plan_cuts,
    split_segments,
)
from tests.ui.appkit import screen_text

LONG = build_answer("How do B-trees work?", chunks=4000).text  # ~32 KB, fences, tables, lists

SAMPLE = """# Title

Hello **world** [1], a [link](https://example.org/page) and `code`.

- first item, long enough to wrap once the screen is narrow enough for it to wrap
- second [2]
  - nested

```python
print("hi")
```

| a | b |
|---|---|
| 1 | 2 |
"""


class Host(App):
    """The widget in the conversation pane, as in the app (which virtualizes on scroll)."""

    def __init__(self, widget: StreamingMarkdown) -> None:
        super().__init__()
        self.widget = widget
        self.messages: list = []

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        with Conversation(id="log"):
            yield self.widget

    def on_citation_clicked(self, event: CitationClicked) -> None:
        self.messages.append(event)

    def on_link_clicked(self, event: LinkClicked) -> None:
        self.messages.append(event)


def shape(blocks: list[Block]) -> list[tuple[str, list[str]]]:
    """What blocks show: kind and text lines (no styles)."""
    return [(block.kind, block_lines(block)) for block in blocks]


def test_cuts_never_split_a_fence_list_or_table():
    cuts = boundaries(LONG)
    pieces = split_segments(LONG, 2500)
    assert "".join(pieces) == LONG and len(pieces) > 5
    assert plan_cuts("", LONG, 2500) == [len("".join(pieces[:n])) for n in range(1, len(pieces))]
    for cut in cuts:
        before = LONG[:cut]
        assert before.count("```") % 2 == 0  # never inside a fence
        assert not LONG[cut:].startswith(("- ", "* ", "|", " "))


async def test_streamed_text_is_parsed_as_a_fresh_parse_would():
    """Only the last block is parsed again on each flush; whatever the cut points, the
    blocks must be those of parsing each segment whole (no fence left open, no list item
    lost, a table once its rule arrives)."""
    for size in (5, 97, 613):
        widget = StreamingMarkdown(streaming=True)
        async with Host(widget).run_test(size=(120, 50)) as pilot:
            await pilot.pause()
            widget._timer.stop()
            for index in range(0, len(LONG), size):
                widget.write(LONG[index:index + size])
                if (index // size) % 3 == 0:
                    widget._flush()
            widget._flush()
            assert widget.source == LONG
            assert len(widget.segments) > 5
            for segment in widget.segments:
                assert segment.blocks is None or \
                    shape(segment.blocks) == shape(parse_blocks(segment.text)), size


async def test_a_streamed_answer_looks_like_the_same_answer_opened_whole():
    async def rows(widget: StreamingMarkdown, stream: bool) -> list[str]:
        async with Host(widget).run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            if stream:
                for index in range(0, len(LONG), 101):
                    widget.write(LONG[index:index + 101])
                    if index % (101 * 13) == 0:
                        widget._flush()
                        await pilot.pause()
                await widget.finish()
                await pilot.pause()
            return widget.shown_rows()

    streamed = await rows(StreamingMarkdown(streaming=True), stream=True)
    whole = await rows(StreamingMarkdown(LONG), stream=False)
    assert any("End of answer" in row for row in whole)
    assert streamed == whole


async def test_the_answer_is_one_widget_and_far_segments_wait_to_be_laid_out():
    widget = StreamingMarkdown(LONG)
    async with Host(widget).run_test(size=(100, 30)) as pilot:
        log = pilot.app.query_one(Conversation)
        log.scroll_end(animate=False)
        await pilot.pause()
        await pilot.pause()
        assert len(widget.query("*")) == 1  # the rows of a finished text: one widget
        assert not widget.segments[0].exact, "the top, far above the view, is estimated"
        assert widget.segments[-1].rows is not None
        assert "End of answer" in screen_text(pilot.app)
        log.scroll_home(animate=False)
        await pilot.pause()
        await pilot.pause()
        assert widget.segments[0].exact and widget.segments[0].rows is not None
        assert "B-trees" in screen_text(pilot.app)
        assert widget.source == LONG


async def test_laying_out_text_above_the_view_keeps_the_readers_place():
    widget = StreamingMarkdown(LONG)
    async with Host(widget).run_test(size=(100, 30)) as pilot:
        log = pilot.app.query_one(Conversation)
        log.scroll_end(animate=False)
        await pilot.pause()
        log.release_anchor()
        # Jump to the middle: the segments above were estimated, some come out taller or
        # shorter once laid out; the line at the top of the view must stay at the top.
        log.scroll_to(y=log.max_scroll_y // 2, animate=False, immediate=True)
        for _ in range(4):
            await pilot.pause()
        top_line = screen_text(pilot.app).splitlines()[0]
        for _ in range(4):
            await pilot.pause()
        assert screen_text(pilot.app).splitlines()[0] == top_line
        assert top_line.strip()


async def test_a_marker_far_away_is_laid_out_before_it_is_highlighted():
    widget = StreamingMarkdown(LONG)
    async with Host(widget).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        far = next(segment for segment in widget.segments if not segment.exact
                   and any(f"[{n}]" in segment.text for n in range(1, 9)))
        number = next(n for n in range(1, 9) if f"[{n}]" in far.text)
        widget.render_containing(f"[{number}]")
        assert far.exact and far.rows is not None
        row = widget.set_current_citation(number)
        assert row is not None
        assert f"[{number}]" in widget.shown_rows()[row]


async def test_selection_copies_the_text_as_shown_with_paragraphs_unwrapped():
    widget = StreamingMarkdown(SAMPLE)
    async with Host(widget).run_test(size=(40, 40)) as pilot:
        await pilot.pause()
        widget.text_select_all()
        await pilot.pause()
        copied = pilot.app.screen.get_selected_text()
        assert copied is not None
        assert "Hello world [1], a link and code." in copied  # one line, though wrapped
        assert "• first item, long enough to wrap once the screen is narrow enough for it " \
               "to wrap" in copied
        assert "• second [2]\n▪ nested" in copied
        assert 'print("hi")' in copied and "│" in copied
        assert copied.startswith("Title\n\nHello")
        # A selection from the middle of one line to the middle of another.
        lines = list(widget.text_lines())
        hello = next(y for y, text in lines if text.startswith("Hello"))
        second = next(y for y, text in lines if text.startswith("• second"))
        text = widget._sealed.get_selection(Selection(Offset(6, hello), Offset(8, second)))
        assert text is not None
        assert text[0].startswith("world [1]") and text[0].endswith("• second")


async def test_selected_text_is_drawn_selected():
    widget = StreamingMarkdown(SAMPLE)
    async with Host(widget).run_test(size=(60, 40)) as pilot:
        await pilot.pause()
        lines = widget._sealed
        row = next(y for y in range(lines.size.height) if "Hello" in lines.render_line(y).text)
        before = [segment.style for segment in lines.render_line(row)]
        widget.text_select_all()
        await pilot.pause()
        after = [segment.style for segment in lines.render_line(row)]
        assert before != after


async def test_clicking_a_marker_or_a_link_says_so():
    widget = StreamingMarkdown(SAMPLE)
    app = Host(widget)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        y = next(i for i, line in enumerate(lines) if "Hello" in line)
        await pilot.click(offset=(lines[y].index("[1]") + 1, y))
        await pilot.click(offset=(lines[y].index("link") + 1, y))
        await pilot.pause()
        cited = [m.number for m in app.messages if isinstance(m, CitationClicked)]
        links = [m.href for m in app.messages if isinstance(m, LinkClicked)]
        assert cited == [1]
        assert links == ["https://example.org/page"]


async def test_an_unsafe_link_is_plain_text():
    widget = StreamingMarkdown("[run me](javascript:alert(1)) and [file](file:///etc/passwd) "
                               "and [ok](http://example.org)")
    async with Host(widget).run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        assert widget.links() == ["link('http://example.org')"]
