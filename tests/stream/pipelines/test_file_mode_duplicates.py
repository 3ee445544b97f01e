"""``duplicate_of`` in file mode names the kept original, never another duplicate (issue 11):
a copy of a copy, closer to the copy than to the original, still points at the original."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import cli

pytestmark = pytest.mark.stream

ROOT = Path(__file__).resolve().parents[3]
SEED = json.loads((ROOT / "examples" / "articles.jsonl").read_text().splitlines()[0])
UPDATE = (
    "Update: the Home Office said on Monday that talks with technology companies would take "
    "place later this week, and that no new legislation was planned before the summer."
)


def edited(body: str, every: int, word: str) -> str:
    """Replace every ``every``-th word of each line: a copy editor's light touch."""
    return "\n".join(
        " ".join(word if i % every == every - 1 else w for i, w in enumerate(line.split(" ")))
        for line in body.split("\n")
    )


def events() -> list[dict]:
    copy = edited(SEED["body"], 23, "reportedly") + "\n\n" + UPDATE
    copy_of_copy = "By Wire Staff\n\n" + edited(copy, 19, "allegedly")
    return [
        {**SEED, "id": "original", "fetched_at": "2017-03-26T10:00:00Z"},
        {**SEED, "id": "copy", "body": copy, "fetched_at": "2017-03-26T11:00:00Z"},
        {**SEED, "id": "copy-of-copy", "body": copy_of_copy, "fetched_at": "2017-03-26T12:00:00Z"},
    ]


def test_a_copy_of_a_copy_names_the_enriched_original(tmp_path):
    source = tmp_path / "chain.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in reversed(events())))
    out = tmp_path / "out"
    assert cli.main(["process", str(source), "--output", str(out)]) == 0
    enriched = [json.loads(x) for p in out.glob("enriched-*.jsonl") for x in p.open()]
    duplicates = [json.loads(x) for p in out.glob("duplicates-*.jsonl") for x in p.open()]
    assert [r["id"] for r in enriched] == ["original"]
    assert {r["id"]: r["duplicate_of"] for r in duplicates} == {
        "copy": "original",
        "copy-of-copy": "original",
    }
