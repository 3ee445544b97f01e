"""article_record(): resolved entities and their summary reach the published schema."""

from __future__ import annotations

import pytest

from schemas.codec import ENRICHED, decode, encode
from transforms.text.entities import resolve_entities
from transforms.text.models import Article, Entity, SourceRef
from transforms.text.records import article_record

BODY = "Amber Rudd spoke. Rudd said WhatsApp must help."
FOUND = (
    Entity("Amber Rudd", "ORG", 0, 10),
    Entity("Rudd", "PERSON", 18, 22),
    Entity("WhatsApp", "ORG", 28, 36),
)


@pytest.mark.parametrize(
    ("entities", "summary"),
    [
        (
            resolve_entities(FOUND),
            [
                {"text": "Amber Rudd", "label": "ORG", "count": 2},
                {"text": "WhatsApp", "label": "ORG", "count": 1},
            ],
        ),
        ((), []),
    ],
)
def test_article_record_carries_the_entity_summary(entities, summary) -> None:
    article = Article(
        id="a1", raw_body=BODY, body=BODY, fetched_at=1, ref=SourceRef(), entities=entities
    )
    record = article_record(article, processed_at=2, version="test")
    assert record["entity_summary"] == summary
    decoded = decode(encode(record, ENRICHED), ENRICHED)
    assert decoded["entity_summary"] == summary
    assert [e["canonical"] for e in decoded["entities"]] == [e.canonical for e in entities]


@pytest.mark.parametrize("comments", ["Reader One: well said.\n\nReader Two: no.", None])
def test_article_record_carries_reader_comments_apart_from_the_body(comments) -> None:
    article = Article(
        id="a1", raw_body=BODY, body=BODY, fetched_at=1, ref=SourceRef(), comments=comments
    )
    record = article_record(article, processed_at=2, version="test")
    assert record["body"] == BODY
    assert record["comments"] == comments
    assert decode(encode(record, ENRICHED), ENRICHED)["comments"] == comments
