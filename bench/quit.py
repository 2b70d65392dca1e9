"""Quit: from ctrl+q to the terminal given back, in a real terminal (tmux, 160x50).

Issue 15, item 18: quitting left a blank screen for 2-4 s. For each run, an app answers
one question (so the HTTP client, the database and the timers are all in use), then
ctrl+q is sent and two moments are timed from the key:
  - screen left: the app's screen is gone (Textual has left the alternate screen);
  - process gone: the process has exited (the pane is dead), which is when the shell
    prompt comes back.
The yardstick, in the same run and the same way: the bare Textual streaming app of
``_bare_apps.py stream`` after answering the same question. Goal: sonar-tui's process gone
within 100 ms of the bare app's (a human threshold: it looks immediate).

    python bench/quit.py [--runs 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PLACEHOLDER,
    AppSession,
    MockProcess,
    Tmux,
    header,
    lacks,
    median,
    spread,
    warm_up,
)

from sonar_tui.mock.content import last_line  # noqa: E402

CHUNKS = 100


def quit_once(tmux: Tmux, session: AppSession, streaming: bool) -> tuple[float, float]:
    session.wait_ready()
    session.ask()
    if streaming:  # quit while the answer is still arriving
        tmux.wait(session.name, lambda lines: any("Answer" in line or "volcano" in line.lower()
                                                  for line in lines[2:]), timeout=60)
        time.sleep(1.0)
    else:
        tmux.wait(session.name, lambda lines: any(last_line(CHUNKS) in line for line in lines),
                  timeout=60)
        time.sleep(0.5)
    pressed = tmux.keys(session.name, "C-q")
    left, _ = tmux.wait(session.name, lacks(PLACEHOLDER), timeout=30, poll=0.002)
    deadline = time.monotonic() + 30
    while not tmux.pane_dead(session.name):
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not exit within 30 s")
        time.sleep(0.002)
    gone = time.monotonic()
    return left - pressed, gone - pressed


def demo_once(tmux: Tmux, work: Path, kind: str) -> tuple[float, float]:
    """The offline demo (its own mock server in the app's process) after one answer."""
    from _common import PYTHON, QUESTION, app_env, write_launcher

    home = Path(tempfile.mkdtemp(prefix="demo-", dir=work))
    argv = [PYTHON, "-m", "sonar_tui", "--demo"]
    name = f"demo{home.name[-6:]}"
    script = write_launcher(home / "run.sh", app_env(home, "http://127.0.0.1:9"), argv)
    tmux.start(name, script)
    try:
        tmux.wait(name, lambda lines: any(PLACEHOLDER in line for line in lines), timeout=60)
        time.sleep(1.0)
        tmux.type(name, QUESTION)
        tmux.keys(name, "Enter")
        tmux.wait(name, lambda lines: any("End of answer" in line for line in lines),
                  timeout=60)
        time.sleep(0.5)
        pressed = tmux.keys(name, "C-q")
        left, _ = tmux.wait(name, lacks(PLACEHOLDER), timeout=30, poll=0.002)
        deadline = time.monotonic() + 30
        while not tmux.pane_dead(name):
            if time.monotonic() > deadline:
                raise TimeoutError("the demo did not exit within 30 s")
            time.sleep(0.002)
        return left - pressed, time.monotonic() - pressed
    finally:
        tmux.kill(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    header("quit: ctrl+q -> screen left / process gone (tmux 160x50)")
    scenarios = {"after an answer": False, "while an answer streams": True}
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="sonar-quit-") as tmp, Tmux() as tmux:
        work = Path(tmp)
        warm_up(tmux, work)
        for scenario, streaming in scenarios.items():
            pace = 0.05 if streaming else None  # 20 chunks a second: still streaming at quit
            with MockProcess(chunks=CHUNKS, pace=pace, workdir=work) as mock:
                for _ in range(args.runs):
                    for kind in ("app", "bare"):
                        session = AppSession(tmux, work, mock, kind)
                        try:
                            results.setdefault(f"{scenario}|{kind}", []).append(
                                quit_once(tmux, session, streaming))
                        finally:
                            session.close()
        for _ in range(args.runs):
            results.setdefault("offline demo|app", []).append(demo_once(tmux, work, "app"))
    print(f"\nmedians of {args.runs} runs, seconds from the key")
    for key, runs in results.items():
        scenario, kind = key.split("|")
        label = f"{scenario}: " + ("sonar-tui" if kind == "app" else "bare Textual app")
        left = [r[0] for r in runs]
        gone = [r[1] for r in runs]
        print(f"  {label + ', screen left':<58} {median(left):6.3f}   ({spread(left)})")
        print(f"  {label + ', process gone':<58} {median(gone):6.3f}   ({spread(gone)})")
    for scenario in scenarios:
        extra = (median(r[1] for r in results[f"{scenario}|app"])
                 - median(r[1] for r in results[f"{scenario}|bare"]))
        verdict = "ok" if extra <= 0.1 else "OVER"
        print(f"  {scenario + ': sonar-tui minus bare, process gone':<58} {extra:+6.3f}   "
              f"goal <= +0.100  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
