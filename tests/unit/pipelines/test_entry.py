"""The console script's module imports nothing heavy: multiprocessing re-runs the main script in
every NER pool worker, so whatever it imports, each worker imports again."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_console_script_enters_through_the_light_module() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["newsflow"] == "pipelines.entry:console"


HEAVY = ("apache_beam", "grpc", "spacy", "trafilatura", "kafka")


def test_importing_the_entry_imports_no_pipeline() -> None:
    code = f"import sys, pipelines.entry; print([m for m in sys.modules if m.startswith({HEAVY})])"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert found.stdout.strip() == "[]"
