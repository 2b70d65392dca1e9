"""One headless start-up, in a fresh process (run by ``bench/startup.py``).

    python bench/_startup_child.py {app|bare} DB

Prints the monotonic times at which the mounted app was handed over by ``run_test`` (plus
one ``pilot.pause()``: a frame was rendered) and, for sonar-tui, at which the sidebar held
its threads. Imports nothing before the app does, so the parent's timing from the spawn
includes only the interpreter and the app's own imports.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path


async def run(kind: str, db: str) -> dict[str, float]:
    if kind == "bare":
        from _bare_apps import StartupApp

        app = StartupApp()
    else:
        from sonar_tui.config import load_config
        from sonar_tui.ui.app import SonarApp

        app = SonarApp(load_config(None), db_path=Path(db))
    times = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        times["ready"] = time.monotonic()
        if kind == "app":
            options = app.main.sidebar.option_list
            deadline = time.monotonic() + 60
            while not options.option_count and time.monotonic() < deadline:
                await pilot.pause(0.005)
            await pilot.pause()
            times["filled"] = time.monotonic()
    return times


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(sys.argv[1], sys.argv[2]))), flush=True)
