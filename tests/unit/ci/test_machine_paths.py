"""The ``make lint`` check that keeps machine paths out of the suite, run as make runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CHECK = ROOT / ".ci" / "machine_paths.py"


def check(*roots: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECK), *map(str, roots)], capture_output=True, text=True, timeout=60
    )


# Built from parts so this file holds no machine path itself.
@pytest.mark.parametrize(
    "line",
    [
        'SEED = Path("' + "/".join(["", "work", "shared", "seed.txt"]) + '")',
        'open("' + "/".join(["", "home", "me", "corpus.jsonl"]) + '")',
        'out = "' + "/".join(["", "tmp", "bench-out"]) + '"',
        'Path("' + "/".join(["..", "shared", "samples"]) + '")',
        "Path('" + "~" + "/data/articles.jsonl').expanduser()",
        "C:" + "\\" + "Users" + "\\me\\seed.txt",
    ],
)
def test_a_machine_path_fails_the_check_naming_file_and_line(tmp_path, line):
    source = tmp_path / "tests" / "test_x.py"
    source.parent.mkdir()
    source.write_text(f"import os\n{line}\n")
    result = check(tmp_path / "tests")
    assert result.returncode == 1
    assert f"{source}:2: machine path" in result.stdout


@pytest.mark.parametrize(
    "line",
    [
        'EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"',
        'url = "https://example.org/tmp/page.html"',
        'jar = "/opt/job-server.jar"  # a flag value, not read from this machine',
        "out = tmp_path / 'files'",
    ],
)
def test_repository_relative_paths_pass(tmp_path, line):
    (tmp_path / "bench.py").write_text(f"{line}\n")
    result = check(tmp_path)
    assert (result.returncode, result.stdout) == (0, "")


def test_a_missing_folder_is_an_error_not_a_pass(tmp_path):
    assert check(tmp_path / "no-such-folder").returncode == 2
