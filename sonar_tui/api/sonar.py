"""The Sonar chat-completions adapter: request body out, typed events in.

Wire truth: the recorded responses in ``tests/fixtures/sonar/`` (provenance in their
``SOURCES.md``) and the official SDK's models (``perplexityai``). The parser is tolerant of
every era seen on the wire (2024 accumulated ``message`` + ``delta``, 2025 chunks, 2026
delta-only with a ``chat.completion.done`` chunk, concise ``chat.reasoning*`` chunks,
deep-research pings and choices-less chunks, with or without ``[DONE]``), because one client
talks to Perplexity and to gateways that replay older shapes.

Event order from a parser: ``Started`` once, before anything else; then text, reasoning and
update events in wire order; then exactly one terminal ``Finished``/``Failed``. ``Finished``
waits for the end of the stream (``[DONE]`` or :meth:`SonarStreamParser.close`), so fields
that arrive after the finishing chunk (related questions, images) are not lost. Usage, which
the wire repeats cumulatively on every chunk, is emitted for the first chunk that has it and
then once more, with the newest value, just before the terminal event.
"""

from __future__ import annotations

import json
from typing import Any

from sonar_tui.api.conversation import AskRequest, Turn, fold_turns
from sonar_tui.api.errors import ApiError, ErrorKind, error_from_payload, settings_refusal
from sonar_tui.api.events import (
    Event,
    Failed,
    Finished,
    FinishReason,
    Image,
    ImagesUpdate,
    ReasoningDelta,
    ReasoningStep,
    RelatedUpdate,
    Source,
    SourcesUpdate,
    Started,
    StepsUpdate,
    TextDelta,
    Usage,
    UsageUpdate,
)
from sonar_tui.api.settings import validate_request_settings
from sonar_tui.api.sse import SseEvent, SseEventParser, load_json as _loads
from sonar_tui.api.sse import scan_json as _scan_json
from sonar_tui.api.think import ThinkSplitter

_FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length",
                                             "tool_calls": "stop"}
_SNIPPET_CHARS = 200
# OpenRouter's annotation content is page extracts, often kilobytes: a snippet is the start.
ANNOTATION_SNIPPET_CHARS = 1000


# ----------------------------------------------------------------------------- request


def build_sonar_body(request: AskRequest, *, include_usage: bool = False) -> dict[str, Any]:
    """The chat-completions JSON body. Raises ApiError(INVALID_SETTINGS) before any request.

    ``include_usage`` asks a gateway for the usage chunk of a stream (OpenAI's
    ``stream_options``); Perplexity's own reference does not list it, so it is for gateways.
    """
    s = request.settings
    problems = validate_request_settings(s)
    if problems:
        raise settings_refusal(problems)
    if not request.question.strip() and not request.attachments:
        raise ApiError(ErrorKind.INVALID_SETTINGS, "The question is empty.", field="question")

    messages: list[dict[str, Any]] = []
    if s.system_prompt.strip():
        messages.append({"role": "system", "content": s.system_prompt})
    turns = fold_turns(request.history, request.question)
    if not turns or turns[-1].role != "user":
        turns.append(Turn("user", ""))  # images without words: they still need a user turn
    for turn in turns[:-1]:
        messages.append({"role": turn.role, "content": turn.content})
    last = turns[-1].content
    if request.attachments:
        parts: list[dict[str, Any]] = [{"type": "text", "text": last}] if last.strip() else []
        parts += [{"type": "image_url", "image_url": {"url": a.data_uri()}}
                  for a in request.attachments]
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": last})

    body: dict[str, Any] = {"model": s.model, "messages": messages, "stream": request.stream}
    if request.stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    if s.disable_search:
        body["disable_search"] = True
    else:
        _search_fields(s, body)
    if s.reasoning_effort:
        body["reasoning_effort"] = s.reasoning_effort
    if s.return_related_questions:
        body["return_related_questions"] = True
    if s.stream_mode != "full":
        body["stream_mode"] = s.stream_mode
    if s.response_format == "json_schema":
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"schema": json.loads(s.response_schema)}}
    elif s.response_format == "regex":
        body["response_format"] = {"type": "regex", "regex": {"regex": s.response_schema}}
    if s.max_tokens is not None:
        body["max_tokens"] = s.max_tokens
    if s.temperature is not None:
        body["temperature"] = s.temperature
    if s.top_p is not None:
        body["top_p"] = s.top_p
    return body


def _search_fields(s, body: dict[str, Any]) -> None:
    """Search controls; all of them are pointless (so not sent) when search is disabled."""
    if s.search_mode != "web":
        body["search_mode"] = s.search_mode
    if s.domain_filter:
        body["search_domain_filter"] = [d.strip() for d in s.domain_filter]
    if s.recency:
        body["search_recency_filter"] = s.recency
    for setting, wire in (("published_after", "search_after_date_filter"),
                          ("published_before", "search_before_date_filter"),
                          ("updated_after", "last_updated_after_filter"),
                          ("updated_before", "last_updated_before_filter")):
        value = getattr(s, setting)
        if value:
            body[wire] = value.strip()
    options: dict[str, Any] = {}
    if s.search_context_size:
        options["search_context_size"] = s.search_context_size
    if s.search_type:
        options["search_type"] = s.search_type
    location = user_location(s)
    if location:
        options["user_location"] = location
    if options:
        body["web_search_options"] = options
    if s.return_images:
        body["return_images"] = True
        # The service applies image filters only together with return_images.
        if s.image_domain_filter:
            body["image_domain_filter"] = [d.strip() for d in s.image_domain_filter]
        if s.image_format_filter:
            body["image_format_filter"] = list(s.image_format_filter)


def user_location(s) -> dict[str, str]:
    """``{country, region, city}`` with only the parts the user set (shared with the Agent API)."""
    location = {}
    if s.country:
        location["country"] = s.country.upper()
    if s.region:
        location["region"] = s.region
    if s.city:
        location["city"] = s.city
    return location


# ----------------------------------------------------------------------------- normalising


def as_list(value) -> list:
    """``value`` if it is a list, else empty: the wire may put anything anywhere."""
    return value if type(value) is list else []


def as_dict(value) -> dict:
    return value if type(value) is dict else {}


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def source_from_result(number: int, url: str, result: dict | None) -> Source:
    result = result or {}
    return Source(
        number=number,
        url=url,
        title=str(result.get("title") or ""),
        date=_opt_str(result.get("date")),
        last_updated=_opt_str(result.get("last_updated")),
        snippet=_opt_str(result.get("snippet")),
        origin=_opt_str(result.get("source")),
    )


def _url_key(url: str) -> str:
    return url.rstrip("/")


def annotation_results(annotations) -> list[dict]:
    """``url_citation`` annotations (OpenRouter's way of sending sources) as search results:
    ``{url, title, snippet}``, in wire order, other annotation types and junk skipped."""
    found = []
    for entry in as_list(annotations):
        if type(entry) is not dict or entry.get("type") != "url_citation":
            continue
        body = as_dict(entry.get("url_citation"))
        url = body.get("url")
        if not isinstance(url, str) or not url:
            continue
        title = body.get("title")
        content = body.get("content")
        found.append({"url": url, "title": title if isinstance(title, str) else "",
                      "snippet": content[:ANNOTATION_SNIPPET_CHARS]
                      if isinstance(content, str) and content else None})
    return found


def merge_annotations(known: dict[str, dict], annotations) -> bool:
    """Fold annotations into ``known`` (URL key -> result, first-seen order). Duplicates by
    URL merge: a later entry only fills what an earlier one left empty. True when it changed."""
    changed = False
    for result in annotation_results(annotations):
        key = _url_key(result["url"])
        entry = known.get(key)
        if entry is None:
            known[key] = result
            changed = True
            continue
        for name in ("title", "snippet"):
            if result[name] and not entry[name]:
                entry[name] = result[name]
                changed = True
    return changed


def build_sources(citations, search_results, annotations=()) -> tuple[Source, ...]:
    """Numbered sources: ``[n]`` markers index ``citations`` (1-based); ``search_results``
    (matched by URL) add titles and dates. Without citations, the results are numbered.
    ``annotations`` (already results, see :func:`annotation_results`) fill in what the others
    lack for the same URL, and those at URLs no one else named follow, numbered on: the two
    shapes together never list a source twice."""
    results = [r for r in search_results or () if isinstance(r, dict)
               and isinstance(r.get("url"), str) and r["url"]]
    noted: dict[str, dict] = {}
    for note in annotations:
        noted.setdefault(_url_key(note["url"]), note)

    def filled(result: dict | None, url: str) -> dict | None:
        note = noted.get(_url_key(url))
        if note is None:
            return result
        if result is None:
            return note
        gaps = {k: note[k] for k in ("title", "snippet") if note[k] and not result.get(k)}
        return {**result, **gaps} if gaps else result

    sources: list[Source] = []
    number = 0
    if citations:
        by_url: dict[str, dict] = {}
        for r in results:
            url = str(r["url"])
            by_url.setdefault(url, r)
            by_url.setdefault(url.rstrip("/"), r)
        for number, citation in enumerate(citations, 1):
            cited = citation.get("url") if isinstance(citation, dict) else citation
            if not isinstance(cited, str) or not cited:
                continue  # keep the numbering: later [n] markers still point at their entry
            match = by_url.get(cited) or by_url.get(cited.rstrip("/"))
            if match is None and isinstance(citation, dict):
                match = citation
            sources.append(source_from_result(number, cited, filled(match, cited)))
    else:
        for number, r in enumerate(results, 1):
            sources.append(source_from_result(number, str(r["url"]), filled(r, r["url"])))
    if noted:
        named = {_url_key(s.url) for s in sources}
        for key, note in noted.items():
            if key not in named:
                number += 1
                sources.append(source_from_result(number, note["url"], note))
    return tuple(sources)


def usage_from_sonar(raw: dict) -> Usage:
    cost_raw = raw.get("cost")
    cost: float | None = None
    details: dict[str, float] = {}
    if isinstance(cost_raw, dict):
        numbers = {k: float(v) for k, v in cost_raw.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        # Interim chunks carry a zero skeleton without request_cost: not a cost yet.
        if "request_cost" in cost_raw or any(numbers.values()):
            total = numbers.get("total_cost")
            cost = total if total is not None else sum(numbers.values())
            details = {k: v for k, v in numbers.items() if k != "total_cost"}
    else:
        cost = _number(cost_raw)  # gateways (OpenRouter) report a plain number ...
        # ... and break it down in cost_details (entries may be null).
        details = {k: float(v) for k, v in as_dict(raw.get("cost_details")).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        total_tokens=_int(raw.get("total_tokens")),
        reasoning_tokens=_opt_int(raw.get("reasoning_tokens")),
        citation_tokens=_opt_int(raw.get("citation_tokens")),
        search_queries=_opt_int(raw.get("num_search_queries")),
        search_context_size=_opt_str(raw.get("search_context_size")),
        cost=cost,
        cost_details=details,
    )


def step_from_sonar(raw: dict) -> ReasoningStep:
    web = as_dict(raw.get("web_search"))
    fetch = as_dict(raw.get("fetch_url_content"))
    python = as_dict(raw.get("execute_python"))
    kind = raw.get("type") or ("web_search" if web else "fetch_url_content" if fetch
                               else "execute_python" if python else "step")
    results = [r for r in as_list(web.get("search_results"))
               if isinstance(r, dict) and isinstance(r.get("url"), str)]
    contents = [c for c in as_list(fetch.get("contents"))
                if isinstance(c, dict) and isinstance(c.get("url"), str)]
    return ReasoningStep(
        kind=str(kind),
        thought=str(raw.get("thought") or ""),
        keywords=tuple(str(k) for k in as_list(web.get("search_keywords"))),
        results=tuple(source_from_result(n, str(r["url"]), r)
                      for n, r in enumerate(results + contents, 1)),
        urls=tuple(str(c["url"]) for c in contents),
        code=str(python.get("code") or ""),
        output=str(python.get("result") or ""),
    )


def image_from_sonar(raw) -> Image | None:
    if isinstance(raw, str):
        return Image(url=raw) if raw else None
    if not isinstance(raw, dict):
        return None
    url = raw.get("image_url") or raw.get("url")
    if not isinstance(url, str) or not url:
        return None
    return Image(url=url, origin_url=_opt_str(raw.get("origin_url")),
                 width=_opt_int(raw.get("width")), height=_opt_int(raw.get("height")),
                 title=_opt_str(raw.get("title")))


def _content_text(content) -> str:
    """``content`` as text: a string, or the text of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content
                       if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


# ----------------------------------------------------------------------------- parsing


class RepeatedMember:
    """A top-level JSON member the wire repeats verbatim on every chunk (``citations``).

    Once its raw text is known, a payload containing that text verbatim gets the value
    replaced by ``null`` before parsing, which saves most of the JSON work per token. This is
    exact, not a heuristic: an unescaped ``"`` cannot occur inside a JSON string, so the
    match is a real member, and a complete JSON value's text fixes its own end, so a verbatim
    match is the same value. ``null`` reads as "absent", which for a last-value-wins field
    means "unchanged".
    """

    __slots__ = ("name", "_key", "_raw", "_head")

    def __init__(self, name: str) -> None:
        self.name = name
        self._key = json.dumps(name)
        self._raw: str | None = None  # '"citations":[...]' exactly as last seen
        self._head = ""  # '"citations":' with the wire's own spacing

    @property
    def known(self) -> bool:
        return self._raw is not None

    def strip(self, data: str) -> str:
        raw = self._raw
        if raw is not None:
            # Find the short key, then compare in place: searching for the long raw text
            # itself costs more than the parsing it saves.
            head = self._head
            at = data.find(head)
            while at >= 0:
                if data.startswith(raw, at):
                    return f"{data[:at]}{head}null{data[at + len(raw):]}"
                at = data.find(head, at + 1)
        return data

    def learn(self, data: str, value: Any) -> None:
        """Remember how ``value`` (just parsed from ``data``) is spelled in ``data``."""
        self._raw = None
        at = data.find(self._key)
        while at >= 0:
            start = at + len(self._key)
            while start < len(data) and data[start] in " \t\r\n:":
                start += 1
            try:
                parsed, end = _scan_json(data, start)
            except (StopIteration, ValueError, RecursionError):
                parsed, end = None, start
            if parsed == value and parsed is not None:
                self._raw = data[at:end]
                self._head = data[at:start]
                return
            at = data.find(self._key, at + 1)


class SonarStreamParser(SseEventParser):
    """Chat-completions SSE bytes in, typed events out.

    ``feed`` as bytes arrive, ``close`` at EOF.
    """

    def __init__(self) -> None:
        super().__init__()
        self._think = ThinkSplitter()
        self._started = False
        self._finish: str | None = None
        self._model = ""
        self._payloads = 0
        self._junk: str | None = None  # the first data line that was not JSON, for the error
        self._fed = 0  # characters of raw content taken so far (deltas or message)
        self._have_deltas = False
        self._answer_started = False
        self._reasoning_started = False
        self.has_output = False  # text or reasoning has been emitted
        # Last raw values, compared before any normalising work: the wire repeats them.
        self._citations: Any = None
        self._results: Any = None
        self._sources: tuple[Source, ...] = ()
        self._annotations: dict[str, dict] = {}  # url_citation annotations, by URL
        self._reasoning_fed = 0  # characters of a gateway's separate reasoning field taken
        self._images: Any = None
        self._related: Any = None
        self._usage: Any = None  # the last usage emitted
        self._usage_pending: Any = None  # a newer one not emitted yet
        self._delta_steps: list = []
        self._final_steps: Any = None
        self._repeated = (RepeatedMember("citations"), RepeatedMember("search_results"))
        self._learned: list[RepeatedMember] = []  # those whose raw text is known

    @property
    def done(self) -> bool:
        """A terminal event has been emitted; further input is ignored."""
        return self._done

    @property
    def finish_seen(self) -> bool:
        """The service said the answer is complete (a finish reason or the ``.done`` chunk)."""
        return self._finish is not None

    def close(self) -> list[Event]:
        """End of stream: flush held text and emit the terminal event."""
        out: list[Event] = []
        if not self._done:
            for sse in self._sse.close():
                self._on_sse(sse, out)
                if self._done:
                    return out
            self._end(out)
        return out

    def fail(self, error: ApiError) -> list[Event]:
        """The transport broke: flush held text and end with ``Failed(error)``."""
        out: list[Event] = []
        if not self._done:
            self._flush(out)
            error.partial = error.partial or self.has_output
            out.append(Failed(error))
            self._done = True
        return out

    def handle(self, chunk: dict, out: list[Event]) -> None:
        """One decoded JSON chunk (a stream chunk or a whole non-streaming body)."""
        # This runs once per token: the common fields are read once, the rare ones only
        # when present.
        self._payloads += 1
        get = chunk.get
        if not self._started:
            self._started = True
            rid = get("id")
            model = get("model")
            out.append(Started(api="sonar", model=model if type(model) is str else "",
                               response_id=str(rid) if rid else None))
        if "error" in chunk and chunk["error"]:
            # OpenRouter reports a mid-stream failure next to an ordinary choice: what that
            # choice carries is kept, then the answer ends with the error.
            choices = get("choices")
            if choices and type(choices) is list and type(choices[0]) is dict:
                self._choice(choices[0], out)
            self._flush(out)
            out.append(Failed(error_from_payload(chunk["error"], partial=self.has_output)))
            self._done = True
            return
        model = get("model")
        if model and model != self._model and type(model) is str:
            self._model = model
        choices = get("choices")
        if choices and type(choices) is list and type(choices[0]) is dict:
            self._choice(choices[0], out)
        if get("object") == "chat.completion.done" or get("type") == "end_of_stream":
            self._finish = self._finish or "stop"

        citations = get("citations")
        results = get("search_results")
        if (citations is not None and citations != self._citations) or \
                (results is not None and results != self._results):
            self._update_sources(citations, results, out)
        usage = get("usage")
        if usage and type(usage) is dict:
            # Usage is cumulative and changes on every token. The first one is shown at once
            # (prompt tokens, context size); later ones are coalesced and the newest is emitted
            # before the terminal event, so the hot path does no work per chunk for it.
            if self._usage is None:
                self._usage = usage
                out.append(UsageUpdate(usage_from_sonar(usage)))
            else:
                self._usage_pending = usage
        if "images" in chunk:
            images = chunk["images"]
            if images != self._images and type(images) is list:
                self._images = images
                out.append(ImagesUpdate(tuple(i for i in map(image_from_sonar, images) if i)))
        if "related_questions" in chunk:
            related = chunk["related_questions"]
            if related != self._related and type(related) is list:
                self._related = related
                out.append(RelatedUpdate(tuple(str(q) for q in related if q)))
        if "reasoning_steps" in chunk and type(chunk["reasoning_steps"]) is list:
            self._set_final_steps(chunk["reasoning_steps"], out)

    def _choice(self, choice: dict, out: list[Event]) -> None:
        delta = choice.get("delta")
        if delta and type(delta) is dict:
            content = delta.get("content")
            if content:
                text = content if type(content) is str else _content_text(content)
                if text:
                    self._have_deltas = True
                    self._text(text, out)
            if "reasoning_steps" in delta:
                steps = delta["reasoning_steps"]
                if steps and type(steps) is list:
                    self._add_delta_steps(steps, out)
            if "reasoning" in delta:  # gateways (OpenRouter) send reasoning in its own field
                reasoning = delta["reasoning"]
                if reasoning and type(reasoning) is str:
                    self._reasoning_fed += len(reasoning)
                    self._piece(True, reasoning, out)
            if "annotations" in delta and merge_annotations(self._annotations,
                                                             delta["annotations"]):
                self._update_sources(None, None, out)
        message = choice.get("message")
        if message and type(message) is dict:
            if not self._have_deltas:
                # No deltas (non-streaming, or a gateway quirk): message.content is the whole
                # text so far; take only what is new. With deltas it is a cross-check and never
                # appended.
                reasoning = message.get("reasoning")
                if type(reasoning) is str and len(reasoning) > self._reasoning_fed:
                    self._piece(True, reasoning[self._reasoning_fed:], out)
                    self._reasoning_fed = len(reasoning)
                text = _content_text(message.get("content"))
                if len(text) > self._fed:
                    self._text(text[self._fed:], out)
            if "annotations" in message and merge_annotations(self._annotations,
                                                               message["annotations"]):
                self._update_sources(None, None, out)
            steps = message.get("reasoning_steps")
            if steps is not None and type(steps) is list:
                self._set_final_steps(steps, out)
        finish = choice.get("finish_reason")
        if finish:
            self._finish = str(finish)

    def _update_sources(self, citations, results, out: list[Event]) -> None:
        if citations is not None:
            self._citations = citations
        if results is not None:
            self._results = results
        sources = build_sources(self._citations if type(self._citations) is list else None,
                                self._results if type(self._results) is list else None,
                                self._annotations.values())
        if sources != self._sources:
            self._sources = sources
            out.append(SourcesUpdate(sources))

    # ------------------------------------------------------------------ internals

    def _on_sse(self, sse: SseEvent, out: list[Event]) -> None:
        data = sse.data
        if sse.event == "error":
            payload = _loads(data)
            if isinstance(payload, dict) and "error" in payload:
                payload = payload["error"]
            self._flush(out)
            out.append(Failed(error_from_payload(payload if payload is not None else data,
                                                 partial=self.has_output)))
            self._done = True
            return
        stripped = data
        for member in self._learned:
            stripped = member.strip(stripped)
        payload = _loads(stripped)
        if type(payload) is dict:
            self.handle(payload, out)
            for member in self._repeated:
                if payload.get(member.name) is not None:  # new, changed, or not learned yet
                    member.learn(data, payload[member.name])
                    self._learned = [m for m in self._repeated if m.known]
            return
        if data.strip() == "[DONE]":
            self._end(out)
            return
        if "\n" in data:
            # Several one-line JSON payloads without blank lines between them: the SSE rules
            # join them into one event, but each line is a chunk of its own.
            for line in data.split("\n"):
                if line.strip() == "[DONE]":
                    self._end(out)
                    return
                payload = _loads(line)
                if isinstance(payload, dict):
                    self.handle(payload, out)
                    if self._done:
                        return
            return
        if self._junk is None and data.strip():
            self._junk = data.strip()[:_SNIPPET_CHARS]

    def _text(self, text: str, out: list[Event]) -> None:
        self._fed += len(text)
        if self._answer_started and self._think.passes(text):
            out.append(TextDelta(text))  # the hot path: plain answer text, no tag in sight
            return
        for reasoning, piece in self._think.feed(text):
            self._piece(reasoning, piece, out)

    def _piece(self, reasoning: bool, piece: str, out: list[Event]) -> None:
        if reasoning:
            if not self._reasoning_started:
                piece = piece.lstrip()
                if not piece:
                    return
                self._reasoning_started = True
            self.has_output = True
            out.append(ReasoningDelta(piece))
            return
        if not self._answer_started:
            if self._think.seen_tag:
                piece = piece.lstrip()  # the blank lines between </think> and the answer
                if not piece:
                    return
            self._answer_started = True
        self.has_output = True
        out.append(TextDelta(piece))

    def _flush(self, out: list[Event]) -> None:
        """Before any terminal event: held text and the newest usage go out."""
        for reasoning, piece in self._think.close():
            self._piece(reasoning, piece, out)
        pending, self._usage_pending = self._usage_pending, None
        if pending is not None and pending != self._usage:
            self._usage = pending
            out.append(UsageUpdate(usage_from_sonar(pending)))

    def _add_delta_steps(self, steps: list, out: list[Event]) -> None:
        # Deltas may repeat earlier steps (cumulative) or carry only new ones: keep each once.
        added = False
        for step in steps:
            if isinstance(step, dict) and step not in self._delta_steps:
                self._delta_steps.append(step)
                added = True
        if added and self._final_steps is None:
            out.append(StepsUpdate(tuple(step_from_sonar(s) for s in self._delta_steps)))

    def _set_final_steps(self, steps: list, out: list[Event]) -> None:
        # message/top-level reasoning_steps are the whole list: they replace what deltas built.
        # An empty list (later chunks often carry one) does not erase the research shown.
        if not steps or steps == self._final_steps:
            return
        self._final_steps = steps
        out.append(StepsUpdate(tuple(step_from_sonar(s) for s in steps if isinstance(s, dict))))

    def _end(self, out: list[Event]) -> None:
        if self._done:
            return
        self._done = True
        self._flush(out)
        if not self._payloads:
            message = "The service's stream held no answer (no readable JSON chunk)."
            if self._junk:
                message += f" It began with: {self._junk}"
            out.append(Failed(ApiError(ErrorKind.PROTOCOL, message)))
            return
        reason: FinishReason
        detail: str | None
        if self._finish is None:
            reason, detail = "incomplete", "the stream ended before the answer was finished"
        else:
            reason = _FINISH_REASONS.get(self._finish, "stop")
            detail = None if self._finish in ("stop", "length") else self._finish
        out.append(Finished(reason, model=self._model or None, detail=detail))


def json_object_body(body: bytes | str | dict) -> dict | Failed:
    """A non-streaming body as a JSON object, or the failure to report when it is not one."""
    if isinstance(body, dict):
        return body
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    data = _loads(text)
    if isinstance(data, dict):
        return data
    snippet = text.strip()[:_SNIPPET_CHARS] or "an empty body"
    return Failed(ApiError(ErrorKind.PROTOCOL,
                           f"The service answered with something that is not a JSON "
                           f"object: {snippet}"))


def parse_sonar_response(body: bytes | str | dict) -> list[Event]:
    """A non-streaming chat-completions body as the same events a stream would give."""
    parsed = json_object_body(body)
    if isinstance(parsed, Failed):
        return [parsed]
    if parsed.get("error") and not parsed.get("choices"):
        return [Failed(error_from_payload(parsed["error"]))]
    if not isinstance(parsed.get("choices"), list):
        return [Failed(ApiError(ErrorKind.PROTOCOL,
                                "The service's answer has no choices (no answer text)."))]
    parser = SonarStreamParser()
    out: list[Event] = []
    parser.handle(parsed, out)
    out.extend(parser.close())
    return out


__all__ = [
    "RepeatedMember",
    "SonarStreamParser",
    "ANNOTATION_SNIPPET_CHARS",
    "annotation_results",
    "as_dict",
    "as_list",
    "build_sonar_body",
    "build_sources",
    "merge_annotations",
    "parse_sonar_response",
    "step_from_sonar",
    "usage_from_sonar",
    "user_location",
]
