"""The mock server's profiles: which wire era it speaks, or which failure it produces.

A profile is a name; :data:`PROFILES` maps each to a one-line description (shown by
``--help``, the README and ``--list-profiles``). The service reads the classification sets
below to decide what to do; keeping them here keeps the names in one place.
"""

from __future__ import annotations

PROFILES: dict[str, str] = {
    # ---- normal answers, by wire era / answer kind
    "default": "Today's wire (same as era-2026); the Agent API as captured live.",
    "era-2024": "Sonar 2024: object chat.completion on every chunk, accumulated message + "
                "delta, cumulative usage, Python JSON separators, no [DONE].",
    "era-2025": "Sonar 2025: chat.completion.chunk with citations and search_results on "
                "every chunk, accumulated message, Python separators, no [DONE].",
    "era-2026": "Sonar 2026: delta-only chunks, citations on every chunk, zero-cost usage "
                "skeleton, final chat.completion.done with the full cost; compact JSON.",
    "concise": "stream_mode concise: chat.reasoning steps, chat.reasoning.done, answer "
               "chunks, chat.completion.done (also chosen by stream_mode:\"concise\").",
    "reasoning": "sonar-reasoning-pro style: <think> text first, tags split across chunks "
                 "(also chosen by that model).",
    "deep-research": "sonar-deep-research style: pings, blank lines, research-phase chunks, "
                     "long <think>, then data: [DONE] (also by model).",
    "related": "Images and related questions in the final chunk of every answer (otherwise "
               "only when return_images / return_related_questions ask).",
    "agent-incomplete": "Agent API answers stop early: response.completed with "
                        "incomplete_details max_output_tokens; Sonar answers end with "
                        "finish_reason length.",
    "agent-failed": "Agent API answers fail mid-way (response.failed event, or status "
                    "failed in a 200 body); Sonar paths answer normally.",
    # ---- gateways in front of Perplexity (chat-completion paths)
    "openrouter": "OpenRouter's shape: ': OPENROUTER PROCESSING' comments, sources as "
                  "url_citation annotations (plus the citations), native_finish_reason, a "
                  "usage chunk with a numeric cost and cost_details.",
    "gateway": "A LiteLLM-like proxy: streams drop citations and search_results and carry "
               "usage (numeric cost) only when asked with stream_options.include_usage; "
               "non-streaming bodies keep everything.",
    # ---- failures before any answer
    "401-json": "Every request is refused with the recorded 401 invalid_api_key JSON body.",
    "401-html": "Every request is refused with a 401 openresty HTML page.",
    "403-retired": "Chat-completion paths answer the recorded Sonar retirement 403; the "
                   "Agent API paths work and, like a gateway, also take the Sonar model names "
                   "(tests the automatic switch).",
    "400": "Every request is refused with a recorded 400 invalid-request envelope.",
    "429": "Rate limited: 429 with Retry-After: 1.",
    "429-no-retry-after": "Rate limited: 429 without Retry-After.",
    "500": "500 internal error (JSON envelope).",
    "502-html": "502 with the recorded Cloudflare HTML page, byte for byte.",
    "captive-portal": "200 with a Wi-Fi login page (text/html) for every request, as a "
                      "captive portal or a proxy login answers.",
    # ---- failures and oddities during an answer
    "disconnect": "Streams part of the answer, then drops the connection (no bytes at all "
                  "for non-streaming requests).",
    "stall": "Streams part of the answer, then sends nothing more until the client gives "
             "up (non-streaming: never answers).",
    "malformed": "One malformed (truncated JSON) event in the middle; the stream goes on. "
                 "The only profile with malformed data.",
    "pings-no-done": "Keep-alive comment pings between chunks and no [DONE].",
    "1mb": "An answer over 1 MB (bigger chunks).",
    "huge-line": "Chat-completion streams send a few chunks, then one 20 MB line without a "
                 "line break, then close.",
    "hostile": "Answer, sources, URLs and related questions full of terminal escapes "
               "(CSI, OSC 52, OSC 8), C0/C1 controls, NUL, Rich/Textual markup, "
               "javascript:/file:/data: URLs, very long lines, CJK/emoji/RTL.",
    # ---- background jobs (background: true; how long a job takes: --job-seconds/--job-polls)
    "poll-429": "Reading a response or background job (GET /v1/responses/{id}) is rate "
                "limited: 429 with Retry-After: 1; creating and cancelling work.",
    "poll-drop": "Reading a response or background job drops the connection before "
                 "answering (a network blip); creating and cancelling work.",
    "cancel-refused": "POST /v1/responses/{id}/cancel answers 404, as a service without the "
                      "endpoint would; the job runs on.",
}

DEFAULT_PROFILE = "default"

# Answer before anything else happens (HTTP status faults, both protocols).
STATUS_FAULTS = frozenset({"401-json", "401-html", "400", "429", "429-no-retry-after", "500",
                           "502-html", "captive-portal"})
# Change the shape of an answer that is otherwise normal.
STREAM_FAULTS = frozenset({"disconnect", "stall", "malformed", "pings-no-done", "huge-line"})
# Profiles that only change one API; requests to the other API are served normally and
# do not spend a use of ``fault_times``.
SONAR_ONLY = frozenset({"era-2024", "era-2025", "era-2026", "concise", "reasoning",
                        "deep-research", "related", "403-retired", "openrouter", "gateway",
                        "huge-line"})
AGENT_ONLY = frozenset({"agent-failed"})
# Profiles that change only reading a stored response (GET .../{id}), or only cancelling.
POLL_FAULTS = frozenset({"poll-429", "poll-drop"})
CANCEL_FAULTS = frozenset({"cancel-refused"})
SONAR_ERAS = {"default": "2026", "era-2024": "2024", "era-2025": "2025", "era-2026": "2026"}


def applies_to(profile: str, kind: str) -> bool:
    """Whether ``profile`` changes a request of ``kind`` (chat, agent, models, stored,
    cancel)."""
    if profile == DEFAULT_PROFILE:
        return False
    if profile in STATUS_FAULTS:
        return True  # refused before routing matters, like a gateway would
    if profile in POLL_FAULTS:
        return kind == "stored"
    if profile in CANCEL_FAULTS:
        return kind == "cancel"
    if kind == "chat":
        return profile not in AGENT_ONLY
    if kind == "agent":
        return profile not in SONAR_ONLY
    return False


def check_profile(name: str) -> str:
    """``name`` when it is a profile, else ValueError listing the valid names."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return name


def describe_profiles() -> str:
    """The profile list as aligned text, for ``--help`` and ``--list-profiles``."""
    width = max(map(len, PROFILES))
    return "\n".join(f"  {name:<{width}}  {text}" for name, text in PROFILES.items())


__all__ = ["AGENT_ONLY", "CANCEL_FAULTS", "DEFAULT_PROFILE", "POLL_FAULTS", "PROFILES",
           "SONAR_ERAS", "SONAR_ONLY", "STATUS_FAULTS", "STREAM_FAULTS", "applies_to",
           "check_profile", "describe_profiles"]
