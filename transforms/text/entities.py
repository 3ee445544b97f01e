"""Entities within one article: short mentions resolved to the full name, one label per entity.

News style names a person or organisation in full once, then by surname or short name ("Amber
Rudd" ... "Rudd"; "Isar Capital" ... "Isar"). A PERSON or ORG mention whose words are the first or
last words of exactly one *earlier* PERSON/ORG full name joins that name's cluster. Places are never
resolved this way ("Ireland" is not "Northern Ireland", "Cambridge" is not "the University of
Cambridge"), nor are dates or numbers: other mentions join a cluster only when their normalised
text is the same (case, a leading "the" and a possessive "'s" do not count). A short mention that
fits two earlier names ("Rudd" after "Amber Rudd" and "Kevin Rudd") stays its own entity rather
than be guessed; one seen before any full name stays unresolved too (the rule reads forward, as a
reader does).

The small model often labels the same entity differently from one mention to the next (the seed's
first "Amber Rudd" is ORG, its seven "Rudd"s mostly PERSON). Each cluster takes the majority label
of its mentions, ties going to the full name's own label: within one document a name keeps one
sense ("one sense per discourse", Gale, Church and Yarowsky 1992), and majority voting over a
document's mentions is the classic consistency fix for NER (Krishnan and Manning 2006). Every
mention keeps its own text and offsets into the body; it gains the cluster's ``canonical`` name
and label.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from transforms.text.models import Entity

# Names written as a short form on second reference; the small model confuses the two labels.
RESOLVABLE = frozenset({"PERSON", "ORG"})
# Values rather than names: they cluster apart from names even when the text matches ("May").
VALUE_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$")


@dataclass(frozen=True)
class EntityCount:
    """One entity of an article's summary: canonical name, label and number of mentions."""

    text: str
    label: str
    count: int


@dataclass
class _Cluster:
    """Mentions of one entity; ``words`` are the normalised words of its full (first) name."""

    canonical: str
    words: tuple[str, ...]
    root_label: str
    labels: list[str] = field(default_factory=list)

    def label(self) -> str:
        """Majority label; ties go to the full name's own label."""
        counts = Counter(self.labels)
        best = max(counts.values())
        return self.root_label if counts[self.root_label] == best else counts.most_common(1)[0][0]


def canonical_name(text: str) -> str:
    """The name without a leading "the" or a trailing possessive ("the University of X's")."""
    return _POSSESSIVE.sub("", _LEADING_THE.sub("", text.strip())).strip() or text.strip()


def name_words(text: str) -> tuple[str, ...]:
    """Casefolded, NFKC-normalised words of the canonical name: the key mentions match on."""
    return _words_of(canonical_name(text))


def _words_of(canonical: str) -> tuple[str, ...]:
    return tuple(unicodedata.normalize("NFKC", canonical).casefold().split())


def resolve_entities(entities: Sequence[Entity]) -> tuple[Entity, ...]:
    """The same mentions, in body order, each with its cluster's ``canonical`` name and label.

    Each cluster's label is decided once, after all its mentions are in, and the mentions are
    built directly (``Entity`` has no other fields): an article has dozens of mentions, and a
    vote per mention or ``dataclasses.replace`` cost more than the clustering itself."""
    clusters: list[_Cluster] = []
    by_key: dict[tuple[bool, tuple[str, ...]], _Cluster] = {}
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    assigned: list[_Cluster] = []
    for entity in ordered:
        canonical = canonical_name(entity.text)
        words = _words_of(canonical)
        key = (entity.label in VALUE_LABELS, words)
        cluster = _full_name_for(entity, words, clusters) or by_key.get(key)
        if cluster is None:
            cluster = _Cluster(canonical, words, entity.label)
            clusters.append(cluster)
            by_key[key] = cluster
        cluster.labels.append(entity.label)
        assigned.append(cluster)
    labels = {id(cluster): cluster.label() for cluster in clusters}
    return tuple(
        Entity(entity.text, labels[id(cluster)], entity.start, entity.end, cluster.canonical)
        for entity, cluster in zip(ordered, assigned, strict=True)
    )


def _full_name_for(
    entity: Entity, words: tuple[str, ...], clusters: Sequence[_Cluster]
) -> _Cluster | None:
    """The one earlier PERSON/ORG full name this mention shortens (first or last words), if any."""
    if entity.label not in RESOLVABLE or not words:
        return None
    size = len(words)
    fits = [
        cluster
        for cluster in clusters
        if cluster.root_label in RESOLVABLE
        and len(cluster.words) > size
        and words in (cluster.words[:size], cluster.words[-size:])
    ]
    return fits[0] if len(fits) == 1 else None


def entity_summary(entities: Sequence[Entity]) -> tuple[EntityCount, ...]:
    """Unique entities with mention counts, most mentioned first, then by first appearance.

    Mentions are grouped by canonical name (their own text when unresolved) and label, so the
    summary of resolved entities has one row per cluster."""
    counts: Counter[tuple[str, str]] = Counter()
    for entity in sorted(entities, key=lambda e: (e.start, e.end)):
        counts[(entity.canonical or canonical_name(entity.text), entity.label)] += 1
    first_seen = {key: index for index, key in enumerate(counts)}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], first_seen[item[0]]))
    return tuple(EntityCount(text, label, count) for (text, label), count in ranked)
