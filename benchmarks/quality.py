"""newsflow quality evaluation on real data that this project did not write (``make eval``).

Downloads its data through PyPI at run time (see ``corpora.py``), runs the project's transforms and
prints one table: metric, value, detail. Sections: plain-text filler and chrome, Latin kept,
header structure, per-source templates, HTML main text / title / date, near-duplicate
calibration. Run from the repo root:
``.venv/bin/python benchmarks/quality.py [--only SECTION ...]`` (about two minutes on one core).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from near_dup_calibration import near_dup_rows
from quality_chrome import chrome_rows
from quality_filler import filler_rows
from quality_html import date_rows, fragment_rows, newspaper_rows, snippet_rows
from quality_templates import template_rows
from quality_text import latin_rows, structure_rows

from transforms.text.minhash_config import MinHashConfig

Row = tuple[str, str, str, str]


SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "filler": filler_rows,
    "chrome": lambda: chrome_rows() + latin_rows(),
    "structure": structure_rows,
    "template": template_rows,
    "snippets": snippet_rows,
    "newspaper": newspaper_rows,
    "dates": date_rows,
    "fragments": fragment_rows,
    "near-dup": lambda: near_dup_rows(MinHashConfig()),
}


def print_table(rows: list[Row]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    header = ("section", "metric", "value", "detail")
    rule = (*("-" * width for width in widths), "-" * 6)
    for row in [header, rule, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[3]
        )


# Names that stand for several sections.
GROUPS = {"html": ("snippets", "newspaper", "dates", "fragments")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=sorted([*SECTIONS, *GROUPS]), help="run these sections"
    )
    args = parser.parse_args(argv)
    names = [part for name in args.only or SECTIONS for part in GROUPS.get(name, (name,))]
    rows: list[Row] = []
    for name in dict.fromkeys(names):
        rows.extend(SECTIONS[name]())
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
