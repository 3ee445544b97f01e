"""Beam's Flink job server for the Flink tests, resolved once per session by the project's script.

``flink_job_server_jar`` runs ``deploy/flink/flink.sh jar`` (a no-op once cached under
``deploy/flink/.cache/``), so the tests run the same jar ``make flink-demo`` does. The ``flink``
marker lets ``make test-flink`` select them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FLINK_SH = ROOT / "deploy" / "flink" / "flink.sh"
FLINK_NEWSFLOW = ROOT / ".venv-flink" / "bin" / "newsflow"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "flink: runs newsflow on Beam's FlinkRunner")


@pytest.fixture(scope="session")
def flink_job_server_jar() -> str:
    """Path of the assembled job server jar (``make flink-jar``)."""
    done = subprocess.run(
        [str(FLINK_SH), "jar"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"deploy/flink/flink.sh jar failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip()


@pytest.fixture(scope="session")
def flink_newsflow() -> str:
    """``newsflow`` of ``.venv-flink`` (``make flink-venv``): Beam at the job server's version."""
    if not FLINK_NEWSFLOW.is_file():
        pytest.fail(f"{FLINK_NEWSFLOW} is missing: run `make flink-venv`")
    return str(FLINK_NEWSFLOW)


@pytest.fixture(scope="session")
def flink_cluster() -> str:
    """``host:port`` of the standalone cluster ``make flink-cluster-up`` starts; the test that
    needs it is skipped when it is down, since starting two more JVMs is not for every test run."""
    if subprocess.run([str(FLINK_SH), "status"], capture_output=True, check=False).returncode:
        pytest.skip(
            "no standalone Flink cluster on localhost:8081: `make flink-cluster-up` (issue 5)"
        )
    return "localhost:8081"
