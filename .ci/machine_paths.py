"""Fail on absolute machine paths in the repository's code, tests and benchmarks.

A literal such as ``/home/me/seed.txt`` or ``../shared/x`` works on the machine it was written on
and fails on every clone, so the suite must reach its data through paths relative to the
repository (``Path(__file__).parents[n]``), pytest's ``tmp_path``, or what ``make`` installs.
``make lint`` runs this over the folders and files given on its command line; it prints
``file:line`` of each hit and exits 1 if there is one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import checks

MACHINE_PATH = re.compile(
    r"(?<![\w.~-])(?:/(?:work|home|root|tmp|Users|mnt|var/folders)/|\.\./shared\b|~/)"
    r"|\b[A-Za-z]:\\\\?Users\b"
)
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def hits(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line) of every line holding a machine path."""
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if MACHINE_PATH.search(line)
    ]


def files_under(root: Path):
    """``root`` itself if it is a file, else every file below it, caches skipped."""
    if root.is_file():
        yield root
    for path in sorted(root.rglob("*")):
        if path.is_file() and not SKIPPED_DIRS.intersection(path.parts):
            yield path


def problems(path: Path) -> list[tuple[int, str]]:
    """(line, problem) of every machine path in one file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(number, f"machine path: {line}") for number, line in hits(text)]


def main(roots: list[str]) -> int:
    advice = (
        "read data relative to the repository, never from a path that exists only on one machine"
    )
    return checks.run(roots, files_under, problems, advice)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["tests", "benchmarks"]))
