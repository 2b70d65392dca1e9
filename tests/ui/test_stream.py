"""StreamingMarkdown on its own: segments, the end of a stream, and virtualizing."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets._markdown import MarkdownBlock

from sonar_tui.mock import build_answer
from sonar_tui.ui.themes import theme_variable_defaults
from sonar_tui.ui.widgets.markdown import AnswerMarkdown
from sonar_tui.ui.widgets.stream import SegmentStub, StreamingMarkdown, boundaries, plan_cuts

LONG = build_answer("How do B-trees work?", chunks=4000).text  # ~32 KB, fences, tables, lists


class Host(App):
    def __init__(self, widget: StreamingMarkdown) -> None:
        super().__init__()
        self.widget = widget

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="log"):
            yield self.widget


def shape(markdown: AnswerMarkdown) -> list[tuple[str, str]]:
    """What a segment shows: its blocks, by kind and text (no styles)."""
    return [(type(block).__name__, block._content.plain) for block in markdown.query(MarkdownBlock)
            if block.parent is markdown]


def test_cuts_never_split_a_fence_list_or_table():
    cuts = boundaries(LONG)
    pieces = plan_cuts("", LONG, 2500)
    assert "".join(pieces) == LONG and len(pieces) > 5
    for cut in cuts:
        before = LONG[:cut]
        assert before.count("```") % 2 == 0  # never inside a fence
        assert not LONG[cut:].startswith(("- ", "* ", "|", " "))


async def test_finish_during_a_sealing_flush_shows_every_word():
    """The benchmark's lost-tail race: finish() while a timer flush is sealing a segment."""
    widget = StreamingMarkdown(streaming=True)
    async with Host(widget).run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        widget._timer.stop()
        head, tail = LONG[:-40], LONG[-40:]
        widget.write(head)  # longer than a segment: this flush seals
        flushing = asyncio.ensure_future(widget._flush())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        widget.write(tail)
        await widget.finish()
        await flushing
        await pilot.pause()
        shown = "".join(segment.source for segment in widget.query_children(
            AnswerMarkdown)) + "".join(stub.source for stub in widget.query_children(SegmentStub))
        assert widget.source == LONG
        assert not widget._pending
        assert len(shown) == len(LONG)


async def test_streamed_segments_render_like_a_fresh_render():
    """Sealed segments must not keep a stream's partial-block state (a fence left open)."""
    widget = StreamingMarkdown(streaming=True)
    async with Host(widget).run_test(size=(120, 400)) as pilot:  # tall: nothing is stubbed
        await pilot.pause()
        for index in range(0, len(LONG), 97):
            widget.write(LONG[index:index + 97])
            if index % (97 * 20) == 0:
                await widget._flush()
        await widget.finish()
        await pilot.pause()
        segments = list(widget.query_children(AnswerMarkdown))
        assert len(segments) > 5
        fresh = [AnswerMarkdown(segment.source) for segment in segments]
        await pilot.app.mount(*fresh)  # all at once: one layout, not one per segment
        await pilot.pause()
        for segment, rendered in zip(segments, fresh, strict=True):
            assert shape(segment) == shape(rendered)


async def test_far_segments_become_stubs_and_come_back_when_scrolled_near():
    widget = StreamingMarkdown(LONG)
    async with Host(widget).run_test(size=(100, 30)) as pilot:
        log = pilot.app.query_one("#log")
        log.scroll_end(animate=False)
        await pilot.pause()
        await widget.virtualize(log.region)
        await pilot.pause()
        stubs = list(widget.query_children(SegmentStub))
        assert stubs, "segments far above the view are not rendered"
        assert widget.source == LONG  # nothing is lost by stubbing
        widgets_now = len(list(widget.query("*")))
        log.scroll_home(animate=False)
        await pilot.pause()
        await widget.virtualize(log.region)
        await pilot.pause()
        first = widget.children[0]
        assert isinstance(first, AnswerMarkdown)  # the top, now near the view, is Markdown
        assert widget.source == LONG
        assert widgets_now < 200


async def test_a_marker_in_a_stub_is_rendered_before_it_is_highlighted():
    widget = StreamingMarkdown(LONG)
    async with Host(widget).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        stubs = list(widget.query_children(SegmentStub))
        marker = next(f"[{n}]" for n in range(1, 20) for stub in stubs if f"[{n}]" in stub.source)
        await widget.render_containing(marker)
        await pilot.pause()
        assert not any(marker in stub.source for stub in widget.query_children(SegmentStub))


async def test_cancelling_a_virtualize_worker_mid_change_leaves_the_app_running():
    """A newer exclusive worker cancels the older one while it awaits a removal. Unguarded,
    Textual then cancels the removed widgets' own loops and the app stops without a word."""
    widget = StreamingMarkdown(LONG)
    async with Host(widget).run_test(size=(100, 30)) as pilot:
        log = pilot.app.query_one("#log")
        await pilot.pause()
        for position in (log.max_scroll_y, 0) * 3:
            log.scroll_to(y=position, animate=False, immediate=True)
            before = len(widget.children)
            worker = widget.run_worker(widget.virtualize(log.region), exclusive=True)
            while worker.is_running and len(widget.children) == before:
                await asyncio.sleep(0)  # until its first mount: a removal comes next
            worker.cancel()
            # the timeout only guards a hang: a stopped app never answers a pause
            await asyncio.wait_for(pilot.pause(), timeout=10)
            assert pilot.app.is_running
        assert widget.source == LONG
