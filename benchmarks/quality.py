"""newsflow quality evaluation on real data that this project did not write (``make eval``).

Downloads its data through PyPI at run time (see ``corpora.py``), runs the project's transforms and
prints one table: metric, value, detail. Sections: plain-text filler and chrome, Latin kept,
header structure, per-source templates, HTML main text / title / date, near-duplicate
calibration. Run from the repo root:
``.venv/bin/python benchmarks/quality.py [--only SECTION ...]`` (about two minutes on one core).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpora import lee_articles, lee_rated
from near_dup_calibration import PERTURBATIONS, clean_body
from quality_chrome import chrome_rows
from quality_filler import filler_rows
from quality_html import date_rows, newspaper_rows, snippet_rows
from quality_templates import template_rows
from quality_text import latin_rows, paragraphs, structure_rows

from transforms.text.fingerprint import minhash, shingles
from transforms.text.near_dup import MinHashConfig, candidate_probability, judge

Row = tuple[str, str, str, str]
# Lee pairs whose mean human rating (0-1) reaches this are "the same story" hard negatives.
SAME_STORY_RATING = 0.6
# Stories the Lee corpus itself holds twice: reported, but neither copies nor negatives.
REPEAT = "lee_repeat"


def near_dup_pairs(seed: int = 5, trials: int = 2) -> list[tuple[str, str, str]]:
    """(kind, stored body, new body): copies of each Lee article, then different articles.

    Copies go through the clean step first, as in the pipeline (dateline, credit and filler are
    stripped before dedup); the update paragraph and edits come from another Lee article.
    """
    rng, articles = random.Random(seed), lee_articles()
    bases = ["\n\n".join(paragraphs(article, rng)) for article in articles]
    pairs = []
    for index, base in enumerate(bases):
        for kind, perturb in PERTURBATIONS.items():
            for _ in range(1 if kind in ("exact", "trailing_filler") else trials):
                other = bases[(index + rng.randrange(1, len(bases))) % len(bases)]
                pairs.append((kind, base, clean_body(perturb(base, other, rng))))
    rated, ratings = lee_rated()
    for first, second in combinations(range(len(rated)), 2):
        kind = "same_story" if ratings[first][second] >= SAME_STORY_RATING else "different"
        pairs.append((kind, rated[first], rated[second]))
    for _ in range(3000):
        first, second = rng.sample(range(len(articles)), 2)
        if not _same_opening(articles[first], articles[second]):
            pairs.append(("different", articles[first], articles[second]))
    pairs.extend(
        (REPEAT, first, second)
        for first, second in combinations(articles, 2)
        if _same_opening(first, second)
    )
    return pairs


def _same_opening(first: str, second: str) -> bool:
    """The Lee corpus holds a few stories twice (re-filed wire copy, same first 12 words)."""
    return first.split()[:12] == second.split()[:12]


def flagged(first: str, second: str, cfg: MinHashConfig) -> tuple[bool, float]:
    """Whether the pipeline would flag the pair (shares a band and judge() agrees), and s."""
    sig_a = minhash(shingles(first, cfg.shingle_size), cfg)
    sig_b = minhash(shingles(second, cfg.shingle_size), cfg)
    rows = cfg.rows
    candidate = any(
        sig_a[band * rows : (band + 1) * rows] == sig_b[band * rows : (band + 1) * rows]
        for band in range(cfg.bands)
    )
    verdict = judge(sig_a, sig_b, cfg)
    return candidate and verdict.duplicate, verdict.similarity


def near_dup_rows(cfg: MinHashConfig) -> list[Row]:
    """Precision/recall over all pairs, recall per copy kind, false positives per negative kind."""
    results: dict[str, list[bool]] = {}
    for kind, first, second in near_dup_pairs():
        results.setdefault(kind, []).append(flagged(first, second, cfg)[0])
    positives = [hit for kind, hits in results.items() if kind in PERTURBATIONS for hit in hits]
    negatives = [
        hit
        for kind, hits in results.items()
        if kind not in PERTURBATIONS and kind != REPEAT
        for hit in hits
    ]
    true_pos, false_pos = sum(positives), sum(negatives)
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 1.0
    config = f"{cfg.shingle_size}-word shingles, {cfg.bands}x{cfg.rows}, t={cfg.threshold}"
    rows = [
        ("near-dup", "precision", f"{precision:.4f}", config),
        ("near-dup", "recall", f"{true_pos / len(positives):.4f}", f"{true_pos}/{len(positives)}"),
    ]
    for kind, hits in results.items():
        share = sum(hits) / len(hits)
        label = "caught" if kind in PERTURBATIONS else "flagged (must be 0)"
        label = "flagged (corpus repeats, information)" if kind == REPEAT else label
        rows.append(("near-dup", f"{kind} {label}", f"{share:.4f}", f"{sum(hits)}/{len(hits)}"))
    return rows


def s_curve_rows(cfg: MinHashConfig) -> list[Row]:
    """P(candidate | Jaccard s) = 1 - (1 - s^r)^b at a few points of the chosen bands x rows."""
    points = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    curve = ", ".join(f"{s:.1f}:{candidate_probability(s, cfg):.3f}" for s in points)
    return [("near-dup", f"S-curve 1-(1-s^{cfg.rows})^{cfg.bands}", "", curve)]


SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "filler": filler_rows,
    "chrome": lambda: chrome_rows() + latin_rows(),
    "structure": structure_rows,
    "template": template_rows,
    "snippets": snippet_rows,
    "newspaper": newspaper_rows,
    "dates": date_rows,
    "near-dup": lambda: near_dup_rows(MinHashConfig()) + s_curve_rows(MinHashConfig()),
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
GROUPS = {"html": ("snippets", "newspaper", "dates")}


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
