"""``make demo``'s script, run twice on one broker as a new user does: the second run must show its
articles as the first did, not as duplicates remembered from the first run, and the first must
read only what it sent, not what was on the topic before."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipelines.kafka_tools import produce

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SEED_TITLE = "title:        Amber Rudd"


def _counts(shown: str) -> dict[str, int]:
    """The demo's table of records per output, e.g. ``{"enriched": 16, ...}``."""
    rows = re.findall(
        r"│ (enriched|duplicates|dead letters) \(articles\.[a-z]+\)\s*│\s*(\d+) │", shown
    )
    return {name: int(count) for name, count in rows}


def _demo(bootstrap: str, topic: str, group: str, output_dir: Path) -> str:
    shown = subprocess.run(
        [
            sys.executable, "examples/demo.py",
            "--bootstrap-servers", bootstrap,
            "--input-topic", topic,
            "--consumer-group", group,
            "--output-dir", str(output_dir),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-3000:]
    return shown.stdout


def test_the_demo_run_again_on_the_same_broker_shows_the_articles_enriched_again(
    kafka_bootstrap, unique_topic, tmp_path
):
    topic, group = unique_topic(partitions=3), f"test-demo-{uuid.uuid4().hex[:8]}"
    examples = ROOT / "examples/articles.jsonl"
    sent = sum(1 for line in examples.read_bytes().splitlines() if line.strip())
    produce(str(examples), topic, kafka_bootstrap, {})  # left there before the demo's first run

    first = _demo(kafka_bootstrap, topic, group, tmp_path / "first")
    second = _demo(kafka_bootstrap, topic, group, tmp_path / "second")

    assert sum(_counts(first).values()) == sent
    assert _counts(second) == _counts(first)
    assert _counts(first)["enriched"] > _counts(first)["duplicates"]
    assert SEED_TITLE in first
    assert SEED_TITLE in second
