"""The mock Perplexity service for benches, logging when each streamed body finished sending.

The same ``MockService`` that ``python -m sonar_tui mock-server`` serves, on the same
``HttpServer``; the only addition is a wrapper around each streamed body that appends one
JSON line to ``--log`` once the server has written and drained its last item:

    {"path": ..., "received": t, "first": t, "end": t, "items": n}   (time.monotonic())

That is the precise "wire end" the paced benchmark compares the screen with. Prints the
base URL on its first line of stdout, like ``mock-server``.

    python bench/_mock_server.py --port 0 --chunks 4000 [--pace 100] --log FILE
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path

from sonar_tui.mock.http import HttpServer, Request, Response
from sonar_tui.mock.service import MockService


def timed_body(body, path: str, received: float, log: Path):
    """Yield the body's items; log when the server asks for the item after the last one.

    The server writes and drains each bytes item before asking for the next, so the end
    of this generator is the moment the last bytes left for the socket.
    """
    async def run():
        first = None
        items = 0
        if hasattr(body, "__aiter__"):
            async for item in body:
                if first is None and isinstance(item, (bytes, bytearray)):
                    first = time.monotonic()
                items += 1
                yield item
        else:
            for item in body:
                if first is None and isinstance(item, (bytes, bytearray)):
                    first = time.monotonic()
                items += 1
                yield item
        end = time.monotonic()
        with log.open("a") as out:
            out.write(json.dumps({"path": path, "received": received, "first": first or end,
                                  "end": end, "items": items}) + "\n")
    return run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--pace", type=float, default=None, help="chunks per second")
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    service = MockService("default", chunks=args.chunks, pace=args.pace)

    async def handler(request: Request):
        received = time.monotonic()
        response = await service(request)
        if isinstance(response, Response) and response.streaming:
            response.body = timed_body(response.body, request.path, received, args.log)
        return response

    async def serve() -> None:
        async with HttpServer(handler, "127.0.0.1", args.port) as server:
            print(f"Bench mock listening on {server.url}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        asyncio.run(serve())


if __name__ == "__main__":
    main()
