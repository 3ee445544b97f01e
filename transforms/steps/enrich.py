"""Language and named entities, after dedup so duplicates cost no NER time."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.errors import ExtractionError
from transforms.steps.dead_letters import DEAD_LETTER, article_payload, dead_letter_output
from transforms.text.entities import resolve_entities
from transforms.text.extract import detect_language
from transforms.text.models import Article
from transforms.text.ner import DEFAULT_MODEL, annotate, load_ner_model

STEP = "enrich"
ARTICLES = "articles"
DEFAULT_BATCH_SIZE = 32


class ExtractEntitiesFn(beam.DoFn):
    """Batches of articles -> articles with ``language`` and resolved ``entities``.

    The spaCy model is loaded once per worker in ``setup``; a batch that fails is retried one
    article at a time so a single bad input becomes a dead letter instead of failing its neighbours.
    """

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self._model = model
        self._batch_size = batch_size
        self._nlp = None
        self._in = Metrics.counter(f"newsflow.{STEP}", "in")
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")
        self._per_article = Metrics.distribution(f"newsflow.{STEP}", "entities_per_article")

    def setup(self) -> None:
        self._nlp = load_ner_model(self._model)

    def teardown(self) -> None:
        self._nlp = None

    def process(self, batch: list[Article]):
        self._in.inc(len(batch))
        try:
            found = annotate(self._nlp, [a.body for a in batch], self._batch_size)
        except (ValueError, RuntimeError, IndexError):
            yield from self._one_by_one(batch)
            return
        for article, entities in zip(batch, found, strict=True):
            yield self._enriched(article, entities)

    def _one_by_one(self, batch: list[Article]):
        for article in batch:
            try:
                (entities,) = annotate(self._nlp, [article.body], 1)
            except (ValueError, RuntimeError, IndexError) as exc:
                error = ExtractionError(f"NER failed: {exc}", code="ner_failed")
                yield dead_letter_output(STEP, article_payload(article), article.ref, error)
                continue
            yield self._enriched(article, entities)

    def _enriched(self, article: Article, entities) -> Article:
        """Mentions resolved within the article: "Rudd" gets canonical "Amber Rudd" and the
        label its cluster's mentions mostly carry."""
        self._out.inc()
        self._per_article.update(len(entities))
        language = detect_language(article.body) or article.language_hint
        return replace(article, entities=resolve_entities(entities), language=language)


class ExtractMetadata(beam.PTransform):
    """Outputs ``articles`` (main) and ``dead_letter``."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__()
        self._model = model
        self._batch_size = batch_size

    def expand(self, articles):
        return (
            articles
            | "BatchForNER" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "ExtractEntities"
            >> beam.ParDo(ExtractEntitiesFn(self._model, self._batch_size)).with_outputs(
                DEAD_LETTER, main=ARTICLES
            )
        )
