"""Which jobs spread their partitions' readers over Flink subtasks: a streaming FlinkRunner job
whose parallelism is known (``newsflow run`` on a cluster asks the cluster for it)."""

from __future__ import annotations

from pipelines.assembly import reader_placement
from pipelines.options import NewsflowOptions
from transforms.io.reader_placement import FlinkPlacement


def placement(*argv: str) -> FlinkPlacement | None:
    return reader_placement(NewsflowOptions(list(argv)))


def test_a_flink_job_of_known_parallelism_spreads_its_readers():
    assert placement("--runner", "FlinkRunner", "--parallelism", "3") == FlinkPlacement(3, -1)
    assert placement(
        "--runner", "FlinkRunner", "--parallelism", "2", "--max_parallelism", "720"
    ) == FlinkPlacement(2, 720)


def test_other_jobs_leave_the_readers_where_the_runner_puts_them():
    assert placement("--runner", "FlinkRunner") is None
    assert placement("--runner", "FlinkRunner", "--parallelism", "3", "--stop-at-end") is None
    assert placement("--parallelism", "3") is None
    assert placement() is None
