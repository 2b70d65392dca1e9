"""The Agent API adapter (``POST /v1/responses``): request body out, typed events in.

Wire truth: the recorded responses in ``tests/fixtures/agent/`` (provenance in their
``SOURCES.md``) and the official SDK's contract (``perplexityai``,
``perplexity/generated/api.py``; ``tests/mock/test_sdk_contract.py`` checks the mock against
it). The service validates strictly (any unknown field is a 400),
so the body is built from an allow-list: only fields the Agent API documents, and only when
the user set them. Settings with no Agent equivalent are left out; :func:`agent_unsupported`
names them so the UI can say so.

Event order from a parser: ``Started`` once first (from ``response.created``, or from whatever
arrives first); text, reasoning-step and source events in wire order; ``UsageUpdate`` from the
final response; then exactly one terminal event. Unlike chat completions the terminal event
is emitted as soon as the terminal wire event arrives: nothing follows it.

The events understood are the union of Perplexity's SDK (``perplexity/generated/api.py``):
searches, fetched pages, image searches and loaded skills become reasoning steps; anything
else is skipped. What live captures show beyond the SDK is accepted too: a message announced
with ``content: null``, integer error codes, ``response.incomplete`` / ``response.cancelled``
events and an ``incomplete`` status (the SDK signals a cut answer only through
``incomplete_details``).
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from sonar_tui.api.conversation import AskRequest, Turn, fold_turns
from sonar_tui.api.errors import ApiError, ErrorKind, error_from_payload, settings_refusal
from sonar_tui.api.events import (
    Event,
    Failed,
    Finished,
    Image,
    ImagesUpdate,
    ReasoningStep,
    Source,
    SourcesUpdate,
    Started,
    StepsUpdate,
    TextDelta,
    TextFinal,
    Usage,
    UsageUpdate,
)
from sonar_tui.api.settings import (
    RequestSettings,
    field_default,
    validate_request_settings,
)
from sonar_tui.api.sonar import (
    as_dict,
    as_list,
    image_from_sonar,
    json_object_body,
    source_from_result,
    user_location,
)
from sonar_tui.api.sse import SseEvent, SseEventParser, load_json as _loads

_SCHEME_RE = re.compile(r"^https?://", re.I)
_SNIPPET_CHARS = 200
_SEARCH_ITEMS = ("search_results", "people_search_results")
_TERMINAL_STATUS = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",  # not in the SDK; the migration notes name it
    "response.failed": "failed",
    "response.cancelled": "cancelled",  # likewise
}
# Statuses a response can have without being finished; this client neither polls (background)
# nor answers tool calls or approvals.
_UNFINISHED_STATUS = {
    "queued": "it was queued to run in the background, and sonar-tui does not poll for it",
    "in_progress": "it is still running in the background, and sonar-tui does not poll for it",
    "requires_action": "it waits for a tool result or an approval, which sonar-tui does not "
                       "provide",
}


# ----------------------------------------------------------------------------- request


def build_agent_body(request: AskRequest) -> dict[str, Any]:
    """The Agent API JSON body. Raises ApiError(INVALID_SETTINGS) before any request."""
    s = request.settings
    problems = validate_request_settings(s)
    if problems:
        raise settings_refusal(problems)
    if s.response_format == "regex":
        raise ApiError(ErrorKind.INVALID_SETTINGS,
                       "Invalid setting response_format: regex is not supported by the Agent "
                       "API; use json_schema or none (or the Sonar API).",
                       field="response_format")
    if not request.question.strip() and not request.attachments:
        raise ApiError(ErrorKind.INVALID_SETTINGS, "The question is empty.", field="question")

    # effort, not the deprecated preset: "If both are supplied, effort takes precedence", so
    # sending both would add nothing, and a server that predates effort refuses the unknown
    # field whatever else is sent.
    effort, model = s.agent_target()
    body: dict[str, Any] = {}
    if effort:
        body["effort"] = effort
    if model:
        body["model"] = model
    bundled = bool(effort)  # an effort level brings its own tools
    if request.previous_response_id:
        # The service holds the conversation: only the new question goes (the recorded
        # multi-turn request sends a plain string this way).
        body["previous_response_id"] = request.previous_response_id
        body["input"] = _input(request, history=[])
    else:
        body["input"] = _input(request)
    if s.system_prompt.strip():
        body["instructions"] = s.system_prompt

    tools: list[dict[str, Any]] = []
    if s.disable_search:
        if bundled:
            body["max_tool_calls"] = 0  # bundled tools cannot be removed, only switched off
    else:
        web_search = _web_search_tool(s)
        # A bare model does not search without the tool; an effort level bundles it, so the
        # tool is listed only to carry settings.
        if not bundled or len(web_search) > 1:
            tools.append(web_search)
        if s.search_mode == "sec":
            tools.append({"type": "finance_search"})
    if tools:
        body["tools"] = tools
    if s.reasoning_effort:
        body["reasoning"] = {"effort": s.reasoning_effort}
    if s.max_tokens is not None:
        body["max_output_tokens"] = s.max_tokens
    if s.response_format == "json_schema":
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "answer",
                                                   "schema": json.loads(s.response_schema)}}
    if s.temperature is not None:
        body["temperature"] = s.temperature
    if s.top_p is not None:
        body["top_p"] = s.top_p
    body["stream"] = request.stream
    return body


def _input(request: AskRequest, history: list[Turn] | None = None
           ) -> str | list[dict[str, Any]]:
    turns = fold_turns(request.history if history is None else history, request.question)
    if not turns or turns[-1].role != "user":
        turns.append(Turn("user", ""))  # images without words still need a user turn
    if len(turns) == 1 and not request.attachments:
        return turns[0].content
    items: list[dict[str, Any]] = [{"type": "message", "role": t.role, "content": t.content}
                                   for t in turns[:-1]]
    last = turns[-1].content
    content: str | list[dict[str, Any]] = last
    if request.attachments:
        content = [{"type": "input_text", "text": last}] if last.strip() else []
        content += [{"type": "input_image", "image_url": a.data_uri()}
                    for a in request.attachments]
    items.append({"type": "message", "role": "user", "content": content})
    return items


def _web_search_tool(s: RequestSettings) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if s.domain_filter:
        filters["search_domain_filter"] = [_scheme_less(d) for d in s.domain_filter]
    if s.recency:
        filters["search_recency_filter"] = s.recency
    for setting, wire in (("published_after", "search_after_date_filter"),
                          ("published_before", "search_before_date_filter"),
                          ("updated_after", "last_updated_after_filter"),
                          ("updated_before", "last_updated_before_filter")):
        value = getattr(s, setting)
        if value:
            filters[wire] = value.strip()
    tool: dict[str, Any] = {"type": "web_search"}
    if filters:
        tool["filters"] = filters
    # These two sit on the tool itself, not inside filters.
    if s.search_context_size:
        tool["search_context_size"] = s.search_context_size
    location = user_location(s)
    if location:
        tool["user_location"] = location
    return tool


def _scheme_less(entry: str) -> str:
    """The Agent API takes domain filter entries without a scheme (``-`` prefix kept)."""
    entry = entry.strip()
    deny = entry.startswith("-")
    bare = _SCHEME_RE.sub("", entry[1:] if deny else entry)
    return f"-{bare}" if deny else bare


def agent_unsupported(settings: RequestSettings) -> list[str]:
    """Names of settings set away from their default that the Agent API will ignore."""
    names = []
    for f in fields(RequestSettings):
        if f.metadata.get("agent", True):
            continue
        value = getattr(settings, f.name)
        if value == field_default(RequestSettings, f.name):
            continue
        if f.name == "search_mode" and value == "sec":
            continue  # sent as the finance_search tool
        names.append(f.name)
    return names


# ----------------------------------------------------------------------------- normalising


def _number(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _flatten_costs(cost: dict, prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in cost.items():
        if isinstance(value, dict):
            flat.update(_flatten_costs(value, f"{prefix}{key}."))
        else:
            number = _number(value)
            if number is not None:
                flat[f"{prefix}{key}"] = number
    return flat


def usage_from_agent(raw: dict) -> Usage:
    def count(value) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    reasoning = as_dict(raw.get("output_tokens_details")).get("reasoning_tokens")
    searches = as_dict(as_dict(raw.get("tool_calls_details")).get("search_web")).get("invocation")
    cost_raw = raw.get("cost")
    cost = None
    details: dict[str, float] = {}
    if isinstance(cost_raw, dict):
        cost = _number(cost_raw.get("total_cost"))
        details = {k: v for k, v in _flatten_costs(cost_raw).items() if k != "total_cost"}
    else:
        cost = _number(cost_raw)
    return Usage(
        prompt_tokens=count(raw.get("input_tokens")),
        completion_tokens=count(raw.get("output_tokens")),
        total_tokens=count(raw.get("total_tokens")),
        reasoning_tokens=reasoning if type(reasoning) is int else None,
        search_queries=searches if type(searches) is int else None,
        cost=cost,
        cost_details=details,
    )




# ----------------------------------------------------------------------------- parsing


class AgentStreamParser(SseEventParser):
    """Agent API SSE bytes in, typed events out. ``feed`` as bytes arrive, ``close`` at EOF."""

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._payloads = 0
        self._junk: str | None = None
        self._model = ""
        self.has_output = False
        # Answer text per (item id, content index), in order of first appearance.
        self._texts: dict[tuple, list[str]] = {}
        self._last_key: tuple | None = None
        self._last_parts: list[str] = []
        self._sources: dict[str, Source] = {}  # by URL
        self._numbers: set[int] = set()
        self._steps: list[ReasoningStep] = []
        self._step_at: dict[tuple, int] = {}  # (call id, kind) -> index in _steps
        self._stepped_items: set[tuple] = set()  # search items already shown as steps
        self._skills: set[str] = set()
        self._images: dict[str, Image] = {}  # by image URL
        self._live_steps = False  # reasoning events described the searches as they ran
        self._usage: Any = None

    @property
    def done(self) -> bool:
        return self._done

    @property
    def finish_seen(self) -> bool:
        return self._done

    def close(self) -> list[Event]:
        """End of stream. Without a terminal event the answer is incomplete (text kept)."""
        out: list[Event] = []
        if self._done:
            return out
        for sse in self._sse.close():
            self._on_sse(sse, out)
            if self._done:
                return out
        self._done = True
        if not self._payloads:
            message = "The service's stream held no answer (no readable JSON event)."
            if self._junk:
                message += f" It began with: {self._junk}"
            out.append(Failed(ApiError(ErrorKind.PROTOCOL, message)))
        else:
            out.append(Finished("incomplete", model=self._model or None,
                                detail="the stream ended before the response completed"))
        return out

    def fail(self, error: ApiError) -> list[Event]:
        if self._done:
            return []
        self._done = True
        error.partial = error.partial or self.has_output
        return [Failed(error)]

    def whole_response(self, response: dict) -> list[Event]:
        """A complete response object (a non-streaming body): the same events, then the end."""
        out: list[Event] = []
        self._start(response, out)
        self._absorb_response(response, out)
        self._finish(str(response.get("status") or "completed"), response,
                     response.get("error"), out)
        return out

    # ------------------------------------------------------------------ dispatch

    def _on_sse(self, sse: SseEvent, out: list[Event]) -> None:
        payload = _loads(sse.data)
        if not isinstance(payload, dict):
            if sse.data.strip() == "[DONE]":
                return  # not sent by the Agent API, but test harnesses append one
            if self._junk is None and sse.data.strip():
                self._junk = sse.data.strip()[:_SNIPPET_CHARS]
            return
        self.handle(payload, sse.event, out)

    def handle(self, payload: dict, event_name: str, out: list[Event]) -> None:
        self._payloads += 1
        kind = payload.get("type")
        if not kind or type(kind) is not str:
            kind = event_name
        if kind == "response.output_text.delta":  # the hot path first
            if not self._started:
                self._start({}, out)
            delta = payload.get("delta")
            if delta and type(delta) is str:
                key = _text_key(payload.get("item_id"), payload.get("content_index"))
                if key != self._last_key:  # deltas of one part come in a run: look up once
                    self._last_key = key
                    self._last_parts = self._texts.setdefault(key, [])
                self._last_parts.append(delta)
                self.has_output = True
                out.append(TextDelta(delta))
            return
        response = payload.get("response")
        if not isinstance(response, dict):
            response = {}
        if not self._started:
            self._start(response, out)
        if kind == "response.output_text.done":
            text = payload.get("text")
            if isinstance(text, str):
                self._set_text(_text_key(payload.get("item_id"), payload.get("content_index")),
                               text, out)
        elif kind == "response.output_item.done":
            item = payload.get("item")
            if isinstance(item, dict):
                self._absorb_item(item, out)
        elif kind == "response.reasoning.search_queries":
            step = self._step(payload, "web_search")
            queries = as_list(payload.get("queries"))
            self._update_step(step, out, keywords=tuple(str(q) for q in queries),
                              thought=str(payload.get("thought") or ""))
        elif kind == "response.reasoning.search_results":
            results = [r for r in as_list(payload.get("results")) if isinstance(r, dict)]
            step = self._step(payload, "web_search", results=True)
            self._update_step(step, out, results=self._results_as_sources(results),
                              thought=str(payload.get("thought") or ""))
            self._add_sources(results, out)
        elif kind == "response.reasoning.fetch_url_queries":
            step = self._step(payload, "fetch_url_content")
            self._update_step(step, out, urls=tuple(str(u) for u in as_list(payload.get("urls"))),
                              thought=str(payload.get("thought") or ""))
        elif kind == "response.reasoning.fetch_url_results":
            contents = [c for c in as_list(payload.get("contents")) if isinstance(c, dict)]
            step = self._step(payload, "fetch_url_content", results=True)
            self._update_step(step, out, results=self._results_as_sources(contents),
                              thought=str(payload.get("thought") or ""))
            self._add_sources(contents, out)
        elif kind == "response.reasoning.image_search_queries":
            step = self._step(payload, "image_search")
            queries = as_list(payload.get("queries"))
            self._update_step(step, out, keywords=tuple(str(q) for q in queries),
                              thought=str(payload.get("thought") or ""))
        elif kind == "response.reasoning.image_search_results":
            images = self._add_images(payload.get("results"), out)
            step = self._step(payload, "image_search", results=True)
            self._update_step(step, out, results=_image_pages(images),
                              thought=str(payload.get("thought") or ""))
        elif kind == "response.skill.loaded":
            self._skill_step(payload.get("name"), out)
        elif kind in _TERMINAL_STATUS:
            self._absorb_response(response, out)
            status = str(response.get("status") or _TERMINAL_STATUS[kind])
            self._finish(status, response, payload.get("error"), out)
        elif kind == "error":
            error = payload.get("error") if payload.get("error") is not None else payload
            self._done = True
            out.append(Failed(error_from_payload(error, partial=self.has_output)))
        # response.created / in_progress / output_item.added (whose content may be null or
        # []) / reasoning.started|stopped and anything unknown carry nothing the answer needs.

    # ------------------------------------------------------------------ pieces

    def _start(self, response: dict, out: list[Event]) -> None:
        self._started = True
        model = response.get("model")
        model = model if type(model) is str else ""
        rid = response.get("id")
        if model:
            self._model = model
        out.append(Started(api="agent", model=model, response_id=str(rid) if rid else None))

    def _set_text(self, key: tuple, text: str, out: list[Event]) -> None:
        """Authoritative text for one content part: only an actual difference is emitted."""
        parts = self._texts.get(key)
        if parts is None:
            self._texts[key] = [text]
            if text:
                self.has_output = True
                out.append(TextDelta(text))
            return
        if len(parts) == 1 and parts[0] == text or "".join(parts) == text:
            return
        self._texts[key] = [text]
        self._last_key = None
        self.has_output = True
        out.append(TextFinal("".join("".join(p) for p in self._texts.values())))

    def _absorb_item(self, item: dict, out: list[Event]) -> None:
        kind = item.get("type")
        if kind in _SEARCH_ITEMS:
            results = [r for r in as_list(item.get("results")) if isinstance(r, dict)]
            self._add_sources(results, out)
            self._step_from_item(item, results, out)
        elif kind == "fetch_url_results":
            contents = [c for c in as_list(item.get("contents")) if isinstance(c, dict)]
            self._add_sources(contents, out)
        elif kind == "image_search_results":
            images = self._add_images(item.get("results"), out)
            if not self._live_steps and images:
                self._steps.append(ReasoningStep(
                    kind="image_search", results=_image_pages(images),
                    keywords=tuple(str(q) for q in as_list(item.get("queries")))))
                out.append(StepsUpdate(tuple(self._steps)))
        elif kind == "skill_loaded":
            self._skill_step(item.get("name"), out)
        elif kind == "message" and item.get("role", "assistant") == "assistant":
            item_id = item.get("id")
            for index, part in enumerate(as_list(item.get("content"))):
                if isinstance(part, dict) and part.get("type") == "output_text" \
                        and isinstance(part.get("text"), str):
                    self._set_text(_text_key(item_id, index), part["text"], out)
        # function_call items (the internal search_web call) and others are not the answer.

    def _absorb_response(self, response: dict, out: list[Event]) -> None:
        model = response.get("model")
        if model and type(model) is str:
            self._model = model
        for item in as_list(response.get("output")):
            if isinstance(item, dict):
                self._absorb_item(item, out)
        usage = response.get("usage")
        if isinstance(usage, dict) and usage != self._usage:
            self._usage = usage
            out.append(UsageUpdate(usage_from_agent(usage)))

    def _finish(self, status: str, response: dict, error, out: list[Event]) -> None:
        self._done = True
        model = self._model or None
        reason = as_dict(response.get("incomplete_details")).get("reason")
        if status == "completed" and not reason:
            out.append(Finished("stop", model=model))
        elif status in ("completed", "incomplete"):
            # The SDK knows no "incomplete" status: a cut answer is "completed" with
            # incomplete_details saying why.
            out.append(Finished("length" if reason == "max_output_tokens" else "incomplete",
                                model=model, detail=str(reason) if reason else None))
        elif status in ("failed", "cancelled"):
            error = error if error is not None else response.get("error")
            fallback = ("The service cancelled the response." if status == "cancelled"
                        else "The Agent API reported the response as failed.")
            out.append(Failed(error_from_payload(error, partial=self.has_output,
                                                 fallback=fallback)))
        else:
            why = _UNFINISHED_STATUS.get(status, "this client does not know that status")
            out.append(Failed(ApiError(
                ErrorKind.PROTOCOL,
                f"The Agent API returned the response unfinished, with status '{status}': {why}.",
                partial=self.has_output)))

    def _results_as_sources(self, results: list[dict]) -> tuple[Source, ...]:
        usable = [r for r in results if isinstance(r.get("url"), str) and r["url"]]
        return tuple(source_from_result(_number_of(r.get("id"), n), r["url"], r)
                     for n, r in enumerate(usable, 1))

    def _add_images(self, results, out: list[Event]) -> list[Image]:
        """Image results (http(s) only) into the answer's images; returns those of this event."""
        found = []
        for raw in as_list(results):
            image = image_from_sonar(raw) if isinstance(raw, dict) else None
            if image is None or not _SCHEME_RE.match(image.url):
                continue
            found.append(image)
            self._images.setdefault(image.url, image)
        if found:
            out.append(ImagesUpdate(tuple(self._images.values())))
        return found

    def _skill_step(self, name, out: list[Event]) -> None:
        if not isinstance(name, str) or not name or name in self._skills:
            return
        self._skills.add(name)
        self._steps.append(ReasoningStep(kind="skill", keywords=(name,)))
        out.append(StepsUpdate(tuple(self._steps)))

    def _add_sources(self, results: list[dict], out: list[Event]) -> None:
        """Merge results into the numbered sources: number = result id, de-duplicated by URL."""
        added = False
        for result in results:
            url = result.get("url")
            if not isinstance(url, str) or not url or url in self._sources:
                continue
            number = _number_of(result.get("id"), None)
            if number is None or number in self._numbers:
                number = max(self._numbers, default=0) + 1
            self._numbers.add(number)
            self._sources[url] = source_from_result(number, url, result)
            added = True
        if added:
            out.append(SourcesUpdate(tuple(sorted(self._sources.values(), key=lambda s: s.number))))

    def _step(self, payload: dict, kind: str, results: bool = False) -> int:
        """The step an event describes: by ``call_id`` when there is one (captures have it,
        the SDK only on image searches); else results complete the latest step of their kind
        still without results, and queries start a new one."""
        self._live_steps = True
        call_id = payload.get("call_id")
        call_id = None if call_id is None else str(call_id)
        key = (call_id, kind)
        if call_id is not None and key in self._step_at:
            return self._step_at[key]
        if call_id is None and results and self._steps:
            last = len(self._steps) - 1
            if self._steps[last].kind == kind and not self._steps[last].results:
                return last
        self._steps.append(ReasoningStep(kind=kind))
        index = len(self._steps) - 1
        if call_id is not None:
            self._step_at[key] = index
        return index

    def _update_step(self, index: int, out: list[Event], thought: str = "", **changes) -> None:
        step = self._steps[index]
        if thought and not step.thought:
            changes["thought"] = thought
        self._steps[index] = ReasoningStep(**{**_step_fields(step), **changes})
        out.append(StepsUpdate(tuple(self._steps)))

    def _step_from_item(self, item: dict, results: list[dict], out: list[Event]) -> None:
        """Non-streaming bodies have no reasoning events: show their searches as steps."""
        if self._live_steps:
            return  # the stream already described these searches
        key = (tuple(str(q) for q in as_list(item.get("queries"))),
               tuple(str(r.get("url")) for r in results))
        if key in self._stepped_items:
            return
        self._stepped_items.add(key)
        self._steps.append(ReasoningStep(kind="web_search", keywords=key[0],
                                         results=self._results_as_sources(results)))
        out.append(StepsUpdate(tuple(self._steps)))


def _image_pages(images: list[Image]) -> tuple[Source, ...]:
    """The pages an image search found pictures on, as a step's results (one per page)."""
    pages: dict[str, Source] = {}
    for image in images:
        page = image.origin_url
        if page and _SCHEME_RE.match(page) and page not in pages:
            pages[page] = Source(number=len(pages) + 1, url=page, title=image.title or "")
    return tuple(pages.values())


def _step_fields(step: ReasoningStep) -> dict[str, Any]:
    return {f.name: getattr(step, f.name) for f in fields(ReasoningStep)}


def _text_key(item_id, index) -> tuple:
    """Which content part a text belongs to (hashable whatever the wire sent)."""
    return (str(item_id), index if type(index) is int else 0)


def _number_of(value, fallback):
    return value if type(value) is int else fallback


def parse_agent_response(body: bytes | str | dict) -> list[Event]:
    """A non-streaming Agent API body as events. ``status`` decides, even on HTTP 200."""
    parsed = json_object_body(body)
    if isinstance(parsed, Failed):
        return [parsed]
    if parsed.get("object") != "response" and "output" not in parsed:
        if parsed.get("error"):
            return [Failed(error_from_payload(parsed["error"]))]
        return [Failed(ApiError(ErrorKind.PROTOCOL,
                                "The service's answer is not an Agent API response (no output)."))]
    return AgentStreamParser().whole_response(parsed)


def parse_agent_progress(body: dict) -> list[Event]:
    """What an unfinished response object (a background job being polled) shows so far: its
    searches and fetched pages as steps, sources, images, any text; no terminal event. An
    ``in_progress`` object may hold any of the SDK's output items, or none (``output: []``)."""
    out: list[Event] = []
    AgentStreamParser()._absorb_response(body, out)
    return out


__all__ = [
    "AgentStreamParser",
    "agent_unsupported",
    "build_agent_body",
    "parse_agent_progress",
    "parse_agent_response",
    "usage_from_agent",
]
