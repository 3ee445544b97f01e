"""``benchmarks/quality.py`` fails when a figure misses its target or a target finds no row."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "quality_targets.py"
SPEC = importlib.util.spec_from_file_location("quality_targets", PATH)
targets = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = targets  # dataclasses look their module up
SPEC.loader.exec_module(targets)

DATE = ("html", "date exact day (htmldate gold, one asserted day)")


@pytest.mark.parametrize(
    ("value", "verdict"),
    [("0.947", ">= 0.95 MISSED"), ("0.950", ">= 0.95 met"), ("-", ">= 0.95 MISSED")],
)
def test_a_figure_is_printed_with_its_target_and_verdict(value, verdict):
    (checked,), _ = targets.check([(*DATE, value, "")], ["dates"])
    assert checked.target == verdict
    assert checked.met == verdict.endswith("met")


def test_a_row_without_a_target_passes_and_a_target_without_a_row_is_reported():
    checked, unmatched = targets.check(
        [("html", "title exact (newspaper4k)", "0.5", "")], ["dates"]
    )
    assert [c.met for c in checked] == [True]
    assert [t.metric for t in unmatched] == [r"date exact day \(htmldate gold, one asserted day\)"]


@pytest.mark.parametrize(("kind", "target"), [("roundup", "0 MISSED"), ("quotes_other", "")])
def test_readmes_zero_targets_miss_above_zero_and_other_kinds_count_in_precision(kind, target):
    row = ("near-dup", f"{kind} flagged (false positives)", "0.0149", "1/67")
    (checked,), _ = targets.check([row], ["near-dup"])
    assert checked.target == target
