"""No API key ever reaches the database file or an export, whatever callers pass in."""

from __future__ import annotations

import json
from pathlib import Path

from sonar_tui.store import FinalAnswer, Store

from .conftest import SOURCES

FAKE_KEY = "pplx-FAKEkey0123456789abcdefFAKEkey0123456789abcd"
CANARY = "canary-question-7f3a"  # proves the scan sees what the store does write


def leaked(directory: Path, needle: str) -> list[str]:
    found = []
    for path in directory.iterdir():
        data = path.read_bytes()
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            if needle.encode(encoding) in data:
                found.append(f"{path.name} ({encoding})")
    return found


async def test_a_full_session_never_writes_the_key(db_path):
    settings = {"model": "sonar-pro", "api_key": FAKE_KEY, "apiKey": FAKE_KEY,
                "headers": {"Authorization": f"Bearer {FAKE_KEY}", "X-API-Key": FAKE_KEY},
                "extra": [{"token": FAKE_KEY}], "note": f"key was {FAKE_KEY}"}
    async with await Store.open(db_path) as store:
        question = await store.add_user_message(None, f"{CANARY} what is a key?")
        thread_id = question.thread_id
        await store.set_overrides(thread_id, {"temperature": 0.5, "PERPLEXITY_API_KEY": FAKE_KEY,
                                              "auth": {"authorization": FAKE_KEY}})
        answer_id = await store.start_answer(thread_id, settings, "sonar-pro", "sonar")
        writer = store.answer_writer(answer_id)
        writer.append_text("An answer.")
        await writer.checkpoint()
        await writer.finish(FinalAnswer(
            "error", writer.content, writer.reasoning, sources=SOURCES,
            usage={"total_tokens": 3, "api_key": FAKE_KEY},
            steps=[{"kind": "fetch", "output": f"Authorization: Bearer {FAKE_KEY}"}],
            error={"kind": "auth", "message": f"invalid key {FAKE_KEY}",
                   "request_headers": {"authorization": f"Bearer {FAKE_KEY}"}}))
        document = (await store.export_thread(thread_id)).to_dict()
        document["thread"]["uid"] = "imported-copy"
        document["messages"][1]["settings"]["api_key"] = FAKE_KEY  # a hand-edited file
        await store.import_thread(document)
        exported = json.dumps((await store.export_thread(thread_id)).to_dict())
        stored = (await store.get_message(answer_id)).settings
        assert stored["model"] == "sonar-pro" and "api_key" not in stored
        assert stored["note"] == "key was [redacted]"
        live_files = leaked(db_path.parent, FAKE_KEY)  # WAL and -shm while open
        assert leaked(db_path.parent, CANARY)  # the scan does see stored text
    assert live_files == []
    assert leaked(db_path.parent, FAKE_KEY) == []
    assert FAKE_KEY not in exported and "pplx-FAKE" not in exported
