"""A small real HTTP/1.1 server on loopback, for the mock service and for replaying fixtures.

Written on asyncio streams rather than ``http.server`` because the fault profiles need
control the standard library does not give: drop the connection in the middle of a chunked
body, stall without closing, pace chunks. Handlers are async functions from
:class:`Request` to :class:`Response`; a streaming body is an (async) iterable of ``bytes``
and control items (:class:`Pause`, :class:`Gate`, :data:`DROP`, :data:`HANG`). A handler
may also return
``DROP`` or ``HANG`` itself, to fail before the status line is sent.

Every request is recorded in ``HttpServer.requests`` so tests can check what the client
really sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class Pause:
    """Wait this long before the next body item (pacing, or a stall shorter than forever)."""

    seconds: float


class Gate:
    """Send nothing more until a test opens the gate (or the client gives up).

    A test's control instead of the clock: the stream is certainly still going while the
    test looks at it, however loaded the machine, and it ends the moment the test says so.
    ``open`` may be called from any thread (tests run on another loop than the server's).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.reached = threading.Event()  # the stream got here and is waiting

    @property
    def waiting(self) -> bool:
        return self.reached.is_set() and not self._opened

    def open(self) -> None:
        with self._lock:
            self._opened = True
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            # A closed server loop (RuntimeError) has nothing waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    async def wait(self) -> None:
        event = asyncio.Event()
        with self._lock:
            if self._opened:
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        self.reached.set()
        await event.wait()


class _Control:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


Control = _Control  # the public name, for type hints
DROP = _Control("DROP")  # abort the TCP connection now (a mid-stream disconnect)
HANG = _Control("HANG")  # send nothing more; wait until the client gives up

BodyItem = bytes | Pause | Gate | _Control


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[BodyItem] | AsyncIterable[BodyItem] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), dict(headers or {}))

    @property
    def streaming(self) -> bool:
        return not isinstance(self.body, (bytes, bytearray))


# A handler may also answer DROP (reset the connection before sending a byte: the
# "empty reply" of an idle proxy) or HANG (send nothing at all until the client gives up).
Handler = Callable[[Request], Awaitable[Response | Control]]


async def _iterate(body: Iterable[BodyItem] | AsyncIterable[BodyItem]):
    if isinstance(body, AsyncIterable):
        async for item in body:
            yield item
    else:
        for item in body:
            yield item


class _BadRequest(Exception):
    pass


class HttpServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.requests: list[Request] = []
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> HttpServer:
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, limit=MAX_HEADER_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> HttpServer:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ------------------------------------------------------------------ connection loop

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                try:
                    request = await self._read_request(reader)
                except _BadRequest as exc:
                    await self._write_simple(writer, 400, str(exc).encode(), close=True)
                    return
                if request is None:
                    return
                self.requests.append(request)
                try:
                    response = await self.handler(request)
                except Exception as exc:  # a bug in a handler must not hang the client
                    body = json.dumps({"error": {"message": f"mock handler failed: {exc!r}",
                                                 "type": "mock_error", "code": 500}}).encode()
                    response = Response(500, body)
                if isinstance(response, _Control):
                    if response is DROP:
                        writer.transport.abort()
                    else:  # HANG
                        await self._wait_for_eof(reader)
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close"
                if not await self._write_response(reader, writer, response, keep_alive):
                    return
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest("request head too large") from exc
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _BadRequest("malformed request line") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(reader)
        else:
            length = int(headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                raise _BadRequest("request body too large")
            body = await reader.readexactly(length) if length else b""
        parts = urlsplit(target)
        return Request(method.upper(), parts.path, dict(parse_qsl(parts.query)), headers, body)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    # ------------------------------------------------------------------ responses

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _write_simple(self, writer, status: int, body: bytes, close: bool = False) -> None:
        headers = {"content-type": "text/plain", "content-length": str(len(body))}
        if close:
            headers["connection"] = "close"
        writer.write(self._head(status, headers) + body)
        await writer.drain()

    @staticmethod
    async def _wait_for_eof(reader: asyncio.StreamReader) -> None:
        """Wait for the client to give up (EOF) rather than closing ourselves."""
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass

    async def _through(self, gate: Gate, reader: asyncio.StreamReader) -> bool:
        """Wait at ``gate`` until it opens (True) or the client hangs up (False)."""
        opened = asyncio.ensure_future(gate.wait())
        gone = asyncio.ensure_future(self._wait_for_eof(reader))
        try:
            await asyncio.wait((opened, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (opened, gone):
                task.cancel()
            # The reader may be read again (the next request) only once its read has ended.
            await asyncio.gather(opened, gone, return_exceptions=True)
        through = opened.done() and not opened.cancelled()
        gate.open()  # passed, or nobody left to receive the rest: nothing waits there now
        return through

    async def _write_response(self, reader, writer: asyncio.StreamWriter, response: Response,
                              keep_alive: bool) -> bool:
        """Write the response; False when the connection must not be reused."""
        headers = {"content-type": response.content_type}
        headers.update({k.lower(): v for k, v in response.headers.items()})
        if not keep_alive:
            headers["connection"] = "close"
        if not response.streaming:
            body = bytes(response.body)  # type: ignore[arg-type]
            headers["content-length"] = str(len(body))
            writer.write(self._head(response.status, headers) + body)
            await writer.drain()
            return True

        headers["transfer-encoding"] = "chunked"
        headers.setdefault("cache-control", "no-cache")
        writer.write(self._head(response.status, headers))
        await writer.drain()
        async for item in _iterate(response.body):  # type: ignore[arg-type]
            if isinstance(item, (bytes, bytearray)):
                if item:
                    writer.write(b"%x\r\n%s\r\n" % (len(item), item))
                    await writer.drain()
            elif isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
            elif isinstance(item, Gate) and not await self._through(item, reader):
                return False
            elif item is DROP:
                writer.transport.abort()
                return False
            elif item is HANG:
                await self._wait_for_eof(reader)
                return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


class ServerThread:
    """An :class:`HttpServer` on its own event loop in a daemon thread.

    For callers that are not async (CLI tests, snapshot tests that run their own loop, the
    in-process demo): ``with ServerThread(handler) as server: server.url``.
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = HttpServer(handler, host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mock-http",
                                        daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def start(self) -> Self:
        if not self._thread.is_alive():  # starting twice is harmless
            self._thread.start()
            asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def call(self, coro) -> Any:
        """Run a coroutine on the server's loop (e.g. to change a profile) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["Control", "DROP", "Gate", "HANG", "Handler", "HttpServer", "Pause", "Request",
           "Response",
           "ServerThread"]
