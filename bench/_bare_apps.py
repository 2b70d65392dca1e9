"""Bare Textual apps the benches compare sonar-tui with, in the same terminal setup.

    python bench/_bare_apps.py stream    # the issue's 7.3 s reference
    python bench/_bare_apps.py startup   # the same kinds of widgets as the main screen

``stream``: a composer (TextArea, Enter sends) under an anchored VerticalScroll; Enter
mounts ONE stock ``Markdown`` and streams the answer from ``$PERPLEXITY_BASE_URL`` into it
with ``Markdown.get_stream`` and 50 ms batching (the pattern of textual-notes §1.7). The
wire is read with httpx and parsed minimally (``data:`` lines, JSON, delta content).

``startup``: Header, an OptionList of 200 threads, a VerticalScroll holding a Markdown,
a TextArea with the composer's placeholder, and a Footer; nothing else. The yardstick
for sonar-tui's first frame.

Both use only Textual and httpx: nothing of sonar_tui.
"""

from __future__ import annotations

import json
import os
import sys

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Markdown, OptionList, TextArea

PLACEHOLDER = "Ask anything…  (Enter sends, ctrl+j newline)"
FLUSH_INTERVAL = 0.05


class Composer(TextArea):
    BINDINGS = [Binding("enter", "submit", "Send", priority=True)]

    def __init__(self) -> None:
        super().__init__(placeholder=PLACEHOLDER, soft_wrap=True, show_line_numbers=False)

    async def action_submit(self) -> None:
        await self.app.ask(self.text)  # type: ignore[attr-defined]


class StreamApp(App[None]):
    CSS = """
    #log { height: 1fr; }
    Composer { height: 3; }
    """

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="log")
        yield Composer()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log").anchor()
        self.query_one(Composer).focus()

    async def ask(self, question: str) -> None:
        answer = Markdown()
        await self.query_one("#log").mount(answer)
        self.query_one(Composer).load_text("")
        self.stream_answer(question, answer)

    @work(exclusive=True)
    async def stream_answer(self, question: str, answer: Markdown) -> None:
        import httpx

        stream = Markdown.get_stream(answer)
        pending: list[str] = []

        async def flush() -> None:
            if pending:
                chunk = "".join(pending)
                pending.clear()
                await stream.write(chunk)

        timer = self.set_interval(FLUSH_INTERVAL, flush)
        body = {"model": "sonar", "stream": True,
                "messages": [{"role": "user", "content": question}]}
        url = os.environ["PERPLEXITY_BASE_URL"] + "/chat/completions"
        headers = {"Authorization": f"Bearer {os.environ['PERPLEXITY_API_KEY']}"}
        try:
            async with httpx.AsyncClient(timeout=120) as http, \
                    http.stream("POST", url, json=body, headers=headers) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    text = (choices[0].get("delta") or {}).get("content")
                    if text:
                        pending.append(text)
        finally:
            timer.stop()
            await flush()
            await stream.stop()


class StartupApp(App[None]):
    CSS = """
    #threads { width: 34; }
    #center { width: 1fr; }
    #log { height: 1fr; }
    TextArea { height: 3; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield OptionList(*[f"Thread {n}: what about volcano eruptions and magma {n}?"
                               for n in range(200)], id="threads")
            with Vertical(id="center"):
                with VerticalScroll(id="log"):
                    yield Markdown("**Ask a question below.**\n\nAnswers stream in with "
                                   "their sources on the right.")
                yield TextArea(placeholder=PLACEHOLDER)
        yield Footer()


if __name__ == "__main__":
    apps = {"stream": StreamApp, "startup": StartupApp}
    if len(sys.argv) != 2 or sys.argv[1] not in apps:
        sys.exit(f"usage: {sys.argv[0]} {{stream|startup}}")
    apps[sys.argv[1]]().run()
