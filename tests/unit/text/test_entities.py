"""resolve_entities() and entity_summary(): short mentions, one label per entity, counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.text.cleaning import clean_article
from transforms.text.entities import EntityCount, canonical_name, entity_summary, resolve_entities
from transforms.text.event import decode_event
from transforms.text.models import Entity, RawEvent, SourceRef
from transforms.text.ner import DEFAULT_MODEL, annotate, load_ner_model

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"


def mentions(*pairs: tuple[str, str]) -> list[Entity]:
    """Entities laid out one after another, as if read from a body in this order."""
    out, offset = [], 0
    for text, label in pairs:
        out.append(Entity(text, label, offset, offset + len(text)))
        offset += len(text) + 10
    return out


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        pytest.param(
            [("Amber Rudd", "ORG"), ("Rudd", "PERSON"), ("Rudd", "ORG")] + [("Rudd", "PERSON")] * 2,
            [("Amber Rudd", "PERSON")] * 5,
            id="surname-and-majority-label",
        ),
        pytest.param(
            [("Khalid Masood", "PERSON"), ("Masood", "ORG")],
            [("Khalid Masood", "PERSON")] * 2,
            id="tie-goes-to-the-full-name",
        ),
        pytest.param(
            [("Isar Capital", "ORG"), ("Isar", "PERSON"), ("Isar", "ORG")],
            [("Isar Capital", "ORG")] * 3,
            id="organisation-short-name",
        ),
        pytest.param(
            [("Rudd", "PERSON"), ("Amber Rudd", "PERSON"), ("Rudd", "PERSON")],
            [("Rudd", "PERSON"), ("Amber Rudd", "PERSON"), ("Amber Rudd", "PERSON")],
            id="only-names-seen-earlier",
        ),
        pytest.param(
            [("Amber Rudd", "PERSON"), ("Kevin Rudd", "PERSON"), ("Rudd", "PERSON")],
            [("Amber Rudd", "PERSON"), ("Kevin Rudd", "PERSON"), ("Rudd", "PERSON")],
            id="ambiguous-surname-stays-alone",
        ),
        pytest.param(
            [("Northern Ireland", "GPE"), ("Ireland", "GPE")],
            [("Northern Ireland", "GPE"), ("Ireland", "GPE")],
            id="places-never-shortened",
        ),
        pytest.param(
            [("the University of Cambridge’s", "ORG"), ("Cambridge", "GPE")],
            [("University of Cambridge", "ORG"), ("Cambridge", "GPE")],
            id="a-place-is-not-the-organisation-named-after-it",
        ),
        pytest.param(
            [("Northern Ireland Electricity Network", "ORG"), ("Ireland", "ORG")],
            [("Northern Ireland Electricity Network", "ORG"), ("Ireland", "ORG")],
            id="middle-words-are-not-a-short-form",
        ),
        pytest.param(
            [("The Met Office", "ORG"), ("the Met Office", "ORG"), ("WHATSAPP", "ORG")],
            [("Met Office", "ORG"), ("Met Office", "ORG"), ("WHATSAPP", "ORG")],
            id="the-and-case-do-not-count",
        ),
        pytest.param(
            [("Theresa May", "PERSON"), ("May", "DATE"), ("May", "PERSON")],
            [("Theresa May", "PERSON"), ("May", "DATE"), ("Theresa May", "PERSON")],
            id="dates-never-join-names",
        ),
        pytest.param(
            [("The Andrew Marr Show", "WORK_OF_ART"), ("Andrew Marr", "PERSON")],
            [("Andrew Marr Show", "WORK_OF_ART"), ("Andrew Marr", "PERSON")],
            id="only-person-or-org-full-names",
        ),
    ],
)
def test_resolve_entities(found: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    entities = mentions(*found)
    resolved = resolve_entities(entities)
    assert [(e.canonical, e.label) for e in resolved] == expected
    assert [(e.text, e.start, e.end) for e in resolved] == [
        (e.text, e.start, e.end) for e in entities
    ]


def test_resolve_entities_reads_in_body_order() -> None:
    full, short = Entity("Amber Rudd", "PERSON", 0, 10), Entity("Rudd", "PERSON", 40, 44)
    assert resolve_entities([short, full]) == resolve_entities([full, short])
    assert resolve_entities([]) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the University of Cambridge’s", "University of Cambridge"),
        ("Fenwick's", "Fenwick"),
        ("The", "The"),
        ("Barnes", "Barnes"),
    ],
)
def test_canonical_name(text: str, expected: str) -> None:
    assert canonical_name(text) == expected


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (
            [("Amber Rudd", "ORG"), ("WhatsApp", "ORG"), ("Rudd", "PERSON"), ("Rudd", "PERSON")],
            [("Amber Rudd", "PERSON", 3), ("WhatsApp", "ORG", 1)],
        ),
        (
            [("Apple", "ORG"), ("Sunday", "DATE"), ("Sunday", "DATE"), ("Apple", "ORG")],
            [("Apple", "ORG", 2), ("Sunday", "DATE", 2)],
        ),
        ([], []),
    ],
)
def test_entity_summary(found: list[tuple[str, str]], expected: list[tuple]) -> None:
    summary = entity_summary(resolve_entities(mentions(*found)))
    assert summary == tuple(EntityCount(*row) for row in expected)


def test_summary_of_unresolved_entities_uses_their_text() -> None:
    entities = [Entity("the FBI", "ORG", 0, 7), Entity("FBI", "ORG", 20, 23)]
    assert entity_summary(entities) == (EntityCount("FBI", "ORG", 2),)


@pytest.fixture(scope="module")
def seed_entities() -> tuple[str, tuple[Entity, ...]]:
    """The seed article through the clean step and the real model, then resolved."""
    line = next(line for line in EXAMPLES.open() if '"seed-rudd-2017"' in line)
    raw = RawEvent(line.encode(), SourceRef(file=str(EXAMPLES), line=1))
    body = clean_article(decode_event(raw, now_ms=0)).body
    try:
        nlp = load_ner_model(DEFAULT_MODEL)
    except OSError:  # pragma: no cover - the model is a pinned dependency
        pytest.skip(f"{DEFAULT_MODEL} not installed")
    (found,) = annotate(nlp, [body])
    return body, resolve_entities(found)


def test_seed_rudd_mentions_resolve_to_amber_rudd(seed_entities) -> None:
    body, entities = seed_entities
    rudds = [e for e in entities if e.text in ("Rudd", "Amber Rudd")]
    assert len(rudds) >= 8
    assert {(e.canonical, e.label) for e in rudds} == {("Amber Rudd", "PERSON")}
    assert all(body[e.start : e.end] == e.text for e in entities)


def test_seed_summary_counts(seed_entities) -> None:
    _, entities = seed_entities
    summary = entity_summary(entities)
    assert summary[0] == EntityCount("Amber Rudd", "PERSON", 8)
    assert EntityCount("WhatsApp", "ORG", 3) in summary
    assert EntityCount("Khalid Masood", "PERSON", 2) in summary
    assert sum(row.count for row in summary) == len(entities)
