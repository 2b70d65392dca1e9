"""The cost of one huge SSE line (issue 14): a server sending 20 MB without a line break.

Feeds the decoder the way the client reads the network (64 KB reads) and prints medians for:
- ``huge line``: one 20 MB line; the decoder holds at most MAX_LINE_BYTES (8 MB), in pieces,
  then stops reading it;
- ``yardstick``: the same 20 MB as ordinary one-line events of ~1 KB each.
Goal: the huge line costs no more than the yardstick (it is cut at 8 MB and never copied as
it grows); before the fix each read copied the whole pending line, which is quadratic.

    python bench/huge_line.py [--runs 7] [--mb 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from sonar_tui.api.sse import MAX_LINE_BYTES, SseDecoder

READ = 64 * 1024


def huge(size: int) -> list[bytes]:
    head = b'data: {"choices":[{"delta":{"content":"'
    body = head + b"x" * (size - len(head))
    return [body[i:i + READ] for i in range(0, len(body), READ)]


def ordinary(size: int) -> list[bytes]:
    event = b'data: {"choices":[{"delta":{"content":"' + b"y" * 1000 + b'"}}]}\n\n'
    body = event * (size // len(event))
    return [body[i:i + READ] for i in range(0, len(body), READ)]


def run(reads: list[bytes]) -> tuple[float, bool]:
    decoder = SseDecoder()
    start = time.perf_counter()
    for chunk in reads:
        decoder.feed(chunk)
    decoder.close()
    return time.perf_counter() - start, decoder.overflowed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    size = args.mb * 1024 * 1024
    print(f"load average {os.getloadavg()[0]:.2f}; {args.mb} MB in {READ // 1024} KB reads; "
          f"line limit {MAX_LINE_BYTES // 2**20} MB")
    for name, reads in (("huge line", huge(size)), ("yardstick", ordinary(size))):
        times, overflowed = zip(*(run(reads) for _ in range(args.runs)), strict=True)
        print(f"{name:10} median {statistics.median(times) * 1000:8.1f} ms  "
              f"(min {min(times) * 1000:.1f}, cut: {overflowed[0]})")


if __name__ == "__main__":
    main()
