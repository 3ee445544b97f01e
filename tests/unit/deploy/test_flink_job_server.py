"""Which job server jar a FlinkRunner job gets (pipelines/runners.use_flink_job_server)."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions

from pipelines import runners


def jar_for(argv: list[str]) -> str | None:
    options = PipelineOptions(argv)
    runners.use_local_runner(options, "FlinkRunner")
    return options.view_as(FlinkRunnerOptions).flink_job_server_jar


@pytest.fixture
def assembled(tmp_path, monkeypatch):
    jar = tmp_path / "beam-flink-job-server.jar"
    jar.write_bytes(b"PK")
    monkeypatch.setattr(runners, "FLINK_JOB_SERVER_JAR", jar)
    monkeypatch.delenv(runners.FLINK_JOB_SERVER_ENV, raising=False)
    return jar


def test_the_assembled_jar_is_used_when_none_is_named(assembled):
    assert jar_for([]) == str(assembled)


def test_a_named_jar_wins(assembled):
    assert jar_for(["--flink_job_server_jar=/opt/job-server.jar"]) == "/opt/job-server.jar"


def test_uber_jar_submission_is_left_to_beam(assembled):
    assert jar_for(["--flink_submit_uber_jar"]) is None


def test_without_an_assembled_jar_beam_chooses(assembled):
    assembled.unlink()
    assert jar_for([]) is None


def test_the_environment_overrides_and_must_name_a_file(assembled, tmp_path, monkeypatch):
    other = tmp_path / "other.jar"
    monkeypatch.setenv(runners.FLINK_JOB_SERVER_ENV, str(other))
    with pytest.raises(runners.FlinkJobServerNotFoundError, match="make flink-jar"):
        jar_for([])
    other.write_bytes(b"PK")
    assert jar_for([]) == str(other)


def test_other_runners_are_left_alone(assembled):
    options = PipelineOptions([])
    runners.use_local_runner(options, "DataflowRunner")
    assert options.view_as(FlinkRunnerOptions).flink_job_server_jar is None
