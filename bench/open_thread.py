"""Opening a 1,000-message thread in the 10,000-thread / 100,000-message database, and peak memory.

Goals: open to first paint <= 300 ms; peak memory with that database and thread open
<= 200 MB.

headless (Pilot, 160x50, one process): the app starts on a copy of the database and loads
  its sidebar; then, ``--runs`` times, another (small) thread is opened and then the big
  one, timing ``await app.main.open_thread(id)`` + ``await pilot.pause(0)`` (every widget
  has processed its pending messages, then a frame is composed), and, for scale, until
  ``pilot.pause()`` also finds the process idle (it sleeps in steps of 20 ms). It checks
  that the conversation shows the thread's newest message. Peak memory = VmHWM of
  that process at the end (the sidebar loaded, the big thread open); also after scrolling
  up through ``--older-pages`` pages of older messages (what a long read does).
tmux (160x50): the same by keyboard: ctrl+f, Enter (the thread list), Down/Up to the
  thread, Enter; time from Enter to the thread's newest message on screen (its last line
  is a sentinel the bench database adds, see ``_common.bench_db``). Peak memory = VmHWM
  of the app's process at the end.

    python bench/open_thread.py [--runs 9] [--no-tmux] [--older-pages 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BIG_THREAD_ID,
    BIG_THREAD_SENTINEL,
    BIG_THREAD_TITLE,
    PLACEHOLDER,
    PYTHON,
    SOURCE,
    Tmux,
    app_argv,
    app_env,
    bench_db,
    child_env,
    contains,
    copy_db,
    focus_threads,
    focused,
    header,
    median,
    p90,
    vm_hwm_mb,
    wait_highlighted,
    write_launcher,
)

BASE_URL = "http://127.0.0.1:9"  # nothing is asked; the discard port


# ----------------------------------------------------------------------------- headless


async def headless(db: Path, runs: int, older_pages: int) -> dict:
    from sonar_tui.config import load_config
    from sonar_tui.ui.app import SonarApp
    from sonar_tui.ui.widgets.answer import AnswerView

    app = SonarApp(load_config(None), db_path=db)
    result: dict = {"big": [], "small": [], "big idle": []}
    async with app.run_test(size=(160, 50)) as pilot:
        await asyncio.wait_for(app._data_ready.wait(), 60)
        await pilot.pause()
        main = app.main
        small_id = next(t.id for t in main.sidebar.threads if t.id != BIG_THREAD_ID)
        for _ in range(runs):
            for thread_id, key in ((small_id, "small"), (BIG_THREAD_ID, "big")):
                started = time.perf_counter()
                await main.open_thread(thread_id)
                await pilot.pause(0)  # pending messages handled, then one frame composed
                result[key].append(time.perf_counter() - started)
                await pilot.pause()  # until idle: what a Pilot test would wait for
                if key == "big":
                    result["big idle"].append(time.perf_counter() - started)
        answers = main.conversation.query(AnswerView)
        if not answers or BIG_THREAD_SENTINEL not in answers.last().body.source:
            raise RuntimeError("the big thread's newest message is not in the conversation")
        result["mounted"] = len(main.conversation.children)
        result["widgets"] = len(list(app.screen.walk_children()))
        result["peak_open"] = vm_hwm_mb_self()
        conversation = main.conversation
        for _ in range(older_pages):
            before = len(conversation.children)
            conversation.scroll_home(animate=False)
            deadline = time.monotonic() + 10
            while len(conversation.children) == before and time.monotonic() < deadline:
                await pilot.pause(0.01)
            await pilot.pause()
        result["mounted_after_scroll"] = len(conversation.children)
        result["widgets_after_scroll"] = len(list(app.screen.walk_children()))
        result["peak_scrolled"] = vm_hwm_mb_self()
    return result


def vm_hwm_mb_self() -> float:
    import os

    return vm_hwm_mb(os.getpid())


def headless_report(db: Path, work: Path, runs: int, older_pages: int) -> None:
    out = subprocess.run([PYTHON, __file__, "--child", str(db), "--runs", str(runs),
                          "--older-pages", str(older_pages)],
                         capture_output=True, text=True, cwd=SOURCE, timeout=600,
                         env=child_env(app_env(work / "headless", BASE_URL)))
    if out.returncode:
        raise RuntimeError(f"the headless run failed:\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    big, small = r["big"], r["small"]
    verdict = "ok" if median(big) <= 0.3 else "OVER"
    print(f"\nheadless Pilot 160x50: open_thread + pause(0), {len(big)} runs (ms)")
    print(f"  1,000-message thread: median {median(big) * 1000:5.0f}  p90 {p90(big) * 1000:5.0f}"
          f"   goal <= 300  {verdict}   ({r['mounted']} views mounted, "
          f"{r['widgets']} widgets on the screen)")
    print(f"  a 10-message thread:  median {median(small) * 1000:5.0f}  "
          f"p90 {p90(small) * 1000:5.0f}")
    idle = r["big idle"]
    print(f"  1,000-message thread until idle (pilot.pause()): median {median(idle) * 1000:5.0f}")
    verdict = "ok" if r["peak_open"] <= 200 else "OVER"
    print(f"  peak RSS (VmHWM), database + sidebar + big thread open: {r['peak_open']:.0f} MB"
          f"   goal <= 200 MB  {verdict}")
    print(f"  ... after scrolling up {older_pages} pages of older messages: "
          f"{r['peak_scrolled']:.0f} MB ({r['mounted_after_scroll']} views, "
          f"{r['widgets_after_scroll']} widgets)")


# ----------------------------------------------------------------------------- tmux


def next_title(tmux: Tmux, name: str, after: str) -> str:
    """The start of the title of the sidebar row below the one holding ``after``."""
    lines = tmux.capture(name)
    row = next(i for i, line in enumerate(lines) if after in line)
    for line in lines[row + 1:]:
        left = line.split("▕")[0].strip()
        if left:
            return left[:12]
    raise RuntimeError("no thread below the big one in the sidebar")


def tmux_report(db: Path, work: Path, runs: int) -> None:
    home = work / "tmux"
    home.mkdir()
    script = write_launcher(home / "run.sh", app_env(home, BASE_URL), app_argv(db))
    times: list[float] = []
    with Tmux() as tmux:
        tmux.start("app", script)
        tmux.wait("app", contains(PLACEHOLDER), timeout=60)
        tmux.wait("app", contains(BIG_THREAD_TITLE[:16]), timeout=60)
        tmux.wait("app", focused("composer"), timeout=60)
        focus_threads(tmux, "app")  # each key waits until the app has taken the last one
        tmux.keys("app", "Down")  # the first thread: the big one
        wait_highlighted(tmux, "app", BIG_THREAD_TITLE[:16])
        small_title = None
        for n in range(runs + 1):
            sent = tmux.keys("app", "Enter")
            seen, _ = tmux.wait("app", contains(BIG_THREAD_SENTINEL), timeout=30)
            if n:  # the first open also warms the page cache
                times.append(seen - sent)
            tmux.keys("app", "Down")  # a small thread, to leave the big one
            if small_title is None:
                small_title = next_title(tmux, "app", BIG_THREAD_TITLE[:16])
            wait_highlighted(tmux, "app", small_title)
            tmux.keys("app", "Enter")
            tmux.wait("app", lambda lines: BIG_THREAD_SENTINEL not in "".join(lines), timeout=30)
            tmux.keys("app", "Up")
            wait_highlighted(tmux, "app", BIG_THREAD_TITLE[:16])
        peak = vm_hwm_mb(tmux.pane_pid("app"))
    verdict = "ok" if median(times) <= 0.3 else "OVER"
    print(f"\ntmux 160x50: Enter on the thread in the sidebar -> its newest message on screen, "
          f"{len(times)} runs (ms)")
    print(f"  1,000-message thread: median {median(times) * 1000:5.0f}  "
          f"p90 {p90(times) * 1000:5.0f}   goal <= 300  {verdict}")
    verdict = "ok" if peak <= 200 else "OVER"
    print(f"  peak RSS (VmHWM) of the app: {peak:.0f} MB   goal <= 200 MB  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--older-pages", type=int, default=10)
    parser.add_argument("--no-tmux", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(headless(args.child, args.runs, args.older_pages))))
        return 0

    header("sonar-tui: open a 1,000-message thread (10,000 threads / 100,000 messages)")
    cached = bench_db()
    with tempfile.TemporaryDirectory(prefix="sonar-open-bench-") as tmp:
        work = Path(tmp)
        db = copy_db(cached, work)
        headless_report(db, work, args.runs, args.older_pages)
        if not args.no_tmux:
            tmux_report(db, work, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
