"""JSON encoders that reproduce the byte styles seen on Perplexity's wires.

Three styles exist (see the fixtures' SOURCES.md):

- Python ``json.dumps`` defaults (``", "`` / ``": "``, non-ASCII escaped): Sonar bodies and
  chunks of 2024-2025. Use :func:`python_json`.
- Compact JSON with JavaScript/Go number formatting (``0.00003``, never ``3e-05``; ``0``
  for an integral float) and raw UTF-8: Sonar 2026. Use :func:`compact_json`.
- The same, keys sorted and ``<``, ``>``, ``&``, U+2028, U+2029 escaped as Go's
  ``encoding/json`` does: the Agent API. Use :func:`go_json`.

The standard library cannot change how floats are written, hence the small recursive
encoder; strings still go through the C encoder, so it stays fast enough for one-off
events. The streaming hot paths pre-render templates instead of calling these per chunk.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def python_json(obj: Any) -> str:
    """Exactly what a Python server writing ``json.dumps(obj)`` puts on the wire."""
    return json.dumps(obj)


def js_number(value: float | int) -> str:
    """A number as JavaScript's ``JSON.stringify`` (and Go, for costs) writes it."""
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not valid JSON")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" not in text:
        return text
    if 1e-7 <= abs(value) < 1e21:
        return format(Decimal(text), "f")
    mantissa, _, exponent = text.partition("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def _encode(obj: Any, out: list[str], sort_keys: bool) -> None:
    if isinstance(obj, str):
        out.append(_encode_str(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, (int, float)):
        out.append(js_number(obj))
    elif isinstance(obj, dict):
        out.append("{")
        items = sorted(obj.items()) if sort_keys else obj.items()
        first = True
        for key, value in items:
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(str(key)))
            out.append(":")
            _encode(value, out, sort_keys)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for index, value in enumerate(obj):
            if index:
                out.append(",")
            _encode(value, out, sort_keys)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__}")


def compact_json(obj: Any, sort_keys: bool = False) -> str:
    """Compact JSON, raw UTF-8, JavaScript number formatting."""
    out: list[str] = []
    _encode(obj, out, sort_keys)
    return "".join(out)


def go_escape(text: str) -> str:
    """Go's ``encoding/json`` HTML-safe escaping, applied to already-encoded JSON text.

    Safe on whole documents: these characters can only occur inside JSON strings.
    """
    if "<" in text:
        text = text.replace("<", "\\u003c")
    if ">" in text:
        text = text.replace(">", "\\u003e")
    if "&" in text:
        text = text.replace("&", "\\u0026")
    if "\u2028" in text:
        text = text.replace("\u2028", "\\u2028")
    if "\u2029" in text:
        text = text.replace("\u2029", "\\u2029")
    return text


def go_json(obj: Any) -> str:
    """The Agent API's style: compact, keys sorted, Go number formatting and escaping."""
    return go_escape(compact_json(obj, sort_keys=True))


def go_string(text: str) -> str:
    """One JSON string literal in the Agent API's style (for pre-rendered templates)."""
    return go_escape(_encode_str(text))


def raw_string(text: str) -> str:
    """One JSON string literal, raw UTF-8 (Sonar 2026 templates)."""
    return _encode_str(text)


__all__ = ["compact_json", "go_escape", "go_json", "go_string", "js_number", "python_json",
           "raw_string"]
