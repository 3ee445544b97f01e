"""The FlinkRunner's production defaults: what a bare ``--runner FlinkRunner`` line becomes, and
which jobs already on a cluster refuse a new one of the same group."""

from __future__ import annotations

import pytest

from pipelines.flink_job import (
    WorkerPoolUnavailableError,
    flag_value,
    group_job,
    refuse_running_jobs,
    require_worker_pool,
    with_flink_defaults,
)
from pipelines.flink_rest import FlinkRest
from pipelines.group_lock import GroupInUseError

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


@pytest.mark.parametrize(
    ("name", "reads"),
    [
        ("newsflow-run-g-20261208-041501", True),
        ("newsflow-run-g-h-20261208-041501", False),  # group "g-h"
        ("newsflow-run-g-20261208", False),
        ("newsflow-replay-g-20261208-041501", False),
        ("mine", True),  # the --job_name given now
        ("other", False),
    ],
)
def test_a_cluster_job_reads_the_group_by_newsflows_name_or_the_given_one(name, reads):
    assert group_job(name, "run", "g", "mine") is reads


def cluster_jobs(monkeypatch, *jobs: tuple[str, str]) -> None:
    """The cluster's ``/jobs/overview`` answers ``jobs`` (name, state)."""
    listed = [
        {"jid": f"j{i}", "name": name, "state": state, "start-time": 1_797_000_000_000 + i}
        for i, (name, state) in enumerate(jobs)
    ]
    monkeypatch.setattr(FlinkRest, "jobs", lambda self: listed)


def test_a_group_job_still_on_the_cluster_refuses_a_new_one_naming_it(monkeypatch):
    cluster_jobs(
        monkeypatch,
        ("newsflow-run-g-20261208-030000", "FINISHED"),
        ("newsflow-run-g-20261208-040000", "RESTARTING"),
        ("newsflow-run-other-20261208-040000", "RUNNING"),
    )
    with pytest.raises(GroupInUseError) as refused:
        refuse_running_jobs([*CLUSTER, "--job_name=newsflow-run-g-20261208-050000"], "run", "g")
    message = str(refused.value)
    assert "Flink job newsflow-run-g-20261208-040000 (j1, RESTARTING since 2026-" in message
    assert "newsflow savepoint --job j1 --flink-master localhost:8081" in message


def test_ended_jobs_other_groups_and_local_flink_refuse_nothing(monkeypatch):
    cluster_jobs(
        monkeypatch,
        ("newsflow-run-g-20261208-030000", "FINISHED"),
        ("newsflow-run-g-20261208-031000", "CANCELED"),
        ("newsflow-run-other-20261208-040000", "RUNNING"),
    )
    refuse_running_jobs([*CLUSTER, "--job_name=newsflow-run-g-20261208-050000"], "run", "g")
    monkeypatch.setattr(FlinkRest, "jobs", lambda self: pytest.fail("local asks no cluster"))
    refuse_running_jobs(["--flink_master=[local]"], "run", "g")
