"""Errors from the service, the network or the settings, as one typed value.

``ApiError.message`` is the server's own words made readable (JSON envelope, FastAPI
``detail``, or an HTML page reduced to its text); ``hint`` says what the user can do.
Classification drives the CLI's exit codes (``exit_code``); which statuses are retried
before the first byte is ``RETRYABLE_STATUSES`` (the client decides).
"""

from __future__ import annotations

import email.utils
import html
import json
import math
import re
import time
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit


class ErrorKind(str, Enum):  # noqa: UP042 (str() of members is relied on)
    INVALID_SETTINGS = "invalid_settings"  # refused locally, before any request
    INVALID_REQUEST = "invalid_request"  # 400/422 from the service
    AUTH = "auth"  # 401
    PAYMENT = "payment"  # 402
    PERMISSION = "permission"  # 403 other than the retirement
    RETIRED = "retired"  # 403 chat_completions_not_available: use the Agent API
    NOT_FOUND = "not_found"  # 404
    RATE_LIMIT = "rate_limit"  # 429
    SERVER = "server"  # 5xx, 408, 409, 524
    NETWORK = "network"  # connection refused/reset, DNS
    TIMEOUT = "timeout"  # connect or idle timeout
    PROTOCOL = "protocol"  # a response we cannot understand, or a failed/cancelled status
    STORAGE = "storage"  # the local database refused a write


RETIREMENT_TYPES = frozenset({"chat_completions_not_available", "agent_api_migration_required"})
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 524})
MAX_MESSAGE_CHARS = 2048
# A Retry-After beyond this (seconds) is not a hint anyone can act on: 1e21, inf, a date in
# 2099. Such values are dropped, as a missing header would be.
MAX_RETRY_HINT = 24 * 3600.0
PERPLEXITY_DOMAIN = "perplexity.ai"


def is_perplexity_url(url: str) -> bool:
    """Whether ``url`` is Perplexity's own service (not a gateway in front of it)."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    return host == PERPLEXITY_DOMAIN or host.endswith("." + PERPLEXITY_DOMAIN)


@dataclass(eq=False)
class ApiError(Exception):
    kind: ErrorKind
    message: str
    status: int | None = None
    error_type: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After / retry-after-ms
    field: str | None = None  # the offending setting (INVALID_SETTINGS) or API param
    partial: bool = False  # bytes of an answer had already arrived when it failed
    host: str | None = None  # the gateway that answered (None: Perplexity itself, or unknown)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def exit_code(self) -> int:
        if self.kind is ErrorKind.INVALID_SETTINGS:
            return 2
        if self.kind in (ErrorKind.AUTH, ErrorKind.PERMISSION, ErrorKind.RETIRED,
                         ErrorKind.PAYMENT):
            return 3
        if self.kind in (ErrorKind.NETWORK, ErrorKind.TIMEOUT):
            return 4
        return 1

    @property
    def title(self) -> str:
        """A short headline for the UI."""
        return {
            ErrorKind.INVALID_SETTINGS: "Invalid setting",
            ErrorKind.INVALID_REQUEST: "Request refused",
            ErrorKind.AUTH: "API key rejected",
            ErrorKind.PAYMENT: "Payment required",
            ErrorKind.PERMISSION: "Permission denied",
            ErrorKind.RETIRED: "Sonar chat completions retired",
            ErrorKind.NOT_FOUND: "Not found",
            ErrorKind.RATE_LIMIT: "Rate limited",
            ErrorKind.SERVER: "Service error",
            ErrorKind.NETWORK: "Network error",
            ErrorKind.TIMEOUT: "Timed out",
            ErrorKind.PROTOCOL: "Unexpected response",
            ErrorKind.STORAGE: "Could not save",
        }[self.kind]

    @property
    def hint(self) -> str:
        """What the user can do about it, in one sentence (may be empty)."""
        match self.kind:
            case ErrorKind.AUTH:
                if self.host:
                    return (f"The gateway at {self.host} refused a key: check that the key "
                            "sonar-tui sends (PERPLEXITY_API_KEY or api_key in config.toml) is "
                            "one it accepts, and the provider key the gateway itself uses.")
                return ("Set PERPLEXITY_API_KEY, or api_key in config.toml "
                        "(keys: https://www.perplexity.ai/settings/api).")
            case ErrorKind.RETIRED:
                return ("Perplexity retired Sonar chat completions for direct API keys; "
                        "set api_mode to \"agent\" or \"auto\" to use the Agent API.")
            case ErrorKind.RATE_LIMIT:
                if self.retry_after:
                    return f"Retry in {format_wait(self.retry_after)}."
                return "Wait a moment and retry."
            case ErrorKind.NETWORK:
                return "Check the connection and the base URL, then retry."
            case ErrorKind.TIMEOUT:
                return "The service stopped sending; retry, or raise the idle timeout."
            case ErrorKind.SERVER:
                return "The service had a problem; retry."
            case ErrorKind.STORAGE:
                return "Check free disk space and that the database file is writable."
        return ""

    def describe(self) -> str:
        """One or two plain lines: what happened (server's words), then what to do."""
        head = f"{self.title}"
        if self.status:
            head += f" (HTTP {self.status})"
        text = f"{head}: {self.message}" if self.message else head
        return f"{text}\n{self.hint}" if self.hint else text

    def to_dict(self) -> dict:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "status": self.status,
            "type": self.error_type,
            "retry_after": self.retry_after,
            "field": self.field,
            "host": self.host,
        }


def format_wait(seconds: float) -> str:
    """A wait as people say it: "3 s", "2 min", "1 h 5 min"."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


# ----------------------------------------------------------------------------- parsing

_TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)
_SPACE_RE = re.compile(r"\s+")


def html_to_text(body: str) -> str:
    """The readable text of an HTML error page (scripts and styles dropped)."""
    text = _TAG_RE.sub(" ", body[: MAX_MESSAGE_CHARS * 4])
    return _SPACE_RE.sub(" ", html.unescape(text)).strip()[:MAX_MESSAGE_CHARS]


def parse_error_body(body: bytes | str) -> tuple[str, str | None, str | None]:
    """``(message, type, param)`` from any error body the service has been seen to send.

    Order: JSON ``error`` envelope, FastAPI ``detail``, other JSON, then text or HTML.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = _tidy_gateway_message(str(err.get("message") or "").strip())
            message = _with_metadata(message, err.get("metadata"))
            etype = _present(err.get("type"))
            code = err.get("code")
            if etype is None and isinstance(code, str) and not code.isdigit():
                etype = code  # a string code has been seen in place of the type
            return (message or str(etype or "error"))[:MAX_MESSAGE_CHARS], \
                (str(etype) if etype else None), _present(err.get("param"))
        if isinstance(err, str):
            return err[:MAX_MESSAGE_CHARS], None, None
        detail = data.get("detail")
        if isinstance(detail, list):
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    loc = ".".join(str(x) for x in item.get("loc") or () if x != "body")
                    msg = item.get("msg") or ""
                    parts.append(f"{loc}: {msg}" if loc else str(msg))
                else:
                    parts.append(str(item))
            return "; ".join(parts)[:MAX_MESSAGE_CHARS], "validation_error", None
        if isinstance(detail, str):
            return detail[:MAX_MESSAGE_CHARS], None, None
        if isinstance(data.get("message"), str):
            return data["message"][:MAX_MESSAGE_CHARS], data.get("type"), None
    stripped = text.strip()
    if "<" in stripped and ">" in stripped:
        return html_to_text(stripped) or "empty error page", None, None
    return stripped[:MAX_MESSAGE_CHARS] or "empty response", None, None


def _present(value) -> str | None:
    """A field's value as text, or None when absent (LiteLLM writes null, or "None")."""
    if value is None or value == "" or value == "None":
        return None
    return str(value)


_GATEWAY_PREFIX_RE = re.compile(r"^(?:litellm\.\w+:\s*)?(?:\w+Error:\s*)?(?:\w+Exception - )?")
_GATEWAY_TAIL_RE = re.compile(r"\s*LiteLLM: model group .*$", re.S)
# LiteLLM with a master key but no database says only this to any other key.
_NO_DB_MESSAGE = "No connected db."
_NO_DB_EXPLAINED = ("No connected db. This LiteLLM proxy has no key database, so it accepts "
                    "only its master key, and the key sent is not that key.")


def _tidy_gateway_message(message: str) -> str:
    """LiteLLM wraps the provider's words: ``litellm.RateLimitError: RateLimitError:
    PerplexityException - <words>\n\nLiteLLM: model group 'x' failed ...``. Keep the words."""
    if not message.startswith("litellm.") and "LiteLLM: model group" not in message:
        return message
    tidy = _GATEWAY_TAIL_RE.sub("", _GATEWAY_PREFIX_RE.sub("", message, count=1)).strip()
    return tidy or message


def _with_metadata(message: str, metadata) -> str:
    """OpenRouter's ``metadata``: which provider failed and its own words (``raw``, often
    the provider's JSON error as a string)."""
    if not isinstance(metadata, dict):
        return message
    provider = metadata.get("provider_name")
    if isinstance(provider, str) and provider.strip() and provider not in message:
        message = f"{message} ({provider.strip()})" if message else provider.strip()
    raw = metadata.get("raw")
    detail = ""
    if isinstance(raw, (dict, list)):
        raw = json.dumps(raw)
    if isinstance(raw, str) and raw.strip():
        detail = raw.strip()
        if detail[:1] in "{[":
            detail, _, _ = parse_error_body(detail)
    if detail and detail not in message:
        message = f"{message}: {detail}" if message else detail
    return message


def _retry_seconds(text: str, scale: float = 1.0) -> float | None:
    try:
        value = float(text) * scale
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0 or value > MAX_RETRY_HINT:
        return None
    return value


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``Retry-After`` (seconds or an HTTP date) or
    LiteLLM's ``llm_provider-retry-after``. Absurd values (negative, not finite, beyond a
    day, far-future dates) are no hint at all."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        value = _retry_seconds(raw_ms.strip(), 0.001)
        if value is not None:
            return value
    for name in ("retry-after", "llm_provider-retry-after"):
        raw = (headers.get(name) or "").strip()
        if not raw:
            continue
        value = _retry_seconds(raw)
        if value is not None:
            return value
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        try:
            wait = max(0.0, when.timestamp() - time.time())
        except (OverflowError, OSError, ValueError):
            continue
        if wait <= MAX_RETRY_HINT:
            return wait
    return None


def error_from_response(status: int, body: bytes | str, headers) -> ApiError:
    if 300 <= status < 400:
        return redirect_error(status, headers)
    message, etype, param = parse_error_body(body)
    retry_after = parse_retry_after(headers) if status in RETRYABLE_STATUSES else None
    if status == 403 and (etype in RETIREMENT_TYPES or "Sonar is now the Agent API" in message):
        kind = ErrorKind.RETIRED
    elif status in (400, 401) and message.strip() == _NO_DB_MESSAGE:
        kind, message = ErrorKind.AUTH, _NO_DB_EXPLAINED
    elif status in (400, 413, 422):
        kind = ErrorKind.INVALID_REQUEST
    elif status == 401:
        kind = ErrorKind.AUTH
    elif status == 402:
        kind = ErrorKind.PAYMENT
    elif status == 403:
        kind = ErrorKind.PERMISSION
    elif status == 404:
        kind = ErrorKind.NOT_FOUND
    elif status == 429:
        kind = ErrorKind.RATE_LIMIT
    elif status in RETRYABLE_STATUSES or status >= 500:
        kind = ErrorKind.SERVER
    else:
        kind = ErrorKind.PROTOCOL
    return ApiError(kind, message, status=status, error_type=etype, retry_after=retry_after,
                    field=param)


def redirect_error(status: int, headers) -> ApiError:
    """A 3xx is never followed: the API key would travel to wherever it points."""
    location = " ".join((headers.get("location") or "").split())[:300]
    where = f" to {location}" if location else " (without a Location)"
    return ApiError(ErrorKind.PROTOCOL,
                    f"The service redirected the request{where}. sonar-tui does not follow "
                    "redirects, so the API key is never sent to another address; if that "
                    "address is right, set base_url to it.", status=status, field="base_url")


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.S | re.I)


def web_page_error(body: bytes | str) -> ApiError:
    """A web page (HTML) answered with 200 where the API should have: a network login page
    (hotel or office Wi-Fi) or a base URL that is not the API. Only its title is shown."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    match = _TITLE_RE.search(text[:256 * 1024])
    title = _SPACE_RE.sub(" ", html.unescape(match.group(1))).strip()[:120] if match else ""
    named = f" (titled \u201c{title}\u201d)" if title else ""
    return ApiError(ErrorKind.PROTOCOL,
                    f"A web page answered instead of the API{named}. This is likely a network "
                    "login page (open any website in a browser to sign in) or a base_url that "
                    "does not point at the API.", field="base_url")


def error_from_payload(error, *, partial: bool = False, fallback: str = "") -> ApiError:
    """An error reported *inside* a 200 body or stream (``error`` event, failed response).

    A numeric HTTP-like ``code`` classifies it as the same status would; anything else is a
    PROTOCOL error carrying the server's words.
    """
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = {}
    message = str(error.get("message") or "").strip()[:MAX_MESSAGE_CHARS] or fallback \
        or "The service reported an error without a message."
    etype = error.get("type")
    code = error.get("code")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)  # the SDK types code as a string; recorded envelopes carry ints
    if etype is None and isinstance(code, str):
        etype = code
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        err = error_from_response(code, json.dumps({"error": {**error, "message": message}}), {})
        err.partial = partial
        return err
    kind = next((_NAMED_KINDS[name] for name in (code, etype)
                 if isinstance(name, str) and name in _NAMED_KINDS), ErrorKind.PROTOCOL)
    return ApiError(kind, message, error_type=str(etype) if etype else None, partial=partial)


# String codes and types that say what went wrong as plainly as a status would (the Agent
# API's documented 5xx/429 types, and the OpenAI Responses codes it is compatible with).
_NAMED_KINDS = {
    **dict.fromkeys(("server_error", "internal_error", "bad_gateway", "gateway_timeout",
                     "upstream_structured_output_failed"), ErrorKind.SERVER),
    **dict.fromkeys(("rate_limit_exceeded", "request_rate_limit_exceeded"),
                    ErrorKind.RATE_LIMIT),
}


def settings_refusal(problems) -> ApiError:
    """The INVALID_SETTINGS error for a non-empty list of ``SettingsProblem``.

    ``field`` names the first offending setting so the settings screen can focus it; the
    message lists every problem so the user fixes them in one go.
    """
    problems = list(problems)
    message = "; ".join(f"{p.field}: {p.message}" for p in problems)
    return ApiError(ErrorKind.INVALID_SETTINGS, f"Invalid setting {message}",
                    field=problems[0].field)


__all__ = [
    "ApiError",
    "ErrorKind",
    "RETIREMENT_TYPES",
    "error_from_payload",
    "error_from_response",
    "format_wait",
    "html_to_text",
    "is_perplexity_url",
    "parse_error_body",
    "parse_retry_after",
    "redirect_error",
    "settings_refusal",
    "web_page_error",
]
