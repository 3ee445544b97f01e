"""What an article offers a story decision: weighted terms of its title, its lead and its entities.

Three sparse vectors, as in Miranda et al. (EMNLP 2018), who cluster a news stream on TF-IDF
sub-vectors of title, body and entities plus a time feature:

* ``title``: the title's words (lowercased, stop words and one-letter tokens out, a plural or
  possessive ``s`` folded: "tapers" and "taper's" are "taper");
* ``body``: the words of the body's first ``lead_chars`` characters, the lead where a report
  states its event (a headline feed's body is the headline again, so there it repeats the title);
* ``entities``: the article's named entities that name something (people, organisations, places,
  events, products, laws, works), by their resolved full name, so "Rudd" counts for "Amber Rudd";
  dates and numbers are left out (every story has a Tuesday).

Counts only: weighting by rarity needs the live stories, which ``transforms.text.stories`` holds.
No spaCy here: entities come from the NER step, which has already run on the body.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from transforms.text.models import Article

NAME_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "LAW", "WORK_OF_ART"}
)
ENTITY_PREFIX = "e:"
_TOKEN = re.compile(r"[^\W_]+(?:['’.&-][^\W_]+)*")
_STOP_TEXT = """
    a about after again against all also am an and any are as at be because been before being
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no
    nor not now of off on once only or other our out over own same she should so some such than
    that the their them then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your new says said say
    amid via vs"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Terms:
    """Term counts of one article's three features, and its event time (epoch ms)."""

    title: dict[str, int]
    body: dict[str, int]
    entities: dict[str, int]
    at: int


def words(text: str) -> list[str]:
    """Content words of ``text``: lowercased tokens, stop words and single letters out, a final
    plural or possessive ``s`` folded (on words of five letters or more, so "news" stays)."""
    out = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group().replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        elif len(word) >= 5 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if len(word) > 1 and word not in STOP_WORDS:
            out.append(word)
    return out


def article_terms(article: Article, lead_chars: int) -> Terms:
    """The three feature vectors (as counts) of an enriched article."""
    names = Counter(
        ENTITY_PREFIX + " ".join(words(entity.canonical or entity.text))
        for entity in article.entities
        if entity.label in NAME_LABELS
    )
    names.pop(ENTITY_PREFIX, None)  # a name made only of stop words ("The Who") names nothing
    return Terms(
        title=dict(Counter(words(article.title or ""))),
        body=dict(Counter(words(article.body[:lead_chars]))),
        entities=dict(names),
        at=article.fetched_at,
    )
