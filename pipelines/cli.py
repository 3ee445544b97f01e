"""The ``newsflow`` command: run / process / produce / tail / status / replay.

Each subcommand is a parser whose defaults name its handler and what Beam must not see
(``set_defaults``); ``main`` parses the line and calls the handler, whatever the command. Flags
of ``run`` and ``process`` are NewsflowOptions; anything else on the line is handed to Beam
unchanged (``--flink_master``, ``--direct_num_workers`` ...).
"""

from __future__ import annotations

import argparse
import gc
import logging
import re
import signal
import sys
import threading
from dataclasses import dataclass
from functools import partial

import apache_beam as beam
import grpc
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions
from apache_beam.runners.runner import PipelineState
from kafka.errors import KafkaError

from pipelines import assembly, flink_job, flink_rest, kafka_tools, replay, status
from pipelines.group_lock import GroupLock
from pipelines.metrics import job_metrics, job_snapshot
from pipelines.options import (
    NEWSFLOW_FLAGS,
    Flag,
    NewsflowOptions,
    add_flags,
    flag,
    kafka_connection,
    validate,
    value_spellings,
)
from pipelines.progress import show_progress
from pipelines.quiet_stderr import show_worker_tracebacks
from pipelines.runners import PrismNotFoundError, use_local_runner
from schemas import errors
from schemas.errors import NewsflowError
from transforms.text.malloc import limit_malloc_arenas

LOG = logging.getLogger("newsflow")
_NEWSFLOW_ERRORS = frozenset(
    name for name, value in vars(errors).items() if isinstance(value, type) and name[0].isupper()
)
# By default only records of these packages are shown (see _set_verbosity).
NEWSFLOW_PACKAGES = ("newsflow", "pipelines", "transforms", "schemas")
JOB_TIMEOUT_SECONDS = 10 * 365 * 24 * 3600
VERBOSE_HELP = "log more: -v info, -vv debug (before or after the subcommand); 0: warnings only"
VERBOSITY = re.compile(r"-v+|--verbose")
BEAM_HINT = "Any other flag is passed to Beam (e.g. --flink_master HOST:PORT)."
RUNNER = flag(
    "runner",
    default="DirectRunner",
    help="Beam runner: DirectRunner (runs the job on the local Prism runner) or FlinkRunner",
)
OUTPUT = flag(
    "output",
    required=True,
    default=argparse.SUPPRESS,
    metavar="DIR",
    help="directory for the *.jsonl and *.avro outputs (required)",
)
PROCESS_FLAGS = (OUTPUT, *NEWSFLOW_FLAGS, RUNNER)
# The subcommands that only talk to Kafka: how each registers its parser, and what it runs.
TOOLS = (
    (kafka_tools.add_produce_parser, kafka_tools.run_produce),
    (kafka_tools.add_tail_parser, kafka_tools.run_tail),
    (status.add_parser, status.run),
    (replay.add_parser, replay.run),
    (flink_rest.add_parser, flink_rest.run),
)


def _parser() -> argparse.ArgumentParser:
    """The ``newsflow`` parser. Each subcommand's defaults hold its ``handler`` (called with the
    ``CommandLine``; a tool's handler calls its ``tool`` with the flags) and ``beam_flags`` (the
    subcommand's flags -> the flags Beam gets). No abbreviated flags: Beam re-reads the line
    without them (``--stop`` would pass here and be dropped there)."""
    parser = argparse.ArgumentParser(
        prog="newsflow",
        description="News article ingestion on Beam.",
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    # The same flag after the subcommand, counted apart (a subcommand's values replace the top
    # level's in argparse) and added up in parse_command_line.
    after = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    after.add_argument(
        "-v", "--verbose", dest="verbose_after", action="count", default=0, help=VERBOSE_HELP
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub_parser = partial(
        sub.add_parser,
        parents=[after],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    run = sub_parser("run", help="the streaming pipeline on Kafka", epilog=BEAM_HINT)
    add_flags(run, (*NEWSFLOW_FLAGS, RUNNER))
    run.set_defaults(handler=_run, beam_flags=_run_beam_flags)

    process = sub_parser("process", help="the same transforms on a JSONL file", epilog=BEAM_HINT)
    process.add_argument("input", help="JSON-lines events (a path or glob, any Beam filesystem)")
    add_flags(process, PROCESS_FLAGS)
    process.set_defaults(handler=_process, beam_flags=_process_beam_flags)

    for add_parser, run_tool in TOOLS:
        add_parser(sub_parser).set_defaults(handler=_tool, tool=run_tool, beam_flags=_no_flags)
    return parser


def _pipeline_options(argv: list[str], runner: str, command: str, streaming: bool):
    """The job's options; a FlinkRunner job gets its production defaults (``flink_job``)."""
    opts = PipelineOptions(argv).view_as(NewsflowOptions)
    if runner == "FlinkRunner":
        streaming = streaming and not opts.stop_at_end
        argv = flink_job.with_flink_defaults(
            argv, streaming, command, opts.checkpoint_interval_seconds, opts.consumer_group,
            flink_job.cluster_parallelism(argv),
        )  # fmt: skip
        flink_job.require_worker_pool(argv)
    options = PipelineOptions(argv)
    validate(options.view_as(NewsflowOptions))
    use_local_runner(options, runner)
    if "job_server_timeout" not in flink_job.given(argv):
        # Beam reads the job's state stream with this as its gRPC deadline (300 s by default):
        # any job running longer (a stream, a large file, --stop-at-end over a backlog) would
        # end with DEADLINE_EXCEEDED after five minutes.
        options.view_as(PortableOptions).job_server_timeout = JOB_TIMEOUT_SECONDS
    return options, argv


def _run(line: CommandLine) -> int:
    """``newsflow run``: the Kafka job, streaming unless ``--stop-at-end``, run while holding the
    consumer group's lease."""
    options, beam_argv = _pipeline_options(line.beam_argv, line.args.runner, "run", True)
    opts = options.view_as(NewsflowOptions)
    options.view_as(StandardOptions).streaming = not opts.stop_at_end
    lock = GroupLock(kafka_connection(opts), opts.consumer_group)
    lock.acquire()
    try:
        if line.args.runner == "FlinkRunner":
            flink_job.refuse_running_jobs(beam_argv, "run", opts.consumer_group)
        pipeline = beam.Pipeline(options=options)
        assembly.build(pipeline, opts)
        with flink_job.cancelled_on_exit(beam_argv, opts.detach):
            state = _run_to_end(pipeline, opts, beam_argv)
    finally:
        lock.release()
    LOG.info("pipeline finished: %s", state)
    return 0


def _run_to_end(pipeline: beam.Pipeline, opts: NewsflowOptions, beam_argv: list[str]) -> str:
    """Run the job until it ends or is cancelled by a signal; a failed job raises
    ``JobFailedError`` with one line naming the error raised on the worker. A detached cluster
    job is only submitted."""
    metrics = job_metrics(opts)
    result = _started(pipeline)
    if opts.detach and flink_job.wait_submitted(beam_argv):
        return PipelineState.RUNNING
    metrics.attach(result)
    stopping = threading.Event()
    if not opts.stop_at_end:
        _cancel_on_signals(result, stopping)
    try:
        return result.wait_until_finish()
    except Exception as exc:  # the runner's status stream ends in several ways on cancel
        if not stopping.is_set():
            raise JobFailedError(failure_line(exc)) from exc
        LOG.info("job status stream ended after cancel: %r", exc)
        return PipelineState.CANCELLED
    finally:
        metrics.stop()


def _started(pipeline: beam.Pipeline):
    """``pipeline.run()``, once what start-up allocated is out of the garbage collector's way.

    Imports and the pipeline's construction leave a few hundred thousand long-lived objects
    (Beam, gRPC, protobuf, the job's own modules) that the collector's full passes would walk
    again and again while the job runs: under LOOPBACK the SDK worker runs in this process and
    allocates all the time (0.6 s of CPU in 8 full passes over the 1,000-article benchmark).
    Frozen, they are skipped; what was garbage is collected first, so nothing is kept that was
    not alive."""
    gc.collect()
    gc.freeze()
    return pipeline.run()


class JobFailedError(Exception):
    """The job failed on a worker; its message is one line naming the cause."""


# The "module.ErrorClass: message" lines of a worker traceback embedded in a job failure.
_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$", re.MULTILINE)


def failure_line(exc: BaseException) -> str:
    """One line for the operator from a failed job: a runner reports the worker's whole traceback
    in its message; the error raised there (a newsflow error when newsflow raised it) is what
    matters, so the last ``SomeError: message`` line of it is kept, else the first line."""
    text = str(exc)
    found = _ERROR_LINE.findall(text)
    ours = [m for m in found if m[0] in _NEWSFLOW_ERRORS]
    first = text.strip().splitlines()[0] if text.strip() else ""
    name, message = (ours or found or [(type(exc).__name__, first)])[-1]
    return f"{name}: {message}"[:1000]


def _cancel_on_signals(result, stopping: threading.Event) -> None:
    """SIGTERM or Ctrl-C cancels the job, and that counts as a clean stop. Nothing is lost:
    offsets are committed only for inputs whose outputs are all written, so what was in flight
    is read again on the next start."""

    def cancel(signum, _frame) -> None:
        LOG.warning("%s: cancelling the pipeline", signal.Signals(signum).name)
        stopping.set()
        _quiet_worker_shutdown()
        result.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, cancel)


def _quiet_worker_shutdown() -> None:
    """After a cancel, the runner closes its gRPC channels under the Python workers that LOOPBACK
    runs in this process; their threads then die on ``UNAVAILABLE``. That is the expected end of
    a cancelled job, not an error, so it is not printed as tracebacks."""
    logging.getLogger("apache_beam.runners.worker").setLevel(logging.CRITICAL)
    default_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if not isinstance(args.exc_value, grpc.RpcError):
            default_hook(args)

    threading.excepthook = hook


def _process(line: CommandLine) -> int:
    """``newsflow process``: the same transforms on event files, with a progress line."""
    args = line.args
    options, beam_argv = _pipeline_options(line.beam_argv, args.runner, "process", False)
    pipeline = beam.Pipeline(options=options)
    assembly.build_file_mode(pipeline, options.view_as(NewsflowOptions), args.input, args.output)
    with flink_job.cancelled_on_exit(beam_argv, detach=False):
        result = _started(pipeline)
        with show_progress(partial(job_snapshot, result)):
            try:
                result.wait_until_finish()
            except Exception as exc:  # the runner reports a failed job in several ways
                raise JobFailedError(failure_line(exc)) from exc
    return 0


def _tool(line: CommandLine) -> int:
    """A subcommand that only talks to Kafka (``tool``): it needs the parsed flags alone."""
    return line.args.tool(line.args)


@dataclass(frozen=True)
class CommandLine:
    """One ``newsflow`` invocation: the parsed flags, the verbosity, and the flags Beam gets."""

    args: argparse.Namespace
    verbosity: int
    beam_argv: list[str]


def parse_command_line(argv: list[str]) -> CommandLine:
    """Parse ``newsflow [-v] COMMAND [flags]``; exits 2 with usage on a malformed line.

    ``-v`` counts the same before and after the subcommand (``newsflow -v run`` is
    ``newsflow run -v``). Any other flag belongs after it: one before it is an error, not silently
    dropped. Beam's options are parsed from the subcommand's flags (newsflow's and Beam's alike)
    minus the verbosity and what only this command reads: ``--runner``, and ``process``'s input
    and ``--output``."""
    parser = _parser()
    at = next((i for i, token in enumerate(argv) if not VERBOSITY.fullmatch(token)), len(argv))
    if at < len(argv) and argv[at].startswith("-") and argv[at] not in ("-h", "--help"):
        parser.error(f"{argv[at]}: only -v may come before the subcommand")
    args, _unknown = parser.parse_known_args(argv)
    flags = [token for token in argv[at + 1 :] if not VERBOSITY.fullmatch(token)]
    return CommandLine(args, args.verbose + args.verbose_after, args.beam_flags(flags))


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()
    line = parse_command_line(list(sys.argv[1:] if argv is None else argv))
    _set_verbosity(line.verbosity)
    try:
        return line.args.handler(line)
    except (
        ValueError, KafkaError, OSError, PrismNotFoundError, NewsflowError, JobFailedError,
        flink_rest.FlinkRestError,
    ) as exc:  # fmt: skip
        print(f"newsflow {line.args.command}: error: {exc}", file=sys.stderr)
        return 2


def _set_verbosity(verbose: int) -> None:
    """Quiet by default: newsflow warnings only, Beam's only from -v (its startup chatter and
    runner notices are not the user's problem); -vv shows everything at debug."""
    logging.getLogger().setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)])
    show_worker_tracebacks(verbose > 0)
    for noisy in ("apache_beam", "PrismRunner"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL if verbose == 0 else logging.NOTSET)
    # kafka-python logs every failed socket and retry during a broker outage; newsflow logs the
    # outage once (transforms/io/broker_retry.py), so its lines are for -vv debugging only. Its
    # records are still made (broker_retry reads login rejections from them), just not shown.
    # Beam relays the runner's messages (a failed job's worker tracebacks, several times over)
    # through the root logger and loggers renamed on the fly; by default only newsflow's own
    # records are shown, and a failed job ends in one line from main().
    logging.getLogger("kafka").setLevel(logging.WARNING if verbose < 2 else logging.NOTSET)
    shown = [_only_newsflow, _not_kafka, None][min(verbose, 2)]
    for handler in logging.getLogger().handlers:
        if type(handler) is not logging.StreamHandler:
            continue  # console()'s handler only; a test harness's capture sees everything
        for quiet in (_only_newsflow, _not_kafka):
            handler.removeFilter(quiet)
        if shown is not None:
            handler.addFilter(shown)


def _only_newsflow(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] in NEWSFLOW_PACKAGES


def _not_kafka(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] != "kafka"


def console() -> int:
    """Entry point of the ``newsflow`` script: structured one-line logs on stderr, then main()."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    return main()


def _without(argv: list[str], cli_only: tuple[Flag, ...]) -> list[str]:
    """Drop the CLI-only flags (``--flag value`` or ``--flag=value``) Beam must not see."""
    takes_value = {name: one.takes_value for one in cli_only for name in one.spellings}
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
            continue
        name = item.split("=", 1)[0]
        if name in takes_value:
            skip = takes_value[name] and "=" not in item
            continue
        out.append(item)
    return out


def _without_input(argv: list[str], takes_value: frozenset[str]) -> list[str]:
    """Drop the positional input: the first token that is neither a flag nor the value of one of
    the flags in ``takes_value``, the token argparse took (a path equal to a flag's value
    stays)."""
    skip = False
    for at, item in enumerate(argv):
        if skip:
            skip = False
        elif item.startswith("-"):
            skip = item in takes_value
        else:
            return argv[:at] + argv[at + 1 :]
    return argv


def _run_beam_flags(flags: list[str]) -> list[str]:
    """``run``'s flags minus ``--runner``."""
    return _without(flags, (RUNNER,))


def _process_beam_flags(flags: list[str]) -> list[str]:
    """``process``'s flags minus its input, ``--output`` and ``--runner``."""
    return _without(_without_input(flags, value_spellings(PROCESS_FLAGS)), (RUNNER, OUTPUT))


def _no_flags(_flags: list[str]) -> list[str]:
    """A tool runs no pipeline: Beam gets nothing."""
    return []


if __name__ == "__main__":
    sys.exit(console())
