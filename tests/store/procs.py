"""Starting ``proc_writer.py`` in another process and reading its progress lines."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("proc_writer.py")
# A guard against a hung child, never a timing assumption: every wait is on a line it prints.
LINE_TIMEOUT_S = 120


async def spawn(*args: object) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *map(str, args),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def expect(proc: asyncio.subprocess.Process, word: str) -> list[str]:
    line = await asyncio.wait_for(proc.stdout.readline(), LINE_TIMEOUT_S)
    if not line.startswith(word.encode()):
        await proc.wait()
        stderr = (await proc.stderr.read()).decode(errors="replace")
        raise AssertionError(f"expected {word!r} from the child, got {line!r}; stderr:\n{stderr}")
    return line.decode().split()[1:]


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.kill()  # SIGKILL: no cleanup, no atexit, exactly like a crash
    await proc.wait()  # reaped, so its pid is gone rather than a zombie
