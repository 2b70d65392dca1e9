"""First start without an API key: how to set one, and the offline demo."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Center, Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from sonar_tui.files import home_relative
from sonar_tui.ui.bindings import bindings_for


def welcome_text(config_path: str) -> Content:
    # Only our own constants and the config path (which we chose) go into this text.
    lines = [
        Content("Welcome to sonar-tui").stylize("bold $text-primary"),
        Content(""),
        Content("Web-grounded answers from Perplexity, with their sources, in your terminal."),
        Content(""),
        Content("No API key is set. Get one at https://www.perplexity.ai/settings/api, "
                "then either:"),
        Content(""),
        Content("  • export it for your shell:").stylize("bold"),
        Content("      export PERPLEXITY_API_KEY=pplx-…").stylize("$text-accent"),
        Content("  • or put it in the config file (created readable only by you):").stylize("bold"),
        Content(f"      {config_path}").stylize("$text-accent"),
        Content('      api_key = "pplx-…"').stylize("$text-accent"),
        Content(""),
        Content("Gateways (OpenRouter, LiteLLM, …): set PERPLEXITY_BASE_URL and the path in "
                "the settings."),
        Content(""),
        Content("Or try the offline demo: it runs a local mock of the service, no key, no "
                "network.").stylize("$foreground-muted"),
    ]
    return Content("\n").join(lines)


class WelcomeScreen(Screen[str]):
    """Dismisses with "demo" (start the demo) or "continue" (browse saved threads)."""

    DEFAULT_CSS = """
    WelcomeScreen { align: center middle; }
    WelcomeScreen > Vertical {
        width: 84; max-width: 98%; height: auto; border: round $primary; padding: 1 2;
        background: $surface;
    }
    WelcomeScreen .buttons { height: auto; margin: 1 0 0 0; align-horizontal: center; }
    WelcomeScreen .buttons Button { margin: 0 1; }
    """
    BINDINGS = bindings_for("welcome")

    def __init__(self, config_path: str) -> None:
        super().__init__()
        self._config_path = home_relative(config_path)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(welcome_text(self._config_path), id="welcome-text")
            with Center(), Horizontal(classes="buttons"):
                yield Button("Try the demo (d)", id="demo", variant="primary")
                yield Button("Continue without a key (c)", id="continue")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#demo", Button).focus()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "continue")
