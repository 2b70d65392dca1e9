"""The mock Perplexity service: routing, auth, validation, profiles, and what it received.

``MockService`` is an HTTP handler (``await service(request) -> Response``) for
:class:`sonar_tui.mock.http.HttpServer`. It answers

- chat completions at ``/chat/completions``, ``/v1/chat/completions`` and ``/v1/sonar``;
- the Agent API at ``/v1/responses``, ``/v1/agent`` and ``/responses`` (plus
  ``GET .../{id}`` and ``POST .../{id}/cancel``), with background jobs (``background: true``,
  :mod:`sonar_tui.mock.jobs`);
- ``GET /v1/models`` (auth required, as live);
- anything else with a 404 JSON envelope.

Its knobs (``profile``, ``chunks``, ``pace``, ``hold_at``, ``fault_times``, ``api_key``,
``seed``, and for background jobs ``job_polls`` / ``job_seconds``, see
:mod:`sonar_tui.mock.jobs`) are
plain attributes that tests may change between requests from another thread: each request
reads them once, under a lock, when it starts. ``fault_times=N`` makes the profile apply
to the next N requests it affects, after which the service falls back to ``default``.
``hold_at=N`` stops every stream that starts from then on before its Nth event, until
``release_streams()``: a test sees an answer in the middle of streaming for as long as it
needs, without pacing it by the clock (``streams_held()`` says how many wait).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sonar_tui.mock import bodies, gateway_wire
from sonar_tui.mock.agent_wire import (
    PRESET_MODELS,
    AgentWire,
    agent_stream,
    final_object,
)
from sonar_tui.mock.agent_wire import (
    malformed_event as agent_malformed_event,
)
from sonar_tui.mock.bodies import ErrorReply
from sonar_tui.mock.content import DEFAULT_CHUNKS, MockAnswer, build_answer
from sonar_tui.mock.http import DROP, HANG, Control, Gate, Request, Response
from sonar_tui.mock.jobs import JobBoard, JobPlan
from sonar_tui.mock.jsonenc import compact_json, go_json
from sonar_tui.mock.profiles import (
    DEFAULT_PROFILE,
    POLL_FAULTS,
    SONAR_ERAS,
    STATUS_FAULTS,
    applies_to,
    check_profile,
)
from sonar_tui.mock.sonar_wire import SonarWire, pieces_of, sonar_body, sonar_stream
from sonar_tui.mock.sonar_wire import malformed_event as sonar_malformed_event
from sonar_tui.mock.streaming import StreamShape, shape_stream
from sonar_tui.mock.validation import SONAR_MODELS, validate_agent, validate_sonar

CHAT_PATHS = ("/chat/completions", "/v1/chat/completions", "/v1/sonar")
# The OpenAI SDK posts to {base_url}/responses: users give the base URL with or without /v1.
AGENT_PATHS = ("/v1/responses", "/v1/agent", "/responses")
MODELS_PATH = "/v1/models"
_STORED_RESPONSE_RE = re.compile(r"^(?:/v1)?/(?:responses|agent)/([^/]+)$")
_CANCEL_RE = re.compile(r"^(?:/v1)?/(?:responses|agent)/([^/]+)/cancel$")
DEFAULT_JOB_SECONDS = 10.0  # a background job's duration unless told otherwise

MOCK_EPOCH = 1790374575  # 2026-09-25, the day of the recorded Agent API captures
ONE_MB_CHARS = 1_100_000
REASONING_CHUNKS = 60
DEEP_RESEARCH_REASONING_CHUNKS = 400
RATE_LIMIT = 50
CUT_FRACTION = 0.4  # disconnect / stall after this share of the answer


@dataclass(frozen=True)
class _Settings:
    """One request's consistent view of the knobs."""

    profile: str
    chunks: int
    pace: float | None
    seed: int
    number: int  # 1-based request number, for ids and timestamps
    job: JobPlan = JobPlan()
    gate: Gate | None = None  # where a held stream waits (``hold_at``)
    hold_at: int | None = None


class MockService:
    def __init__(self, profile: str = DEFAULT_PROFILE, *, api_key: str | None = None,
                 chunks: int = DEFAULT_CHUNKS, pace: float | None = None,
                 fault_times: int | None = None, seed: int = 0,
                 clock: Callable[[], float] | None = None, job_polls: int | None = None,
                 job_seconds: float | None = DEFAULT_JOB_SECONDS) -> None:
        self._lock = threading.Lock()
        self._profile = check_profile(profile)
        self.api_key = api_key
        self.chunks = chunks
        self.pace = pace
        self.fault_times = fault_times
        self.seed = seed
        self.clock = clock  # None: deterministic timestamps from MOCK_EPOCH
        # How a background job moves on (mock.jobs): after N reads, after S seconds, or
        # (both None) when released.
        self.job_polls = job_polls
        self.job_seconds = job_seconds
        self.hold_at: int | None = None
        self._gates: list[Gate] = []
        self.jobs = JobBoard()
        self.requests: list[Request] = []
        self._count = 0
        self._agent_count = 0
        self._responses: OrderedDict[str, tuple[dict[str, Any], bool]] = OrderedDict()
        self._stands_for_gateway = False  # set by the first retirement 403 it answers

    # ------------------------------------------------------------------ knobs

    @property
    def profile(self) -> str:
        return self._profile

    @profile.setter
    def profile(self, name: str) -> None:
        self._profile = check_profile(name)

    def configure(self, **changes: Any) -> None:
        """Set several knobs at once, atomically with respect to requests."""
        allowed = {"profile", "api_key", "chunks", "pace", "fault_times", "seed", "clock",
                   "job_polls", "job_seconds", "hold_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if "profile" in changes:
            check_profile(changes["profile"])
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)

    # ------------------------------------------------------------------ what it received

    def last_body(self, path: str | None = None) -> Any:
        """The body of the latest request (to ``path``) with one, parsed when it is JSON
        (else the raw text); None when there is none."""
        for request in reversed(self.requests):
            if (path is None or request.path == path) and request.body:
                return _parsed(request.body)
        return None

    def bodies(self, path: str | None = None) -> list[Any]:
        """Every body received (to ``path``), oldest first, parsed like :meth:`last_body`."""
        return [_parsed(r.body) for r in self.requests
                if (path is None or r.path == path) and r.body]

    # ------------------------------------------------------------------ the handler

    async def __call__(self, request: Request) -> Response | Control:
        self.requests.append(request)
        kind = self._route(request.path)
        if kind is None:
            return self._reply(ErrorReply.json(404, bodies.NOT_FOUND_MESSAGE, "not_found"))
        expected = "POST" if kind in ("chat", "agent", "cancel") else "GET"
        if request.method != expected:
            return self._reply(ErrorReply.json(405, "method not allowed", "invalid_request"))
        settings = self._begin(kind)
        profile = settings.profile

        if profile in STATUS_FAULTS:
            return self._reply(self._status_fault(profile, kind))
        if not self._authorised(request):
            return self._reply(ErrorReply(401, bodies.INVALID_API_KEY))
        if kind == "models":
            return self._models()
        if profile in POLL_FAULTS and kind == "stored":
            return self._poll_fault(profile)
        if kind == "stored":
            return self._stored(request.path)
        if kind == "cancel":
            return self._cancel(request.path, profile)

        try:
            body = json.loads(request.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = _NOT_JSON
        if kind == "chat":
            if profile == "403-retired":
                self._stands_for_gateway = True
                return self._reply(ErrorReply.json(403, bodies.RETIRED_MESSAGE,
                                                   "chat_completions_not_available"))
            problem = (ErrorReply.json(400, "Request body is not valid JSON", "invalid_request")
                       if body is _NOT_JSON else validate_sonar(body))
            if problem:
                return self._reply(problem)
            return self._sonar(body, settings)
        if self._stands_for_gateway and isinstance(body, dict) \
                and body.get("model") in _SONAR_PRESETS:
            # Once it has answered the retirement 403 (403-retired), the mock stands for a
            # gateway whose chat completions were retired upstream: like a gateway it routes
            # its model names (the Sonar ones), which is what a client behind a gateway sends
            # after switching. Otherwise, as Perplexity, it refuses them.
            body = {**{k: v for k, v in body.items() if k != "model"},
                    "preset": _SONAR_PRESETS[body["model"]]}
        problem = validate_agent(None if body is _NOT_JSON else body, self._is_completed)
        if problem:
            return self._reply(problem, self._rate_headers(settings))
        return self._agent(body, settings)

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _route(path: str) -> str | None:
        if path in CHAT_PATHS:
            return "chat"
        if path in AGENT_PATHS:
            return "agent"
        if path == MODELS_PATH:
            return "models"
        if _STORED_RESPONSE_RE.match(path):
            return "stored"
        if _CANCEL_RE.match(path):
            return "cancel"
        return None

    def _begin(self, kind: str) -> _Settings:
        """Read the knobs once and spend one use of a limited fault if it applies."""
        with self._lock:
            self._count += 1
            profile = self._profile
            applies = applies_to(profile, kind)
            if applies and self.fault_times is not None:
                self.fault_times -= 1
                if self.fault_times <= 0:
                    self._profile, self.fault_times = DEFAULT_PROFILE, None
            gate = None
            if self.hold_at is not None:
                gate = Gate()
                self._gates.append(gate)
            return _Settings(profile if applies else DEFAULT_PROFILE, max(1, int(self.chunks)),
                             self.pace, self.seed, self._count,
                             JobPlan(self.job_polls, self.job_seconds), gate, self.hold_at)

    def _authorised(self, request: Request) -> bool:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        expected = self.api_key
        return expected is None or hmac.compare_digest(key.encode(), expected.encode())

    def _id(self, settings: _Settings, label: str) -> str:
        digest = hashlib.sha256(f"{settings.seed}:{settings.number}:{label}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def _created(self, settings: _Settings) -> int:
        return int(self.clock()) if self.clock else MOCK_EPOCH + settings.number

    def _reply(self, error: ErrorReply, headers: dict[str, str] | None = None) -> Response:
        return Response(error.status, error.body, {**error.headers, **(headers or {})},
                        content_type=error.content_type)

    @staticmethod
    def _status_fault(profile: str, kind: str) -> ErrorReply:
        if profile == "401-json":
            return ErrorReply(401, bodies.INVALID_API_KEY)
        if profile == "401-html":
            return ErrorReply(401, bodies.OPENRESTY_401, content_type="text/html")
        if profile == "502-html":
            return ErrorReply(502, bodies.CLOUDFLARE_502, content_type="text/html")
        if profile == "captive-portal":
            return ErrorReply(200, gateway_wire.CAPTIVE_PORTAL,
                              content_type="text/html; charset=utf-8")
        if profile == "500":
            return ErrorReply.json(500, "internal server error", "internal_error")
        if profile == "400":
            if kind == "agent":
                return ErrorReply.json(400, bodies.EMPTY_INPUT_MESSAGE, "invalid_request")
            return ErrorReply.json(400, bodies.ALTERNATION_MESSAGE, "invalid_message")
        headers = {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": "0",
                   "x-ratelimit-reset": str(MOCK_EPOCH + 1),
                   "x-ratelimit-used": str(RATE_LIMIT)}
        if profile == "429":
            headers["retry-after"] = "1"
        return ErrorReply.json(429, "rate limit exceeded", "request_rate_limit_exceeded",
                               headers=headers)

    def _models(self) -> Response:
        names = list(SONAR_MODELS) + sorted(set(PRESET_MODELS.values())) + [
            "perplexity/sonar", "anthropic/claude-sonnet-4-5", "google/gemini-3-flash-preview",
            "xai/grok-4-1"]
        data = [{"id": name, "object": "model", "created": MOCK_EPOCH,
                 "owned_by": name.partition("/")[0] if "/" in name else "perplexity"}
                for name in names]
        return Response(200, compact_json({"object": "list", "data": data}).encode())

    def _stored(self, path: str) -> Response:
        match = _STORED_RESPONSE_RE.match(path)
        response_id = match.group(1) if match else ""
        job = self.jobs.read(response_id)
        entry = job if job is not None else self._responses.get(response_id)
        if entry is None or not entry[1]:
            return self._reply(ErrorReply.json(404, bodies.NOT_FOUND_MESSAGE, "not_found"))
        return Response(200, go_json(entry[0]).encode())

    def _cancel(self, path: str, profile: str) -> Response:
        """``POST .../{id}/cancel``: ``cancelling`` for a running job; 400 for one that has
        ended (the SDK: "An already terminal run returns 400 instead"); 404 for an unknown
        id, and for every id under ``cancel-refused`` (a service without the endpoint)."""
        not_found = self._reply(ErrorReply.json(404, bodies.NOT_FOUND_MESSAGE, "not_found"))
        if profile == "cancel-refused":
            return not_found
        match = _CANCEL_RE.match(path)
        response_id = match.group(1) if match else ""
        refusal = self.jobs.cancel(response_id)
        if refusal == "unknown" and response_id in self._responses:
            refusal = "ended"  # a foreground response has always ended
        if refusal == "unknown":
            return not_found
        if refusal == "ended":
            return self._reply(ErrorReply.json(400, bodies.CANCEL_ENDED_MESSAGE,
                                               "invalid_request"))
        return Response(200, compact_json({"response_id": response_id,
                                           "status": "cancelling"}).encode())

    def _poll_fault(self, profile: str) -> Response | Control:
        if profile == "poll-drop":
            return DROP
        return self._reply(ErrorReply.json(
            429, "rate limit exceeded", "request_rate_limit_exceeded",
            headers={"retry-after": "1", "x-ratelimit-limit": str(RATE_LIMIT),
                     "x-ratelimit-remaining": "0", "x-ratelimit-used": str(RATE_LIMIT)}))

    def release_streams(self) -> int:
        """Let every held stream (``hold_at``) go on, as fast as its pace allows; returns
        how many were waiting. Streams that start later are held again unless ``hold_at``
        is set back to None."""
        with self._lock:
            gates, self._gates = self._gates, []
        for gate in gates:
            gate.open()
        return sum(1 for gate in gates if gate.reached.is_set())

    def streams_held(self) -> int:
        """How many streams wait at their ``hold_at`` event right now."""
        with self._lock:
            return sum(1 for gate in self._gates if gate.waiting)

    def release_jobs(self, response_id: str | None = None) -> int:
        """Let background jobs finish at their next read (one, or every one)."""
        return self.jobs.release(response_id)

    def forget_responses(self) -> None:
        """Drop every stored response and background job, as when they expire: GET gives
        404 and a ``previous_response_id`` naming one gets the recorded 400."""
        with self._lock:
            self._responses.clear()
        self.jobs.forget()

    def _is_completed(self, response_id: str) -> bool:
        job = self.jobs.peek(response_id)
        entry = (job, True) if job is not None else self._responses.get(response_id)
        return entry is not None and entry[0].get("status") == "completed"

    def _remember(self, response: dict[str, Any], store: bool) -> None:
        with self._lock:
            self._responses[response["id"]] = (response, store)
            while len(self._responses) > 256:
                self._responses.popitem(last=False)

    def _rate_headers(self, settings: _Settings) -> dict[str, str]:
        with self._lock:
            self._agent_count += 1
            used = (self._agent_count - 1) % RATE_LIMIT + 1
        return {"x-ratelimit-limit": str(RATE_LIMIT),
                "x-ratelimit-remaining": str(RATE_LIMIT - used),
                "x-ratelimit-reset": str(self._created(settings) + 1),
                "x-ratelimit-used": str(used),
                "x-request-id": self._id(settings, "request")}

    def _answer(self, question: str, settings: _Settings, *, cite: bool,
                reasoning_chunks: int = 0) -> MockAnswer:
        profile = settings.profile
        return build_answer(
            question, chunks=settings.chunks, seed=settings.seed,
            style="hostile" if profile == "hostile" else "normal", cite=cite,
            reasoning_chunks=reasoning_chunks,
            min_chars=ONE_MB_CHARS if profile == "1mb" else 0)

    def _shape(self, settings: _Settings, answer_events: int, malformed: bytes) -> StreamShape:
        profile = settings.profile
        shape = self._healthy_shape(settings)
        cut_at = max(1, int(answer_events * CUT_FRACTION))
        if profile == "disconnect":
            return replace(shape, cut_at=cut_at, cut=DROP)
        if profile == "stall":
            return replace(shape, cut_at=cut_at, cut=HANG)
        if profile == "malformed":
            return replace(shape, insert_at=max(1, answer_events // 2), insert=malformed)
        if profile == "pings-no-done":
            return replace(shape, ping_every=5, drop_done=True)
        return shape

    @staticmethod
    def _healthy_shape(settings: _Settings) -> StreamShape:
        return StreamShape(pace=settings.pace, gate_at=settings.hold_at, gate=settings.gate)

    @staticmethod
    def _non_stream_fault(profile: str) -> Control | None:
        return {"disconnect": DROP, "stall": HANG}.get(profile)

    # ------------------------------------------------------------------ Sonar

    def _sonar(self, body: dict[str, Any], settings: _Settings) -> Response | Control:
        profile = settings.profile
        model = body["model"]
        deep = profile == "deep-research" or model == "sonar-deep-research"
        concise = not deep and (profile == "concise" or body.get("stream_mode") == "concise")
        reasoning = not concise and (deep or profile == "reasoning"
                                     or model == "sonar-reasoning-pro")
        think = DEEP_RESEARCH_REASONING_CHUNKS if deep else REASONING_CHUNKS if reasoning else 0
        answer = self._answer(_sonar_question(body["messages"]), settings,
                              cite=not body.get("disable_search"), reasoning_chunks=think)
        options = body.get("web_search_options") or {}
        max_tokens = body.get("max_tokens")
        if profile == "agent-incomplete":
            max_tokens = max(1, len(answer.think_chunks + answer.chunks) // 2)
        wire = SonarWire(
            response_id=self._id(settings, "chat"),
            model=model,
            created=self._created(settings),
            era=SONAR_ERAS.get(profile, "2026"),
            prompt_tokens=_prompt_tokens(json.dumps(body["messages"])),
            search_context_size=options.get("search_context_size") or "low",
            images=bool(body.get("return_images")) or profile == "related",
            related=bool(body.get("return_related_questions")) or profile == "related",
            max_tokens=max_tokens,
            deep=deep,
        )
        gateway = self._gateway_reply(profile, body, answer, wire, settings)
        if gateway is not None:
            return gateway
        if not body.get("stream"):
            fault = self._non_stream_fault(profile)
            return fault or Response(200, sonar_body(answer, wire))
        style = "deep-research" if deep else "concise" if concise else "full"
        events = sonar_stream(answer, wire, style=style)
        pieces, _ = pieces_of(answer, wire)
        shape = self._shape(settings, len(pieces), sonar_malformed_event(wire))
        return Response(200, shape_stream(events, shape), content_type="text/event-stream")

    def _gateway_reply(self, profile: str, body: dict[str, Any], answer: MockAnswer,
                       wire: SonarWire, settings: _Settings) -> Response | None:
        """Chat completions reshaped by a gateway (gateway_wire); None for other profiles."""
        stream = bool(body.get("stream"))
        if profile == "openrouter":
            if not stream:
                return Response(200, gateway_wire.openrouter_body(answer, wire))
            events = gateway_wire.openrouter_stream(answer, wire)
        elif profile == "gateway":
            if not stream:
                return Response(200, sonar_body(answer, wire))
            options = body.get("stream_options")
            asked = isinstance(options, dict) and options.get("include_usage") is True
            events = gateway_wire.gateway_stream(answer, wire, asked)
        elif profile == "huge-line" and stream:
            events = gateway_wire.huge_line_stream(answer, wire)
        else:
            return None
        return Response(200, shape_stream(events, self._healthy_shape(settings)),
                        content_type="text/event-stream")

    # ------------------------------------------------------------------ Agent API

    def _agent(self, body: dict[str, Any], settings: _Settings) -> Response | Control:
        profile = settings.profile
        headers = self._rate_headers(settings)
        model, models = body.get("model"), body.get("models")
        # "If both are supplied, effort takes precedence when non-null" (the SDK on preset).
        level: str = body.get("effort") or body.get("preset") or ""
        resolved = models[0] if models else model or PRESET_MODELS[level.partition("@")[0]]
        tools = body.get("tools") or []
        searches = bool(level) or any(isinstance(t, dict) and t.get("type") == "web_search"
                                       for t in tools)
        if body.get("max_tool_calls") == 0:
            searches = False  # the only switch that turns preset tools off
        answer = self._answer(_agent_question(body["input"]), settings, cite=searches)
        echo: dict[str, Any] = {key: body[key] for key in (
            "background", "instructions", "max_output_tokens", "max_tool_calls", "metadata",
            "parallel_tool_calls", "previous_response_id", "prompt_cache_key", "store",
            "temperature", "tool_choice", "tools", "top_p", "truncation") if key in body}
        if body.get("effort"):
            echo["effort"] = body["effort"]
        if isinstance(body.get("reasoning"), dict):
            echo["reasoning"] = {"effort": body["reasoning"].get("effort"),
                                 "summary": body["reasoning"].get("summary")}
        outcome = {"agent-incomplete": "incomplete", "agent-failed": "failed"}.get(
            profile, "completed")
        wire = AgentWire(
            response_id="resp_" + self._id(settings, "response"),
            message_id="msg_" + self._id(settings, "message"),
            call_id="call_" + self._id(settings, "call"),
            function_call_id="fc_" + self._id(settings, "function-call"),
            requested_model=level or resolved,
            resolved_model=resolved,
            created=self._created(settings),
            echo=echo,
            search=searches,
            outcome=outcome,  # type: ignore[arg-type]
            max_output_tokens=body.get("max_output_tokens"),
            input_tokens=_prompt_tokens(json.dumps(body["input"])),
        )
        store = body.get("store", True) is not False
        if body.get("background"):
            fault = self._non_stream_fault(profile)
            if fault is not None:
                return fault
            queued = self.jobs.add(answer, wire, settings.job, store)
            return Response(200, go_json(queued).encode(), headers)
        final = final_object(answer, wire)
        self._remember(final, store)
        if not body.get("stream"):
            fault = self._non_stream_fault(profile)
            return fault or Response(200, go_json(final).encode(), headers)
        shape = self._shape(settings, len(answer.chunks), agent_malformed_event())
        return Response(200, shape_stream(agent_stream(answer, wire), shape), headers,
                        content_type="text/event-stream")


_NOT_JSON = object()
# The Agent API preset each Sonar model name stands for (the client's own mapping).
_SONAR_PRESETS = {"sonar": "fast", "sonar-pro": "low", "sonar-reasoning-pro": "medium",
                  "sonar-deep-research": "high"}


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type") in ("text", "input_text"))
    return ""


def _sonar_question(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message.get("content")) or "the attached file"
    return ""


def _agent_question(value: Any) -> str:
    if isinstance(value, str):
        return value
    for item in reversed(value):
        if isinstance(item, dict) and item.get("role", "user") == "user":
            return _text_of(item.get("content")) or "the attached file"
    return ""


def _prompt_tokens(text: str) -> int:
    return max(1, len(text) // 4)


__all__ = ["AGENT_PATHS", "CHAT_PATHS", "MOCK_EPOCH", "MODELS_PATH", "MockService"]
