"""Start-up: sonar-tui's first frame with a 10,000-thread / 100,000-message database.

Compared, in the same run and the same way, with a bare Textual app composing the same
kinds of widgets (``_bare_apps.py startup``: Header, an OptionList of 200 items, a
VerticalScroll with a Markdown, a TextArea, a Footer). Goal: sonar-tui <= 1.5 x the bare app.

tmux (real terminal, 160x50): time from the ``new-session`` command (the process starts)
  - first frame: the composer's placeholder is on screen;
  - sidebar filled: the first thread's title is on screen (threads load after the first
    frame, from the database).
headless (Pilot, 160x50, a fresh process per run): time from process start (measured by
  the parent around the spawn) to ``run_test`` handing over the mounted app plus one
  ``pilot.pause()``, and to the sidebar holding its threads. Quicker to read, but no
  terminal output is involved.

Runs alternate sonar-tui and the bare app; medians over ``--runs`` (after one untimed
warm-up of each, so the page cache and the bytecode cache are warm as they are for a user).
The database is ``bench/store.py``'s, built once and cached (see ``_common.bench_db``);
each run uses one private copy (the app may write to it: recovery, migrations).

    python bench/startup.py [--runs 7] [--no-tmux] [--no-headless]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH_DIR,
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
    cpu_seconds,
    header,
    median,
    spread,
    write_launcher,
)

SIDEBAR_TEXT = BIG_THREAD_TITLE[:16]  # the first thread listed (pinned, newest)
BASE_URL = "http://127.0.0.1:9"  # nothing is asked at start-up; the discard port


# ----------------------------------------------------------------------------- tmux


def tmux_runs(db: Path, work: Path, runs: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"app": [], "app sidebar": [], "bare": [],
                                       "app cpu": [], "bare cpu": []}
    with Tmux() as tmux:
        for n in range(runs + 1):
            for kind in ("app", "bare"):
                home = work / f"{kind}{n}"
                home.mkdir()
                argv = (app_argv(db) if kind == "app"
                        else [PYTHON, str(BENCH_DIR / "_bare_apps.py"), "startup"])
                script = write_launcher(home / "run.sh", app_env(home, BASE_URL), argv)
                name = f"{kind}{n}"
                started = tmux.start(name, script)
                first, _ = tmux.wait(name, contains(PLACEHOLDER), timeout=60)
                cpu = cpu_seconds(tmux.pane_pid(name))
                filled = None
                if kind == "app":
                    filled, _ = tmux.wait(name, contains(SIDEBAR_TEXT), timeout=60)
                tmux.kill(name)
                time.sleep(0.3)
                if n == 0:
                    continue  # warm-up
                results[kind].append(first - started)
                results[kind + " cpu"].append(cpu)
                if filled is not None:
                    results["app sidebar"].append(filled - started)
    return results


# ----------------------------------------------------------------------------- headless


def headless_runs(db: Path, work: Path, runs: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"app": [], "app sidebar": [], "bare": []}
    for n in range(runs + 1):
        for kind in ("app", "bare"):
            home = work / f"headless-{kind}{n}"
            home.mkdir()
            env = child_env(app_env(home, BASE_URL))
            started = time.monotonic()
            out = subprocess.run([PYTHON, str(BENCH_DIR / "_startup_child.py"), kind, str(db)],
                                 capture_output=True, text=True, env=env, cwd=SOURCE,
                                 timeout=120)
            if out.returncode:
                raise RuntimeError(f"headless {kind} failed:\n{out.stderr}")
            times = json.loads(out.stdout.strip().splitlines()[-1])
            if n == 0:
                continue
            results[kind].append(times["ready"] - started)
            if "filled" in times:
                results["app sidebar"].append(times["filled"] - started)
    return results


# ----------------------------------------------------------------------------- report


def report(title: str, results: dict[str, list[float]], first: str, filled_label: str) -> None:
    app, bare, filled = results["app"], results["bare"], results["app sidebar"]
    ratio = median(app) / median(bare)
    paired = median(a / b for a, b in zip(app, bare, strict=True))
    print(f"\n{title}: process start -> ..., medians of {len(app)} runs, seconds")
    print(f"  {'sonar-tui ' + first:<52} {median(app):6.3f}   ({spread(app)})")
    print(f"  {'sonar-tui ' + filled_label:<52} {median(filled):6.3f}   ({spread(filled)})")
    print(f"  {'bare Textual app, ' + first:<52} {median(bare):6.3f}   ({spread(bare)})")
    verdict = "ok" if ratio <= 1.5 else "OVER"
    print(f"  {'first frame ratio sonar-tui / bare':<52} x{ratio:5.2f}   (paired runs: "
          f"x{paired:.2f})   goal <= x1.5  {verdict}")
    print(f"  {'sidebar filled / bare first frame':<52} x{median(filled) / median(bare):5.2f}")
    if results.get("app cpu"):
        app_cpu, bare_cpu = median(results["app cpu"]), median(results["bare cpu"])
        print(f"  CPU used by the process when its first frame was seen: sonar-tui "
              f"{app_cpu:.2f} s, bare {bare_cpu:.2f} s (x{app_cpu / bare_cpu:.2f}; "
              "less sensitive to other load)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-tmux", action="store_true")
    parser.add_argument("--no-headless", action="store_true")
    args = parser.parse_args()

    header("sonar-tui start-up, 10,000 threads / 100,000 messages")
    cached = bench_db()
    with tempfile.TemporaryDirectory(prefix="sonar-startup-bench-") as tmp:
        work = Path(tmp)
        db = copy_db(cached, work)
        if not args.no_tmux:
            report("tmux 160x50", tmux_runs(db, work, args.runs),
                   "first frame (composer on screen)", "sidebar filled (threads on screen)")
        if not args.no_headless:
            report("headless Pilot 160x50", headless_runs(db, work, args.runs),
                   "mounted + one frame", "sidebar holds its threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
