"""How the settings screen opens: time to its first frame, and whether that frame is complete.

Headless (``App.run_test``) against the mock service: ctrl+s is pressed and every frame the
app composites is recorded with whether the form was complete then (every section mounted).
Reference in the same run: the help screen (F1), a modal with no form.

    python bench/settings_open.py [--runs 15] [--size 160x50]

Prints, per screen, the median time from the key press to the first frame and to the first
complete frame (the form fills its viewport, or all of it is mounted), and how many
incomplete frames were shown in between (the goal: 0, the first frame is complete).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sonar_tui.config import load_config  # noqa: E402
from sonar_tui.mock.runner import start_mock  # noqa: E402
from sonar_tui.ui.app import SonarApp  # noqa: E402
from sonar_tui.ui.screens.help import HelpScreen  # noqa: E402
from sonar_tui.ui.screens.settings import SettingsScreen  # noqa: E402


def complete(screen) -> bool:
    """What the screen shows is whole: every section is mounted, or at least the mounted
    part of the form already fills its viewport (no blank area waiting to be filled)."""
    if not isinstance(screen, SettingsScreen):
        return True
    if screen._all_mounted.is_set():
        return True
    form = screen.query_one("#settings-form")
    shown = sum(child.outer_size.height for child in form.children if child.display)
    return form.size.height > 0 and shown >= form.scrollable_content_region.height


async def one_run(key: str, kind: type, mock_url: str, tmp: Path,
                  size: tuple[int, int]) -> tuple[float, float, int]:
    config = load_config(tmp / "config.toml", env={"PERPLEXITY_BASE_URL": mock_url,
                                                   "PERPLEXITY_API_KEY": "pplx-bench"})
    app = SonarApp(config, db_path=tmp / "threads.db")
    frames: list[tuple[float, bool]] = []
    original = app._display

    def display(screen, renderable) -> None:
        original(screen, renderable)
        if isinstance(screen, kind):
            frames.append((time.perf_counter(), complete(screen)))

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=size) as pilot:
        await app._data_ready.wait()
        await pilot.pause()
        pressed = time.perf_counter()
        await pilot.press(key)
        deadline = pressed + 30
        while not any(done for _, done in frames) and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        await pilot.pause()
    if not frames or not any(done for _, done in frames):
        raise RuntimeError("the screen never showed a complete frame")
    first = frames[0][0] - pressed
    whole = next(t for t, done in frames if done) - pressed
    incomplete = sum(1 for _, done in frames if not done)
    return first, whole, incomplete


async def main(runs: int, size: tuple[int, int]) -> None:
    mock = start_mock("default")
    try:
        results: dict[str, list[tuple[float, float, int]]] = {"settings": [], "help": []}
        for _ in range(runs):  # interleaved: both see the same machine load
            for name, key, kind in (("settings", "ctrl+s", SettingsScreen),
                                    ("help", "f1", HelpScreen)):
                with tempfile.TemporaryDirectory() as tmp:
                    results[name].append(await one_run(key, kind, mock.url, Path(tmp), size))
    finally:
        mock.stop()
    print(f"{runs} runs, {size[0]}x{size[1]}, headless; medians (ms)")
    print(f"{'screen':10} {'first frame':>12} {'complete':>10} {'incomplete frames':>18}")
    for name, rows in results.items():
        first = statistics.median(r[0] for r in rows) * 1000
        whole = statistics.median(r[1] for r in rows) * 1000
        partial = statistics.median(r[2] for r in rows)
        print(f"{name:10} {first:12.0f} {whole:10.0f} {partial:18.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--size", default="160x50", help="terminal size, e.g. 120x40")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    asyncio.run(main(args.runs, (width, height)))
