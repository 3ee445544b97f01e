"""Which lines of code hold the launcher's growth per remembered article in a soak.

Reads the snapshots ``memory_soak.py --snapshots DIR`` had the launcher dump, and that run's
``--csv`` samples (their ``unix`` column dates them), compares the first snapshot taken after
``--warmup-minutes`` with the last by file and line, and prints the traced bytes and objects
gained per remembered article (enriched outputs between the two, from the nearest samples),
largest first, with the traced total. No assertion: figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import csv
import tracemalloc
from pathlib import Path


def enriched_at(rows: list[dict[str, str]], unix: float) -> float:
    """Enriched outputs at the sample nearest to ``unix``."""
    nearest = min(rows, key=lambda row: abs(float(row["unix"]) - unix))
    return float(nearest["enriched"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshots", type=Path, help="memory_soak.py --snapshots DIR")
    parser.add_argument("--csv", type=Path, required=True, help="that run's memory_soak.py --csv")
    parser.add_argument("--warmup-minutes", type=float, default=5.0, help="(5)")
    parser.add_argument("--top", type=int, default=25, help="lines printed (25)")
    args = parser.parse_args(argv)
    rows = list(csv.DictReader(args.csv.open()))
    warm = next(float(r["unix"]) for r in rows if float(r["minutes"]) >= args.warmup_minutes)
    snaps = sorted(args.snapshots.glob("*.snap"), key=lambda path: float(path.stem))
    first = next(path for path in snaps if float(path.stem) >= warm)
    last = snaps[-1]
    articles = enriched_at(rows, float(last.stem)) - enriched_at(rows, float(first.stem))
    diff = tracemalloc.Snapshot.load(str(last)).compare_to(
        tracemalloc.Snapshot.load(str(first)), "lineno"
    )
    minutes = (float(last.stem) - float(first.stem)) / 60
    print(f"snapshots {first.name} -> {last.name} ({minutes:.1f} min), "
          f"{articles:.0f} remembered articles between them")  # fmt: skip
    print(f"traced growth: {sum(s.size_diff for s in diff) / articles:,.0f} bytes per article")
    print("| bytes per article | objects per article | where |")
    print("|---|---|---|")
    for stat in diff[: args.top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"| {stat.size_diff / articles:,.0f} | {stat.count_diff / articles:.1f} | {where} |")


if __name__ == "__main__":
    main()
