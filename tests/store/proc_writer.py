"""Run by tests as a separate process (``sys.executable proc_writer.py MODE DB ...``).

- ``stream DB``: create a thread, save a question, start an answer, checkpoint three times,
  print ``ready <thread_id> <message_id>`` and block (event loop running, heartbeat alive)
  until killed or until stdin closes.
- ``burst DB THREAD N``: open, print ``ready``, wait for a line on stdin (so two processes
  start together), then write N question/answer pairs with checkpoints into its own new
  thread and into THREAD, and print ``done <own_thread_id>``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sonar_tui.store import FinalAnswer, Store


async def stream(db: str) -> None:
    store = await Store.open(db)
    question = await store.add_user_message(None, "What survives a crash?")
    message_id = await store.start_answer(question.thread_id, {"model": "sonar"}, "sonar", "sonar")
    writer = store.answer_writer(message_id)
    for part in ("Checkpointed ", "partial ", "answer"):
        writer.append_text(part)
        await writer.checkpoint()
    writer.append_text(" and an unsaved tail")
    print("ready", question.thread_id, message_id, flush=True)
    # Block with the loop alive; EOF on stdin (the test closing the pipe) ends us cleanly.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await store.close()


async def burst(db: str, shared_thread: int, pairs: int) -> None:
    store = await Store.open(db)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    own = None
    for i in range(pairs):
        for thread in (own, shared_thread):
            question = await store.add_user_message(thread, f"question {i} from {os.getpid()}")
            if thread is None:
                own = question.thread_id
            answer_id = await store.start_answer(question.thread_id, {}, "sonar", "sonar")
            writer = store.answer_writer(answer_id)
            writer.append_text(f"answer {i} part one ")
            await writer.checkpoint()
            writer.append_text("part two")
            await writer.checkpoint()
            await writer.finish(FinalAnswer("complete", writer.content, writer.reasoning,
                                            sources=[{"number": 1, "url": f"https://e.x/{i}"}]))
    print("done", own, store.db.busy_retries, flush=True)
    await store.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "stream":
        asyncio.run(stream(sys.argv[2]))
    else:
        asyncio.run(burst(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
