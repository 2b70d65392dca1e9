"""export: Markdown and JSON compared byte for byte with tests/golden/, read back by the real
importer, rendered by markdown-it, and never holding an API key.

Regenerate the golden files after an intended format change with
``UPDATE_GOLDEN=1 python -m pytest tests/test_export.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from sonar_tui.export import (
    EXPORT_MANY_FORMAT,
    export_json,
    export_many,
    export_markdown,
    is_secret_key,
)
from sonar_tui.store.models import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    AttachmentRecord,
    MessageRecord,
    ThreadData,
    ThreadRecord,
)
from sonar_tui.store.transfer import parse_export

GOLDEN = Path(__file__).parent / "golden"
FIXTURE = "sonar/unknown-repo__sonar-nonstream-2025-08-raw-wire-cost-search_results.json"
SECRET = "pplx-0123456789abcdef0123456789abcdef"


def realistic_thread(fixtures_dir: Path) -> ThreadData:
    """A thread as the store holds it: a real recorded Sonar answer with reasoning and sources,
    a follow-up that failed (429), and an Agent API answer cancelled mid-way, with hostile bits
    a web answer can carry."""
    wire = json.loads((fixtures_dir / FIXTURE).read_text(encoding="utf-8"))
    sources = [{"number": i, "url": r["url"], "title": r["title"], "date": r.get("date"),
                "last_updated": r.get("last_updated"), "snippet": None, "origin": "web"}
               for i, r in enumerate(wire["search_results"], start=1)]
    t0 = float(wire["created"])
    thread = ThreadRecord(
        id=7, uid="3f2b9c1e-5d7a-4e8b-9c0d-1a2b3c4d5e6f",
        title='Top 10 men\'s tennis: "ATP" rankings\x1b]0;pwned\x07',
        created_at=t0 - 12, updated_at=t0 + 300, pinned=True,
        overrides={"search_mode": "web", "api_key": SECRET, "Authorization": f"Bearer {SECRET}"},
        last_api="agent", last_model="fast", message_count=6)
    reasoning = (
        "The user wants the current top 10. Search results list <b>only four</b> players; "
        "ESPN & ATP agree.\n\n</details><script>alert(1)</script>\n\n"
        "Draft:\n```text\n1. Sinner\n2. Alcaraz"  # a fence left open by the model
    )
    messages = [
        MessageRecord(id=1, thread_id=7, role="user", created_at=t0 - 12,
                      content="What are the current top 10 men's tennis players?"),
        MessageRecord(
            id=2, thread_id=7, role="assistant", content=wire["choices"][0]["message"]["content"],
            reasoning=reasoning, model=wire["model"], api="sonar",
            settings={"model": "sonar", "search_mode": "web", "api_key": SECRET,
                      "nested": {"x-api-key": SECRET, "kept": 1}},
            usage={"prompt_tokens": 13, "completion_tokens": 222, "total_tokens": 235,
                   "cost": 0.005},
            cost=0.005, finish_reason="stop", created_at=t0, finished_at=t0 + 4.5,
            sources=sources),
        MessageRecord(id=3, thread_id=7, role="user", created_at=t0 + 60,
                      content="Compare the top two.\n\nUse this table:\n\n```\n| name | pts |\n```",
                      attachments=[AttachmentRecord("notes.txt", "text/plain", 11,
                                                    "ab" * 32, data=b"hello\nworld")]),
        MessageRecord(
            id=4, thread_id=7, role="assistant", content="", status="error", model="sonar",
            api="sonar", created_at=t0 + 61, finished_at=t0 + 62, finish_reason="failed",
            error={"kind": "rate_limit", "message": "Rate limit exceeded. Retry later.",
                   "status": 429, "type": "rate_limit_exceeded", "retry_after": 2.0,
                   "field": None}),
        MessageRecord(id=5, thread_id=7, role="user", created_at=t0 + 200,
                      content="Retry with the Agent API # please"),
        MessageRecord(
            id=6, thread_id=7, role="assistant", status="cancelled", model="fast", api="agent",
            content=("## Head to head\n\nSinner leads Alcaraz on points[1]. "
                     "Details [here](javascript:alert(1)) and \u202eevil.\n\n"
                     "```python\nprint(ranks[1])\n```\n\nThe next"),
            steps=[{"kind": "web_search", "thought": "Find the latest ATP points.",
                    "keywords": ["ATP points Sinner Alcaraz", "ATP ranking August 2025"],
                    "results": [], "urls": [], "code": "", "output": ""},
                   {"kind": "fetch_url_content", "thought": "", "keywords": [],
                    "results": [], "urls": ["https://www.atptour.com/en/rankings/singles",
                                            "javascript:alert(2)"], "code": "", "output": ""},
                   {"kind": "execute_python", "thought": "", "keywords": [], "results": [],
                    "urls": [], "code": "print(11830 - 8600)", "output": "3230"}],
            created_at=t0 + 201, finished_at=None, finish_reason="cancelled",
            response_id="resp_5619693e-4309-4fec-b395-5e21e59aba39",
            response_endpoint="https://api.perplexity.ai",
            sources=[{"number": 1, "url": "https://www.atptour.com/en/rankings/singles",
                      "title": "PIF ATP Rankings (Singles) | ATP Tour | Tennis", "date": None,
                      "last_updated": "2025-08-08", "snippet": "Sinner 11,830 points",
                      "origin": "web"}],
            related=["Who is No. 3?", "[x](javascript:1)"],
            images=[{"url": "https://img.example/sinner.jpg", "origin_url": None,
                     "width": 640, "height": 480, "title": "Sinner *serving*"},
                    {"url": "data:image/png;base64,AAAA", "origin_url": None, "width": None,
                     "height": None, "title": None}]),
    ]
    return ThreadData(thread=thread, messages=messages)


def small_thread() -> ThreadData:
    thread = ThreadRecord(id=8, uid="small-1", title="Quick one", created_at=1_700_000_000.0,
                          updated_at=1_700_000_060.0, last_api="sonar", last_model="sonar")
    messages = [
        MessageRecord(id=9, thread_id=8, role="user", content="2+2?", created_at=1_700_000_000.0),
        MessageRecord(id=10, thread_id=8, role="assistant", content="**4**", model="sonar",
                      api="sonar", created_at=1_700_000_001.0, finished_at=1_700_000_002.0),
        MessageRecord(id=11, thread_id=8, role="user", content="and 3+3?",
                      created_at=1_700_000_050.0),
        MessageRecord(id=12, thread_id=8, role="assistant", content="6", status="interrupted",
                      model="sonar", api="sonar", created_at=1_700_000_051.0),
    ]
    return ThreadData(thread=thread, messages=messages)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert actual.encode("utf-8") == path.read_bytes(), f"{name} differs from the golden file"


@pytest.fixture
def data(fixtures_dir: Path) -> dict:
    return realistic_thread(fixtures_dir).to_dict()


# ----------------------------------------------------------------------------- golden files


def test_markdown_matches_golden(data: dict) -> None:
    check_golden("thread.md", export_markdown(data))


def test_json_matches_golden(data: dict) -> None:
    check_golden("thread.json", export_json(data))


def test_many_match_golden(data: dict) -> None:
    both = [data, small_thread().to_dict()]
    check_golden("many.md", export_many(both, fmt="markdown", exported_at=1_755_400_000.0))
    check_golden("many.json", export_many(both, fmt="json", exported_at=1_755_400_000.0))


# ----------------------------------------------------------------------------- JSON


def without_ids(document: dict) -> dict:
    """What an import can restore: ids and counters are the receiving database's."""
    document = json.loads(json.dumps(document))
    for derived in ("id", "message_count", "has_streaming"):
        document["thread"].pop(derived)
    for message in document["messages"]:
        message.pop("id")
        message.pop("thread_id")
    return document


def test_json_is_read_back_by_the_importer(fixtures_dir: Path) -> None:
    original = realistic_thread(fixtures_dir)
    exported = export_json(original.to_dict())
    document = json.loads(exported)
    assert list(document)[:2] == ["format", "version"]
    assert (document["format"], document["version"]) == (EXPORT_FORMAT, EXPORT_VERSION)
    imported = parse_export(document).to_dict()
    expected = without_ids(original.to_dict())
    # What the export deliberately leaves out: the secrets.
    del expected["thread"]["overrides"]["api_key"], expected["thread"]["overrides"]["Authorization"]
    del expected["messages"][1]["settings"]["api_key"]
    del expected["messages"][1]["settings"]["nested"]["x-api-key"]
    assert without_ids(imported) == expected
    assert imported["messages"][2]["attachments"][0]["data_base64"] == "aGVsbG8Kd29ybGQ="


def test_json_many_holds_complete_single_thread_documents(data: dict) -> None:
    document = json.loads(export_many([data, small_thread().to_dict()], fmt="json"))
    assert list(document) == ["format", "version", "threads"]
    assert (document["format"], document["version"]) == (EXPORT_MANY_FORMAT, EXPORT_VERSION)
    for thread in document["threads"]:
        assert json.dumps(thread, sort_keys=True) == json.dumps(
            json.loads(export_json(thread)), sort_keys=True)
        parse_export(thread)


def test_json_escapes_what_a_terminal_would_act_on_and_keeps_the_data() -> None:
    data = small_thread().to_dict()
    data["messages"][1]["content"] = "x\u202ey\x9b31m\u2028z\ud800 é中😀"
    text = export_json(data)
    assert "\\u202e" in text and "\\u009b" in text and "\\u2028" in text and "\\ud800" in text
    assert "é中😀" in text  # readable, not \u-escaped
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2028\u2029]", text)
    assert json.loads(text)["messages"][1]["content"] == "x\u202ey\x9b31m\u2028z\ud800 é中😀"


def test_json_turns_raw_bytes_and_non_finite_numbers_into_json() -> None:
    data = small_thread().to_dict()
    data["messages"][0]["attachments"] = [{"name": "a.bin", "mime": "application/octet-stream",
                                           "size": 2, "sha256": "", "data": b"\x00\xff"}]
    data["messages"][1]["cost"] = float("nan")
    document = json.loads(export_json(data))
    assert document["messages"][0]["attachments"][0]["data_base64"] == "AP8="
    assert "data" not in document["messages"][0]["attachments"][0]
    assert document["messages"][1]["cost"] is None


# ----------------------------------------------------------------------------- secrets


def all_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(all_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(all_keys(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize("name", ["api_key", "API_KEY", "apiKey", "api-key", "key", "Authorization",
                                  "x-api-key", "perplexity_api_key", "token", "password",
                                  "client_secret"])
def test_secret_key_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["keywords", "prompt_tokens", "max_tokens", "search_mode",
                                  "monkey", "tokens", "sha256"])
def test_ordinary_key_names(name: str) -> None:
    assert not is_secret_key(name)


def test_no_export_holds_an_api_key(data: dict) -> None:
    outputs = [export_markdown(data), export_json(data),
               export_many([data], fmt="markdown"), export_many([data], fmt="json")]
    for output in outputs:
        assert SECRET not in output
        assert "pplx-" not in output
    for output in outputs[1::2]:
        keys = all_keys(json.loads(output))
        assert not {k for k in keys if is_secret_key(k)}
        assert "kept" in keys  # only the secrets went


# ----------------------------------------------------------------------------- Markdown


def test_markdown_front_matter_is_one_safe_line_per_key(data: dict) -> None:
    data["thread"]["title"] = 'A: "quoted" title\n---\nmodel: injected\t\\ end'
    text = export_markdown(data)
    head = text.split("\n---\n", 1)[0].split("\n")
    assert head[0] == "---"
    fields = dict(line.split(": ", 1) for line in head[1:])
    assert list(fields) == ["title", "uid", "created", "updated", "model"]
    assert json.loads(fields["title"]) == 'A: "quoted" title --- model: injected \\ end'
    assert fields["created"] == "2025-08-16T00:01:10Z"
    assert fields["model"] == '"fast"'


def test_markdown_renders_with_reasoning_collapsed_and_contained(data: dict) -> None:
    rendered = MarkdownIt("gfm-like").render(export_markdown(data))
    details = rendered.split("<details>")
    assert len(details) == 3  # two answers with reasoning or steps
    reasoning, rest = details[1].split("</details>", 1)
    assert "&lt;/details&gt;&lt;script&gt;" in reasoning  # shown, not executed
    assert "<script>" not in rendered
    assert "Jannik Sinner" in rest  # the open fence did not swallow the answer
    assert 'href="javascript' not in rendered and 'src="data:' not in rendered


def test_markdown_marks_failed_cancelled_and_interrupted_answers(data: dict) -> None:
    text = export_markdown(data)
    assert "> **Error (HTTP 429):** Rate limit exceeded. Retry later." in text
    assert "> *Cancelled: the answer stops where it was cancelled.*" in text
    many = export_many([small_thread().to_dict()])
    assert "> *Interrupted: the app closed while this answer was being written.*" in many


def test_unknown_many_format_is_refused(data: dict) -> None:
    with pytest.raises(ValueError):
        export_many([data], fmt="pdf")  # type: ignore[arg-type]
