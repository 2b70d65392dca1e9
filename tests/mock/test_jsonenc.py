"""The wire encoders reproduce the recorded byte layouts exactly."""

from __future__ import annotations

import json

import pytest

from sonar_tui.mock.jsonenc import compact_json, go_json, js_number, python_json


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_agent_stream_fixture_reencodes_byte_for_byte(fixtures_dir):
    lines = _lines(fixtures_dir / "agent" / "vercel-ai__agent-stream-web-search-fast.chunks.jsonl")
    assert lines
    for line in lines:
        assert go_json(json.loads(line)) == line


@pytest.mark.parametrize("name", ["vercel-ai__sonar-stream-citations.chunks.jsonl",
                                  "vercel-ai__sonar-stream-usage-cost.chunks.jsonl"])
def test_sonar_2026_fixtures_reencode_byte_for_byte(fixtures_dir, name):
    for line in _lines(fixtures_dir / "sonar" / name):
        assert compact_json(json.loads(line)) == line


def test_sonar_2025_raw_wire_body_reencodes_byte_for_byte(fixtures_dir):
    raw = (fixtures_dir / "sonar" /
           "unknown-repo__sonar-nonstream-2025-08-raw-wire-cost-search_results.json").read_text()
    assert python_json(json.loads(raw)) == raw


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (0, "0"), (3e-05, "0.00003"), (0.00105, "0.00105"), (0.005, "0.005"),
    (1.5, "1.5"), (1e-8, "1e-8"), (1e21, "1e+21"), (12345, "12345"),
])
def test_numbers_are_written_like_javascript(value, text):
    assert js_number(value) == text


def test_go_style_escapes_html_characters_and_line_separators():
    assert go_json({"b": "<a&b>", "a": "x\u2028y"}) == (
        '{"a":"x\\u2028y","b":"\\u003ca\\u0026b\\u003e"}')
    assert json.loads(go_json({"s": "<\u2029>"})) == {"s": "<\u2029>"}
