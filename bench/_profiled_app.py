"""sonar-tui's command line, with a profiler switched on and off by signals (for benches).

    SONAR_BENCH_PROFILER=cprofile|pyinstrument SONAR_BENCH_PROFILE_OUT=PATH \
        python bench/_profiled_app.py --db ...

SIGUSR1 starts profiling the main thread (the event loop), SIGUSR2 stops it and writes
PATH (cProfile: pstats data; pyinstrument: the session, PATH.txt call tree, PATH.html),
then creates PATH.done (and PATH.started once profiling runs). So only the interval being
studied is profiled, in the real app in a real terminal, without changing the app.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

MODE = os.environ["SONAR_BENCH_PROFILER"]
OUT = Path(os.environ["SONAR_BENCH_PROFILE_OUT"])
_profiler = None


def _start(signum, frame) -> None:
    global _profiler
    if MODE == "cprofile":
        import cProfile

        _profiler = cProfile.Profile()
        _profiler.enable()
    else:
        from pyinstrument import Profiler

        # "disabled": sample the main thread's whole stack, whichever task is running.
        _profiler = Profiler(interval=0.001, async_mode="disabled")
        _profiler.start()
    Path(str(OUT) + ".started").touch()  # the bench waits for it before pressing Enter


def _stop(signum, frame) -> None:
    if _profiler is None:
        return
    if MODE == "cprofile":
        _profiler.disable()
        _profiler.dump_stats(str(OUT))
    else:
        from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer

        session = _profiler.stop()
        session.save(str(OUT))
        tree = ConsoleRenderer(unicode=True, show_all=False,
                               processor_options={"filter_threshold": 0.005}).render(session)
        Path(str(OUT) + ".txt").write_text(tree)
        Path(str(OUT) + ".html").write_text(HTMLRenderer().render(session))
    Path(str(OUT) + ".done").touch()


signal.signal(signal.SIGUSR1, _start)
signal.signal(signal.SIGUSR2, _stop)

if __name__ == "__main__":
    from sonar_tui.cli import main

    sys.exit(main(sys.argv[1:]))
