"""Fixtures shared by the text tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"


@pytest.fixture(scope="session")
def example_bodies() -> list[str]:
    """The non-blank bodies of the bundled examples' events (English news, filler, wire text);
    the examples' deliberately malformed lines are skipped."""
    bodies = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        try:
            body = json.loads(line).get("body")
        except (ValueError, AttributeError):  # the examples hold bad lines on purpose
            continue
        if isinstance(body, str) and body.strip():
            bodies.append(body)
    return bodies
