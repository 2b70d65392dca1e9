"""The configuration file: read with every source in its place, written back without harm.

``config.toml`` lives in the platform config directory (``$SONAR_TUI_CONFIG`` or
``--config PATH`` point elsewhere). Its layout::

    api_key = "pplx-..."   # optional; PERPLEXITY_API_KEY wins over it

    [request]      # RequestSettings: the defaults for new threads (model, search filters...)
    model = "sonar-pro"

    [api]          # ConnectionSettings: where and how to reach the service
    base_url = "https://api.perplexity.ai"

    [appearance]   # AppearanceSettings
    theme = "sonar-dark"
    citation_panel = "right"      # right | bottom | hidden
    follow_streaming = true

    [copy]         # CopySettings
    citation_style = "references" # references | inline

    [keymap]       # binding id = key(s), applied with Textual's App.set_keymap
    "app.copy_answer" = "ctrl+y"

TOML has no null: an unset string is ``""`` and an unset number (``max_tokens``,
``temperature``, ``top_p``) is simply left out.

One job per module:

- :mod:`~sonar_tui.config.schema`: the sections and every field (type, default, help,
  environment variable names), and the app-only sections' validation;
- :mod:`~sonar_tui.config.loaded`: what loading hands out (``LoadedConfig``, its problems);
- :mod:`~sonar_tui.config.load`: flags > environment > file > defaults, never failing;
- :mod:`~sonar_tui.config.save`: writes only what changed, keeping comments and layout;
- :mod:`~sonar_tui.config.reference`: the README's reference, generated from the schema.

The names callers use are re-exported here.
"""

from sonar_tui.config.load import default_path, load_config, sending_blocked
from sonar_tui.config.loaded import (
    ConfigProblem,
    ConfigWriteError,
    LoadedConfig,
    ValueSource,
    mask_key,
)
from sonar_tui.config.reference import config_reference_markdown
from sonar_tui.config.save import (
    forget_agent_endpoints,
    remember_agent_endpoint,
    save_api_key,
    save_config,
)
from sonar_tui.config.schema import (
    CITATION_PANELS,
    CITATION_STYLES,
    DEFAULT_THEME,
    FIELDS,
    JOB_NOTIFY_CHOICES,
    AppearanceSettings,
    CopySettings,
    environment_variables,
    validate_appearance_settings,
    validate_copy_settings,
)

__all__ = [
    "CITATION_PANELS",
    "CITATION_STYLES",
    "DEFAULT_THEME",
    "FIELDS",
    "JOB_NOTIFY_CHOICES",
    "AppearanceSettings",
    "ConfigProblem",
    "ConfigWriteError",
    "CopySettings",
    "LoadedConfig",
    "ValueSource",
    "config_reference_markdown",
    "default_path",
    "environment_variables",
    "forget_agent_endpoints",
    "load_config",
    "mask_key",
    "remember_agent_endpoint",
    "save_api_key",
    "save_config",
    "sending_blocked",
    "validate_appearance_settings",
    "validate_copy_settings",
]
