"""annotate(): one spaCy doc per line, entity offsets into the whole body."""

from __future__ import annotations

import pytest
import spacy

from transforms.text.models import Entity
from transforms.text.ner import annotate


@pytest.fixture(scope="module")
def ruler_nlp() -> spacy.language.Language:
    """A blank pipeline whose entity ruler would join "Park" and "Exeter" across a break."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [
            {"label": "FAC", "pattern": "Sandy Park"},
            {"label": "ORG", "pattern": "Exeter Chiefs"},
            {"label": "BAD", "pattern": [{"ORTH": "Park"}, {"IS_SPACE": True}, {"ORTH": "Exeter"}]},
        ]
    )
    return nlp


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "They played at Sandy Park\n\nExeter Chiefs won.",
            [("Sandy Park", "FAC"), ("Exeter Chiefs", "ORG")],
        ),
        ("Sandy Park\nExeter Chiefs", [("Sandy Park", "FAC"), ("Exeter Chiefs", "ORG")]),
        ("\n\n  \n", []),
        ("", []),
    ],
)
def test_annotate_lines_separately(
    ruler_nlp: spacy.language.Language, body: str, expected: list[tuple[str, str]]
) -> None:
    (entities,) = annotate(ruler_nlp, [body])
    assert [(entity.text, entity.label) for entity in entities] == expected
    for entity in entities:
        assert body[entity.start : entity.end] == entity.text


def test_annotate_keeps_body_order(ruler_nlp: spacy.language.Language) -> None:
    bodies = ["Nothing here.", "At Sandy Park.", ""]
    assert annotate(ruler_nlp, bodies, batch_size=1) == [
        (),
        (Entity("Sandy Park", "FAC", 3, 13),),
        (),
    ]
