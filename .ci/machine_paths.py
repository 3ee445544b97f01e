"""Fail on absolute machine paths in the repository's code, tests and benchmarks.

A literal such as ``/home/me/seed.txt`` or ``../shared/x`` works on the machine it was written on
and fails on every clone, so the suite must reach its data through paths relative to the
repository (``Path(__file__).parents[n]``), pytest's ``tmp_path``, or what ``make`` installs.
``make lint`` runs this over the folders and files given on its command line; it prints
``file:line`` of each hit and exits 1 if there is one.
"""

from __future__ import annotations

import re
import subprocess
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


def ignored_by_git(paths: list[Path]) -> set[Path]:
    """Those of ``paths`` that .gitignore excludes (none outside a git checkout)."""
    if not paths:
        return set()
    answer = subprocess.run(
        ["git", "check-ignore", "--stdin", "-z"], cwd=paths[0].parent, capture_output=True,
        input="\0".join(str(p.resolve()) for p in paths), text=True,
    )  # fmt: skip
    if answer.returncode not in (0, 1):
        return set()
    return {Path(name) for name in answer.stdout.split("\0") if name}


def files_under(root: Path):
    """``root`` itself if it is a file, else every file below it except caches and what git
    ignores (downloaded data such as ``benchmarks/.data`` is not the project's code)."""
    if root.is_file():
        yield root
        return
    found = [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not SKIPPED_DIRS.intersection(path.parts)
    ]
    ignored = ignored_by_git(found)
    yield from (path for path in found if path.resolve() not in ignored)


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
