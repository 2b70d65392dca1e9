"""The HTTP client: one question in, a stream of typed events out.

``PerplexityClient.stream`` picks the API (Sonar chat completions or the Agent API), retries
what is safe to retry, applies the idle timeout, and turns every failure into a ``Failed``
event. Its contract, which the service and the CLI rely on:

- It never raises for API, network or protocol problems: the stream always ends with exactly
  one terminal event (``Finished`` or ``Failed``). Only ``CancelledError`` propagates, and
  cancelling the consuming task (or closing the generator) closes the HTTP connection at once.
- Event order: any ``Retrying`` / ``ApiSwitched`` events come before ``Started``; after
  ``Started`` come the answer events; the terminal event is last.
- Retries happen only before the first byte of an answer (a retried answer would repeat text
  and cost twice); never for 400/401/402/403/404/422.
- The API key goes into the Authorization header and nowhere else: not into messages, events
  or exceptions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from sonar_tui import __version__
from sonar_tui.api.agent import AgentStreamParser, build_agent_body, parse_agent_response
from sonar_tui.api.background import JobSnapshot, read_snapshot
from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.errors import (
    RETRYABLE_STATUSES,
    ApiError,
    ErrorKind,
    error_from_response,
    is_perplexity_url,
    web_page_error,
)
from sonar_tui.api.events import (
    Answer,
    ApiName,
    ApiSwitched,
    Event,
    Failed,
    Retrying,
    Started,
    build_answer,
)
from sonar_tui.api.settings import ConnectionSettings
from sonar_tui.api.sonar import SonarStreamParser, build_sonar_body, parse_sonar_response
from sonar_tui.key_redaction import REDACTED, KeyRedactor

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is shown to the user instead of waited out
ERROR_BODY_LIMIT = 64 * 1024
WEB_PAGE_LIMIT = 256 * 1024  # enough of an HTML page to find its title

# Failures before any response byte that are safe to try again: the request never reached
# the service, or the connection died before it answered (e.g. a stale keep-alive socket).
_RETRYABLE_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                        httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

log = logging.getLogger(__name__)

SWITCH_MESSAGE = ("Perplexity has retired Sonar chat completions for this API key, so the "
                  "question is asked again through the Agent API.")

Sleep = Callable[[float], Awaitable[object]]


class PerplexityClient:
    def __init__(self, connection: ConnectionSettings, api_key: str | None, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.connection = connection
        self._api_key = (api_key or "").strip() or None
        self._redactor = KeyRedactor(self._api_key)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": f"sonar-tui/{__version__}"},
        )

    async def __aenter__(self) -> PerplexityClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def answer(self, request: AskRequest) -> Answer:
        """The whole answer at once (for callers that do not render progress)."""
        return build_answer([event async for event in self.stream(request)])

    async def stream(self, request: AskRequest) -> AsyncIterator[Event]:
        refusal = self._key_refusal()
        if refusal is not None:
            yield Failed(refusal)
            return
        api: ApiName = "agent" if self.connection.uses_agent() else "sonar"
        retired: ApiError | None = None  # the retirement 403 that made auto mode switch
        while True:
            switch = False
            answered = False
            # Internal steps pass lists of events, so each event crosses one async generator
            # boundary instead of three (a small cost, but one paid per token).
            async for batch in self._ask_continuing(request, api):
                for event in batch:
                    if (isinstance(event, Failed) and event.error.kind is ErrorKind.RETIRED
                            and api == "sonar" and self.connection.api_mode == "auto"):
                        switch = True  # the retirement 403 is always the last event of a try
                        retired = event.error
                        continue
                    if retired is not None:
                        if isinstance(event, Started):
                            # Only an Agent API that really answered is worth remembering.
                            answered = True
                            self._remember_agent_endpoint()
                        elif isinstance(event, Failed) and not answered:
                            event = Failed(_after_switch(retired, event.error))
                    yield event
            if not switch:
                return
            yield ApiSwitched("sonar", "agent", SWITCH_MESSAGE)
            api = "agent"

    # ------------------------------------------------------------------ one API, with retries

    async def _ask_continuing(self, request: AskRequest,
                              api: ApiName) -> AsyncIterator[list[Event]]:
        """``_ask``; and when the service refuses the ``previous_response_id`` (unknown,
        expired, another account's, a gateway without it: a 4xx before any answer), the same
        question once more with the history replayed, as if there had been no id."""
        if api != "agent" or not request.previous_response_id:
            async for batch in self._ask(request, api):
                yield batch
            return
        async for batch in self._ask(request, api):
            if len(batch) == 1 and isinstance(batch[0], Failed) \
                    and _refuses_continuation(batch[0].error):
                log.info("previous_response_id refused (%s); replaying the history",
                         batch[0].error.message)
                break
            yield batch
        else:
            return
        async for batch in self._ask(replace(request, previous_response_id=None), api):
            yield batch

    async def _ask(self, request: AskRequest, api: ApiName) -> AsyncIterator[list[Event]]:
        conn = self.connection
        gateway = not is_perplexity_url(conn.base_url)
        try:
            if api == "agent":
                body = build_agent_body(self._agent_request(request, gateway))
            else:
                body = build_sonar_body(request, include_usage=gateway and conn.stream_usage)
        except ApiError as refused:
            yield [Failed(refused)]
            return
        path = conn.agent_path if api == "agent" else conn.path
        url = conn.base_url.rstrip("/") + path
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if request.stream else "application/json",
        }
        if conn.conversation_header and request.conversation_id \
                and _sendable(request.conversation_id):
            headers["X-Conversation-Id"] = request.conversation_id
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        idle = (conn.research_idle_timeout if request.settings.is_deep_research
                else conn.idle_timeout)
        timeout = httpx.Timeout(connect=conn.connect_timeout, read=idle, write=idle,
                                pool=conn.connect_timeout)
        attempts = max(1, int(conn.max_attempts))

        attempt = 0
        while True:
            attempt += 1
            answering = False
            try:
                async with self._http.stream("POST", url, content=content, headers=headers,
                                             timeout=timeout) as response:
                    if 200 <= response.status_code < 300:
                        answering = True
                        async for batch in self._read(response, request, api, idle):
                            yield batch
                        return
                    error = await self._status_error(response)
                    if not _retryable_status(response):
                        yield [Failed(error)]
                        return
            except _RETRYABLE_TRANSPORT as exc:
                if answering:  # _read handles its own errors; this is a safety net
                    yield [Failed(self._transport_error(exc, idle, partial=True))]
                    return
                error = self._transport_error(exc, idle)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                yield [Failed(self._transport_error(exc, idle, partial=answering))]
                return

            delay = self._retry_delay(error, attempt)
            if attempt >= attempts or delay is None:
                yield [Failed(error)]
                return
            yield [Retrying(attempt=attempt, delay=delay, reason=_reason(error),
                            status=error.status)]
            await self._sleep(delay)

    async def _read(self, response: httpx.Response, request: AskRequest, api: ApiName,
                    idle: float) -> AsyncIterator[list[Event]]:
        """The body of a 2xx response as event batches; every failure becomes the terminal event."""
        content_type = response.headers.get("content-type", "").lower()
        # What arrived decides, not what was asked: servers ignore stream:true (one JSON
        # body), proxies answer with HTML, gateways mislabel SSE.
        streamed = "event-stream" in content_type or (
            request.stream and "json" not in content_type and "html" not in content_type)
        if "html" in content_type:
            # A captive portal or a proxy's login page, with 200: name it, never show it.
            try:
                page = await _read_limited(response, WEB_PAGE_LIMIT)
            except httpx.HTTPError as exc:
                yield [Failed(self._transport_error(exc, idle))]
                return
            error = web_page_error(page)
            error.message = self._scrub(error.message)
            yield [Failed(error)]
            return
        if not streamed:
            try:
                raw = await response.aread()
            except httpx.HTTPError as exc:
                yield [Failed(self._transport_error(exc, idle))]
                return
            try:
                events = _parse_whole(raw, api)
            except Exception as exc:  # a parser bug must still end the stream properly
                events = [Failed(_not_understood(exc))]
            yield events
            return

        parser = AgentStreamParser() if api == "agent" else SonarStreamParser()
        received = False
        try:
            async for chunk in response.aiter_bytes():
                received = True
                events = parser.feed(chunk)
                if events:
                    yield events
                if parser.done:
                    return
        except httpx.ReadTimeout:
            events = parser.close() if parser.finish_seen else parser.fail(ApiError(
                ErrorKind.TIMEOUT,
                f"The service sent nothing for {idle:g} s, so the answer was abandoned.",
                partial=received))
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            events = parser.close() if parser.finish_seen else parser.fail(ApiError(
                ErrorKind.NETWORK,
                "The connection dropped in the middle of the answer "
                f"({self._scrub(str(exc)) or type(exc).__name__}).", partial=received))
        except httpx.HTTPError as exc:
            events = parser.fail(ApiError(ErrorKind.PROTOCOL, "The answer stream could not be "
                                          f"read: {self._scrub(str(exc)) or type(exc).__name__}",
                                          partial=received))
        except Exception as exc:  # a parser bug must still end the stream properly
            events = [Failed(_not_understood(exc, partial=received))]
        else:
            try:
                events = parser.close()
            except Exception as exc:
                events = [Failed(_not_understood(exc, partial=received))]
        yield events

    # ------------------------------------------------------------------ background jobs

    async def submit_background(self, request: AskRequest
                                ) -> AsyncIterator[Retrying | Failed | JobSnapshot]:
        """Start ``request`` as an Agent API background job (``background: true``).

        Yields ``Retrying`` while the service is busy, then the job as first seen (a
        ``JobSnapshot``, usually ``queued``) or one ``Failed``. Retried only when the service
        cannot have created the job (the connection was refused, or it answered 429/5xx): a
        request that may have reached it is never sent twice, since that could start (and
        bill) the research twice.
        """
        refusal = self._key_refusal()
        if refusal is not None:
            yield Failed(refusal)
            return
        gateway = not is_perplexity_url(self.connection.base_url)
        try:
            body = build_agent_body(self._agent_request(replace(request, stream=False),
                                                        gateway))
        except ApiError as error:
            yield Failed(error)
            return
        body["background"] = True
        url = self.connection.base_url.rstrip("/") + self.connection.agent_path
        attempts = max(1, int(self.connection.max_attempts))
        for attempt in range(1, attempts + 1):
            reply = await self._exchange("POST", url, body,
                                         conversation_id=request.conversation_id)
            if not isinstance(reply, _Refused):
                snapshot = read_snapshot(reply)
                yield snapshot if isinstance(snapshot, JobSnapshot) else Failed(snapshot)
                return
            delay = self._retry_delay(reply.error, attempt) if reply.retry else None
            if attempt >= attempts or delay is None:
                yield Failed(reply.error)
                return
            yield Retrying(attempt=attempt, delay=delay, reason=_reason(reply.error),
                           status=reply.error.status)
            await self._sleep(delay)

    async def retrieve_response(self, path: str, response_id: str) -> JobSnapshot | ApiError:
        """One read of a response (``GET {base_url}{path}/{id}``); the caller decides when to
        read again. A 404 (kind NOT_FOUND) means the service no longer knows it."""
        refusal = self._key_refusal()
        if refusal is not None:
            return refusal
        reply = await self._exchange("GET", self._response_url(path, response_id))
        if isinstance(reply, _Refused):
            return reply.error
        return read_snapshot(reply)

    async def cancel_response(self, path: str, response_id: str) -> str | ApiError:
        """Ask the service to stop a background job (``POST {base_url}{path}/{id}/cancel``).
        Returns the status it answers (``cancelling``); a 400 means the job has already
        ended, a 404 that the job, or the endpoint, is unknown."""
        refusal = self._key_refusal()
        if refusal is not None:
            return refusal
        reply = await self._exchange("POST", self._response_url(path, response_id) + "/cancel")
        if isinstance(reply, _Refused):
            return reply.error
        status = reply.get("status")
        return status if isinstance(status, str) and status else "cancelling"

    def _response_url(self, path: str, response_id: str) -> str:
        # The id came from the network (then the database): one path segment, whatever it is.
        return f"{self.connection.base_url.rstrip('/')}{path}/{quote(response_id, safe='')}"

    def refusal(self) -> ApiError | None:
        """Why no request can leave at all (no usable key), known before any is sent."""
        return self._key_refusal()

    def _key_refusal(self) -> ApiError | None:
        if not self._api_key:
            return ApiError(ErrorKind.AUTH, "No API key is set.")
        if not _sendable(self._api_key):
            return ApiError(ErrorKind.AUTH, "The API key contains spaces, line breaks or other "
                            "characters an HTTP header cannot carry; set it again.")
        return None

    async def _exchange(self, method: str, url: str, body: dict | None = None, *,
                        conversation_id: str | None = None) -> dict[str, Any] | _Refused:
        """One JSON request and its JSON object reply, or why there is none."""
        conn = self.connection
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if conn.conversation_header and conversation_id and _sendable(conversation_id):
            headers["X-Conversation-Id"] = conversation_id
        idle = conn.idle_timeout
        timeout = httpx.Timeout(connect=conn.connect_timeout, read=idle, write=idle,
                                pool=conn.connect_timeout)
        try:
            async with self._http.stream(method, url, content=content, headers=headers,
                                         timeout=timeout) as response:
                if not 200 <= response.status_code < 300:
                    return _Refused(await self._status_error(response),
                                    retry=_retryable_status(response))
                raw = await response.aread()
                kind = response.headers.get("content-type", "").lower()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return _Refused(self._transport_error(exc, idle), retry=True)  # never sent
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return _Refused(self._transport_error(exc, idle), retry=False)
        if "html" in kind or raw.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            error = web_page_error(raw)
            error.message = self._scrub(error.message)
            return _Refused(error, retry=False)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            return _Refused(ApiError(ErrorKind.PROTOCOL, "The service's answer is not a JSON "
                                     "object."), retry=False)
        return data

    # ------------------------------------------------------------------ helpers

    async def _status_error(self, response: httpx.Response) -> ApiError:
        try:
            raw = await _read_limited(response, ERROR_BODY_LIMIT)
        except httpx.HTTPError:
            raw = b""  # the status alone still classifies the error
        error = error_from_response(response.status_code, raw, response.headers)
        error.message = self._scrub(error.message)
        if not is_perplexity_url(self.connection.base_url):
            error.host = _display_host(self.connection.base_url)
        return error

    def _agent_request(self, request: AskRequest, gateway: bool) -> AskRequest:
        """Behind a gateway, auto mode sends the model name the user gave (the gateway's own
        alias); the Sonar-name-to-preset translation is Perplexity's vocabulary only."""
        s = request.settings
        if not gateway or self.connection.api_mode != "auto" or s.agent_model:
            return request
        return replace(request, settings=replace(s, agent_model=s.model))

    def _retry_delay(self, error: ApiError, attempt: int) -> float | None:
        """Seconds to wait before the next try; None when the wait is too long to sit out."""
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= MAX_RETRY_AFTER else None
        backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return backoff * (1 - 0.25 * random.random())

    def _transport_error(self, exc: Exception, idle: float, partial: bool = False) -> ApiError:
        where = _display_origin(self.connection.base_url)
        detail = self._scrub(str(exc)) or type(exc).__name__
        if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
            return ApiError(ErrorKind.INVALID_SETTINGS, f"Invalid setting base_url: {detail}",
                            field="base_url")
        if isinstance(exc, httpx.ConnectTimeout):
            return ApiError(ErrorKind.TIMEOUT, f"Could not connect to {where} within "
                            f"{self.connection.connect_timeout:g} s.", partial=partial)
        if isinstance(exc, httpx.ReadTimeout):
            return ApiError(ErrorKind.TIMEOUT, f"{where} sent nothing for {idle:g} s.",
                            partial=partial)
        if isinstance(exc, httpx.TimeoutException):
            return ApiError(ErrorKind.TIMEOUT, f"Timed out talking to {where}: {detail}",
                            partial=partial)
        if isinstance(exc, httpx.ConnectError):
            return ApiError(ErrorKind.NETWORK, f"Could not connect to {where}: {detail}",
                            partial=partial)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            return ApiError(ErrorKind.NETWORK, f"The connection to {where} closed before the "
                            f"answer arrived: {detail}", partial=partial)
        return ApiError(ErrorKind.NETWORK, f"Request to {where} failed: {detail}", partial=partial)

    def _scrub(self, text: str) -> str:
        """Defence in depth: no message may ever carry the key, nor 8+ characters of it (a
        server may echo it without its ``pplx-`` prefix)."""
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, REDACTED)
        return self._redactor.redact(text)

    def _remember_agent_endpoint(self) -> None:
        base = self.connection.base_url
        if base.rstrip("/") not in {u.rstrip("/") for u in self.connection.agent_endpoints}:
            self.connection.agent_endpoints.append(base)


class _Refused:
    """No usable JSON reply: the error, and whether the request certainly did not create
    anything (so sending it again is safe)."""

    __slots__ = ("error", "retry")

    def __init__(self, error: ApiError, *, retry: bool) -> None:
        self.error = error
        self.retry = retry


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    """At most about ``limit`` bytes of the body: an error page can be endless."""
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)


def _after_switch(retired: ApiError, error: ApiError) -> ApiError:
    """The Agent retry failed too: report both, the Agent API's error leading."""
    first = retired.message or "chat completions are not available"
    return replace(error, message=f"{error.message} (asked through the Agent API after chat "
                                  f"completions answered HTTP {retired.status or 403}: {first})")


def _parse_whole(raw: bytes, api: ApiName) -> list[Event]:
    if raw.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return [Failed(web_page_error(raw))]  # a web page, whatever its Content-Type said
    events = parse_agent_response(raw) if api == "agent" else parse_sonar_response(raw)
    if isinstance(events[-1], Failed) and events[-1].error.kind is ErrorKind.PROTOCOL \
            and len(events) == 1 and b"data:" in raw:
        # Not JSON, but it reads like SSE: a stream sent to a non-streaming request.
        parser = AgentStreamParser() if api == "agent" else SonarStreamParser()
        events = parser.feed(raw) + parser.close()
    return events


def _refuses_continuation(error: ApiError) -> bool:
    # The recorded refusal is a bare 400 "invalid request"; a 404 or 422 says the same. Auth,
    # rate limits and server errors are not about the id and are reported as they are.
    return not error.partial and error.status in (400, 404, 422)


def _not_understood(exc: Exception, partial: bool = False) -> ApiError:
    return ApiError(ErrorKind.PROTOCOL, "sonar-tui could not understand the service's answer "
                    f"({type(exc).__name__}: {exc}); please report this.", partial=partial)


def _retryable_status(response: httpx.Response) -> bool:
    if response.headers.get("x-should-retry", "").lower() == "false":
        return False
    status = response.status_code
    return status in RETRYABLE_STATUSES or status >= 500


def _reason(error: ApiError) -> str:
    head = f"{error.title} (HTTP {error.status})" if error.status else error.title
    message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    return f"{head}: {message}" if message else head


def _sendable(value: str) -> bool:
    """Only visible ASCII can go into a header (a stray newline would break the request)."""
    return bool(value) and all(33 <= ord(c) <= 126 for c in value)


def _display_host(base_url: str) -> str:
    """host[:port] without any user:password part, naming a gateway in messages."""
    try:
        parts = urlsplit(base_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.hostname}{port}" if parts.hostname else base_url
    except ValueError:
        return "the gateway"


def _display_origin(base_url: str) -> str:
    """scheme://host[:port] without any user:password part, for messages."""
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or base_url
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}" if parts.scheme else host
    except ValueError:
        return "the service"


__all__ = ["PerplexityClient", "SWITCH_MESSAGE"]
