"""Shared helpers for the benches that drive the app in a real terminal (tmux).

- :class:`Tmux`: a private tmux server (own socket, no user config) driven through one
  control-mode client, so polling the screen costs a round trip on a pipe (~0.1 ms of tmux
  CPU) instead of a ``tmux`` process per poll.
- :class:`MockProcess`: the mock Perplexity service in its own process
  (``bench/_mock_server.py``), which logs when each streamed body finished sending, so
  screen times can be compared with the wire.
- :func:`app_env` / :func:`write_launcher`: how the app is started in a pane (temporary XDG
  directories and database, key and base URL from the environment, ``exec`` so the pane's
  pid is the app's).
- :func:`bench_db`: the 10,000-thread / 100,000-message database of ``bench/store.py``,
  built once and cached.
- small statistics and machine-description helpers.

All times are ``time.monotonic()`` (CLOCK_MONOTONIC on Linux: one clock for every process
on the machine, so the mock's log and the poller's observations compare directly).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import platform
import re
import shlex
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# The sonar_tui source measured: this checkout, or another tree (e.g. an export of a
# commit: ``git archive HEAD | tar -x -C DIR; git log -1 --oneline > DIR/BENCH_COMMIT``)
# so a run is not disturbed by edits in progress. Child processes get it first on
# PYTHONPATH, and so does this process.
SOURCE = Path(os.environ.get("SONAR_BENCH_SOURCE", REPO)).resolve()
if SOURCE != REPO:
    sys.path.insert(0, str(SOURCE))
PYTHON = sys.executable
CACHE_DIR = Path(os.environ.get("SONAR_BENCH_CACHE",
                                Path(tempfile.gettempdir()) / "sonar-bench-cache"))
WIDTH, HEIGHT = 160, 50
PLACEHOLDER = "Ask anything…"  # the composer's placeholder: the first frame is on screen
POLL = 0.005  # seconds between screen captures

# ----------------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


def p90(values: Iterable[float]) -> float:
    """Nearest-rank 90th percentile (with 10 samples: the 9th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return "   n/a" if math.isnan(seconds) else f"{seconds * 1000:6.0f}"


def spread(values: list[float]) -> str:
    """min..max in seconds, for the reader to judge the noise."""
    return f"{min(values):.2f}..{max(values):.2f}" if values else ""


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = ""
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()},{load}"


def revision() -> str:
    """The commit measured, and whether the working tree had changes in sonar_tui/."""
    if SOURCE != REPO:
        marker = SOURCE / "BENCH_COMMIT"  # written by whoever exported the tree
        commit = marker.read_text().strip() if marker.exists() else "unknown commit"
        return f"sonar_tui from {SOURCE} (SONAR_BENCH_SOURCE), {commit}"
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "sonar_tui"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    return head + (" + uncommitted changes in sonar_tui/" if dirty else "")


def header(title: str) -> None:
    print(title)
    print(f"  machine: {machine()}")
    print(f"  code:    {revision()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return math.nan


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- tmux


class TmuxError(RuntimeError):
    pass


class Tmux:
    """A private tmux server and one control-mode client that sends it commands.

    ``tmux -C`` answers each command between ``%begin``/``%end`` lines (``%error`` on
    failure); flag 1 on ``%begin`` marks commands this client sent. Pane output
    notifications are switched off (``no-output``): the screen is read with
    ``capture-pane`` only when wanted.
    """

    def __init__(self) -> None:
        self.socket = f"sonar-bench-{os.getpid()}"
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            # `timeout` or a kill: unwind, so the server and its apps are not left behind.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self._tmux(["new-session", "-d", "-s", "ctl", "-x", "80", "-y", "24"])
        self._client = subprocess.Popen(
            ["tmux", "-L", self.socket, "-C", "attach-session", "-t", "ctl"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        # Commands sent before the client is attached fail with "no current client".
        while not self._client.stdout.readline().startswith(b"%session-changed"):  # type: ignore[union-attr]
            pass
        self.command("refresh-client -f no-output")
        for option in ("escape-time 0", "default-terminal tmux-256color",
                       "exit-empty off", "remain-on-exit on"):
            self.command(f"set-option -g {option}")

    def _tmux(self, args: list[str]) -> None:
        subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], check=True,
                       timeout=10)

    def command(self, line: str) -> str:
        """Run one tmux command; its output. Raises TmuxError on ``%error``."""
        assert "\n" not in line
        self._client.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        self._client.stdin.flush()  # type: ignore[union-attr]
        out: list[bytes] = []
        number = None
        while True:
            raw = self._client.stdout.readline()  # type: ignore[union-attr]
            if not raw:
                raise TmuxError(f"tmux control client ended during {line!r}")
            if number is None:
                if raw.startswith(b"%begin "):
                    _, _, num, flags = raw.split()
                    if int(flags) & 1:
                        number = num
                continue  # notifications and blocks of other clients
            if raw.startswith((b"%end ", b"%error ")) and raw.split()[2] == number:
                text = b"".join(out).decode("utf-8", "replace")
                if raw.startswith(b"%error"):
                    raise TmuxError(f"{line!r}: {text.strip()}")
                return text
            out.append(raw)

    def start(self, name: str, script: Path, width: int = WIDTH, height: int = HEIGHT) -> float:
        """A detached session running ``sh script``; the monotonic time the command was sent."""
        started = time.monotonic()
        self.command(f"new-session -d -s {name} -x {width} -y {height} "
                     f"{shlex.quote('exec sh ' + shlex.quote(str(script)))}")
        return started

    def size(self, name: str) -> str:
        size = "'#{window_width}x#{window_height}'"
        return self.command(f"display-message -p -t {name} {size}").strip()

    def pane_pid(self, name: str) -> int:
        return int(self.command(f"display-message -p -t {name} '#{{pane_pid}}'").strip())

    def pane_dead(self, name: str) -> bool:
        return self.command(f"display-message -p -t {name} '#{{pane_dead}}'").strip() == "1"

    def capture(self, name: str, escapes: bool = False) -> list[str]:
        """The screen's lines (with ``escapes``: with their SGR colour/attribute codes)."""
        flag = " -e" if escapes else ""
        return self.command(f"capture-pane -p{flag} -t {name}").split("\n")[:-1]

    def keys(self, name: str, *keys: str) -> float:
        """Send key names (``Enter``, ``PageUp``, ``C-f``...); monotonic time just before."""
        started = time.monotonic()
        self.command(f"send-keys -t {name} " + " ".join(keys))
        return started

    def type(self, name: str, text: str) -> float:
        assert "'" not in text and "\n" not in text
        started = time.monotonic()
        self.command(f"send-keys -t {name} -l '{text}'")
        return started

    def wait(self, name: str, seen: Callable[[list[str]], bool], timeout: float,
             poll: float = POLL) -> tuple[float, list[str]]:
        """Poll the screen until ``seen(lines)``; returns (monotonic time, lines).

        The time is when the capture that first showed it was requested: the change
        happened at most one poll interval (plus one round trip) earlier.
        """
        deadline = time.monotonic() + timeout
        while True:
            asked = time.monotonic()
            lines = self.capture(name)
            if seen(lines):
                return asked, lines
            if asked > deadline:
                raise TimeoutError(f"not seen on screen within {timeout:.0f} s; the screen:\n"
                                   + "\n".join(lines))
            rest = poll - (time.monotonic() - asked)
            if rest > 0:
                time.sleep(rest)

    def kill(self, name: str) -> None:
        with contextlib.suppress(TmuxError):
            self.command(f"kill-session -t {name}")

    def close(self) -> None:
        try:
            self._client.stdin.close()  # type: ignore[union-attr]
            self._client.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._client.kill()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)
        # tmux leaves the socket file behind.
        Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}",
             self.socket).unlink(missing_ok=True)

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def contains(text: str) -> Callable[[list[str]], bool]:
    return lambda lines: any(text in line for line in lines)


def lacks(text: str) -> Callable[[list[str]], bool]:
    return lambda lines: not any(text in line for line in lines)


# What the footer (the screen's last line) shows while each part of sonar-tui has focus:
# that part's own keys. A key meant for a part must wait until the part has focus: Textual
# hands a key to the widget focused when the app reads it, so keys sent right after a
# focus-moving key (Tab, ctrl+f) would go to the widget that had focus before.
FOCUS_SIGNS = {"composer": "Send", "conversation": "Next source", "threads": "Rename"}


def focused(where: str) -> Callable[[list[str]], bool]:
    sign = FOCUS_SIGNS[where]
    return lambda lines: bool(lines) and sign in lines[-1]


BOLD = re.compile(r"\x1b\[(?:0;)?1m")  # SGR bold: how the sidebar draws its highlighted row


def highlighted(tmux: Tmux, name: str, title: str) -> bool:
    """Whether the sidebar row holding ``title`` is the highlighted one (drawn bold)."""
    for line in tmux.capture(name, escapes=True):
        at = line.find(title)
        if at >= 0:
            return BOLD.search(line[line.rfind("▊", 0, at) + 1:at]) is not None
    return False


def wait_highlighted(tmux: Tmux, name: str, title: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not highlighted(tmux, name, title):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sidebar highlight never reached {title!r}")
        time.sleep(0.01)


def footer_changed(before: str) -> Callable[[list[str]], bool]:
    return lambda lines: bool(lines) and lines[-1] != before


def focus_threads(tmux: Tmux, name: str) -> None:
    """Focus the thread list with shift+tab (from the composer: twice), each step waited
    for (the footer changes with the focus)."""
    for _ in range(8):
        lines = tmux.capture(name)
        if focused("threads")(lines):
            return
        tmux.keys(name, "BTab")
        tmux.wait(name, footer_changed(lines[-1] if lines else ""), timeout=30, poll=0.01)
    raise TimeoutError("shift+tab never reached the thread list")


def settled(tmux: Tmux, name: str, since: float, quiet: float = 0.3,
            timeout: float = 30) -> tuple[float, list[str]]:
    """Poll until the screen has not changed for ``quiet`` seconds; returns when the final
    screen was first seen (a capture after ``since``) and that screen. For changes drawn in
    more than one frame (a layout that fills in): the time it was all there."""
    deadline = time.monotonic() + timeout
    last = tmux.capture(name)
    first_seen = time.monotonic()
    while True:
        asked = time.monotonic()
        lines = tmux.capture(name)
        if lines != last:
            last, first_seen = lines, asked
        elif asked - first_seen >= quiet and first_seen >= since:
            return first_seen, last
        if asked > deadline:
            raise TimeoutError("the screen never settled")
        time.sleep(POLL)


# ----------------------------------------------------------------------------- the app


PYCACHE = CACHE_DIR / "pycache"


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` for a child process, with bytecode caching on.

    An installed app has its ``.pyc`` files; without them every start compiles the
    sources (~60 ms for sonar_tui here). This machine sets PYTHONDONTWRITEBYTECODE, so
    children write and read their bytecode under the bench cache instead (which also
    keeps ``__pycache__`` directories out of the checkout).
    """
    merged = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    merged["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    merged.update(env or {})
    return merged


def app_env(home: Path, base_url: str) -> dict[str, str]:
    """Environment for the app in a pane: its own XDG directories, the mock, a key."""
    dirs = {name: home / name.lower() for name in
            ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {**{k: str(v) for k, v in dirs.items()},
            "PERPLEXITY_API_KEY": "bench-key", "PERPLEXITY_BASE_URL": base_url,
            "COLORTERM": "truecolor", "PYTHONPATH": str(SOURCE),
            "PYTHONPYCACHEPREFIX": str(PYCACHE)}


def write_launcher(path: Path, env: dict[str, str], argv: list[str]) -> Path:
    """A shell script that ``exec``s argv with env (so the pane's pid is the program's).

    Bytecode caching is switched back on (see :func:`child_env`).
    """
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    path.write_text(f"cd {shlex.quote(str(SOURCE))}\nunset PYTHONDONTWRITEBYTECODE\n"
                    f"{exports}exec {shlex.join(argv)}\n")
    return path


def app_argv(db: Path) -> list[str]:
    return [PYTHON, "-m", "sonar_tui", "--db", str(db)]


# ----------------------------------------------------------------------------- the mock


@dataclass
class BodySent:
    """One streamed response body, as the mock logged it."""

    path: str
    received: float  # request read
    first: float  # first body bytes handed to the socket
    end: float  # last body bytes written and drained
    items: int


class MockProcess:
    """``bench/_mock_server.py`` in its own process: ``.url``, ``.bodies()``, ``.stop()``."""

    def __init__(self, *, chunks: int, pace: float | None = None, workdir: Path) -> None:
        self.log = workdir / f"mock-{chunks}-{pace}-{time.monotonic_ns()}.jsonl"
        argv = [PYTHON, str(BENCH_DIR / "_mock_server.py"), "--port", str(free_port()),
                "--chunks", str(chunks), "--log", str(self.log)]
        if pace:
            argv += ["--pace", str(pace)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                        env=child_env({"PYTHONPATH": str(SOURCE)}))
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"http://[\d.]+:\d+", line)
        if not match:
            self.stop()
            raise RuntimeError(f"the mock did not start: {line!r}")
        self.url = match.group(0)

    def bodies(self) -> list[BodySent]:
        if not self.log.exists():
            return []
        return [BodySent(**json.loads(line)) for line in self.log.read_text().splitlines()]

    def wait_body(self, count: int, timeout: float = 30) -> BodySent:
        """The ``count``-th streamed body once it has finished sending."""
        deadline = time.monotonic() + timeout
        while True:
            bodies = self.bodies()
            if len(bodies) >= count:
                return bodies[count - 1]
            if time.monotonic() > deadline:
                raise TimeoutError("the mock did not log the end of the body")
            time.sleep(0.01)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self) -> MockProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


async def httpx_floor(url: str) -> float:
    """Bare httpx reading one streamed answer from the mock: seconds to the last byte."""
    import httpx

    body = {"model": "sonar", "stream": True,
            "messages": [{"role": "user", "content": "Tell me about volcanoes"}]}
    async with httpx.AsyncClient(timeout=120) as http:
        started = time.perf_counter()
        async with http.stream("POST", url + "/chat/completions", json=body,
                               headers={"Authorization": "Bearer bench-key"}) as response:
            async for _ in response.aiter_bytes():
                pass
        return time.perf_counter() - started


# ----------------------------------------------------------------------------- app sessions

QUESTION = "Tell me about volcanoes"
READY_HINT = "Ask a question below."  # sonar-tui shows it once its database is open


class AppSession:
    """One app in a tmux session, with a fresh home and database (or a copy of ``db``).

    ``kind`` "app" is sonar-tui, "bare" the bare streaming app of ``_bare_apps.py``.
    """

    count = 0

    def __init__(self, tmux: Tmux, work: Path, mock: MockProcess, kind: str = "app",
                 db: Path | None = None, argv: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        AppSession.count += 1
        self.tmux = tmux
        self.name = f"{kind}{AppSession.count}"
        self.kind = kind
        home = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=work))
        self.db = home / "threads.db"
        if db is not None:
            copy_db(db, home)
            (home / db.name).rename(self.db)
        if argv is None:
            argv = (app_argv(self.db) if kind == "app"
                    else [PYTHON, str(BENCH_DIR / "_bare_apps.py"), "stream"])
        script = write_launcher(home / "run.sh", app_env(home, mock.url) | (env or {}), argv)
        self.started = tmux.start(self.name, script)

    def wait_ready(self) -> None:
        self.tmux.wait(self.name, contains(PLACEHOLDER), timeout=60, poll=0.02)
        if self.kind == "app":
            self.tmux.wait(self.name, contains(READY_HINT), timeout=60, poll=0.02)
            self.tmux.wait(self.name, focused("composer"), timeout=60, poll=0.02)
        time.sleep(0.5)  # let start-up work (sidebar, timers) settle before timing

    def ask(self, question: str = QUESTION) -> float:
        self.tmux.type(self.name, question)
        self.tmux.wait(self.name, contains(question), timeout=10)
        return self.tmux.keys(self.name, "Enter")

    def peak_mb(self) -> float:
        return vm_hwm_mb(self.tmux.pane_pid(self.name))

    def cpu(self) -> float:
        return cpu_seconds(self.tmux.pane_pid(self.name))

    def close(self) -> None:
        self.tmux.kill(self.name)


def warm_up(tmux: Tmux, work: Path) -> None:
    """Ask one short question in a throw-away app, so the modules imported on the first
    question have their bytecode cached (as an installed app has) before anything is timed."""
    from sonar_tui.mock.content import last_line

    with MockProcess(chunks=100, workdir=work) as mock:
        for kind in ("app", "bare"):
            session = AppSession(tmux, work, mock, kind)
            try:
                session.wait_ready()
                session.ask()
                tmux.wait(session.name, contains(last_line(100)), timeout=60)
            finally:
                session.close()


# ----------------------------------------------------------------------------- database

BIG_THREAD_TITLE = "Bench big thread 1000 messages"
BIG_THREAD_SENTINEL = "Bench sentinel: the newest message of the big thread."


def bench_db(threads: int = 10_000, messages: int = 100_000, big: int = 1_000) -> Path:
    """The store bench's database, built once and cached in ``CACHE_DIR``.

    Built by ``bench/store.py``'s ``build`` (imported, not copied). Then, so a terminal run
    can find and recognise the big thread: it is pinned and the most recently active (first
    in the sidebar), gets the title ``BIG_THREAD_TITLE``, and its newest message ends with
    ``BIG_THREAD_SENTINEL``. Use a copy (:func:`copy_db`) for anything that writes.
    """
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # A new schema or a new builder means a new file.
    digest = hashlib.sha1()
    digest.update(inspect.getsource(bench_db).encode())
    for source in [BENCH_DIR / "store.py",
                   *sorted((SOURCE / "sonar_tui" / "store" / "migrations").glob("*.py"))]:
        digest.update(source.read_bytes())
    path = CACHE_DIR / f"threads{threads}-messages{messages}-big{big}-{digest.hexdigest()[:8]}.db"
    if path.exists():
        return path
    sys.path.insert(0, str(BENCH_DIR))
    from store import build  # bench/store.py

    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    print(f"  building the {threads:,}-thread / {messages:,}-message database once "
          f"(cached in {CACHE_DIR}) ...", flush=True)
    big_id, seconds = build(partial, threads, messages, big)
    with sqlite3.connect(partial) as conn:
        newest = conn.execute("SELECT max(updated_at) FROM threads").fetchone()[0]
        conn.execute("UPDATE threads SET pinned = 1, title = ?, updated_at = ? WHERE id = ?",
                     (BIG_THREAD_TITLE, newest + 1, big_id))
        last = conn.execute("SELECT id FROM messages WHERE thread_id = ? ORDER BY id DESC "
                            "LIMIT 1", (big_id,)).fetchone()[0]
        conn.execute("UPDATE messages SET content = content || ? WHERE id = ?",
                     ("\n\n" + BIG_THREAD_SENTINEL, last))
    with sqlite3.connect(partial) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    partial.rename(path)
    print(f"  built in {seconds:.0f} s", flush=True)
    return path


def copy_db(source: Path, directory: Path) -> Path:
    """A private copy of a cached database (the app writes: recovery, new threads)."""
    target = directory / source.name
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


BIG_THREAD_ID = 1  # bench/store.py's build puts the big thread first
