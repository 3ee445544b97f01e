"""``newsflow process`` shows its progress on a terminal (a real pty) and nothing on a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stream

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
EVENTS = 6
TIMEOUT_SECONDS = 600


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    """The first lines of the examples (articles and bad events): a short job."""
    path = tmp_path_factory.mktemp("progress") / "events.jsonl"
    path.write_bytes(b"".join(EXAMPLES.read_bytes().splitlines(keepends=True)[:EVENTS]))
    return path


def process_argv(events: Path, output: Path) -> list[str]:
    """One NER process: no pool to start, so the short job stays short."""
    return [sys.executable, "-m", "pipelines.cli", "process", str(events), "--output", str(output),
            "--ner-processes", "1"]  # fmt: skip


def test_progress_on_a_terminal(events, tmp_path):
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        process_argv(events, tmp_path / "out"),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    assert proc.wait(timeout=TIMEOUT_SECONDS) == 0
    os.close(controller)
    final = screen.decode(errors="replace").rsplit("\r\x1b[2K", 1)[-1]
    assert final.startswith(f"events read {EVENTS} · enriched ")
    assert final.rstrip().endswith("articles/s")


def test_quiet_when_not_a_terminal(events, tmp_path):
    done = subprocess.run(
        process_argv(events, tmp_path / "out"),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert b"events read" not in done.stdout + done.stderr
    assert b"\x1b[2K" not in done.stderr
