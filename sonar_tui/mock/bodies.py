"""Error bodies the mock sends, recorded ones byte for byte.

The recorded texts come from ``tests/fixtures`` (see the SOURCES.md files there); they are
repeated here because the fixtures are not part of the installed package. Tests compare
these constants with the fixture files so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sonar_tui.mock.jsonenc import compact_json

# tests/fixtures/sonar/openclaw-36182__error-401-json-invalid-api-key.json (exact bytes)
INVALID_API_KEY = (b'{"error":{"message":"Invalid API key provided. You can find your API key '
                   b'at https://www.perplexity.ai/settings/api.","type":"invalid_api_key",'
                   b'"code":401}}')
# tests/fixtures/sonar/api-discussion-284__error-502-html-cloudflare.html (exact bytes)
CLOUDFLARE_502 = (b"<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 "
                  b"Bad Gateway</h1></center> <hr><center>cloudflare</center> </body></html>\n")
# The shape of the openresty page reported in perplexityai/api-discussion#281 and
# BerriAI/litellm#2584 (the Cloudflare challenge script those pages embedded is left out).
OPENRESTY_401 = (b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
                 b"<center><h1>401 Authorization Required</h1></center>\r\n"
                 b"<hr><center>openresty/1.27.4</center>\r\n</body>\r\n</html>\r\n")

RETIRED_MESSAGE = ("Sonar is now the Agent API. Use /v1/responses instead of /v1/sonar. Migrate "
                   "here: https://docs.perplexity.ai/docs/agent-api/migrate-from-sonar/overview")
ALTERNATION_MESSAGE = ("After the (optional) system message(s), user and assistant roles "
                       "should be alternating.")
LAST_ROLE_MESSAGE = "Last message must have role `user`."  # BerriAI/litellm#3918
EMPTY_INPUT_MESSAGE = "validation failed: input cannot be empty"
ANTHROPIC_MESSAGE = "validation failed: max_output_tokens is required when using Anthropic models"
MAX_STEPS_MESSAGE = "validation failed: max steps must be at least 1"
NOT_FOUND_MESSAGE = "resource not found"
# Unrecorded: the SDK says only that cancelling a run that already ended is a 400.
CANCEL_ENDED_MESSAGE = "response has already finished and cannot be cancelled"


def invalid_model_message(model: str) -> str:
    """tests/fixtures/sonar/AgentPrice__error-400-invalid-model.json, for any name."""
    return (f"Invalid model '{model}'. Permitted models can be found in the documentation at "
            "https://docs.perplexity.ai/guides/model-cards.")


def error_body(message: str, type_: str, code: int, param: str | None = None) -> bytes:
    """The JSON error envelope, compact, in the recorded key order."""
    error: dict = {"message": message, "type": type_, "code": code}
    if param is not None:
        error["param"] = param
    return compact_json({"error": error}).encode()


@dataclass(frozen=True)
class ErrorReply:
    """An error response: status, exact body bytes, headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, message: str, type_: str, param: str | None = None,
             headers: dict[str, str] | None = None) -> ErrorReply:
        return cls(status, error_body(message, type_, status, param), headers=dict(headers or {}))


__all__ = ["ALTERNATION_MESSAGE", "ANTHROPIC_MESSAGE", "CANCEL_ENDED_MESSAGE", "CLOUDFLARE_502",
           "EMPTY_INPUT_MESSAGE", "ErrorReply", "INVALID_API_KEY", "LAST_ROLE_MESSAGE",
           "MAX_STEPS_MESSAGE", "NOT_FOUND_MESSAGE", "OPENRESTY_401", "RETIRED_MESSAGE",
           "error_body", "invalid_model_message"]
