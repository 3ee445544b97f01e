"""The ready SDK worker of the Flink worker pool (pipelines/sdk_worker.py), as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pipelines.sdk_worker import changed_since


def test_sources_newer_than_the_import_make_a_ready_worker_stale():
    assert not changed_since(time.time() + 3600)
    assert changed_since(0.0)


def test_a_ready_worker_preloads_and_ends_when_the_pool_closes_its_input():
    """Imports, the default NER model, then end of input without a request: exit 0, nothing
    on stderr but what logging shows at WARNING."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.sdk_worker"], input=b"", capture_output=True,
        timeout=300, check=False, env=os.environ,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
