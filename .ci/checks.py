"""What the ``.ci`` file checks share: walk the roots, print each problem, exit as make expects.

A check supplies which files under a root it reads and the problems it finds in one file; this
module prints ``file:line: problem`` for each, then a one-line summary with the fix, and returns
0 (clean), 1 (problems found) or 2 (a root that does not exist: a typo must not pass as clean).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

FilesOf = Callable[[Path], Iterable[Path]]
ProblemsOf = Callable[[Path], Iterable[tuple[int, str]]]


def run(roots: list[str], files_of: FilesOf, problems_of: ProblemsOf, advice: str) -> int:
    """Exit code of a check over ``roots``; ``advice`` ends the summary line when it fails."""
    found = 0
    for root in roots:
        if not Path(root).exists():
            print(f"{root}: no such file or folder to check", file=sys.stderr)
            return 2
        for path in files_of(Path(root)):
            for number, problem in problems_of(path):
                print(f"{path}:{number}: {problem}")
                found += 1
    if found:
        print(f"{found} problem(s): {advice}", file=sys.stderr)
    return 1 if found else 0
