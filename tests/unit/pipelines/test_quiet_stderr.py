import io
import sys
import traceback

from pipelines.quiet_stderr import WithoutTracebacks, show_worker_tracebacks


def a_traceback() -> str:
    try:
        raise FileNotFoundError("/proc/nope")
    except FileNotFoundError:
        return traceback.format_exc()


def test_a_whole_printed_traceback_is_dropped_and_other_text_passes():
    sink = io.StringIO()
    stream = WithoutTracebacks(sink)
    print(a_traceback(), file=stream)
    print("newsflow run: error: FileNotFoundError: /proc/nope", file=stream)
    assert sink.getvalue() == "newsflow run: error: FileNotFoundError: /proc/nope\n"


def test_an_uncaught_exception_written_line_by_line_still_shows():
    sink = io.StringIO()
    stream = WithoutTracebacks(sink)
    for line in a_traceback().splitlines(keepends=True):
        stream.write(line)
    assert sink.getvalue() == a_traceback()


def test_verbosity_unwraps_and_wraps_without_nesting(monkeypatch):
    sink = io.StringIO()
    monkeypatch.setattr(sys, "stderr", sink)
    show_worker_tracebacks(False)
    show_worker_tracebacks(False)
    assert isinstance(sys.stderr, WithoutTracebacks) and sys.stderr.wrapped is sink
    show_worker_tracebacks(True)
    assert sys.stderr is sink
