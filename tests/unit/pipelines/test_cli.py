"""``newsflow``'s command line: -v in either place; Beam gets every flag but the CLI-only ones."""

from __future__ import annotations

import logging

import pytest

from pipelines import cli
from pipelines.cli import parse_command_line


@pytest.mark.parametrize(
    ("argv", "verbosity"),
    [
        (["run"], 0),
        (["-v", "run"], 1),
        (["run", "-v"], 1),
        (["--verbose", "run"], 1),
        (["run", "--verbose"], 1),
        (["-vv", "run"], 2),
        (["run", "-vv"], 2),
        (["-v", "run", "-v"], 2),
        (["run", "--stop-at-end", "-v", "--input-topic", "t"], 1),
        (["process", "-v", "in.jsonl", "--output", "out"], 1),
        (["-v", "tail", "--topic", "t", "-v"], 2),
    ],
)
def test_verbosity_counts_before_and_after_the_subcommand(argv, verbosity):
    assert parse_command_line(argv).verbosity == verbosity


def test_both_orders_give_beam_the_same_flags():
    flags = ["--input-topic", "t", "--stop-at-end"]
    before = parse_command_line(["-v", "run", *flags])
    after = parse_command_line(["run", *flags, "-v"])
    assert before.beam_argv == after.beam_argv == flags
    assert before.verbosity == after.verbosity == 1
    assert vars(before.args) | {"verbose": 0, "verbose_after": 0} == vars(after.args) | {
        "verbose": 0,
        "verbose_after": 0,
    }


@pytest.mark.parametrize(
    ("argv", "runner", "beam_argv"),
    [
        (["run"], "DirectRunner", []),
        (["run", "--runner", "FlinkRunner"], "FlinkRunner", []),
        (["run", "--runner=FlinkRunner", "--flink_master", "h:8081"], "FlinkRunner",
         ["--flink_master", "h:8081"]),
        (["run", "--stop-at-end", "--runner", "FlinkRunner", "--output-dir", "o"], "FlinkRunner",
         ["--stop-at-end", "--output-dir", "o"]),
    ],
)  # fmt: skip
def test_run_takes_runner_out_and_passes_every_other_flag(argv, runner, beam_argv):
    line = parse_command_line(argv)
    assert (line.args.runner, line.beam_argv) == (runner, beam_argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["process", "in.jsonl", "--output", "out", "--max-body-bytes", "9"],
        ["process", "--output", "out", "in.jsonl", "--max-body-bytes", "9"],
        ["process", "--output=out", "--max-body-bytes", "9", "in.jsonl"],
        ["process", "--max-body-bytes", "9", "in.jsonl", "--runner", "DirectRunner",
         "--output", "out"],
        ["-v", "process", "in.jsonl", "--runner=DirectRunner", "--output=out",
         "--max-body-bytes=9"],
    ],
)  # fmt: skip
def test_process_takes_input_output_and_runner_out_in_any_order(argv):
    line = parse_command_line(argv)
    assert (line.args.input, line.args.output) == ("in.jsonl", "out")
    assert line.beam_argv in (["--max-body-bytes", "9"], ["--max-body-bytes=9"])


def test_a_flag_value_equal_to_the_input_path_stays():
    argv = ["process", "--consumer-group", "x.jsonl", "x.jsonl", "--output", "out"]
    line = parse_command_line(argv)
    assert line.args.input == "x.jsonl"
    assert line.beam_argv == ["--consumer-group", "x.jsonl"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--stop-at-end", "run"],
        ["--input-topic", "t", "run"],
        ["-v", "--runner", "FlinkRunner", "run"],
    ],
)
def test_a_flag_other_than_v_before_the_subcommand_is_an_error(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_command_line(argv)
    assert exited.value.code == 2
    assert f"{argv[argv[0] == '-v']}: only -v may come before the subcommand" in (
        capsys.readouterr().err
    )


def test_an_abbreviated_flag_is_not_taken_for_a_newsflow_flag():
    # Beam re-reads the line without abbreviations; both must agree on what --stop means.
    line = parse_command_line(["run", "--stop"])
    assert line.args.stop_at_end is False
    assert line.beam_argv == ["--stop"]


@pytest.fixture
def restore_log_levels():
    names = ("", "apache_beam", "PrismRunner")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("argv", [["-v", "run"], ["run", "-v"]])
def test_main_applies_v_from_either_place(argv, restore_log_levels, capsys):
    # an invalid setting ends the command before any pipeline is built
    assert cli.main([*argv, "--window-seconds", "0"]) == 2
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("apache_beam").level == logging.NOTSET
    assert "newsflow run: error: --window-seconds must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "timeout"),
    [
        ([], cli.JOB_TIMEOUT_SECONDS),
        (["--stop-at-end"], cli.JOB_TIMEOUT_SECONDS),
        (["--job_server_timeout=60"], 60),
    ],
)
def test_no_job_ends_at_beams_five_minute_state_stream_deadline(argv, timeout):
    """A file of a few thousand articles (or a backlog read with --stop-at-end) runs longer than
    Beam's default 300 s deadline on the job's state stream; only an explicit flag sets one."""
    from apache_beam.options.pipeline_options import PortableOptions

    # a named Prism binary: no lookup, so the test needs none built (no pipeline runs here)
    options, _argv = cli._pipeline_options(
        [*argv, "--prism_location=prism"], "DirectRunner", "run", streaming=True
    )
    assert options.view_as(PortableOptions).job_server_timeout == timeout
