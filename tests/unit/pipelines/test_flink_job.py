"""The FlinkRunner's production defaults: what a bare ``--runner FlinkRunner`` line becomes."""

from __future__ import annotations

import pytest

from pipelines.flink_job import (
    WorkerPoolUnavailableError,
    flag_value,
    require_worker_pool,
    with_flink_defaults,
)

CLUSTER = ["--flink_master=localhost:8081"]


def defaults(argv: list[str], streaming: bool = True, parallelism: int | None = 2) -> list[str]:
    return with_flink_defaults(argv, streaming, "run", 10.0, "g", parallelism)


def test_a_cluster_job_gets_the_worker_pool_and_checkpoints_and_the_clusters_restart_strategy():
    argv = defaults(CLUSTER)
    assert flag_value(argv, "environment_type") == "EXTERNAL"
    assert flag_value(argv, "environment_config") == "localhost:50000"
    assert flag_value(argv, "checkpointing_interval") == "10000"
    assert flag_value(argv, "checkpointing_mode") == "EXACTLY_ONCE"
    assert "--retain_externalized_checkpoints_on_cancellation" in argv
    assert "--externalized_checkpoints_enabled" in argv
    # Beam would set a fixed-delay strategy over the cluster's exponential delay.
    assert flag_value(argv, "number_of_execution_retries") is None
    assert flag_value(argv, "parallelism") == "2"
    assert flag_value(argv, "ner_processes") == "1"
    assert flag_value(argv, "sdk_worker_parallelism") == "1"
    assert flag_value(argv, "job_name").startswith("newsflow-run-g-")
    assert flag_value(argv, "max_bundle_time_mills") == "100"
    assert flag_value(argv, "idle_watermark_lag_seconds") == "0.5"
    assert flag_value(argv, "idle_poll_millis") == "100"
    assert flag_value(argv, "idle_rest_millis") == "1500"


@pytest.mark.parametrize(
    "given",
    [
        ["--environment_type=DOCKER"],
        ["--checkpointing_interval", "500"],
        ["--ner-processes=3"],
        ["--parallelism=4"],
        ["--job_name=mine"],
        ["--max_bundle_time_mills=1000"],
        ["--idle-watermark-lag-seconds=2"],
        ["--idle-poll-millis", "1000"],
        ["--idle-rest-millis=1000"],
    ],
)
def test_what_the_line_sets_wins(given):
    argv = defaults([*CLUSTER, *given])
    name = given[0].lstrip("-").split("=")[0].replace("-", "_")
    assert [a for a in argv if a.lstrip("-").split("=")[0].replace("-", "_") == name] == [given[0]]
    assert "--environment_config=localhost:50000" not in argv or name != "environment_type"


def test_local_flink_uses_loopback_and_a_bounded_job_no_checkpoints():
    argv = defaults(["--flink_master=[local]"], streaming=False)
    assert flag_value(argv, "environment_type") == "LOOPBACK"
    assert flag_value(argv, "checkpointing_interval") is None
    assert flag_value(argv, "parallelism") is None
    assert flag_value(argv, "max_bundle_time_mills") is None
    assert flag_value(argv, "idle_watermark_lag_seconds") is None
    assert flag_value(argv, "idle_poll_millis") is None
    assert flag_value(argv, "idle_rest_millis") is None


def test_no_worker_pool_is_one_clear_error():
    with pytest.raises(WorkerPoolUnavailableError, match="no Beam worker pool at localhost:1"):
        require_worker_pool(["--environment_type=EXTERNAL", "--environment_config=localhost:1"])
