"""Which process is streaming which answer, and recovery of the rows a crash left behind.

Design (two app instances may share one database):

- Each ``Store`` has a random session id. Starting an answer registers the session in the
  ``writers`` table (pid, host name, ``last_seen``) and stamps the message row with it.
- ``last_seen`` is refreshed by every checkpoint and by a heartbeat task that runs every
  ``HEARTBEAT_INTERVAL_S`` while the process has an answer open, so a model that thinks in
  silence for minutes still looks alive.
- A ``streaming`` row belongs to a crashed run when its session is unknown (a clean close
  removes it, and v2 databases had none), or when the session is on this host and its pid
  is gone (or a zombie), or when its heartbeat is older than ``STALE_AFTER_S``. The pid test
  makes recovery immediate after a crash on this machine; the heartbeat covers what a pid
  cannot tell: another host name (containers sharing a volume), a reused pid, platforms
  where probing a pid is unsafe (``os.kill(pid, 0)`` terminates the process on Windows).
- A process suspended past the limit (Ctrl+Z) may find its row recovered as
  ``interrupted``; its next checkpoint takes the row back and its finish finalises it.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

import aiosqlite

HEARTBEAT_INTERVAL_S = 15.0
STALE_AFTER_S = 120.0


@dataclass(frozen=True, slots=True)
class WriterIdentity:
    session: str
    pid: int
    host: str

    @classmethod
    def current(cls, session: str) -> WriterIdentity:
        return cls(session=session, pid=os.getpid(), host=socket.gethostname())


def process_alive(pid: int) -> bool | None:
    """True/False when we can tell, None when this platform cannot be asked safely."""
    if os.name != "posix" or pid <= 0:
        return None
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                # The state follows the parenthesised command name, which may contain ") ".
                state = stat.read().rsplit(b")", 1)[1].split()[0]
            return state not in (b"Z", b"X")  # a zombie has already died
        except FileNotFoundError:
            return False
        except (OSError, IndexError):
            pass  # /proc not mounted or unreadable: fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return None
    return True


def session_crashed(*, pid: int | None, host: str | None, last_seen: float | None,
                    me: WriterIdentity, now: float, stale_after: float = STALE_AFTER_S) -> bool:
    if pid is None or last_seen is None:
        return True  # no such session: it closed without finishing, or predates tracking
    if host == me.host and process_alive(pid) is False:
        return True
    return now - last_seen > stale_after


async def register(conn: aiosqlite.Connection, me: WriterIdentity, now: float) -> None:
    await conn.execute(
        "INSERT INTO writers (session, pid, host, started_at, last_seen) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (session) DO UPDATE SET last_seen = excluded.last_seen",
        (me.session, me.pid, me.host, now, now),
    )


async def heartbeat(conn: aiosqlite.Connection, me: WriterIdentity, now: float) -> None:
    # Re-register rather than update: another instance may have pruned us while we were
    # suspended, and a missing row would make all our rows look crashed.
    await register(conn, me, now)


async def unregister(conn: aiosqlite.Connection, me: WriterIdentity) -> None:
    await conn.execute("DELETE FROM writers WHERE session = ?", (me.session,))


async def recover(conn: aiosqlite.Connection, me: WriterIdentity, now: float,
                  stale_after: float = STALE_AFTER_S) -> list[int]:
    """Mark the streaming rows of crashed sessions ``interrupted`` (their checkpointed text is
    kept, and becomes searchable) and forget the crashed sessions. Returns the message ids."""
    rows = await conn.execute_fetchall(
        "SELECT m.id, m.writer_session, w.pid, w.host, w.last_seen FROM messages m"
        " LEFT JOIN writers w ON w.session = m.writer_session"
        " WHERE m.status = 'streaming'"
    )
    recovered = [
        row["id"] for row in rows
        if row["writer_session"] != me.session
        and session_crashed(pid=row["pid"], host=row["host"], last_seen=row["last_seen"],
                            me=me, now=now, stale_after=stale_after)
    ]
    for message_id in recovered:
        await conn.execute(
            "UPDATE messages SET status = 'interrupted', finish_reason = coalesce(finish_reason,"
            " 'incomplete'), finished_at = coalesce(checkpoint_at, created_at) WHERE id = ?",
            (message_id,))
    sessions = await conn.execute_fetchall("SELECT session, pid, host, last_seen FROM writers")
    for row in sessions:
        if row["session"] != me.session and session_crashed(
                pid=row["pid"], host=row["host"], last_seen=row["last_seen"], me=me, now=now,
                stale_after=stale_after):
            await conn.execute("DELETE FROM writers WHERE session = ?", (row["session"],))
    return recovered
