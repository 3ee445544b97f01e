"""Labelled article pairs for the near-duplicate calibration, built from the project's corpora.

Gold comes from construction only (a pair is a copy because the harness made one text from the
other, distinct because they are different articles), never from a similarity score. Bases are
the 350 Lee articles (ABC news, fetched through PyPI by ``corpora.py``) cut into paragraphs, and
the distinct articles of ``examples/articles.jsonl``. Every text goes through the clean step
(``clean_article``) before it is compared, as in the pipeline; pairs whose clean bodies are equal
after normalisation are exact duplicates, caught before near-dup, and counted apart.

Copy kinds (positives) are the issue's syndication patterns, alone and together:

* ``excerpt``: the leading 50-80% of the words (whole paragraphs, the last cut at a sentence);
* ``copy_edit``: 2-10% of word positions substituted, dropped or given an inserted word;
* ``reordered``: paragraphs shuffled;
* ``new_lede``: the first sentence replaced by as many words of a sentence of another article
  (put on top instead when the first sentence is over a third of the words);
* ``wrapper``: another site's header and footer lines, a wire dateline and a credit line;
* ``update``: an update paragraph of 10-25% of the length appended (DESIGN.md's contract);
* ``syndicated``: excerpt, copy-edit (2-8%), reordered, new lede and wrapper at once;
* ``copy_of_copy``: two different single kinds applied one after the other (at most one excerpt,
  so the copy still holds at least half of the original).

The corpus's own re-filed stories (``lee_refiled``) and ``syndicated`` are reported apart from
the headline figures.

Distinct kinds (negatives): Lee pairs humans rated >= 0.6 (``same_story``) and the other rated
pairs, neighbouring Lee articles wrapped in the same site's header, footer and date line
(``same_outlet_day``), an article quoting one paragraph (at most a quarter) of another
(``quotes_other``), a digest that reprints an article whole among others making up three
quarters of it (``roundup``), random Lee pairs, and the example file's distinct articles.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from corpora import lee_articles, lee_rated
from quality_templates import SITES
from quality_text import paragraphs

from schemas.errors import RejectedArticleError
from transforms.text.cleaning import clean_article
from transforms.text.fingerprint import exact_key
from transforms.text.models import Article, SourceRef

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "articles.jsonl"
# Lee pairs whose mean human rating (0-1) reaches this are "the same story" hard negatives.
SAME_STORY_RATING = 0.6
DATELINES = ("SYDNEY (Reuters) - ", "WASHINGTON (AP) — ", "PARIS (AFP) - ", "CANBERRA, AAP - ")
CREDITS = (
    "Reporting by Kylie MacLellan; Editing by Alison Williams",
    "(Reuters)",
    "Additional reporting by AAP.",
)
DAY_LINE = "Tuesday 14 November 2023"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
# Pairs in the example file (by id): the copies it documents, and its same-story negative.
EXAMPLE_COPIES = (
    ("seed-rudd-2017", "wire-rudd-2017"),
    ("cam-chip-2024", "cam-chip-2024-syndicated"),
    ("rugby-exeter-leicester", "rugby-exeter-leicester-mirror"),
    ("storm-hester-2023", "storm-hester-2023-updated"),
)

Paragraphs = list[str]
Perturb = Callable[[Paragraphs, Paragraphs, random.Random], Paragraphs]


@dataclass(frozen=True)
class Pair:
    """Two clean bodies, whether the second is a copy of the first, and how it was built."""

    kind: str
    copy: bool
    first: str
    second: str

    @property
    def exact(self) -> bool:
        """Equal after normalisation: exact dedup catches it before near-dup is asked."""
        return exact_key(self.first) == exact_key(self.second)


def words_of(paras: Paragraphs) -> int:
    return sum(len(paragraph.split()) for paragraph in paras)


def excerpt(paras: Paragraphs, other: Paragraphs, rng: random.Random) -> Paragraphs:
    """The leading ``U(0.5, 0.8)`` share of the words: whole paragraphs, then whole sentences."""
    target, kept = rng.uniform(0.5, 0.8) * words_of(paras), []
    for paragraph in paras:
        if words_of(kept) + len(paragraph.split()) <= target:
            kept.append(paragraph)
            continue
        sentences, taken = _SENTENCE.split(paragraph), []
        while sentences and words_of(kept) + len(" ".join(taken).split()) < target:
            taken.append(sentences.pop(0))
        kept.append(" ".join(taken))
        break
    return [paragraph for paragraph in kept if paragraph]


def copy_edit(
    paras: Paragraphs, other: Paragraphs, rng: random.Random, high: float = 0.10
) -> Paragraphs:
    """Substitute, drop or insert a word at ``U(0.02, high)`` of the word positions."""
    share, vocabulary = rng.uniform(0.02, high), " ".join(other).split()
    edited = []
    for paragraph in paras:
        words = paragraph.split()
        for index in range(len(words)):
            if rng.random() >= share:
                continue
            action = rng.choice(("substitute", "drop", "insert"))
            if action == "substitute":
                words[index] = rng.choice(vocabulary)
            elif action == "drop":
                words[index] = ""
            else:
                words[index] = f"{words[index]} {rng.choice(vocabulary)}"
        edited.append(" ".join(word for word in words if word))
    return [paragraph for paragraph in edited if paragraph]


def reordered(paras: Paragraphs, other: Paragraphs, rng: random.Random) -> Paragraphs:
    """The paragraphs in another order (a different one whenever there are two or more)."""
    shuffled = paras[:]
    while len(paras) > 1 and shuffled == paras:
        rng.shuffle(shuffled)
    return shuffled


def new_lede(paras: Paragraphs, other: Paragraphs, rng: random.Random) -> Paragraphs:
    """A new lede: a sentence of another article, cut to the length of the first sentence, which
    it replaces when that is at most a third of the words (else it goes on top, so a copy of a
    two-sentence article still holds at least half of it)."""
    first, *rest = _SENTENCE.split(paras[0])
    donor = rng.choice(_SENTENCE.split(" ".join(other))).split()
    lede = " ".join(donor[: len(first.split())])
    if 3 * len(first.split()) > words_of(paras):
        return [lede, *paras]
    return [lede, *([" ".join(rest)] if rest else []), *paras[1:]]


def wrapper(paras: Paragraphs, other: Paragraphs, rng: random.Random) -> Paragraphs:
    """Another site's header and footer lines, a wire dateline and a credit line."""
    header, footer = rng.choice(SITES)
    return [
        *header,
        rng.choice(DATELINES) + paras[0],
        *paras[1:],
        rng.choice(CREDITS),
        *footer,
    ]


def update(paras: Paragraphs, other: Paragraphs, rng: random.Random) -> Paragraphs:
    """An update paragraph of ``U(0.10, 0.25)`` of the length, cut from another article."""
    budget, words = (
        max(1, round(rng.uniform(0.10, 0.25) * words_of(paras))),
        " ".join(other).split(),
    )
    start = rng.randrange(max(1, len(words) - budget))
    return [*paras, "Update: " + " ".join(words[start : start + budget])]


def syndicated(paras: Paragraphs, other: Paragraphs, rng: random.Random) -> Paragraphs:
    """Everything at once: excerpt, copy-edit (up to 8%), reorder, new lede, wrapper."""
    copied = copy_edit(excerpt(paras, other, rng), other, rng, high=0.08)
    return wrapper(new_lede(reordered(copied, other, rng), other, rng), other, rng)


SINGLE_KINDS: dict[str, Perturb] = {
    "excerpt": excerpt,
    "copy_edit": copy_edit,
    "reordered": reordered,
    "new_lede": new_lede,
    "wrapper": wrapper,
    "update": update,
}


def copy_of_copy(paras: Paragraphs, other: Paragraphs, rng: random.Random) -> Paragraphs:
    """A copy of a copy: two different single kinds in a row."""
    first, second = rng.sample(sorted(SINGLE_KINDS), 2)
    return SINGLE_KINDS[second](SINGLE_KINDS[first](paras, other, rng), other, rng)


# Every syndication pattern at once: reported apart from the required kinds.
COMBINED = "syndicated"
# Stories the Lee corpus itself holds twice (re-filed wire copy, same first 12 words): real copies
# found in the data, not built, so reported apart.
REFILED = "lee_refiled"
REPORTED_APART = (COMBINED, REFILED)
COPY_KINDS: dict[str, Perturb] = {
    **SINGLE_KINDS,
    COMBINED: syndicated,
    "copy_of_copy": copy_of_copy,
}


def clean(paras: Paragraphs, name: str = "case") -> str:
    """The clean body the pipeline would deduplicate (text/plain through ``clean_article``)."""
    raw = "\n\n".join(paras)
    article = Article(id=name, raw_body=raw, fetched_at=0, ref=SourceRef())
    try:
        return clean_article(article).body
    except RejectedArticleError:
        return ""


def same_opening(first: str, second: str) -> bool:
    """The Lee corpus holds a few stories twice (re-filed wire copy, same first 12 words)."""
    return first.split()[:12] == second.split()[:12]


def lee_pairs(rng: random.Random, trials: int, negatives: int) -> Iterator[Pair]:
    """Copies of every Lee article (``trials`` per kind) and the distinct-article pairs."""
    articles = lee_articles()
    bases = [paragraphs(article, rng) for article in articles]
    cleaned = [clean(base) for base in bases]
    for index, base in enumerate(bases):
        for kind, perturb in COPY_KINDS.items():
            for _ in range(trials):
                other = bases[(index + rng.randrange(1, len(bases))) % len(bases)]
                yield Pair(kind, True, cleaned[index], clean(perturb(base, other, rng)))
    for index, base in enumerate(bases):
        neighbour = (index + 1) % len(bases)
        if not same_opening(articles[index], articles[neighbour]):
            yield Pair(
                "same_outlet_day",
                False,
                clean(_outlet_page(base, index)),
                clean(_outlet_page(bases[neighbour], index)),
            )
        quoting = bases[neighbour]
        quote = rng.choice(base)
        if len(quote.split()) <= min(words_of(base), words_of(quoting)) / 4:
            yield Pair("quotes_other", False, cleaned[index], clean([*quoting, quote]))
        yield Pair("roundup", False, cleaned[index], clean(_roundup(bases, index, rng)))
    for first, second in combinations(range(len(articles)), 2):
        if same_opening(articles[first], articles[second]):
            yield Pair(REFILED, True, cleaned[first], cleaned[second])
    for _ in range(negatives):
        first, second = rng.sample(range(len(articles)), 2)
        if not same_opening(articles[first], articles[second]):
            yield Pair("different", False, cleaned[first], cleaned[second])
    rated, ratings = lee_rated()
    for first, second in combinations(range(len(rated)), 2):
        kind = "same_story" if ratings[first][second] >= SAME_STORY_RATING else "rated_different"
        yield Pair(kind, False, clean([rated[first]]), clean([rated[second]]))


def _roundup(bases: list[Paragraphs], index: int, rng: random.Random) -> Paragraphs:
    """A digest that reprints article ``index`` whole among other articles, which make up at
    least three quarters of its words: it holds the article but is mostly new."""
    others, rounded = [bases[i] for i in rng.sample(range(len(bases)), 40) if i != index], []
    while others and words_of(rounded) < 3 * words_of(bases[index]):
        rounded.extend(others.pop())
    position = rng.randrange(len(rounded) + 1)
    return [*rounded[:position], *bases[index], *rounded[position:]]


def _outlet_page(paras: Paragraphs, outlet: int) -> Paragraphs:
    """A page of ``outlet``'s site on one day: its header, a date line, the text, its footer."""
    header, footer = SITES[outlet % len(SITES)]
    return [*header, DAY_LINE, *paras, *footer]


def example_pairs() -> Iterator[Pair]:
    """The example file's documented copies, and every pair of its other distinct articles."""
    bodies: dict[str, str] = {}
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        event = _json_object(line)
        if isinstance(event.get("body"), str) and event.get("id") and event["body"].strip():
            bodies[event["id"]] = clean([event["body"]], event["id"])
    copies = {second for _, second in EXAMPLE_COPIES}
    for first, second in EXAMPLE_COPIES:
        yield Pair("example_copy", True, bodies[first], bodies[second])
    distinct = sorted(name for name, body in bodies.items() if body and name not in copies)
    for first, second in combinations(distinct, 2):
        yield Pair("example_distinct", False, bodies[first], bodies[second])


def _json_object(line: str) -> dict:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return event if isinstance(event, dict) else {}


def labelled_pairs(seed: int, trials: int = 2, negatives: int = 3000) -> list[Pair]:
    """All pairs, in a fixed order for ``seed``; texts a clean step rejects are left out."""
    pairs = [*lee_pairs(random.Random(seed), trials, negatives), *example_pairs()]
    return [pair for pair in pairs if pair.first and pair.second]
