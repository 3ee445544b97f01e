"""Calibrate near-duplicate detection: similarity of copies vs. different articles.

Builds perturbed copies of each base article (the kinds DESIGN.md calls duplicates) and pairs of
different articles (same story and unrelated), then prints:

1. the true word-shingle Jaccard per perturbation kind for several shingle sizes,
2. the MinHash-estimated similarity per kind for the chosen configuration,
3. the LSH S-curve P(candidate | s) = 1 - (1 - s^r)^b for the chosen bands x rows,
4. precision and recall of "candidate and judge() says duplicate" over a range of thresholds.

Run from the repo root (about 10 s on one core):
``PYTHONPATH=. python benchmarks/near_dup_calibration.py [--corpus DIR] [--trials N] [--bands B]``.
``--corpus`` adds ``*.txt`` articles (blank-line separated paragraphs); files whose names share
the part before ``__`` are treated as different articles on the same story. A later calibration
on real corpora plugs in there, and new perturbations are one function added to PERTURBATIONS.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

from transforms.text.boilerplate import strip_boilerplate
from transforms.text.extract import parse_structure
from transforms.text.fingerprint import fingerprint, shingles
from transforms.text.near_dup import MinHashConfig, candidate_probability, judge, shares_band

# The seed article is the first event of the bundled examples (never a path outside the repo).
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "articles.jsonl"


def unwrap(text: str) -> str:
    """Join the wrapped lines of each paragraph; paragraphs stay blank-line separated."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.strip().split("\n\n"))


# Hand-written articles: "story" prefixes group different write-ups of the same story, which
# share names and quotes but are not copies (the hard negatives).
ARTICLES = {
    "rudd__bbc": unwrap(
        """
The home secretary has said it is "completely unacceptable" that the security services cannot
read messages sent on encrypted apps such as WhatsApp.

Amber Rudd told the BBC's Andrew Marr that there should be "no place for terrorists to hide"
after it emerged that the Westminster attacker, Khalid Masood, sent a WhatsApp message minutes
before he began his attack.

"We need to make sure that organisations like WhatsApp, and there are plenty of others like
that, don't provide a secret place for terrorists to communicate with each other," she said.

Ms Rudd will meet technology firms later this week. She said she would prefer a voluntary
agreement but did not rule out new laws.

WhatsApp, which is owned by Facebook, said it was cooperating with the police investigation.
Civil liberties groups warned that weakening encryption would put the security of millions of
ordinary users at risk, because a back door for the state would also be a back door for
criminals.
"""
    ),
    "rudd__telegraph": unwrap(
        """
Ministers are preparing to summon the bosses of Google, Facebook and Twitter to a meeting at
the Home Office, as pressure grows on internet giants after the Westminster attack.

Writing in this newspaper, Amber Rudd says the firms must stop treating themselves as neutral
platforms. "They are not technology companies. They are platforms," a source close to the home
secretary said, adding that the companies had to accept the responsibilities of publishers.

The home secretary wants an industry-wide board to take down extremist material faster, and
will ask the firms to develop tools that stop such content being uploaded in the first place.

Police have arrested twelve people since Wednesday, most of whom have been released without
charge. Officers are still trying to establish whether Masood acted alone.

Labour said the government had cut the number of police officers and could not blame technology
companies for every failure.
"""
    ),
    "storm__local": unwrap(
        """
Hundreds of homes were left without power on Tuesday night after Storm Doris brought gusts of
more than 90mph to parts of northern England and Wales.

The Met Office issued an amber warning for wind across the region. "Gusts of this strength can
bring down trees and cause damage to buildings, so people should take care if they have to
travel," a spokesman said.

In Liverpool a woman was taken to hospital after being hit by falling debris, and several
schools closed early. Rail services between Manchester and Leeds were suspended for four hours
while engineers cleared fallen trees from the line.

The energy network said engineers would work through the night, but warned that some rural
customers might not be reconnected until Thursday.
"""
    ),
    "storm__national": unwrap(
        """
Storm Doris has caused widespread disruption across Britain, with flights cancelled at Heathrow
and Gatwick and drivers warned to stay off exposed roads.

Forecasters said the storm was the strongest of the winter so far. "Gusts of this strength can
bring down trees and cause damage to buildings," the Met Office said, as it extended its
warnings into Scotland.

More than 20,000 customers lost electricity at the height of the storm. Network Rail imposed
speed limits on many lines, and several motorway bridges were closed to high-sided vehicles.

The storm is expected to move into the North Sea by Friday morning, bringing colder but calmer
weather for the weekend, with a chance of snow on high ground.
"""
    ),
    "football__report": unwrap(
        """
A late goal from the substitute Marcus Rashford gave Manchester United a 2-1 win over Leicester
City at Old Trafford on Saturday, lifting them to fourth in the table.

Leicester had equalised early in the second half through Jamie Vardy, who ran onto a long ball
and beat the goalkeeper with a low shot. United pressed for the winner and were denied twice by
the post before Rashford turned sharply in the area and scored in the 87th minute.

The United manager praised his side's patience. "We did not panic, we kept the ball and we
created chances until the end," he said. Leicester remain in the bottom half after a run of
three defeats.
"""
    ),
    "tech__earnings": unwrap(
        """
Shares in the chip designer rose eight per cent in early trading after the company reported
quarterly revenue well ahead of analysts' forecasts, driven by demand from data centres.

Revenue for the three months to March rose to 4.2 billion dollars, up a third on the same
period last year, while profit margins widened despite higher spending on research.

The chief executive said orders from cloud computing providers remained strong and that the
company expected growth to continue for the rest of the year. Analysts cautioned that supply
constraints at contract manufacturers could limit shipments, and that competition from rivals
building their own processors was intensifying.
"""
    ),
    "science__comet": unwrap(
        """
Astronomers have identified a comet that last passed close to the Sun about fifty thousand
years ago and will be visible with binoculars from the northern hemisphere next month.

The comet was first spotted by a survey telescope in California and has brightened faster than
expected as it approaches the inner solar system. Researchers said its greenish colour comes
from diatomic carbon in its coma, which glows when struck by sunlight.

Observers in dark locations may be able to see it with the naked eye at its closest approach to
Earth, when it will be about forty million kilometres away. After that it is expected to head
back into the outer solar system, and may never return.
"""
    ),
}

DATELINES = ("LONDON (Reuters) - ", "WASHINGTON (AP) — ", "PARIS (AFP) - ")
CREDITS = (
    "Photograph: Dan Kitwood/Getty Images",
    "Reporting by Kylie MacLellan; Editing by Alison Williams",
    "(Reuters)",
)
FILLER = (
    "Curabitur pretium tincidunt lacus, nulla gravida orci a odio. Morbi fringilla convallis "
    "sapien, id pulvinar odio volutpat nec. Praesent dapibus, neque id cursus faucibus."
)

Perturbation = Callable[[str, str, random.Random], str]


def exact(text: str, other: str, rng: random.Random) -> str:
    return text


def whitespace_punctuation(text: str, other: str, rng: random.Random) -> str:
    """Re-space punctuation, swap quote and dash styles, double some spaces and blank lines."""
    noisy = text.replace(", ", " , ").replace('"', "“").replace(" - ", " — ").replace("'", "’")
    words = noisy.split(" ")
    return " ".join(word + (" " if rng.random() < 0.1 else "") for word in words)


def dateline_credit(text: str, other: str, rng: random.Random) -> str:
    return f"{rng.choice(DATELINES)}{text}\n\n{rng.choice(CREDITS)}"


def edited_words(text: str, other: str, rng: random.Random, share: float = 0.04) -> str:
    """Substitute, drop or insert words at ``share`` of the positions."""
    words, vocabulary = text.split(" "), other.split()
    for index in rng.sample(range(len(words)), max(1, round(share * len(words)))):
        action = rng.choice(("substitute", "drop", "insert"))
        if action == "substitute":
            words[index] = rng.choice(vocabulary)
        elif action == "drop":
            words[index] = ""
        else:
            words[index] = f"{words[index]} {rng.choice(vocabulary)}"
    return " ".join(word for word in words if word)


def appended_update(text: str, other: str, rng: random.Random) -> str:
    """Append an update paragraph 10% as long as the article, cut from another article."""
    budget, words = max(1, len(text.split()) // 10), other.split()
    start = rng.randrange(max(1, len(words) - budget))
    return f"{text}\n\nUpdate: {' '.join(words[start : start + budget])}"


def trailing_filler(text: str, other: str, rng: random.Random) -> str:
    return f"{text}\n\n{FILLER}"


def wire_rewrite(text: str, other: str, rng: random.Random) -> str:
    """Dateline, credit and 2% edited words together: a lightly subbed wire copy."""
    return dateline_credit(edited_words(text, other, rng, share=0.02), other, rng)


PERTURBATIONS: dict[str, Perturbation] = {
    "exact": exact,
    "whitespace_punct": whitespace_punctuation,
    "dateline_credit": dateline_credit,
    "edit_4pct": edited_words,
    "appended_update": appended_update,
    "trailing_filler": trailing_filler,
    "wire_rewrite": wire_rewrite,
}


def load_corpus(directory: Path | None) -> dict[str, str]:
    """Clean bodies of the seed, the built-in articles and ``*.txt`` files from ``directory``.

    Bases are cleaned as the pipeline would before dedup; the perturbed copies are not, which
    is the worst case (in the pipeline the dateline, credit and filler are stripped first).
    """
    corpus = {"rudd__guardian_seed": seed_text()}
    corpus.update(ARTICLES)
    if directory is not None:
        corpus.update(
            {path.stem: path.read_text(encoding="utf-8") for path in directory.glob("*.txt")}
        )
    return {name: clean_body(raw) for name, raw in corpus.items()}


def clean_body(raw: str) -> str:
    blocks = [block.text for block in strip_boilerplate(raw).blocks]
    return "\n\n".join(parse_structure(blocks).paragraphs)


def labelled_pairs(corpus: dict[str, str], trials: int, seed: int) -> list[tuple[str, str, str]]:
    """(kind, text a, text b): perturbed copies of each base, and different-article pairs."""
    rng, names, pairs = random.Random(seed), sorted(corpus), []
    for name in names:
        others = [corpus[other] for other in names if other != name]
        for kind, perturb in PERTURBATIONS.items():
            runs = 1 if kind in ("exact", "trailing_filler") else trials
            for _ in range(runs):
                pairs.append((kind, corpus[name], perturb(corpus[name], rng.choice(others), rng)))
    for first, second in combinations(names, 2):
        same = first.split("__")[0] == second.split("__")[0]
        pairs.append(("same_story" if same else "unrelated", corpus[first], corpus[second]))
        pairs.append(("shared_quotes", corpus[first], borrow(corpus[second], corpus[first], rng)))
    return pairs


def borrow(text: str, source: str, rng: random.Random, share: float = 0.25) -> str:
    """A different article that quotes ``share`` of the source's paragraphs verbatim."""
    paragraphs = source.split("\n\n")
    quoted = rng.sample(paragraphs, max(1, round(share * len(paragraphs))))
    return "\n\n".join([text, *quoted])


def shingle_jaccard(first: str, second: str, size: int) -> float:
    """True Jaccard similarity of the two texts' word-shingle sets."""
    a, b = shingles(first, size), shingles(second, size)
    return len(a & b) / len(a | b) if a | b else 1.0


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    low = ordered[max(0, int(0.05 * len(ordered)) - 1)]
    return (
        f"n={len(ordered):4d} min={ordered[0]:.3f} p5={low:.3f} "
        f"median={statistics.median(ordered):.3f} max={ordered[-1]:.3f}"
    )


def by_kind(
    pairs: list[tuple[str, str, str]], score: Callable[[str, str], float]
) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {}
    for kind, first, second in pairs:
        scores.setdefault(kind, []).append(score(first, second))
    return scores


def print_true_jaccard(pairs: list[tuple[str, str, str]], sizes: list[int]) -> None:
    for size in sizes:
        print(f"\n== true Jaccard, {size}-word shingles")
        scores = by_kind(pairs, functools.partial(shingle_jaccard, size=size))
        for kind, values in scores.items():
            print(f"  {kind:18s} {summary(values)}")


def print_s_curve(cfg: MinHashConfig) -> None:
    print(f"\n== S-curve P(candidate | s) = 1-(1-s^{cfg.rows})^{cfg.bands}")
    for step in range(1, 20):
        similarity = step / 20
        print(f"  s={similarity:.2f}  P={candidate_probability(similarity, cfg):.3f}")


def evaluate(
    pairs: list[tuple[str, str, str]], cfg: MinHashConfig
) -> list[tuple[str, float, bool]]:
    """(kind, estimated similarity, LSH candidate?) per pair under ``cfg``."""
    results = []
    for kind, first, second in pairs:
        fp_a, fp_b = fingerprint(first, cfg), fingerprint(second, cfg)
        verdict = judge(fp_a, fp_b, cfg)
        results.append((kind, verdict.similarity, shares_band(fp_a, fp_b)))
    return results


def print_precision_recall(results: list[tuple[str, float, bool]], cfg: MinHashConfig) -> None:
    print("\n== estimated similarity per kind")
    scores: dict[str, list[float]] = {}
    for kind, similarity, _ in results:
        scores.setdefault(kind, []).append(similarity)
    for kind, values in scores.items():
        print(f"  {kind:18s} {summary(values)}")
    print("\n== precision / recall of (candidate and similarity >= threshold)")
    thresholds = sorted({round(step / 20, 2) for step in range(4, 18)} | {cfg.threshold})
    for threshold in thresholds:
        flagged = [(kind, candidate and sim >= threshold) for kind, sim, candidate in results]
        true_pos = sum(hit for kind, hit in flagged if kind in PERTURBATIONS)
        false_pos = sum(hit for kind, hit in flagged if kind not in PERTURBATIONS)
        positives = sum(kind in PERTURBATIONS for kind, _ in flagged)
        precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 1.0
        mark = "  <- chosen" if threshold == cfg.threshold else ""
        print(
            f"  t={threshold:.2f}  precision={precision:.3f}  recall={true_pos / positives:.3f}"
            f"  fp={false_pos}{mark}"
        )


def main(argv: list[str] | None = None) -> None:
    defaults = MinHashConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="directory of extra *.txt articles")
    parser.add_argument("--trials", type=int, default=40, help="random copies per base and kind")
    parser.add_argument("--seed", type=int, default=7, help="perturbation random seed")
    parser.add_argument("--shingle-sizes", type=int, nargs="+", default=[3, 4, 5, 6])
    for name in ("num_perm", "bands", "rows", "shingle_size"):
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name)
        )
    parser.add_argument("--threshold", type=float, default=defaults.threshold)
    args = parser.parse_args(argv)
    cfg = MinHashConfig(
        num_perm=args.num_perm,
        bands=args.bands,
        rows=args.rows,
        shingle_size=args.shingle_size,
        seed=defaults.seed,
        threshold=args.threshold,
    )
    pairs = labelled_pairs(load_corpus(args.corpus), args.trials, args.seed)
    print(f"config: {cfg}")
    print_true_jaccard(pairs, args.shingle_sizes)
    print_s_curve(cfg)
    print_precision_recall(evaluate(pairs, cfg), cfg)


if __name__ == "__main__":
    main()


def seed_text() -> str:
    """Body of the seed article, the first line of ``examples/articles.jsonl``."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8").splitlines()[0])["body"]
