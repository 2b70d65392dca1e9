"""Streaming in a real terminal: sonar-tui in tmux (160x50) against the mock in its own process.

Every figure is printed with the reference it is judged against, measured in the same run
(issue 16's goals are ratios; only the 100 ms human thresholds are absolute):

speed   A long answer (headings, lists, tables, code fences, [n] markers; ~8 characters
        a chunk) sent as fast as the mock can. Figure: Enter -> the answer's last line
        ``End of answer (N chunks).`` visible in ``tmux capture-pane``; reference: a bare
        Textual app (``_bare_apps.py stream``: one stock Markdown, get_stream + 50 ms
        batching) in the same tmux setup, and the floor (bare httpx reading the stream).
        Goals: 4,000 chunks <= x0.5 the bare app; growth 1,000 -> 4,000 <= x4.5;
        32,000 chunks <= x9 the 4,000-chunk time.
paced   2,000 chunks at 100 chunks/s, sonar-tui and the bare app alternately. Figure: CPU
        seconds of the app's process from Enter to the last line on screen. Goal <= x0.3
        the bare app's. Also the lag: last line on screen - the mock finished writing
        (logged by ``_mock_server.py`` with the same monotonic clock).
keys    One sonar-tui session: a long finished thread (4,000 chunks), then an 8,000-chunk
        answer at 100 chunks/s; while it streams: letters typed (goal: echo <= 50 ms),
        PageUp/PageDown, switching to the finished thread and back (goal <= 100 ms);
        once it has ended: the same switches with nothing streaming (goal: streaming
        <= x2 these), and the sidebar and sources panels toggled with the long answer
        on screen (goal <= 100 ms).

Screen times are upper bounds: the screen is polled every 5 ms (one capture is a round
trip on tmux's control pipe), and the time kept is when the first capture showing the
change was requested. Each run starts the app fresh, with an empty database in a
temporary directory, and waits until it has opened its database before typing. Nothing
waits a fixed time for the app to be ready: keys wait for what shows that the app took the
previous ones (focus signs in the footer, the sidebar's highlight, text on screen), so a
slower or busier machine gives slower figures, not a failed run.

    python bench/stream_tmux.py [--speed] [--paced] [--keys]
        [--sizes 1000,4000,32000] [--baseline-sizes 1000,4000] [--runs 5]
        [--baseline-runs 3] [--paced-runs 3] [--presses 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
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
    focus_threads,
    focused,
    header,
    httpx_floor,
    lacks,
    median,
    ms,
    p90,
    settled,
    spread,
    wait_highlighted,
    warm_up,
)

from sonar_tui.mock.content import last_line  # noqa: E402


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def ratio(value: float, reference: float) -> str:
    return f"x{value / reference:.2f}" if reference and reference == reference else "  n/a"


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER"


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


def speed(tmux: Tmux, work: Path, sizes: list[int], baseline_sizes: set[int], runs: int,
          baseline_runs: int) -> None:
    print(f"\nFULL SPEED: Enter -> last line on screen (tmux 160x50); medians, seconds ({load()})")
    print(f"  {'chunks':>6}  {'sonar-tui':>9} {'runs':>4} {'min..max':>11}  {'bare Textual':>12}"
          f" {'runs':>4}  {'ratio':>6}  {'wire end':>8}  {'httpx floor':>11}  {'peak RSS':>8}")
    results: dict[int, float] = {}
    baselines: dict[int, float] = {}
    failed = 0
    for chunks in sizes:
        app_runs: list[Run] = []
        floors: list[float] = []
        bare_runs: list[Run] = []
        bare_wanted = baseline_runs if chunks in baseline_sizes else 0
        with MockProcess(chunks=chunks, workdir=work) as mock:
            asyncio.run(httpx_floor(mock.url))  # warm the mock's answer cache
            # Alternate the two apps, so both meet the same load from the machine's others.
            for index in range(max(runs, bare_wanted)):
                if index < runs:
                    run = one_answer(tmux, work, mock, "app", chunks, timeout=120)
                    if run is None:
                        failed += 1
                    else:
                        app_runs.append(run)
                    floors.append(asyncio.run(httpx_floor(mock.url)))
                if index < bare_wanted:
                    run = one_answer(tmux, work, mock, "bare", chunks, timeout=900)
                    if run is not None:
                        bare_runs.append(run)
        screen = [r.screen for r in app_runs]
        results[chunks] = median(screen)
        bare = median(r.screen for r in bare_runs)
        baselines[chunks] = bare
        print(f"  {chunks:>6}  {median(screen):9.2f} {len(screen):>4} {spread(screen):>11}"
              f"  {bare:12.2f} {len(bare_runs):>4}  {ratio(median(screen), bare):>6}"
              f"  {median(r.wire for r in app_runs):8.2f}  {median(floors):11.3f}"
              f"  {median(r.peak_mb for r in app_runs):6.0f} MB", flush=True)
    if 4000 in results and baselines.get(4000) == baselines.get(4000):
        value = results[4000] / baselines[4000]
        print(f"  4,000 chunks vs the bare Textual app: x{value:.2f}   goal <= x0.5  "
              f"{verdict(value <= 0.5)}")
    ordered = sorted(results)
    for small, big in zip(ordered, ordered[1:], strict=False):
        growth = results[big] / results[small]
        goal = {(1000, 4000): 4.5, (4000, 32000): 9.0}.get((small, big))
        target = (f"goal <= x{goal}  {verdict(growth <= goal)}" if goal
                  else f"(linear: x{big / small:.0f})")
        bare = (f"   bare Textual x{baselines[big] / baselines[small]:.2f}"
                if baselines.get(small) and baselines.get(big) else "")
        print(f"  growth {small:,} -> {big:,} chunks: x{growth:.2f}   {target}{bare}")
    if failed:
        print(f"  ! {failed} sonar-tui run(s) never showed the answer's last line (left out above)")
    print("  'wire end' = Enter -> the mock finished writing (the app reads slower than the")
    print("  mock can write, so this includes the app's own back-pressure).")


# ----------------------------------------------------------------------------- paced


def paced(tmux: Tmux, work: Path, chunks: int, pace: float, runs: int) -> None:
    print(f"\nPACED: {chunks:,} chunks at {pace:.0f} chunks/s; CPU seconds of the app from "
          f"Enter to the last line on screen ({load()})")
    nominal = chunks / pace
    cpu: dict[str, list[float]] = {"app": [], "bare": []}
    lags: list[float] = []
    with MockProcess(chunks=chunks, pace=pace, workdir=work) as mock:
        for _ in range(runs):
            for kind in ("app", "bare"):  # alternately: the same load meets both
                run = one_answer(tmux, work, mock, kind, chunks, timeout=nominal * 3 + 60)
                if run is None:
                    continue
                cpu[kind].append(run.cpu)
                if kind == "app":
                    lags.append(run.lag)
                print(f"  {kind:>4}: wire {run.wire:6.2f} s (nominal {nominal:.0f} s), "
                      f"lag {run.lag * 1000:5.0f} ms, CPU {run.cpu:5.2f} s "
                      f"({run.cpu / run.screen:.0%} of a core)  {load()}", flush=True)
    if not cpu["app"] or not cpu["bare"]:
        return
    value = median(cpu["app"]) / median(cpu["bare"])
    print(f"  app CPU {median(cpu['app']):.2f} s vs bare Textual {median(cpu['bare']):.2f} s "
          f"(medians of {len(cpu['app'])}/{len(cpu['bare'])}): x{value:.2f}   goal <= x0.3  "
          f"{verdict(value <= 0.3)}")
    print(f"  lag at the end: median {ms(median(lags))} ms, max {ms(max(lags))} ms   "
          f"goal <= 100 ms  {verdict(median(lags) <= 0.1)}")


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


PANEL_SHOWN = {
    # The sidebar's title on the screen's second row; the sources panel's title anywhere.
    "sidebar": lambda lines: len(lines) > 1 and lines[1].lstrip().startswith("Threads"),
    "sources": lambda lines: any("Sources (" in line for line in lines),
}


def composer_holds(typed: str):
    expected = "│ " + typed + " "
    return lambda lines: any(expected in line and "╰" not in line for line in lines[-6:])


class KeyBench:
    def __init__(self, tmux: Tmux, session: AppSession, stream_end: float) -> None:
        self.tmux = tmux
        self.name = session.name
        self.stream_end = stream_end  # nominal; presses after it are not counted
        self.rng = random.Random(8)
        self.failed = 0

    def gap(self) -> None:
        # Irregular gaps, so presses land at different points of the flush cycle.
        time.sleep(self.rng.uniform(0.15, 0.35))

    def streaming(self) -> bool:
        return time.monotonic() < self.stream_end - 2

    def settle(self, box: tuple[int, int, int, int]) -> tuple[list[str], list[str]]:
        """Wait for the end of a scroll: two captures 0.3 s apart that differ in at most
        two rows (the answer's header keeps counting tokens)."""
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
            seen, _ = self.tmux.wait(self.name, composer_holds(typed), timeout=30)
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
        where any of those rows no longer shows the page we left; "settled" = every one
        of them shows the page the key goes to.
        """
        tmux, name = self.tmux, self.name
        tmux.keys(name, "BTab")  # composer -> conversation
        tmux.wait(name, focused("conversation"), timeout=30, poll=0.01)
        tmux.keys(name, "Home")  # to the top: stops following the bottom
        box = conversation_box(tmux.capture(name))
        # A page that has just been scrolled to may still be filling in (text laid out
        # after the first frame): the pages are known once going back to each shows the
        # same rows again.
        for _ in range(10):
            a1, a2 = self.settle(box)
            tmux.keys(name, "PageDown")
            b1, b2 = self.settle(box)
            tmux.keys(name, "PageUp")
            a3, _ = self.settle(box)
            tmux.keys(name, "PageDown")
            b3, _ = self.settle(box)
            rows = [i for i in range(len(a1)) if a1[i] == a2[i] == a3[i]
                    and b1[i] == b2[i] == b3[i] and a1[i] != b1[i]]
            if len(rows) >= 10:
                break
            tmux.keys(name, "PageUp")
        else:
            raise RuntimeError(f"pages A and B are not told apart by enough rows ({rows})")
        pages = {"A": a1, "B": b1}
        moved: list[float] = []
        settled_times: list[float] = []
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
                if asked - sent > 30:
                    differ = "\n".join(f"  row {i}: now {now[i]!r}\n   want {new_page[i]!r}"
                                        for i in rows if now[i] != new_page[i])
                    raise TimeoutError(f"{key} did not reach page {target}; rows that "
                                       f"differ:\n{differ}")
                time.sleep(0.005)
            moved.append(first_move - sent)
            settled_times.append(asked - sent)
            at = target
            self.gap()
        tmux.keys(name, "End")  # follow the bottom again
        tmux.keys(name, "Tab")  # back to the composer
        tmux.wait(name, focused("composer"), timeout=30, poll=0.01)
        return moved, settled_times

    def switching(self, pairs: int, title_other: str, title_live: str, other_last: str,
                  live_last: str | None = None) -> tuple[list[float], list[float]]:
        """Open the other (finished) thread from the sidebar and come back.

        The sidebar lists the thread of the current answer first and the other one
        second. Before each Enter the bench waits until the highlight is on the thread to
        open (so earlier work is done) and times from Enter. Shown = the header shows the
        opened thread's title and the conversation shows it: for the finished thread its
        last line (``other_last``) is on screen; coming back, that line is gone and the
        conversation has text again (its last line ``live_last``, once it has ended).
        """
        tmux, name = self.tmux, self.name
        focus_threads(tmux, name)
        away: list[float] = []
        back: list[float] = []

        def other_shown(lines: list[str]) -> bool:
            return title_other in lines[0] and any(other_last in line for line in lines)

        def live_shown(lines: list[str]) -> bool:
            if title_live not in lines[0] or any(other_last in line for line in lines):
                return False
            if live_last is not None:
                return any(live_last in line for line in lines)
            text = region(lines, conversation_box(lines))
            return sum(bool(row.replace("█", "").strip()) for row in text) > 5

        while_streaming = live_last is None
        for _ in range(pairs):
            for move, title, shown, bucket in (("Down", title_other, other_shown, away),
                                               ("Up", title_live, live_shown, back)):
                if while_streaming and not self.streaming():
                    return away, back
                tmux.keys(name, move)
                wait_highlighted(tmux, name, title)
                sent = tmux.keys(name, "Enter")
                try:
                    seen, _ = tmux.wait(name, shown, timeout=30)
                except TimeoutError as exc:
                    # A bug, not noise: reported and saved, and left out of the medians.
                    FAILURES.mkdir(parents=True, exist_ok=True)
                    dump = FAILURES / f"switch-{time.strftime('%H%M%S')}.txt"
                    dump.write_text(str(exc))
                    print(f"  ! Enter on {title!r}: not shown after 30 s; screen saved to "
                          f"{dump}", flush=True)
                    self.failed += 1
                    continue
                bucket.append(seen - sent)
                self.gap()
        return away, back

    def toggling(self, presses: int) -> dict[str, list[float]]:
        """ctrl+b (sidebar) and ctrl+g (sources panel), each pressed ``presses`` times
        with the long answer on screen and nothing streaming. Shown = the panel has
        appeared or gone and the screen is still: the time of the first capture that shows
        the final screen (so a layout drawn over several frames counts in full)."""
        tmux, name = self.tmux, self.name
        times: dict[str, list[float]] = {"sidebar": [], "sources": []}
        for _ in range(presses):
            for panel, key in (("sidebar", "C-b"), ("sources", "C-g")):
                shown = PANEL_SHOWN[panel]
                was_shown = shown(tmux.capture(name))
                sent = tmux.keys(name, key)
                tmux.wait(name, lambda lines, shown=shown, was=was_shown: shown(lines) != was,
                          timeout=30)
                done, _ = settled(tmux, name, sent)
                times[panel].append(done - sent)
                self.gap()
        return times


def keys(tmux: Tmux, work: Path, chunks: int, pace: float, presses: int) -> None:
    print(f"\nKEYS while a {chunks:,}-chunk answer streams at {pace:.0f} chunks/s "
          f"(key sent -> effect on screen; {load()})")
    older_title = "Bench long finished thread"
    older_chunks = 4000
    with MockProcess(chunks=older_chunks, workdir=work) as quick:
        # A first, long, finished thread to switch to: asked through the app itself.
        session = AppSession(tmux, work, quick, "app")
        session.wait_ready()
        session.ask(older_title)
        tmux.wait(session.name, contains(last_line(older_chunks)), timeout=120)
        # Saved once the status line no longer counts it as streaming: closing before
        # would keep a partial answer.
        tmux.wait(session.name, lacks("1 streaming"), timeout=120)
        session.close()
    results: dict[str, list[float]] = {}
    with MockProcess(chunks=chunks, pace=pace, workdir=work) as mock:
        session = AppSession(tmux, work, mock, "app", db=session.db)
        try:
            session.wait_ready()
            enter = session.ask(QUESTION)
            bench = KeyBench(tmux, session, enter + chunks / pace)
            # Let the answer grow several pages long (12 s of the mock's pace), so scrolling
            # has room.
            tmux.wait(session.name, contains("Comparison"), timeout=60, poll=0.05)
            time.sleep(max(0.0, enter + 12 - time.monotonic()))
            results["type"] = bench.typing(presses)
            results["moved"], results["arrived"] = bench.scrolling(presses // 2)
            results["away"], results["back"] = bench.switching(
                max(3, presses // 4), older_title, QUESTION, last_line(older_chunks))
            still = bench.streaming()
            # Nothing streaming now: the same switches, then the panels.
            mock.wait_body(1, timeout=chunks / pace * 3 + 60)
            tmux.wait(session.name, lacks("1 streaming"), timeout=120)  # the status line
            results["away idle"], results["back idle"] = bench.switching(
                max(3, presses // 4), older_title, QUESTION, last_line(older_chunks),
                live_last=last_line(chunks))
            toggles = bench.toggling(max(3, presses // 2))
            results["sidebar"], results["sources"] = toggles["sidebar"], toggles["sources"]
        finally:
            session.close()
    print(f"  {'what':<62} {'n':>3} {'median':>7} {'p90':>6} {'max':>6}  (ms)")
    labels = (
        ("type", "type a letter in the composer -> it shows there"),
        ("moved", "PageUp/PageDown -> the page starts to move"),
        ("arrived", "PageUp/PageDown -> the page has arrived"),
        ("away", "Enter on the long finished thread (while streaming) -> shown"),
        ("back", "Enter on the streaming thread -> shown again"),
        ("away idle", "Enter on the long finished thread (nothing streaming) -> shown"),
        ("back idle", "Enter on the other finished thread (nothing streaming) -> shown"),
        ("sidebar", "ctrl+b (sidebar) with the long answer on screen -> done"),
        ("sources", "ctrl+g (sources panel) with the long answer on screen -> done"))
    for key, label in labels:
        values = results.get(key) or []
        if values:
            print(f"  {label:<62} {len(values):>3} {ms(median(values))} {ms(p90(values))}"
                  f" {ms(max(values))}")
    m = {key: median(values) for key, values in results.items() if values}
    print("  goals:")
    if "type" in m:
        print(f"    echo while streaming {m['type'] * 1000:.0f} ms   goal <= 50 ms  "
              f"{verdict(m['type'] <= 0.05)}")
    for streaming, idle in (("away", "away idle"), ("back", "back idle")):
        if streaming in m and idle in m:
            print(f"    switch {streaming} while streaming {m[streaming] * 1000:.0f} ms, nothing "
                  f"streaming {m[idle] * 1000:.0f} ms: {ratio(m[streaming], m[idle])}   "
                  f"goal <= 100 ms and <= x2  "
                  f"{verdict(m[streaming] <= 0.1 and m[streaming] <= 2 * m[idle])}")
    for panel in ("sidebar", "sources"):
        if panel in m:
            print(f"    {panel} toggle {m[panel] * 1000:.0f} ms   goal <= 100 ms  "
                  f"{verdict(m[panel] <= 0.1)}")
    if bench.failed:
        print(f"  ! {bench.failed} switch(es) never showed the opened thread (left out above)")
    print("  every press counted happened while the answer was still streaming"
          + ("" if still else " (the stream ended before the last switch: fewer presses)"))


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--keys", action="store_true")
    parser.add_argument("--sizes", default="1000,4000,32000")
    parser.add_argument("--baseline-sizes", default="1000,4000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--paced-runs", type=int, default=3)
    parser.add_argument("--paced-chunks", type=int, default=2000)
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
            baseline = set() if args.no_baseline else {
                int(s) for s in args.baseline_sizes.split(",") if s}
            speed(tmux, work, [int(s) for s in args.sizes.split(",")], baseline, args.runs,
                  args.baseline_runs)
        if everything or args.paced:
            paced(tmux, work, args.paced_chunks, args.pace, args.paced_runs)
        if everything or args.keys:
            keys(tmux, work, args.key_chunks, args.pace, args.presses)
        print(f"\n(the poller itself used {time.process_time() - cpu:.1f} s of CPU; {load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
