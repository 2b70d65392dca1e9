"""How much the streaming parser costs on top of reading the stream at all.

Builds a long realistic Sonar stream (2026 shape: citations and cumulative usage on every
chunk, a Markdown answer with [n] markers) and an Agent API stream, serves them over loopback
from a separate process (so only the client side is timed), and measures in the same run:

- floor:  bare ``httpx`` ``aiter_lines()`` over the stream (reading, no parsing);
- client: ``PerplexityClient.stream`` consuming every event (SSE, JSON, events).

Prints medians of ``--runs`` runs, chunks/s and the overhead of the client over the floor,
both in wall time and in CPU time of the client process (the server runs in another
process, so CPU time is what the parser adds, and it shrugs off other load on the machine).
Target (the issue): the parser adds at most 50 % over the floor.

Last measured 2026-11-23 (shared 2-core machine, Python 3.11, httpx 0.28, orjson; three runs
of 9): Sonar +42..45 % (4,000 chunks of ~1.1 KB: 66-71 ms vs a 46-49 ms floor, ~58,000
chunks/s), Agent +31..35 % (46-51 ms vs 35-37 ms, ~85,000 chunks/s). With the standard
library's JSON decoder instead of orjson, Sonar measured +51..57 % in the same session;
before the hot-path work, +116 %.

    python bench/parser.py [--chunks 4000] [--runs 15] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time

import httpx

from sonar_tui.api.client import PerplexityClient
from sonar_tui.api.conversation import AskRequest
from sonar_tui.api.events import TERMINAL_EVENTS, Finished
from sonar_tui.api.settings import ConnectionSettings

WORDS = ("The **Agent API** replaces Sonar chat completions; clients should *migrate* before "
         "the cut-off, keeping `search_domain_filter` and recency filters as tool filters.\n\n"
         "- Presets bundle search.\n- Costs are reported per call.\n").split(" ")
CITATIONS = [f"https://source{i}.example.org/articles/{i * 37}/perplexity-agent-api-migration"
             for i in range(1, 11)]


def tokens(count: int) -> list[str]:
    out = []
    for n in range(count):
        word = WORDS[n % len(WORDS)]
        if n % 23 == 22:
            word += f"[{n % 10 + 1}]"
        out.append(word if n == 0 else " " + word)
    return out


def sonar_stream(count: int) -> list[bytes]:
    head = {"id": "bench-sonar", "model": "sonar-pro", "created": 1790000000}
    events = []
    for n, token in enumerate(tokens(count), 1):
        chunk = {**head,
                 "usage": {"completion_tokens": n, "cost": {"input_tokens_cost": 0,
                                                            "output_tokens_cost": 0,
                                                            "total_cost": 0},
                           "prompt_tokens": 12, "search_context_size": "low",
                           "total_tokens": 12 + n},
                 "citations": CITATIONS, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": token}}]}
        events.append(chunk)
    final = {**head, "usage": {"completion_tokens": count, "cost": {
        "input_tokens_cost": 0.00004, "output_tokens_cost": 0.06, "request_cost": 0.006,
        "total_cost": 0.06604}, "prompt_tokens": 12, "search_context_size": "low",
        "total_tokens": 12 + count}, "citations": CITATIONS, "object": "chat.completion.done",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                     "finish_reason": "stop"}]}
    events.append(final)
    wire = [b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events]
    return wire + [b"data: [DONE]\n\n"]


def agent_stream(count: int) -> list[bytes]:
    results = [{"id": i, "url": url, "title": f"Source {i}", "snippet": "…", "source": "web",
                "last_updated": "2026-09-01"} for i, url in enumerate(CITATIONS, 1)]
    text = tokens(count)
    response = {"id": "resp_bench", "object": "response", "model": "fast", "status": "in_progress",
                "output": [], "usage": None}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": response},
        {"type": "response.in_progress", "sequence_number": 1, "response": response},
        {"type": "response.reasoning.search_queries", "call_id": "c1", "queries": ["agent api"],
         "thought": "Searching the web...", "sequence_number": 2},
        {"type": "response.reasoning.search_results", "call_id": "c1", "results": results,
         "thought": "Found 10 results", "sequence_number": 3},
        {"type": "response.output_item.done", "output_index": 0, "sequence_number": 4,
         "item": {"type": "search_results", "queries": ["agent api"], "results": results}},
    ]
    for n, token in enumerate(text):
        events.append({"content_index": 0, "delta": token, "item_id": "msg_1", "output_index": 1,
                       "sequence_number": 5 + n, "type": "response.output_text.delta"})
    full = "".join(text)
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": full, "annotations": []}]}
    events += [
        {"type": "response.output_text.done", "text": full, "item_id": "msg_1", "content_index": 0},
        {"type": "response.output_item.done", "output_index": 1, "item": message},
        {"type": "response.completed", "response": {
            **response, "status": "completed", "model": "openai/gpt-6-luna",
            "output": [events[4]["item"], message],
            "usage": {"input_tokens": 3000, "output_tokens": count, "total_tokens": 3000 + count,
                      "cost": {"currency": "USD", "input_cost": 0.0, "output_cost": 0.002,
                               "total_cost": 0.003}}}},
    ]
    return [f"event: {e['type']}\n".encode() + b"data: "
            + json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
            for e in events]


# ----------------------------------------------------------------------------- server process


def serve(count: int, port_queue) -> None:
    from sonar_tui.mock.http import HttpServer, Response

    streams = {"/chat/completions": sonar_stream(count), "/v1/responses": agent_stream(count)}

    async def handler(request):
        return Response(200, streams[request.path], content_type="text/event-stream")

    async def main():
        server = await HttpServer(handler).start()
        port_queue.put(server.port)
        await asyncio.Event().wait()

    asyncio.run(main())


# ----------------------------------------------------------------------------- measurements


async def floor(http: httpx.AsyncClient, url: str) -> int:
    lines = 0
    async with http.stream("POST", url, json={"stream": True}) as response:
        async for _ in response.aiter_lines():
            lines += 1
    return lines


async def client_run(client: PerplexityClient, request: AskRequest) -> int:
    events = 0
    async for event in client.stream(request):
        events += 1
        if isinstance(event, TERMINAL_EVENTS) and not isinstance(event, Finished):
            raise SystemExit(f"the stream failed: {event}")
    return events


class Timings:
    """Wall time, and CPU time of this (the client) process, per run."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    async def time(self, coro) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        await coro
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)


async def measure(base: str, runs: int, api: str) -> tuple[Timings, Timings]:
    path = "/v1/responses" if api == "agent" else "/chat/completions"
    connection = ConnectionSettings(base_url=base, api_mode=api)
    request = AskRequest("How do I migrate?")
    floors, clients = Timings(), Timings()
    async with httpx.AsyncClient(timeout=60) as http, \
            PerplexityClient(connection, "bench") as client:
        await floor(http, base + path)  # warm both connection pools
        await client_run(client, request)
        for _ in range(runs):
            await floors.time(floor(http, base + path))
            await clients.time(client_run(client, request))
    return floors, clients


def parser_only(count: int, api: str, runs: int) -> float:
    from sonar_tui.api.agent import AgentStreamParser
    from sonar_tui.api.sonar import SonarStreamParser

    wire = b"".join(agent_stream(count) if api == "agent" else sonar_stream(count))
    pieces = [wire[i:i + 16384] for i in range(0, len(wire), 16384)]
    times = []
    for _ in range(runs):
        parser = AgentStreamParser() if api == "agent" else SonarStreamParser()
        start = time.perf_counter()
        for piece in pieces:
            parser.feed(piece)
        parser.close()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(api: str, count: int, floors: Timings, clients: Timings, parse: float) -> None:
    def paired(f: list[float], c: list[float]) -> float:
        # Each client run directly follows its floor run; the median of the paired ratios is
        # steadier than a ratio of medians on a machine whose load drifts.
        return (statistics.median(b / a for a, b in zip(f, c, strict=True)) - 1) * 100

    fw, cw = statistics.median(floors.wall), statistics.median(clients.wall)
    fc, cc = statistics.median(floors.cpu), statistics.median(clients.cpu)
    print(f"{api} stream, {count} chunks, {len(floors.wall)} runs (medians)")
    print("                                   wall ms   chunks/s   client-process CPU ms")
    print(f"  floor  (httpx aiter_lines)      {fw * 1000:8.1f} {count / fw:10,.0f}"
          f"   {fc * 1000:8.1f}")
    print(f"  client (PerplexityClient.stream){cw * 1000:8.1f} {count / cw:10,.0f}"
          f"   {cc * 1000:8.1f}")
    print(f"  overhead over the floor (paired){paired(floors.wall, clients.wall):+7.1f} %"
          f"              {paired(floors.cpu, clients.cpu):+7.1f} %   (target <= +50 %)")
    print(f"  parser alone, no HTTP           {parse * 1000:8.1f} {count / parse:10,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="cProfile one client run")
    args = parser.parse_args()

    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.chunks, queue), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{queue.get(timeout=30)}"
        for api in ("sonar", "agent"):
            floors, clients = asyncio.run(measure(base, args.runs, api))
            report(api, args.chunks, floors, clients, parser_only(args.chunks, api, args.runs))
        if args.profile:
            import cProfile
            import pstats

            async def once():
                async with PerplexityClient(ConnectionSettings(base_url=base), "bench") as client:
                    await client_run(client, AskRequest("q"))

            profiler = cProfile.Profile()
            profiler.enable()
            asyncio.run(once())
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
