"""newsflow quality evaluation on real data that this project did not write (``make eval``).

Downloads its data through PyPI at run time (see ``corpora.py``), runs the project's transforms and
prints one table: metric, value, the target quality.md states for it (``quality_targets``: "met" or
"MISSED"), detail. Exits 1 when a target is missed, or when a section ran but a target found no
row to check (a renamed metric); 0 when every target of the sections run is met. Sections:
plain-text filler and chrome, Latin kept, header structure, per-source templates, HTML main text
/ title / date, near-duplicate calibration. Run from the repo root:
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
from quality_targets import Checked, check
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


def print_table(checked: list[Checked]) -> None:
    rows = [(*c.row[:3], c.target, c.row[3]) for c in checked]
    header = ("section", "metric", "value", "target", "detail")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    rule = (*("-" * width for width in widths), "-" * 6)
    for row in [header, rule, *rows]:
        cells = zip(row, widths, strict=False)
        print("  ".join(cell.ljust(width) for cell, width in cells), row[4])


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
    checked, unmatched = check(rows, names)
    print_table(checked)
    missed = [c.row[1].strip() for c in checked if not c.met]
    for target in unmatched:
        print(f"target {target.text} of {target.section} /{target.metric}/ matched no row")
    if missed:
        print(f"{len(missed)} target(s) missed: {'; '.join(missed)}")
    return 1 if missed or unmatched else 0


if __name__ == "__main__":
    sys.exit(main())
