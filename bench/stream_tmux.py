"""Streaming in a real terminal: sonar-tui in tmux (160x50) against the mock in its own process.

Three measurements (run all, or pick with --speed / --paced / --keys):

speed   A long answer (headings, lists, tables, code fences, [n] markers; ~8 characters
        a chunk) sent as fast as the mock can. Figure: Enter -> the answer's last line
        ``End of answer (N chunks).`` visible in ``tmux capture-pane``. Same run, for
        scale: the floor (bare httpx reading the same stream to its last byte, in this
        process) and a bare Textual app (``_bare_apps.py stream``: one stock Markdown,
        get_stream + 50 ms batching) in the same tmux setup. Sizes 1,000 / 4,000 / 8,000
        chunks; growth ratios. Goals: 4,000 chunks <= 2.5 s; 1,000 -> 4,000 <= x4.5.
paced   The 4,000-chunk answer at 100 chunks/s. Figure: lag = (last line visible) -
        (the mock finished writing the body; logged by ``_mock_server.py`` with the same
        monotonic clock). Goal <= 100 ms.
keys    Key presses while a long answer streams at 100 chunks/s (what "shows it" means
        is printed with each figure). Goal <= 100 ms.

Screen times are upper bounds: the screen is polled every 5 ms (one capture is a round
trip on tmux's control pipe), and the time kept is when the first capture showing the
change was requested. Each run starts the app fresh, with an empty database in a
temporary directory, and waits until it has opened its database before typing.

    python bench/stream_tmux.py [--speed] [--paced] [--keys]
        [--sizes 1000,4000,8000] [--runs 5] [--baseline-runs 3] [--no-baseline]
        [--paced-runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    CACHE_DIR,
    PLACEHOLDER,
    QUESTION,
    AppSession,
    MockProcess,
    Tmux,
    contains,
    header,
    httpx_floor,
    median,
    ms,
    p90,
    spread,
    warm_up,
)

from sonar_tui.mock.content import last_line  # noqa: E402

BOLD = re.compile(r"\x1b\[(?:0;)?1m")  # SGR bold: how the sidebar draws its highlighted row

@dataclass
class Run:
    screen: float  # Enter -> last line on screen
    wire: float  # Enter -> the mock finished sending
    lag: float  # wire end -> last line on screen
    peak_mb: float  # VmHWM of the app's process at the end
    cpu: float  # CPU seconds the app's process used from Enter to the last line


FAILURES = CACHE_DIR / "failures"


def one_answer(tmux: Tmux, work: Path, mock: MockProcess, kind: str, chunks: int,
               timeout: float) -> Run | None:
    """One answer; None when its last line never reached the screen (the screen is saved
    under ``FAILURES`` and its path printed: that is a bug to report, not noise)."""
    before = len(mock.bodies())
    session = AppSession(tmux, work, mock, kind)
    try:
        session.wait_ready()
        cpu = session.cpu()
        enter = session.ask()
        try:
            seen, _ = tmux.wait(session.name, contains(last_line(chunks)), timeout=timeout)
        except TimeoutError as exc:
            FAILURES.mkdir(parents=True, exist_ok=True)
            dump = FAILURES / f"{kind}-{chunks}-{time.strftime('%H%M%S')}.txt"
            dump.write_text(str(exc))
            print(f"  ! {kind}, {chunks} chunks: the last line was not on screen after "
                  f"{timeout:.0f} s; screen saved to {dump}", flush=True)
            return None
        cpu = session.cpu() - cpu
        body = mock.wait_body(before + 1)
        return Run(seen - enter, body.end - enter, seen - body.end, session.peak_mb(), cpu)
    finally:
        session.close()


# ----------------------------------------------------------------------------- speed


def speed(tmux: Tmux, work: Path, sizes: list[int], runs: int, baseline_runs: int) -> None:
    print("\nFULL SPEED: Enter -> last line on screen (tmux 160x50); medians, seconds")
    print(f"  {'chunks':>6}  {'sonar-tui':>9} {'runs':>4} {'min..max':>11}  {'wire end':>8}"
          f"  {'bare Textual':>12} {'runs':>4}  {'httpx floor':>11}  {'peak RSS':>8}")
    results: dict[int, float] = {}
    baselines: dict[int, float] = {}
    failed = 0
    for chunks in sizes:
        app_runs: list[Run] = []
        floors: list[float] = []
        bare_runs: list[Run] = []
        with MockProcess(chunks=chunks, workdir=work) as mock:
            asyncio.run(httpx_floor(mock.url))  # warm the mock's answer cache
            for _ in range(runs):
                run = one_answer(tmux, work, mock, "app", chunks, timeout=60)
                if run is None:
                    failed += 1
                else:
                    app_runs.append(run)
                floors.append(asyncio.run(httpx_floor(mock.url)))
            for _ in range(baseline_runs):
                run = one_answer(tmux, work, mock, "bare", chunks, timeout=900)
                if run is not None:
                    bare_runs.append(run)
        screen = [r.screen for r in app_runs]
        results[chunks] = median(screen)
        bare = median(r.screen for r in bare_runs)
        baselines[chunks] = bare
        print(f"  {chunks:>6}  {median(screen):9.2f} {len(screen):>4} {spread(screen):>11}"
              f"  {median(r.wire for r in app_runs):8.2f}"
              f"  {bare:12.2f} {len(bare_runs):>4}  {median(floors):11.3f}"
              f"  {median(r.peak_mb for r in app_runs):6.0f} MB", flush=True)
    if 4000 in results:
        verdict = "ok" if results[4000] <= 2.5 else "OVER"
        print(f"  4,000 chunks: {results[4000]:.2f} s   goal <= 2.5 s  {verdict}")
    ordered = sorted(results)
    pairs = list(pairwise(ordered)) + ([(ordered[0], ordered[-1])] if len(ordered) > 2 else [])
    for small, big in pairs:
        ratio = results[big] / results[small]
        factor = big / small
        goal = (f"goal <= x4.5  {'ok' if ratio <= 4.5 else 'OVER'}" if (small, big) == (1000, 4000)
                else f"(linear: x{factor:.0f})")
        bare = (f"   bare Textual x{baselines[big] / baselines[small]:.2f}"
                if baselines.get(small) and baselines.get(big) else "")
        print(f"  growth {small:,} -> {big:,} chunks: x{ratio:.2f}   {goal}{bare}")
    if failed:
        print(f"  ! {failed} sonar-tui run(s) never showed the answer's last line (left out above)")
    print("  'wire end' = Enter -> the mock finished writing (the app reads slower than the")
    print("  mock can write, so this includes the app's own back-pressure).")


# ----------------------------------------------------------------------------- paced


def paced(tmux: Tmux, work: Path, chunks: int, pace: float, runs: int) -> None:
    print(f"\nPACED: {chunks:,} chunks at {pace:.0f} chunks/s; lag = last line on screen - "
          "mock finished sending")
    nominal = chunks / pace
    lags, wires = [], []
    with MockProcess(chunks=chunks, pace=pace, workdir=work) as mock:
        for _ in range(runs):
            run = one_answer(tmux, work, mock, "app", chunks, timeout=nominal * 2 + 30)
            if run is None:
                continue
            lags.append(run.lag)
            wires.append(run.wire)
            print(f"  run: wire {run.wire:6.2f} s (nominal {nominal:.0f} s), "
                  f"lag {run.lag * 1000:5.0f} ms, app CPU {run.cpu:5.1f} s "
                  f"({run.cpu / run.screen:.0%} of a core)", flush=True)
    if not lags:
        return
    verdict = "ok" if median(lags) <= 0.1 else "OVER"
    print(f"  lag median {ms(median(lags))} ms, max {ms(max(lags))} ms over {len(lags)} runs"
          f"   goal <= 100 ms  {verdict}")


# ----------------------------------------------------------------------------- keys


def conversation_box(lines: list[str]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the conversation's text, from the pane borders.

    The conversation sits between the sidebar's right border (▕) and the citation
    panel's left border (▏), above the composer's top border (╭). The four columns
    before ▏ (scrollbar and padding) are left out: the thumb moves as the answer grows.
    """
    row = next(i for i, line in enumerate(lines) if "▕" in line and "▏" in line)
    left = lines[row].index("▕") + 1
    right = lines[row].index("▏") - 4
    bottom = next(i for i, line in enumerate(lines) if "╭" in line) - 1
    return row, bottom, left, right


def region(lines: list[str], box: tuple[int, int, int, int]) -> list[str]:
    top, bottom, left, right = box
    return [lines[i][left:right] if i < len(lines) else "" for i in range(top, bottom + 1)]


class KeyBench:
    def __init__(self, tmux: Tmux, session: AppSession, stream_end: float) -> None:
        self.tmux = tmux
        self.name = session.name
        self.stream_end = stream_end  # nominal; presses after it are not counted
        self.rng = random.Random(8)

    def gap(self) -> None:
        # Irregular gaps, so presses land at different points of the 50 ms flush cycle.
        time.sleep(self.rng.uniform(0.15, 0.35))

    def streaming(self) -> bool:
        return time.monotonic() < self.stream_end - 2

    def settle(self, box: tuple[int, int, int, int]) -> tuple[list[str], list[str]]:
        """Wait for the end of a scroll animation: two captures 0.3 s apart that differ
        in at most two rows (the answer's header keeps counting tokens)."""
        deadline = time.monotonic() + 60
        before = region(self.tmux.capture(self.name), box)
        while time.monotonic() < deadline:
            time.sleep(0.3)
            after = region(self.tmux.capture(self.name), box)
            if sum(x != y for x, y in zip(before, after, strict=True)) <= 2:
                return before, after
            before = after
        raise TimeoutError("the conversation never stopped moving")

    def typing(self, presses: int) -> list[float]:
        """A letter typed in the composer; shown = the composer holds the text typed so far."""
        times: list[float] = []
        typed = ""
        for n in range(presses):
            if not self.streaming():
                break
            typed += "abcdefghij"[n % 10]
            sent = self.tmux.type(self.name, typed[-1])
            expected = "│ " + typed + " "
            seen, _ = self.tmux.wait(self.name, lambda lines, expected=expected: any(
                expected in line and "╰" not in line for line in lines[-6:]), timeout=10)
            times.append(seen - sent)
            self.gap()
        for _ in typed:  # leave the composer empty again (not timed)
            self.tmux.keys(self.name, "BSpace")
        self.tmux.wait(self.name, contains(PLACEHOLDER), timeout=10)
        return times

    def scrolling(self, pairs: int) -> tuple[list[float], list[float]]:
        """PageDown/PageUp in the conversation, near the top of the streaming answer.

        Calibrated first (untimed): the screen at the top of the thread (A) and one page
        down (B), captured twice each; rows that differ between A and B and are steady
        in both are the ones that tell the pages apart. Timed: "moved" = the first capture
        where any of those rows no longer shows the page we left (the scroll is animated,
        this is the first frame that answers the key); "settled" = every one of them shows
        the page the key goes to.
        """
        tmux, name = self.tmux, self.name
        tmux.keys(name, "BTab")  # composer -> conversation
        time.sleep(0.3)
        tmux.keys(name, "Home")  # to the top (animated): stops following the bottom
        box = conversation_box(tmux.capture(name))
        a1, a2 = self.settle(box)
        tmux.keys(name, "PageDown")
        b1, b2 = self.settle(box)
        rows = [i for i in range(len(a1)) if a1[i] == a2[i] and b1[i] == b2[i] and a1[i] != b1[i]]
        if len(rows) < 10:
            raise RuntimeError(f"pages A and B are not told apart by enough rows ({rows})")
        pages = {"A": a1, "B": b1}
        moved: list[float] = []
        settled: list[float] = []
        at = "B"
        for _ in range(2 * pairs):
            if not self.streaming():
                break
            key, target = ("PageUp", "A") if at == "B" else ("PageDown", "B")
            left_page, new_page = pages[at], pages[target]
            sent = tmux.keys(name, key)
            first_move = None
            while True:
                asked = time.monotonic()
                now = region(tmux.capture(name), box)
                if first_move is None and any(now[i] != left_page[i] for i in rows):
                    first_move = asked
                if all(now[i] == new_page[i] for i in rows):
                    break
                if asked - sent > 10:
                    raise TimeoutError(f"{key} did not reach page {target}")
                time.sleep(0.005)
            moved.append(first_move - sent)
            settled.append(asked - sent)
            at = target
            self.gap()
        tmux.keys(name, "End")  # follow the bottom again
        time.sleep(0.3)
        tmux.keys(name, "Tab")  # back to the composer
        return moved, settled

    def highlighted(self, title: str) -> bool:
        """Whether the sidebar row holding ``title`` is the highlighted one (drawn bold)."""
        for line in self.tmux.capture(self.name, escapes=True):
            at = line.find(title)
            if at >= 0:
                return BOLD.search(line[line.rfind("▊", 0, at) + 1:at]) is not None
        return False

    def switching(self, pairs: int, title_other: str, title_live: str,
                  other_last: str) -> tuple[list[float], list[float]]:
        """Open another (finished) thread from the sidebar and come back to the streaming one.

        The sidebar lists the streaming thread first and the other one second. Before each
        Enter the bench waits until the highlight is on the thread to open (so earlier work
        is done) and times from Enter. Shown = the header shows the opened thread's title and
        the conversation shows it: for the finished thread its last line (``other_last``) is
        on screen; for the streaming thread that line is gone and the conversation has text
        again. After each switch it waits as long again plus a second before going on, so
        one slow switch does not queue keys into the next.
        """
        tmux, name = self.tmux, self.name
        tmux.keys(name, "C-f")  # the sidebar's filter box
        time.sleep(0.3)
        tmux.keys(name, "Enter")  # -> the thread list, highlight on the open thread
        time.sleep(0.5)
        away: list[float] = []
        back: list[float] = []

        def other_shown(lines: list[str]) -> bool:
            return title_other in lines[0] and any(other_last in line for line in lines)

        def live_shown(lines: list[str]) -> bool:
            if title_live not in lines[0] or any(other_last in line for line in lines):
                return False
            text = region(lines, conversation_box(lines))
            return sum(bool(row.replace("█", "").strip()) for row in text) > 5

        for _ in range(pairs):
            for move, title, shown, bucket in (("Down", title_other, other_shown, away),
                                               ("Up", title_live, live_shown, back)):
                if not self.streaming():
                    return away, back
                tmux.keys(name, move)
                deadline = time.monotonic() + 30
                while not self.highlighted(title):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the sidebar highlight never reached {title!r}")
                    time.sleep(0.02)
                time.sleep(0.2)
                sent = tmux.keys(name, "Enter")
                seen, _ = tmux.wait(name, shown, timeout=30)
                bucket.append(seen - sent)
                time.sleep(seen - sent + 1.0)
                self.gap()
        return away, back


def keys(tmux: Tmux, work: Path, chunks: int, pace: float, presses: int) -> None:
    print(f"\nKEYS while a {chunks:,}-chunk answer streams at {pace:.0f} chunks/s "
          "(key sent -> effect on screen)")
    older_title = "Bench idle thread"
    with MockProcess(chunks=300, workdir=work) as quick:
        # A first, finished thread to switch to: asked through the app itself.
        session = AppSession(tmux, work, quick, "app")
        session.wait_ready()
        session.ask(older_title)
        tmux.wait(session.name, contains(last_line(300)), timeout=60)
        session.close()
    with MockProcess(chunks=chunks, pace=pace, workdir=work) as mock:
        session = AppSession(tmux, work, mock, "app", db=session.db)
        try:
            session.wait_ready()
            enter = session.ask(QUESTION)
            bench = KeyBench(tmux, session, enter + chunks / pace)
            # Wait until the answer is several pages long, so scrolling has room.
            tmux.wait(session.name, contains("Comparison"), timeout=60, poll=0.05)
            time.sleep(max(0.0, enter + 12 - time.monotonic()))
            typing = bench.typing(presses)
            moved, settled = bench.scrolling(presses // 2)
            away, back = bench.switching(max(3, presses // 4), older_title, QUESTION,
                                         last_line(300))
            still = bench.streaming()
        finally:
            session.close()
    print(f"  {'what':<58} {'n':>3} {'median':>7} {'p90':>6} {'max':>6}  (ms)")
    for label, values in (
            ("type a letter in the composer -> it shows there", typing),
            ("PageUp/PageDown -> the page starts to move", moved),
            ("PageUp/PageDown -> the page has arrived (animated scroll)", settled),
            ("Enter on a finished thread in the sidebar -> it shows", away),
            ("Enter on the streaming thread -> it shows again", back)):
        if values:
            print(f"  {label:<58} {len(values):>3} {ms(median(values))} {ms(p90(values))}"
                  f" {ms(max(values))}")
    print("  goal <= 100 ms; every press happened while the answer was still streaming"
          + ("" if still else " (the stream ended before the last section: fewer presses)"))


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--keys", action="store_true")
    parser.add_argument("--sizes", default="1000,4000,8000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--paced-runs", type=int, default=5)
    parser.add_argument("--paced-chunks", type=int, default=4000)
    parser.add_argument("--pace", type=float, default=100.0)
    parser.add_argument("--key-chunks", type=int, default=8000)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    everything = not (args.speed or args.paced or args.keys)

    header("sonar-tui streaming in a real terminal (tmux 160x50)")
    with tempfile.TemporaryDirectory(prefix="sonar-stream-bench-") as tmp, Tmux() as tmux:
        work = Path(tmp)
        warm_up(tmux, work)
        cpu = time.process_time()
        if everything or args.speed:
            speed(tmux, work, [int(s) for s in args.sizes.split(",")], args.runs,
                  0 if args.no_baseline else args.baseline_runs)
        if everything or args.paced:
            paced(tmux, work, args.paced_chunks, args.pace, args.paced_runs)
        if everything or args.keys:
            keys(tmux, work, args.key_chunks, args.pace, args.presses)
        print(f"\n(the poller itself used {time.process_time() - cpu:.1f} s of CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
