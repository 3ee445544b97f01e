"""The pure core of delivery and recovery, table-driven: which offset may be committed, what the
commit records, which sinks have written an input, where the restart scan starts and what it
keeps."""

import threading
import uuid

import pytest

from schemas.codec import DEAD_LETTER, ENRICHED
from transforms.io.kafka_commit import (
    acknowledged_by_all,
    advance,
    commit_metadata,
    parse_output_floor,
    span_of,
)
from transforms.io.recovery import once_per_run, scan_starts, written_after
from transforms.text.models import SourceRef

F1 = (("out", 0, 10),)
F2 = (("out", 0, 12),)
F3 = (("out", 0, 15),)


def _feed(committed: int, spans):
    """Feed ``(start, end, floor)`` spans one by one; the committed offsets and floors seen."""
    waiting, seen = {}, []
    for start, end, floor in spans:
        committed, last, waiting = advance(committed, waiting, (start, end), floor)
        seen.append((committed, last))
    return seen, waiting


@pytest.mark.parametrize(
    ("case", "committed", "spans", "seen", "left"),
    [
        ("in order", 0, [(0, 1, F1), (1, 2, F2), (2, 3, F3)], [(1, F1), (2, F2), (3, F3)], {}),
        (
            "out of order: the hole holds the commit, then it jumps",
            0,
            [(1, 2, F2), (2, 3, F3), (0, 1, F1)],
            [(0, None), (0, None), (3, F3)],
            {},
        ),
        (
            "a gap stays open",
            0,
            [(0, 1, F1), (2, 3, F3)],
            [(1, F1), (1, None)],
            {2: (3, F3)},
        ),
        (
            "spans over skipped offsets (compaction) chain",
            5,
            [(5, 9, F1), (9, 10, F2)],
            [(9, F1), (10, F2)],
            {},
        ),
        (
            "a duplicate acknowledgement changes nothing",
            0,
            [(0, 1, F1), (0, 1, F1), (1, 2, F2), (1, 2, F2)],
            [(1, F1), (1, None), (2, F2), (2, None)],
            {},
        ),
        (
            "a restart: spans below the committed offset are ignored, not kept",
            7,
            [(3, 4, F1), (6, 7, F1), (7, 8, F2)],
            [(7, None), (7, None), (8, F2)],
            {},
        ),
        (
            "a waiting span acknowledged twice is kept once",
            0,
            [(2, 3, F3), (2, 3, F3), (1, 2, F2)],
            [(0, None), (0, None), (0, None)],
            {1: (2, F2), 2: (3, F3)},
        ),
        ("no floor (an input read without one)", 0, [(0, 1, None)], [(1, None)], {}),
    ],
)
def test_advance_commits_only_the_contiguous_written_end(case, committed, spans, seen, left):
    assert _feed(committed, spans) == (seen, left), case


@pytest.mark.parametrize(
    ("ref", "span"),
    [
        (SourceRef(topic="t", partition=0, offset=4, span_start=4), (4, 5)),
        (SourceRef(topic="t", partition=0, offset=9, span_start=5), (5, 10)),
        (SourceRef(topic="t", partition=0, offset=0), (0, 1)),
    ],
)
def test_span_of_covers_the_offsets_skipped_before_an_input(ref, span):
    assert span_of(ref) == span


@pytest.mark.parametrize(
    "floor",
    [None, (), (("articles.dlq", 0, 7), ("articles.enriched", 0, 3), ("articles.enriched", 2, 9))],
)
def test_commit_metadata_round_trips_the_output_floor(floor):
    text = commit_metadata(1_700_000_000_000, floor)
    assert '"committed_at":1700000000000' in text
    assert parse_output_floor(text) == floor


@pytest.mark.parametrize(
    "metadata",
    [None, "", "{}", '{"committed_at": 5}', "not json", '{"output_floor": [1]}', "[]",
     '{"output_floor": {"t": {"x": 1}}}'],
)  # fmt: skip
def test_metadata_without_a_readable_floor_gives_none(metadata):
    assert parse_output_floor(metadata) is None


@pytest.mark.parametrize(
    ("acks", "done_after"),
    [
        (["kafka", "files"], 2),
        (["files", "kafka"], 2),
        (["kafka", "kafka", "files"], 3),
        (["files", "files", "files"], None),
    ],
)
def test_join_counts_distinct_sinks_not_acknowledgements(acks, done_after):
    required, seen, done_at = frozenset({"kafka", "files"}), frozenset(), None
    for n, sink in enumerate(acks, 1):
        done, seen = acknowledged_by_all(seen, sink, required)
        if done and done_at is None:
            done_at = n
    assert done_at == done_after


BOUNDS = {("out", 0): (0, 100), ("out", 1): (20, 50), ("dlq", 0): (0, 8)}


@pytest.mark.parametrize(
    ("case", "floors", "starts"),
    [
        ("no committed partition: nothing to scan", [], {("out", 0): 100, ("out", 1): 50,
                                                          ("dlq", 0): 8}),
        (
            "the lowest floor over the input partitions",
            [(("out", 0, 40), ("out", 1, 30), ("dlq", 0, 5)),
             (("out", 0, 60), ("out", 1, 25), ("dlq", 0, 7))],
            {("out", 0): 40, ("out", 1): 25, ("dlq", 0): 5},
        ),
        (
            "an output partition created after the sample is read whole",
            [(("out", 0, 40), ("dlq", 0, 5))],
            {("out", 0): 40, ("out", 1): 20, ("dlq", 0): 5},
        ),
        (
            "a floor below the log start (retention) starts at the log start",
            [(("out", 0, 40), ("out", 1, 3), ("dlq", 0, 5))],
            {("out", 0): 40, ("out", 1): 20, ("dlq", 0): 5},
        ),
        (
            "a commit without a floor (older version): whole logs",
            [(("out", 0, 40), ("out", 1, 30), ("dlq", 0, 5)), None],
            {("out", 0): 0, ("out", 1): 20, ("dlq", 0): 0},
        ),
    ],
)  # fmt: skip
def test_scan_starts(case, floors, starts):
    assert scan_starts(floors, BOUNDS) == starts, case


def _enriched(partition, offset, duplicate_of=None, topic="raw"):
    record = {"id": f"a{offset}", "duplicate_of": duplicate_of,
              "kafka": {"topic": topic, "partition": partition, "offset": offset}}  # fmt: skip
    return ("out", 0, 100 + offset), ENRICHED, record


def _dead(partition, offset):
    record = {"kafka": {"topic": "raw", "partition": partition, "offset": offset}}
    return ("dlq", 0, 200 + offset), DEAD_LETTER, record


@pytest.mark.parametrize(
    ("case", "records", "committed", "keep", "expected"),
    [
        (
            "outputs at or after the committed offset, enriched ones with their record",
            [_enriched(0, 4), _enriched(0, 5), _dead(0, 6), _enriched(0, 7, duplicate_of="a1")],
            {0: 5},
            True,
            {"raw/0@5": _enriched(0, 5)[2], "raw/0@6": None, "raw/0@7": None},
        ),
        (
            "without the file sink no record is kept, only the coordinates",
            [_enriched(0, 5), _dead(0, 6)],
            {0: 0},
            False,
            {"raw/0@5": None, "raw/0@6": None},
        ),
        (
            "other input topics and uncommitted partitions are left out",
            [_enriched(0, 5, topic="other"), _enriched(1, 5), _enriched(2, 9)],
            {2: 3},
            True,
            {"raw/2@9": _enriched(2, 9)[2]},
        ),
        ("records without coordinates are left out", [(("out", 0, 1), ENRICHED, {"kafka": None})],
         {0: 0}, True, {}),
    ],
)  # fmt: skip
def test_written_after(case, records, committed, keep, expected):
    assert written_after(records, "raw", committed, keep).written == expected, case


def test_a_restarted_run_never_commits_a_floor_above_an_earlier_runs_later_outputs():
    """Two crashes close together. Run 1 read inputs 0..99, wrote outputs for 0..80 at output
    offsets 0..80, committed 50 (floor 50) and died. Run 2 found outputs of 50..80 and re-reads
    from 50; its stamps carry its own floor, 81 (the output end when it read). If it commits 61
    with floor 81 and dies, run 3 scans from 81 and misses the outputs of 61..80: a second output
    each. Capped, the floor of input 60 is 61, the lowest output of a later found input."""
    run1 = [(("out", 0, n), ENRICHED, _enriched(0, n)[2]) for n in range(81)]
    found = written_after(run1, "raw", {0: 50}, keep_records=False)
    stamped = (("out", 0, 81), ("dlq", 0, 7))
    assert found.caps.cap(0, 60, stamped) == (("out", 0, 61), ("dlq", 0, 7)), (
        "a floor committed after input 60 stays at or below the outputs of inputs 61..80"
    )
    assert found.caps.cap(0, 49, stamped) == (("out", 0, 50), ("dlq", 0, 7))
    assert found.caps.cap(0, 80, stamped) == stamped, "past the last found input: no cap"
    assert found.caps.cap(1, 60, stamped) == stamped, "another input partition: no cap"
    assert found.caps.cap(0, 60, None) is None, "an unknown floor stays unknown"


def test_the_cap_is_the_lowest_output_of_any_later_input_per_output_partition():
    """Outputs of one input may be in several partitions, and a later input's output may lie
    below an earlier one's (a slow article)."""
    records = [
        (("out", 0, 30), ENRICHED, _enriched(0, 10)[2]),
        (("dlq", 0, 4), DEAD_LETTER, _dead(0, 12)[2]),
        (("out", 0, 20), ENRICHED, _enriched(0, 14)[2]),
        (("out", 0, 25), ENRICHED, _enriched(0, 16)[2]),
    ]
    caps = written_after(records, "raw", {0: 10}, keep_records=False).caps
    stamped = (("dlq", 0, 9), ("out", 0, 40))
    assert caps.cap(0, 9, stamped) == (("dlq", 0, 4), ("out", 0, 20))
    assert caps.cap(0, 12, stamped) == (("dlq", 0, 9), ("out", 0, 20))
    assert caps.cap(0, 14, stamped) == (("dlq", 0, 9), ("out", 0, 25))
    assert caps.cap(0, 16, stamped) == stamped


def test_concurrent_instances_of_one_run_wait_for_one_scan_and_share_it():
    """The SDK harness sets up one DoFn instance per bundle it runs at once, from threads."""
    scans: list[str] = []
    release = threading.Event()

    def scan() -> dict:
        scans.append("scan")
        release.wait(10)  # held until every other instance has been started
        return {"in/0@7": None}

    run = f"run-{uuid.uuid4().hex}"
    results: list[dict] = []
    threads = [
        threading.Thread(target=lambda: results.append(once_per_run(run, scan))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    assert scans == ["scan"]
    assert len(results) == 4 and all(result is results[0] for result in results)
    assert once_per_run(f"run-{uuid.uuid4().hex}", scan) == {"in/0@7": None}
    assert scans == ["scan", "scan"], "another run scans again"
