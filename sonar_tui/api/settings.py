"""What a user can steer, as plain data, and the one set of rules that validates it.

``RequestSettings`` shapes an answer (model, search filters, sampling...). It is what gets
stored with every answer and what per-thread overrides change. ``ConnectionSettings`` says
where and how to talk to the service. Neither holds the API key: the key travels separately
so that dumping settings (database, exports, logs) can never leak it.

"Unset" is spelled ``""`` for strings and ``None`` for numbers, so the TOML config (which
has no null) can round-trip every value.

Field metadata (``label``, ``help``, ``choices``, ``agent``) feeds the settings screen and
the README's configuration reference; ``agent=False`` marks settings the Agent API has no
equivalent for (they are not sent there).
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import date
from typing import Any

KNOWN_MODELS: dict[str, str] = {
    "sonar": "Fast, cheap web-grounded answers for everyday questions.",
    "sonar-pro": "Deeper search and longer answers for harder questions.",
    "sonar-reasoning-pro": "Thinks step by step (shows its reasoning) before answering.",
    "sonar-deep-research": "Multi-step research reports; takes minutes and costs more.",
}

# Agent API effort levels: Perplexity-maintained bundles of model, search config, steps,
# system prompt and tools (docs.perplexity.ai/docs/agent-api/effort). ``effort`` replaces the
# deprecated ``preset`` ("Use effort instead", Perplexity's SDK) under the same names; a level
# may be pinned to a release as "fast@2026-10-16.0".
AGENT_EFFORTS = ("fast", "low", "medium", "high", "xhigh")
# The level for each Sonar model name: one step per Sonar tier (the vercel/ai v5 ladder;
# Perplexity's own migration notes disagree on the upper tiers, see agent-api.md section 3.3).
# Overridable per user with RequestSettings.agent_effort.
AGENT_MODEL_MAP: dict[str, str] = {
    "sonar": "fast",
    "sonar-pro": "low",
    "sonar-reasoning-pro": "medium",
    "sonar-deep-research": "high",
}
# Preset names older configs may hold in agent_model, each read as its effort level (the
# four older names alias the first four levels).
LEGACY_PRESETS: dict[str, str] = {
    **{level: level for level in AGENT_EFFORTS},
    "fast-search": "fast", "pro-search": "low", "deep-research": "medium",
    "advanced-deep-research": "high",
}
AGENT_PRESETS = tuple(LEGACY_PRESETS)
_RESEARCH_EFFORTS = ("high", "xhigh")

RECENCY_CHOICES = ("", "hour", "day", "week", "month", "year")
SEARCH_MODES = ("web", "academic", "sec")
CONTEXT_SIZES = ("", "low", "medium", "high")
SEARCH_TYPES = ("", "fast", "pro", "auto")
REASONING_EFFORTS = ("", "minimal", "low", "medium", "high")
EFFORT_CHOICES = ("", *AGENT_EFFORTS)
STREAM_MODES = ("full", "concise")
RESPONSE_FORMATS = ("none", "json_schema", "regex")
API_MODES = ("auto", "sonar", "agent")
IMAGE_FORMATS = ("gif", "jpg", "jpeg", "png", "webp", "svg", "bmp")

DOMAIN_FILTER_LIMIT = 20
IMAGE_FILTER_LIMIT = 10
DATE_FORMAT_HINT = "MM/DD/YYYY"

_DATE_RE = re.compile(r"^(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/(\d{4})$")
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$", re.I
)
_URL_ENTRY_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.I)
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")


def _meta(label: str, help: str, *, choices: tuple = (), agent: bool = True,
          section: str = "search") -> dict:
    return {"label": label, "help": help, "choices": choices, "agent": agent, "section": section}


@dataclass(slots=True)
class RequestSettings:
    model: str = field(default="sonar", metadata=_meta(
        "Model", "Sonar model, or any name your gateway serves.", section="model"))
    agent_model: str = field(default="", metadata=_meta(
        "Agent API model", "provider/model for the Agent API (openai/gpt-5.1...), run with the "
        "effort level's search and tools when one is set; blank lets the effort level choose.",
        section="model"))
    agent_effort: str = field(default="", metadata=_meta(
        "Agent API effort", "Effort level on the Agent API: fast, low, medium, high or xhigh, "
        "bundles of model, search, steps and tools Perplexity keeps tuned (not the model's "
        "reasoning effort). Blank follows the model: sonar fast, sonar-pro low, "
        "sonar-reasoning-pro medium, sonar-deep-research high.",
        choices=EFFORT_CHOICES, section="model"))
    system_prompt: str = field(default="", metadata=_meta(
        "System prompt", "Instructions sent before the conversation.", section="answer"))
    search_mode: str = field(default="web", metadata=_meta(
        "Search mode", "web, academic (scholarly sources) or sec (SEC filings).",
        choices=SEARCH_MODES, agent=False))
    domain_filter: list[str] = field(default_factory=list, metadata=_meta(
        "Domains", f"Up to {DOMAIN_FILTER_LIMIT} domains or URLs to search only (nature.com) "
        "or to exclude (-reddit.com); not both."))
    recency: str = field(default="", metadata=_meta(
        "Recency", "Only sources published within the last hour/day/week/month/year.",
        choices=RECENCY_CHOICES))
    published_after: str = field(default="", metadata=_meta(
        "Published after", f"{DATE_FORMAT_HINT}; not together with recency."))
    published_before: str = field(default="", metadata=_meta(
        "Published before", f"{DATE_FORMAT_HINT}; not together with recency."))
    updated_after: str = field(default="", metadata=_meta(
        "Updated after", f"Last-updated date, {DATE_FORMAT_HINT}; not together with recency."))
    updated_before: str = field(default="", metadata=_meta(
        "Updated before", f"Last-updated date, {DATE_FORMAT_HINT}; not together with recency."))
    search_context_size: str = field(default="", metadata=_meta(
        "Search context size", "How much retrieved text the model reads: low, medium, high "
        "(blank = service default). Higher costs more.", choices=CONTEXT_SIZES))
    search_type: str = field(default="", metadata=_meta(
        "Search type", "fast, pro (multi-step Pro Search, sonar-pro only) or auto.",
        choices=SEARCH_TYPES, agent=False))
    country: str = field(default="", metadata=_meta(
        "Country", "Two-letter country code to localise results (US, DE...)."))
    region: str = field(default="", metadata=_meta("Region", "Region or state, e.g. California."))
    city: str = field(default="", metadata=_meta("City", "City, e.g. San Francisco."))
    disable_search: bool = field(default=False, metadata=_meta(
        "Disable search", "Answer from the model's training data only."))
    return_images: bool = field(default=False, metadata=_meta(
        "Return images", "Ask for images with the answer.", agent=False))
    return_related_questions: bool = field(default=False, metadata=_meta(
        "Related questions", "Ask for follow-up questions.", agent=False))
    image_domain_filter: list[str] = field(default_factory=list, metadata=_meta(
        "Image domains", f"Up to {IMAGE_FILTER_LIMIT} domains for images (-prefix excludes).",
        agent=False))
    image_format_filter: list[str] = field(default_factory=list, metadata=_meta(
        "Image formats", f"Up to {IMAGE_FILTER_LIMIT} formats: gif, jpg, png, webp...",
        agent=False))
    reasoning_effort: str = field(default="", metadata=_meta(
        "Reasoning effort", "minimal, low, medium or high (reasoning and research models).",
        choices=REASONING_EFFORTS, section="answer"))
    max_tokens: int | None = field(default=None, metadata=_meta(
        "Max tokens", "Upper bound on the answer's length (blank = service default).",
        section="answer"))
    temperature: float | None = field(default=None, metadata=_meta(
        # The docs advise leaving sampling alone; say so where the user decides.
        "Temperature", "0 to below 2. Blank = the service default (0.2), which the docs "
        "recommend keeping.", section="answer"))
    top_p: float | None = field(default=None, metadata=_meta(
        "Top p", "0 to 1. Blank = the service default (0.9), which the docs recommend "
        "keeping.", section="answer"))
    stream_mode: str = field(default="full", metadata=_meta(
        "Stream mode", "full, or concise (reasoning steps stream separately).",
        choices=STREAM_MODES, agent=False, section="answer"))
    response_format: str = field(default="none", metadata=_meta(
        "Response format", "none (free text), json_schema (a JSON schema the answer must "
        "follow) or regex (a regular expression; Sonar only).",
        choices=RESPONSE_FORMATS, section="answer"))
    response_schema: str = field(default="", metadata=_meta(
        "Schema / regex", "The JSON schema (a JSON object) or the regular expression.",
        section="answer"))

    # -------------------------------------------------------------- conversions

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RequestSettings:
        """Lenient: unknown keys are ignored (they were validated when saved)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def with_overrides(self, overrides: dict[str, Any] | None) -> RequestSettings:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in (overrides or {}).items() if k in known})

    def diff(self, base: RequestSettings) -> dict[str, Any]:
        """The values that differ from ``base`` (what a thread override stores)."""
        mine, theirs = self.to_dict(), base.to_dict()
        return {k: v for k, v in mine.items() if theirs.get(k) != v}

    @property
    def uses_date_filters(self) -> bool:
        return any((self.published_after, self.published_before,
                    self.updated_after, self.updated_before))

    @property
    def is_deep_research(self) -> bool:
        effort = self.agent_target()[0].partition("@")[0]
        return "deep-research" in self.model or effort in _RESEARCH_EFFORTS

    def resolved_agent_model(self) -> str:
        """Effort level (or an older preset name) or provider/model slug for the Agent API."""
        if self.agent_model:
            return self.agent_model
        return AGENT_MODEL_MAP.get(self.model, self.model)

    def agent_target(self) -> tuple[str, str]:
        """``(effort, model)`` to send to the Agent API, each "" when not sent. The effort
        setting wins over the level the model maps to; a model with an effort runs in that
        level's bundle with the model swapped."""
        target = self.resolved_agent_model()
        level = LEGACY_PRESETS.get(target, "")
        return (self.agent_effort or level), ("" if level else target)

    def summary(self) -> str:
        """A short human summary of active search settings, for the status line."""
        parts: list[str] = []
        if self.disable_search:
            return "no search"
        if self.search_mode != "web":
            parts.append(self.search_mode)
        if self.domain_filter:
            count = len(self.domain_filter)
            parts.append(f"{count} domain" + ("s" if count > 1 else ""))
        if self.recency:
            parts.append(f"past {self.recency}")
        if self.uses_date_filters:
            parts.append("dates")
        if self.search_context_size:
            parts.append(f"ctx {self.search_context_size}")
        if self.country or self.city or self.region:
            parts.append("/".join(p for p in (self.city, self.region, self.country) if p))
        return ", ".join(parts) or "web"


@dataclass(slots=True)
class ConnectionSettings:
    base_url: str = field(default="https://api.perplexity.ai", metadata=_meta(
        "Base URL", "Service or gateway URL (env PERPLEXITY_BASE_URL).", section="api"))
    path: str = field(default="/chat/completions", metadata=_meta(
        "Chat path", "Chat-completions path: /chat/completions, /v1/sonar, or a gateway's "
        "/v1/chat/completions.", section="api"))
    agent_path: str = field(default="/v1/responses", metadata=_meta(
        "Agent path", "Agent API path: /v1/responses or /v1/agent.", section="api"))
    api_mode: str = field(default="auto", metadata=_meta(
        "API mode", "auto: chat completions, switching to the Agent API when Perplexity "
        "says Sonar is retired there (and remembering it); sonar: chat completions only; "
        "agent: always the Agent API.", choices=API_MODES, section="api"))
    conversation_header: bool = field(default=True, metadata=_meta(
        "X-Conversation-Id", "Send the thread id so gateways can route a conversation.",
        section="api"))
    stream_usage: bool = field(default=True, metadata=_meta(
        "Ask gateways for usage", "When streaming through a gateway (a base URL that is not "
        "Perplexity's), send stream_options.include_usage so tokens and cost arrive; turn off "
        "for a gateway that refuses it.", section="api"))
    connect_timeout: float = field(default=10.0, metadata=_meta(
        "Connect timeout", "Seconds to wait for the connection.", section="api"))
    idle_timeout: float = field(default=60.0, metadata=_meta(
        "Idle timeout", "Seconds without a byte before a stream is abandoned.", section="api"))
    research_idle_timeout: float = field(default=600.0, metadata=_meta(
        "Research idle timeout", "Idle timeout for deep research, which pauses for minutes.",
        section="api"))
    max_attempts: int = field(default=3, metadata=_meta(
        "Attempts", "Tries for retryable failures before the first byte (1-5).", section="api"))
    background_research: bool = field(default=True, metadata=_meta(
        "Deep research in the background", "Send deep research (sonar-deep-research, or "
        "Agent API effort high or xhigh) as a background job that outlives the terminal: the "
        "answer is fetched by polling and lands in its thread even after a dropped "
        "connection, a quit or a crash. Needs Perplexity's Agent API; off: stream it.",
        section="api"))
    job_poll_interval: float = field(default=2.0, metadata=_meta(
        "Job poll interval", "Seconds before a background job is first checked; later "
        "checks back off (x1.5, jittered) to 15 times this.", section="api"))
    agent_endpoints: list[str] = field(default_factory=list, metadata=_meta(
        "Agent API endpoints", "Base URLs that retired Sonar chat completions and whose Agent "
        "API then answered; auto mode goes straight to the Agent API there (filled in "
        "automatically; `sonar-tui config --forget-agent-endpoints` or the settings screen's "
        "Forget clears them).", section="api"))

    def uses_agent(self) -> bool:
        """Which API a request starts with: forced by the mode, or remembered for auto."""
        if self.api_mode == "agent":
            return True
        if self.api_mode == "sonar":
            return False
        return self.base_url.rstrip("/") in {u.rstrip("/") for u in self.agent_endpoints}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConnectionSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


# ----------------------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class SettingsProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def parse_filter_date(value: str) -> date | None:
    """``%m/%d/%Y`` (leading zeros optional) to a date, or None when not a real date."""
    match = _DATE_RE.match(value.strip())
    if not match:
        return None
    month, day, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def validate_domain_entry(entry: str) -> str | None:
    """None when the entry is valid, else why not."""
    value = entry.strip()
    if not value:
        return "empty entry"
    bare = value[1:] if value.startswith("-") else value
    if not bare:
        return "'-' alone is not a domain"
    if _URL_ENTRY_RE.match(bare):
        return None
    if "://" in bare:
        return f"'{entry}' is not an http(s) URL"
    if not _DOMAIN_RE.match(bare):
        return f"'{entry}' is not a domain like example.com"
    return None


def validate_domain_list(entries: list[str], limit: int, name: str) -> list[SettingsProblem]:
    problems: list[SettingsProblem] = []
    if len(entries) > limit:
        problems.append(SettingsProblem(name, f"at most {limit} entries ({len(entries)} given)"))
    for entry in entries:
        why = validate_domain_entry(entry)
        if why:
            problems.append(SettingsProblem(name, why))
    deny = [e for e in entries if e.strip().startswith("-")]
    if deny and len(deny) != len(entries):
        problems.append(SettingsProblem(
            name, "mixes allowed and excluded (-) entries; use one kind per request"))
    return problems


def _choice(problems: list, name: str, value: str, choices: tuple) -> None:
    if value not in choices:
        shown = ", ".join(c or "(blank)" for c in choices)
        problems.append(SettingsProblem(name, f"'{value}' is not one of {shown}"))


def validate_request_settings(s: RequestSettings) -> list[SettingsProblem]:
    """Every reason the settings would be refused; empty when they are fine."""
    p: list[SettingsProblem] = []
    if not s.model.strip() or any(c.isspace() for c in s.model):
        p.append(SettingsProblem("model", "must be a model name without spaces"))
    if s.agent_model and any(c.isspace() for c in s.agent_model):
        p.append(SettingsProblem("agent_model", "must be a provider/model without spaces"))
    level, at, version = s.agent_effort.partition("@")
    if s.agent_effort and (level not in AGENT_EFFORTS or at and not version.strip()
                           or any(c.isspace() for c in s.agent_effort)):
        shown = ", ".join(AGENT_EFFORTS)
        p.append(SettingsProblem("agent_effort", f"'{s.agent_effort}' is not one of {shown} "
                                 "(optionally pinned, as in fast@2026-10-16.0)"))
    _choice(p, "search_mode", s.search_mode, SEARCH_MODES)
    _choice(p, "recency", s.recency, RECENCY_CHOICES)
    _choice(p, "search_context_size", s.search_context_size, CONTEXT_SIZES)
    _choice(p, "search_type", s.search_type, SEARCH_TYPES)
    _choice(p, "reasoning_effort", s.reasoning_effort, REASONING_EFFORTS)
    _choice(p, "stream_mode", s.stream_mode, STREAM_MODES)
    _choice(p, "response_format", s.response_format, RESPONSE_FORMATS)

    p.extend(validate_domain_list(s.domain_filter, DOMAIN_FILTER_LIMIT, "domain_filter"))
    p.extend(validate_domain_list(s.image_domain_filter, IMAGE_FILTER_LIMIT, "image_domain_filter"))
    if len(s.image_format_filter) > IMAGE_FILTER_LIMIT:
        p.append(SettingsProblem("image_format_filter", f"at most {IMAGE_FILTER_LIMIT} entries"))
    for fmt in s.image_format_filter:
        if fmt not in IMAGE_FORMATS:
            p.append(SettingsProblem(
                "image_format_filter", f"'{fmt}' is not one of {', '.join(IMAGE_FORMATS)} "
                "(lower case, no dot)"))

    dates = {}
    for name in ("published_after", "published_before", "updated_after", "updated_before"):
        value = getattr(s, name)
        if value:
            parsed = parse_filter_date(value)
            if parsed is None:
                p.append(SettingsProblem(name, f"'{value}' is not a date in {DATE_FORMAT_HINT}"))
            dates[name] = parsed
    for after, before in (("published_after", "published_before"),
                          ("updated_after", "updated_before")):
        a, b = dates.get(after), dates.get(before)
        if a and b and a > b:
            p.append(SettingsProblem(before, f"is earlier than {after.replace('_', ' ')}"))
    if s.recency and s.uses_date_filters:
        p.append(SettingsProblem(
            "recency", "cannot be combined with date filters (the API refuses both at once); "
            "clear one of them"))

    if s.country and not _COUNTRY_RE.match(s.country):
        p.append(SettingsProblem("country", "use a two-letter country code such as US"))
    if s.search_type == "pro" and s.model in KNOWN_MODELS and s.model != "sonar-pro":
        p.append(SettingsProblem("search_type", "Pro Search works only with sonar-pro"))

    if s.max_tokens is not None and (not isinstance(s.max_tokens, int) or s.max_tokens < 1):
        p.append(SettingsProblem("max_tokens", "must be a whole number of at least 1"))
    if s.temperature is not None and not (0 <= s.temperature < 2):
        p.append(SettingsProblem("temperature", "must be at least 0 and below 2"))
    if s.top_p is not None and not (0 <= s.top_p <= 1):
        p.append(SettingsProblem("top_p", "must be between 0 and 1"))

    if s.response_format == "json_schema":
        problem = validate_json_schema_text(s.response_schema)
        if problem:
            p.append(SettingsProblem("response_schema", problem))
    elif s.response_format == "regex":
        if not s.response_schema:
            p.append(SettingsProblem("response_schema", "a regular expression is required"))
        else:
            try:
                re.compile(s.response_schema)
            except re.error as exc:
                p.append(SettingsProblem("response_schema", f"invalid regular expression: {exc}"))
    return p


def validate_json_schema_text(text: str) -> str | None:
    if not text.strip():
        return "a JSON schema is required"
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if not isinstance(schema, dict):
        return "the schema must be a JSON object"
    return None


def validate_connection_settings(c: ConnectionSettings) -> list[SettingsProblem]:
    p: list[SettingsProblem] = []
    if not re.match(r"^https?://[^\s/]+", c.base_url or ""):
        p.append(SettingsProblem("base_url", "must start with http:// or https://"))
    for name in ("path", "agent_path"):
        value = getattr(c, name)
        if not value.startswith("/") or any(ch.isspace() for ch in value):
            p.append(SettingsProblem(name, "must start with / and contain no spaces"))
    _choice(p, "api_mode", c.api_mode, API_MODES)
    for name in ("conversation_header", "stream_usage"):
        if not isinstance(getattr(c, name), bool):
            p.append(SettingsProblem(name, "must be true or false"))
    for name in ("connect_timeout", "idle_timeout", "research_idle_timeout"):
        value = getattr(c, name)
        if not isinstance(value, (int, float)) or value <= 0:
            p.append(SettingsProblem(name, "must be a number of seconds above 0"))
    if not isinstance(c.max_attempts, int) or not 1 <= c.max_attempts <= 5:
        p.append(SettingsProblem("max_attempts", "must be a whole number from 1 to 5"))
    if not isinstance(c.background_research, bool):
        p.append(SettingsProblem("background_research", "must be true or false"))
    poll = c.job_poll_interval
    if not isinstance(poll, (int, float)) or isinstance(poll, bool) or not 0 < poll <= 600:
        p.append(SettingsProblem("job_poll_interval", "must be a number of seconds above 0 "
                                 "and at most 600"))
    return p


def field_default(cls: type, name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            return f.default_factory()  # type: ignore[operator]  # MISSING is ruled out above
    raise KeyError(name)


__all__ = [
    "AGENT_EFFORTS",
    "AGENT_MODEL_MAP",
    "AGENT_PRESETS",
    "LEGACY_PRESETS",
    "API_MODES",
    "ConnectionSettings",
    "KNOWN_MODELS",
    "RequestSettings",
    "SettingsProblem",
    "field_default",
    "parse_filter_date",
    "validate_connection_settings",
    "validate_domain_entry",
    "validate_domain_list",
    "validate_json_schema_text",
    "validate_request_settings",
]
