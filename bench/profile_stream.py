"""Where the time goes while sonar-tui streams a long answer, in tmux (160x50).

The real app runs in a pane under ``_profiled_app.py``; profiling covers exactly Enter ->
the answer's last line on screen (signals from this script), on the event loop's thread.
Two runs, because the profilers distort differently:

- cProfile (deterministic; every call counted, Python-heavy code looks ~1.5-2x slower):
  self time grouped by module (which Textual internals, which of our modules), the top
  functions by self time, and cumulative time of the streaming path's key functions.
- pyinstrument (sampling every 1 ms; little distortion): the call tree, and self time
  per function, written next to the report (``--out``), with an HTML view.

    python bench/profile_stream.py [--chunks 4000] [--pace P]
        [--profiler both|cprofile|pyinstrument] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH_DIR,
    PYTHON,
    QUESTION,
    AppSession,
    MockProcess,
    Tmux,
    contains,
    header,
    warm_up,
)

from sonar_tui.mock.content import last_line  # noqa: E402

# Functions whose cumulative time tells the streaming path's story.
KEY_FUNCTIONS = (
    "stream.py:_flush_now", "stream.py:segments_changed", "stream.py:_prepare_tail",
    "stream.py:lay_out", "stream.py:render_line", "stream.py:virtualize", "stream.py:finish",
    "stream.py:plan_cuts", "stream.py:boundaries", "stream.py:append",
    "markdown.py:parse_blocks", "markdown.py:lay_out", "markdown.py:inline_content",
    "markdown.py:_text_rows", "markdown.py:highlight_code",
    "app.py:_handle", "app.py:_run_answer", "client.py:stream", "sonar.py:feed",
    "service.py:ask", "answer.py:add_text", "answer.py:set_meta",
    "answer.py:refresh_header", "live.py:add_text", "sanitize.py:clean_text",
    "_compositor.py:render_update", "_compositor.py:reflow", "_compositor.py:_arrange_root",
    "screen.py:_refresh_layout", "screen.py:_on_timer_update", "app.py:_display",
    "_arrange.py:arrange", "widget.py:_render_content", "widget.py:render_lines",
    "stylesheet.py:update_nodes", "stylesheet.py:apply", "widget.py:mount",
    "message_pump.py:_process_messages_loop",
)


def run_profiled(mode: str, chunks: int, pace: float | None, out: Path, work: Path,
                 tmux: Tmux) -> float:
    done = Path(str(out) + ".done")
    started = Path(str(out) + ".started")
    done.unlink(missing_ok=True)  # left by an earlier run into the same directory
    started.unlink(missing_ok=True)
    with MockProcess(chunks=chunks, pace=pace, workdir=work) as mock:
        session = AppSession(tmux, work, mock, argv=[
            PYTHON, str(BENCH_DIR / "_profiled_app.py"), "--db", str(work / f"{mode}.db")],
            env={"SONAR_BENCH_PROFILER": mode, "SONAR_BENCH_PROFILE_OUT": str(out)})
        try:
            session.wait_ready()
            tmux.type(session.name, QUESTION)
            tmux.wait(session.name, contains(QUESTION), timeout=10)
            pid = tmux.pane_pid(session.name)
            os.kill(pid, signal.SIGUSR1)
            deadline = time.monotonic() + 60
            while not started.exists():  # the profiler runs before Enter is pressed
                if time.monotonic() > deadline:
                    raise TimeoutError("the profiler did not start")
                time.sleep(0.01)
            enter = tmux.keys(session.name, "Enter")
            seen, _ = tmux.wait(session.name, contains(last_line(chunks)), timeout=600)
            os.kill(pid, signal.SIGUSR2)
            deadline = time.monotonic() + 120
            while not done.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("the profile was not written")
                time.sleep(0.1)
        finally:
            session.close()
    return seen - enter


def component(filename: str) -> str:
    """A module name for a profiled file: sonar_tui.ui.widgets.stream, textual._compositor..."""
    if filename.startswith("~"):
        return "(built-in functions: str, list, re, isinstance...)"
    if filename.startswith("<"):
        return "(frozen or generated code: importlib, dataclass methods...)"
    path = Path(filename)
    parts = path.with_suffix("").parts
    for anchor in ("sonar_tui", "textual", "rich", "markdown_it", "httpx", "httpcore",
                   "aiosqlite", "asyncio", "json", "re", "h11", "anyio", "pygments", "orjson"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            name = ".".join(parts[index:])
            if anchor in ("textual", "sonar_tui"):
                return name
            return anchor
    return "(other stdlib)"


def report_cprofile(path: Path, wall: float) -> None:
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    by_module: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_module[component(filename)] += tottime
    print(f"\ncProfile: {total:.2f} s of self time on the event loop's thread "
          f"(Enter -> last line took {wall:.2f} s under cProfile)")
    print("  self time by module (top 30):")
    for name, seconds in sorted(by_module.items(), key=lambda kv: -kv[1])[:30]:
        print(f"    {seconds:7.3f} s  {seconds / total:5.1%}  {name}")
    print("  top functions by self time:")
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:30]
    for (filename, _line, name), (_cc, calls, tottime, cumtime, _) in rows:
        where = f"{component(filename)}:{name}" if not filename.startswith("~") else name
        print(f"    {tottime:7.3f} s  {calls:9,d} calls  cum {cumtime:7.3f} s  {where}")
    print("  cumulative time of the streaming path's functions:")
    found = []
    for (filename, _line, name), (_cc, calls, _tt, cumtime, _) in raw.items():
        key = f"{Path(filename).name}:{name}"
        if key in KEY_FUNCTIONS:
            found.append((cumtime, calls, f"{component(filename)}:{name}"))
    for cumtime, calls, where in sorted(found, reverse=True):
        print(f"    cum {cumtime:7.3f} s  {calls:9,d} calls  {where}")


def report_pyinstrument(path: Path, wall: float, lines: int) -> None:
    """Self time per module and per function, from the sampled call tree."""
    from pyinstrument.session import Session

    root = Session.load(str(path)).root_frame(trim_stem=False)
    by_module: dict[str, float] = defaultdict(float)
    by_function: dict[str, float] = defaultdict(float)
    stack = [root] if root else []
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        # pyinstrument keeps a frame's own time in "[self]" children (and time under
        # frames it could not name in the frame itself): both belong to the frame.
        own = frame.time - sum(c.time for c in frame.children
                               if not c.identifier.startswith("[self]"))
        if own <= 0 or frame.identifier.startswith("[self]"):
            continue
        file_path = frame.file_path or "<built-in>"
        module = component(file_path) if file_path != "<built-in>" else "(built-in functions)"
        by_module[module] += own
        by_function[f"{frame.function}  {module}:{frame.line_no or ''}"] += own
    total = root.time if root else 0.0
    print(f"\npyinstrument: {total:.2f} s sampled on the event loop's thread "
          f"(Enter -> last line took {wall:.2f} s while sampling every 1 ms)")
    print("  self time by module (top 30):")
    for name, seconds in sorted(by_module.items(), key=lambda kv: -kv[1])[:30]:
        print(f"    {seconds:7.3f} s  {seconds / total:5.1%}  {name}")
    print(f"  top {lines} functions by self time:")
    for name, seconds in sorted(by_function.items(), key=lambda kv: -kv[1])[:lines]:
        print(f"    {seconds:7.3f} s  {seconds / total:5.1%}  {name}")
    print(f"  call tree: {path}.txt   interactive: {path}.html")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=4000)
    parser.add_argument("--pace", type=float, default=None)
    parser.add_argument("--profiler", choices=("both", "cprofile", "pyinstrument"),
                        default="both")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for the profiles (default: a new temporary one)")
    parser.add_argument("--lines", type=int, default=35)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="sonar-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    header(f"profile: {args.chunks:,}-chunk answer"
           + (f" at {args.pace:.0f} chunks/s" if args.pace else " at full speed")
           + " in tmux 160x50")
    modes = ("cprofile", "pyinstrument") if args.profiler == "both" else (args.profiler,)
    with tempfile.TemporaryDirectory(prefix="sonar-profile-work-") as tmp, Tmux() as tmux:
        warm_up(tmux, Path(tmp))
        for mode in modes:
            path = out / f"stream-{args.chunks}-{mode}.prof"
            wall = run_profiled(mode, args.chunks, args.pace, path, Path(tmp), tmux)
            if mode == "cprofile":
                report_cprofile(path, wall)
            else:
                report_pyinstrument(path, wall, args.lines)
    print(f"\nprofiles kept in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
