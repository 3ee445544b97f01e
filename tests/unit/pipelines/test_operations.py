"""The decisions behind `newsflow status` and `newsflow replay`, without a broker."""

import pytest

from pipelines.replay import ReplayCounts, summary, verdict
from pipelines.status import PartitionLag, commit_time, partition_lag, report


@pytest.mark.parametrize(
    ("committed", "beginning", "end", "lag", "deleted"),
    [
        (None, 0, 10, 10, 0),  # never committed: the job starts at the log start
        (None, 4, 10, 6, 0),  # deleted before the job had them: not its loss
        (7, 0, 10, 3, 0),
        (10, 0, 10, 0, 0),
        (2, 5, 10, 5, 3),  # commit below the log start: 3 deleted unread, 5 left to read
    ],
)
def test_partition_lag(committed, beginning, end, lag, deleted):
    got = partition_lag(0, committed, None, beginning, end)
    assert (got.lag, got.deleted_unread) == (lag, deleted)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ('{"committed_at": 1700000000000}', 1700000000000),
        ('{"committed_at": 1700000000000, "job": "x", "epoch": 3}', 1700000000000),
        ("{}", None),
        ("", None),
        (None, None),
        ("not json", None),
        ("[1, 2]", None),
        ('{"committed_at": "yesterday"}', None),
        ('{"committed_at": true}', None),
    ],
)
def test_commit_time_reads_metadata_tolerantly(metadata, expected):
    assert commit_time(metadata) == expected


def test_report_totals_and_latest_commit():
    lags = [PartitionLag(0, 5, 8, 3, 1700000000000), PartitionLag(1, None, 2, 2, None)]
    doc = report("g", "t", lags, {"out": 4})
    assert doc["total_lag"] == 5
    assert doc["last_commit_at"] == "2023-11-14T22:13:20+00:00"
    assert doc["partitions"][1] == {
        "partition": 1, "committed": None, "end": 2, "lag": 2, "committed_at": None,
        "deleted_unread": 0,
    }  # fmt: skip
    assert doc["output_records"] == {"out": 4}


@pytest.mark.parametrize(
    ("item", "codes", "expected"),
    [
        (("dead_letter", {"error_code": "not_json"}), set(), (True, "not_json")),
        (("dead_letter", {"error_code": "not_json"}), {"not_json"}, (True, "not_json")),
        (("dead_letter", {"error_code": "bad_date"}), {"not_json"}, (False, "code bad_date")),
        (("enriched_article", {"id": "a"}), set(), (False, "not a dead letter")),
        (None, set(), (False, "not a dead letter")),
        (
            ("dead_letter", {"error_code": "deleted_before_read"}),
            {"deleted_before_read"},
            (False, "deleted before read: no payload"),
        ),
    ],
)
def test_verdict(item, codes, expected):
    assert verdict(item, codes) == expected


def test_summary_says_sent_and_skipped():
    counts = ReplayCounts()
    counts.sent.update({"not_json": 2, "bad_date": 1})
    counts.skipped.update({"code all_filler": 4})
    assert summary(counts, "raw", dry_run=False) == (
        "sent 3 dead letters to raw (bad_date 1, not_json 2); skipped 4 (code all_filler: 4)"
    )
    nothing = summary(ReplayCounts(), "raw", dry_run=True)
    assert nothing == "would send 0 dead letters to raw; skipped 0"
