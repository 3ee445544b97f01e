"""The targets docs/quality.md's text-quality table states, checked against ``quality.py``'s rows.

Each target names its section, a pattern its metric must match (``re.fullmatch``; the counts in
metric names change with the data) and the bound. ``check`` gives every row its target text and
whether it is met, and lists the targets no row matched: a renamed metric must not drop its
target silently. ``quality.py`` exits 1 when a target is missed or unmatched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Row = tuple[str, str, str, str]


@dataclass(frozen=True)
class Target:
    run: str  # the quality.py section (--only name) that prints the row
    section: str  # the row's own section column
    metric: str  # a regular expression, matched whole
    text: str  # as docs/quality.md's target column puts it
    met: Callable[[float], bool]

    def matches(self, row: Row) -> bool:
        return row[0] == self.section and re.fullmatch(self.metric, row[1].strip()) is not None


def least(run: str, section: str, metric: str, bound: float) -> Target:
    return Target(run, section, metric, f">= {bound:g}", lambda value: value >= bound)


def every(run: str, section: str, metric: str) -> Target:
    """Every case: a share of 1."""
    return Target(run, section, metric, "all", lambda value: value >= 1.0)


def zero(run: str, section: str, metric: str) -> Target:
    return Target(run, section, metric, "0", lambda value: value == 0)


TARGETS: tuple[Target, ...] = (
    least("filler", "filler", r"bodies with no \d+-word filler run left", 0.99),
    least("filler", "filler", r"filler words removed \(recall\)", 0.99),
    least("filler", "filler", r"prose sentences kept whole", 0.999),
    every("filler", "filler", r"clean articles intact"),
    every("filler", "filler", r"clean articles: words kept"),
    every("chrome", "chrome", r"prose lines that open like chrome kept"),
    every("chrome", "latin", r"Latin phrases in prose kept"),
    every("template", "template", r"real paragraphs kept"),
    every("template", "template", r"recycled paragraph kept, on < \d+ pages"),
    zero("template", "template", r"titles taken from a learned template line"),
    least("snippets", "html", r"must-contain found in record \(body or comments\)", 0.95),
    least("snippets", "html", r"must-not-contain absent from body", 0.95),
    least("newspaper", "html", r"body shingle-F1, mean of \d+ pages", 0.95),
    every("fragments", "html", r"fragments \(main element only\) with text"),
    every("fragments", "html", r"pages declaring an unknown charset with text"),
    least("dates", "html", r"date exact day \(htmldate gold, one asserted day\)", 0.95),
    least("structure", "structure", r"(title|date|byline) exact \(\d+ feed texts\)", 0.95),
    least("near-dup", "near-dup", r"precision", 0.99),
    least("near-dup", "near-dup", r"recall \(kinds not reported apart\)", 0.97),
    # quality.md: distinct articles of one site and day, digests, same-story Lee pairs: none.
    # Other distinct kinds have no target of their own: their false positives count in precision.
    zero(
        "near-dup", "near-dup", r"(same_outlet_day|roundup|same_story) flagged \(false positives\)"
    ),
)


@dataclass(frozen=True)
class Checked:
    row: Row
    target: str  # "" when the row has none
    met: bool


def check(
    rows: Sequence[Row], runs: Sequence[str], targets: Sequence[Target] = TARGETS
) -> tuple[list[Checked], list[Target]]:
    """Each row with its target and verdict, and the targets of the sections ``runs`` (quality.py's
    section names) that no row matched."""
    checked, used = [], set()
    for row in rows:
        target = next((t for t in targets if t.matches(row)), None)
        if target is None:
            checked.append(Checked(row, "", True))
            continue
        used.add(target)
        try:
            met = target.met(float(row[2]))
        except ValueError:  # "-": no cases, so nothing shows the target is met
            met = False
        checked.append(Checked(row, f"{target.text} {'met' if met else 'MISSED'}", met))
    unmatched = [t for t in targets if t.run in runs and t not in used]
    return checked, unmatched
