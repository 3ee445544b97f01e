"""Placeholder filler in real articles: removed wherever it sits, prose around it kept.

Real prose comes from the Lee corpus (ABC news, one line per article, cut into paragraphs of two
or three sentences by ``quality_text.paragraphs``). The harness injects placeholder Latin drawn
from Faker's ``la`` vocabulary (with or without "Lorem ipsum dolor sit amet") as its own
paragraph or glued to a real one, at the start, middle or end, and knows where it put it.

Glued filler also follows text that does not end with a clean sentence boundary, as scraped
pages do (``...out of work.- Tincidunt``, ``...(AFP, Reuters) Nisl``, ``...SMS to 61124
Curabitur``, ``...for them."?,-1" Sed``): the ``BOUNDARIES`` below turn the end of the real
paragraph into such an ending before the filler is glued on.

Each body goes through ``clean_article`` as a plain-text event. A filler word counts as removed
when it lies inside a removed span; a body passes when no run of 4 or more consecutive filler
words is left anywhere in the record's title or body; a real sentence is kept when none of its
words was removed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, fields

from corpora import latin_words, lee_articles
from quality_text import paragraphs, split_sentences

from transforms.text.cleaning import clean_article
from transforms.text.models import Article, SourceRef

Row = tuple[str, str, str, str]
_WORD = re.compile(r"\w+")
# The shortest run of filler words that must not survive.
SURVIVING_RUN = 4
PLACES = ("start", "middle", "end")
AGENCIES = ("AFP", "Reuters", "AP", "DW", "dpa", "AAP", "EFE", "Xinhua")


def _truncated(text: str, rng: random.Random) -> str:
    """The paragraph cut after a random word of its last sentence, without punctuation."""
    head, _, last = text.rpartition(". ")
    words = last.split()
    cut = " ".join(words[: rng.randint(2, max(2, len(words) - 1))]).rstrip(".,;:")
    return f"{head}. {cut}" if head else cut


def _with_number(text: str, rng: random.Random) -> str:
    """A cut sentence ending in a number ("Send an SMS to 61124")."""
    return f"{_truncated(text, rng)} {rng.randint(100, 99999)}"


# How the real text before glued filler ends: a clean sentence end, or the endings of scraped
# pages that give the sentence splitter no boundary.
BOUNDARIES: dict[str, Callable[[str, random.Random], str]] = {
    "sentence_end": lambda text, rng: text,
    "dash": lambda text, rng: f"{text}-",
    "agencies": lambda text, rng: f"{text} ({', '.join(rng.sample(AGENCIES, rng.randint(1, 3)))})",
    "cut_sentence": _truncated,
    "number": _with_number,
    "quote_junk": lambda text, rng: f'{text}"?,-1"',
}


@dataclass
class FillerScore:
    """Counts over a set of filler bodies."""

    bodies: int = 0
    clear: int = 0
    filler_words: int = 0
    filler_removed: int = 0
    real_words: int = 0
    real_lost: int = 0
    sentences: int = 0
    sentences_kept: int = 0

    def add(self, other: FillerScore) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def filler(words: list[str], rng: random.Random) -> str:
    """One to four placeholder sentences; half open with the classic lorem ipsum words."""
    sentences = ["Lorem ipsum dolor sit amet, consectetur adipiscing elit."] * (rng.random() < 0.5)
    for _ in range(rng.randint(1, 4)):
        chosen = rng.sample(words, rng.randint(4, 12))
        if len(chosen) > 6:
            chosen[rng.randrange(2, len(chosen) - 2)] += ","
        sentences.append(" ".join(chosen).capitalize() + ".")
    return " ".join(sentences)


def injected(blocks: list[str], piece: str, place: str, glued: bool) -> tuple[str, int, int]:
    """Body with ``piece`` inserted, and the piece's offsets in it."""
    index = {"start": 0, "middle": len(blocks) // 2, "end": len(blocks) - 1}[place]
    before, target, after = blocks[:index], blocks[index], blocks[index + 1 :]
    if not glued:
        head = "\n\n".join([*before, target] if place != "start" else before)
        start = len(head) + 2 if head else 0
        tail = [*after] if place != "start" else [target, *after]
        return "\n\n".join([*([head] if head else []), piece, *tail]), start, start + len(piece)
    prefix = "\n\n".join(before) + ("\n\n" if before else "")
    if place == "start":
        glued_block, start = f"{piece} {target}", len(prefix)
    else:
        glued_block, start = f"{target} {piece}", len(prefix) + len(target) + 1
    body = "\n\n".join([*before, glued_block, *after])
    return body, start, start + len(piece)


def filler_cases(seed: int = 11, trials: int = 2) -> list[tuple[str, list[str], str, int, int]]:
    """(case kind, real paragraphs, body, filler start, filler end) for every Lee article.

    Own paragraph and glued to a clean sentence end, at the start, middle or end (``trials``
    each); then glued after each scraped-page ending of ``BOUNDARIES``, in the middle or at
    the end of the article.
    """
    rng, vocabulary, cases = random.Random(seed), latin_words(), []
    for article in lee_articles():
        blocks = paragraphs(article, rng)
        for place in PLACES:
            for glued in (False, True):
                for _ in range(trials):
                    body, start, end = injected(blocks, filler(vocabulary, rng), place, glued)
                    kind = "glued" if glued else "own_paragraph"
                    cases.append((kind, blocks, body, start, end))
        for name, boundary in BOUNDARIES.items():
            if name == "sentence_end":
                continue
            place = rng.choice(("middle", "end"))
            index = len(blocks) // 2 if place == "middle" else len(blocks) - 1
            real = [*blocks[:index], boundary(blocks[index], rng), *blocks[index + 1 :]]
            body, start, end = injected(real, filler(vocabulary, rng), place, True)
            cases.append((f"after_{name}", real, body, start, end))
    return cases


def score_case(real: list[str], body: str, start: int, end: int) -> FillerScore:
    """The counts of one body: ``real`` paragraphs with filler at ``body[start:end]``."""
    score = FillerScore()
    event = Article(id="filler", raw_body=body, fetched_at=0, ref=SourceRef())
    article = clean_article(event)
    cuts = [(span.start, span.end) for span in article.boilerplate]
    words = list(_WORD.finditer(body))
    removed = [any(s <= w.start() and w.end() <= e for s, e in cuts) for w in words]
    inside = [start <= w.start() and w.end() <= end for w in words]
    score.bodies += 1
    score.filler_words += sum(inside)
    score.filler_removed += sum(r for r, i in zip(removed, inside, strict=True) if i)
    score.real_words += inside.count(False)
    score.real_lost += sum(r for r, i in zip(removed, inside, strict=True) if not i)
    score.clear += not surviving_run(body[start:end], f"{article.title or ''}\n{article.body}")
    position = 0
    for sentence in (s for block in real for s in split_sentences(block)):
        found = body.find(sentence, position)
        position = found + len(sentence)
        lost = any(r and found <= w.start() < position for r, w in zip(removed, words, strict=True))
        score.sentences += 1
        score.sentences_kept += not lost
    return score


def surviving_run(piece: str, text: str) -> bool:
    """True when ``SURVIVING_RUN`` consecutive words of ``piece`` are still in ``text``."""
    tokens = _WORD.findall(piece)
    for index in range(len(tokens) - SURVIVING_RUN + 1):
        run = r"\W+".join(re.escape(token) for token in tokens[index : index + SURVIVING_RUN])
        if re.search(rf"(?<!\w){run}(?!\w)", text):
            return True
    return False


def filler_rows() -> list[Row]:
    """Filler recall, bodies with no filler run left, prose kept: overall and per case kind."""
    scores: dict[str, FillerScore] = {}
    total = FillerScore()
    for kind, real, body, start, end in filler_cases():
        score = score_case(real, body, start, end)
        scores.setdefault(kind, FillerScore()).add(score)
        total.add(score)
    clean = clean_articles_score()
    rows = [
        _share("filler words removed (recall)", total.filler_removed, total.filler_words),
        _share(
            f"bodies with no {SURVIVING_RUN}-word filler run left",
            total.clear,
            total.bodies,
            f"{total.bodies - total.clear} of {total.bodies} keep one",
        ),
        _share("prose sentences kept whole", total.sentences_kept, total.sentences),
        _share(
            "real words kept next to filler", total.real_words - total.real_lost, total.real_words
        ),
    ]
    for kind, score in scores.items():
        rows.append(_share(f"  {kind}: no filler run left", score.clear, score.bodies))
    rows += [
        _share("clean articles: words kept", clean.real_words - clean.real_lost, clean.real_words),
        _share("clean articles intact", clean.sentences_kept, clean.bodies),
    ]
    return rows


def clean_articles_score(seed: int = 12) -> FillerScore:
    """The 350 Lee articles without filler: words kept, and articles with every word kept."""
    rng, score = random.Random(seed), FillerScore()
    for article in lee_articles():
        body = "\n\n".join(paragraphs(article, rng))
        cleaned = clean_article(Article(id="clean", raw_body=body, fetched_at=0, ref=SourceRef()))
        lost = sum(len(_WORD.findall(span.text)) for span in cleaned.boilerplate)
        score.bodies += 1
        score.real_words += len(_WORD.findall(body))
        score.real_lost += lost
        score.sentences_kept += lost == 0
    return score


def _share(metric: str, hits: int, total: int, detail: str = "") -> Row:
    return ("filler", metric, f"{hits / total:.4f}", detail or f"{hits}/{total}")
