"""A NER pool that cannot run is infrastructure: ``newsflow process`` ends with one
``NerPoolError`` line and exit code 2, and no article becomes a dead letter for it (the step-level
case, a pool that breaks mid-job, is in tests/unit/steps/test_shared_pool.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stream

ROOT = Path(__file__).resolve().parents[3]
EVENT = b'{"id": "a1", "body": "Amber Rudd spoke to the BBC in London on Sunday."}\n'


def test_a_pool_whose_model_does_not_load_fails_the_job_with_one_line(tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_bytes(EVENT)
    missing_model = tmp_path / "no-such-model"
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "process", str(source),
         "--output", str(tmp_path / "out"), "--spacy-model", str(missing_model),
         "--ner-processes", "2"],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2
    ours = [line for line in done.stderr.splitlines() if line.startswith("newsflow process:")]
    assert len(ours) == 1 and ours[0].startswith("newsflow process: error: NerPoolError: ")
    assert str(missing_model) in ours[0]
    letters = list((tmp_path / "out").glob("dead_letter*.jsonl"))
    assert all(path.read_text() == "" for path in letters), "no dead letter for a broken pool"
