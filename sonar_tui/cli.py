"""Command-line entry point (filled in as the commands land)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    print("sonar-tui: not yet")
    return 0
