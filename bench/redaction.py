"""What redacting pieces of the API key costs per streamed token (issue 14).

Every event of every answer now goes through ``service.RemoteText`` (deltas through a
``StreamRedactor`` each). Measured in one process, in the same run, on the same stream (the
mock's Sonar wire, 2026 shape, ``--chunks`` chunks, the key never in it, which is the
common case):

- parse:  ``SonarStreamParser`` turning the raw SSE bytes into events (the reference: what
          the client already spends per chunk);
- fold:   ``AnswerBuilder.feed`` over those events (the floor of any consumer);
- redact: ``RemoteText.clean`` then ``AnswerBuilder.feed``.

Prints medians of ``--runs`` runs and the redaction's cost as a share of parsing.

Last measured (shared 2-core machine, load ~3.8, Python 3.11; three runs of 15, 4,000
chunks): redaction adds 1.7-2.9 µs per event, 27-28 % of what parsing the same stream costs
(parsing: 6-10 µs per event). Before the fast path (no seed match: no run list, the event
reused when nothing is held): 2.7 µs, 36 %.

    python bench/redaction.py [--chunks 4000] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from sonar_tui.api.events import AnswerBuilder
from sonar_tui.api.sonar import SonarStreamParser
from sonar_tui.mock.content import build_answer
from sonar_tui.mock.sonar_wire import SonarWire, sonar_stream
from sonar_tui.service import RemoteText

KEY = "pplx-FAKE0test1KEY2not3a4real5key6for7redaction8tests9"


def wire(chunks: int) -> bytes:
    answer = build_answer("How do TLS handshakes work?", chunks=chunks, seed=0,
                          style="normal", cite=True)
    spec = SonarWire(response_id="bench", model="sonar-pro", created=1_790_000_000,
                     era="2026", prompt_tokens=12, search_context_size="low", images=False,
                     related=False, max_tokens=None, deep=False)
    return b"".join(sonar_stream(answer, spec, style="full"))


def timed(action) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    raw = wire(args.chunks)
    events = SonarStreamParser().feed(raw)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(raw) / 1e6:.1f} MB of wire, "
          f"{len(events)} events, {args.chunks} chunks")

    def parse() -> None:
        p = SonarStreamParser()
        p.feed(raw)
        p.close()

    def fold() -> None:
        builder = AnswerBuilder()
        for event in events:
            builder.feed(event)

    def redact() -> None:
        builder = AnswerBuilder()
        remote = RemoteText(KEY)
        for event in events:
            for clean in remote.clean(event):
                builder.feed(clean)

    results = {name: [] for name in ("parse", "fold", "redact")}
    for _ in range(args.runs):
        for name, action in (("parse", parse), ("fold", fold), ("redact", redact)):
            results[name].append(timed(action))
    med = {name: statistics.median(times) for name, times in results.items()}
    for name, value in med.items():
        print(f"{name:7} {value * 1000:8.1f} ms CPU  ({value / len(events) * 1e6:6.2f} µs/event)")
    extra = med["redact"] - med["fold"]
    print(f"redaction adds {extra * 1000:.1f} ms ({extra / len(events) * 1e6:.2f} µs/event), "
          f"{extra / med['parse'] * 100:.0f} % of what parsing the same stream costs")


if __name__ == "__main__":
    main()
