"""Which job server jar a FlinkRunner job gets (pipelines/runners.use_flink_job_server)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from apache_beam import version as beam_version
from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    PipelineOptions,
    StandardOptions,
)
from apache_beam.runners.portability import job_server
from apache_beam.runners.portability.flink_uber_jar_job_server import FlinkUberJarJobServer
from apache_beam.runners.runner import create_runner

from pipelines import runners
from pipelines.assembly import on_flink
from pipelines.options import NewsflowOptions


def jar_for(argv: list[str]) -> str | None:
    options = PipelineOptions(argv)
    runners.use_local_runner(options, "FlinkRunner")
    return options.view_as(FlinkRunnerOptions).flink_job_server_jar


def write_jar(path: Path, beam: str | None = beam_version.__version__) -> Path:
    """A jar whose manifest is like the one deploy/flink/pom.xml writes."""
    manifest = "Manifest-Version: 1.0\nMain-Class: x.Driver\n"
    if beam is not None:
        manifest += f"Beam-Version: {beam}\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", manifest)
    return path


@pytest.fixture
def assembled(tmp_path, monkeypatch):
    jar = write_jar(tmp_path / "beam-flink-job-server.jar")
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
    write_jar(other)
    assert jar_for([]) == str(other)


def test_a_job_server_of_another_beam_version_is_refused(assembled):
    write_jar(assembled, "2.62.0" if beam_version.__version__ != "2.62.0" else "2.77.0")
    with pytest.raises(runners.FlinkVersionMismatchError, match=r"\.venv-flink"):
        jar_for([])
    with pytest.raises(runners.FlinkVersionMismatchError):
        jar_for([f"--flink_job_server_jar={assembled}"])


def test_a_jar_without_a_beam_version_is_trusted(assembled):
    write_jar(assembled, None)
    assert jar_for([]) == str(assembled)


def test_other_runners_are_left_alone(assembled):
    options = PipelineOptions([])
    runners.use_local_runner(options, "DataflowRunner")
    assert options.view_as(FlinkRunnerOptions).flink_job_server_jar is None


def test_a_flink_job_runs_on_the_runner_that_waits_for_its_job_server(assembled):
    options = PipelineOptions(["--flink_master=localhost:8081"])
    runners.use_local_runner(options, "FlinkRunner")
    name = options.view_as(StandardOptions).runner
    assert name in runners.FLINK_RUNNERS
    assert on_flink(options.view_as(NewsflowOptions))
    server = create_runner(name).default_job_server(options)
    assert type(server) is job_server.StopOnExitJobServer
    assert type(server._job_server) is runners.ListeningFlinkJobServer


def test_an_uber_jar_submission_keeps_beams_job_server(assembled):
    options = PipelineOptions(["--flink_master=localhost:8081", "--flink_submit_uber_jar"])
    runners.use_local_runner(options, "FlinkRunner")
    server = create_runner(options.view_as(StandardOptions).runner).default_job_server(options)
    assert type(server) is FlinkUberJarJobServer
