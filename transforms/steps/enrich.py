"""Language and named entities, after dedup so duplicates cost no NER time."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from transforms.io.histograms import CounterHistogram
from transforms.steps.dead_letters import DEAD_LETTER, article_payload, dead_letter_output
from transforms.text.entities import resolve_entities
from transforms.text.extract import detect_language
from transforms.text.models import Article, Entity
from transforms.text.ner import DEFAULT_MODEL, annotate, load_ner_model
from transforms.text.ner_pool import NerPool

STEP = "enrich"
ARTICLES = "articles"
DEFAULT_BATCH_SIZE = 32
DEFAULT_NER_PROCESSES = 1
NER_BATCH_TIME = "ner_batch_time"


class ExtractEntitiesFn(beam.DoFn):
    """Batches of articles -> articles with ``language`` and resolved ``entities``.

    With ``processes`` = 1 the spaCy model is loaded once per DoFn instance in ``setup`` and runs
    in the SDK worker; above 1, every instance in the SDK worker process shares one ``NerPool``
    of that many processes (Beam's ``Shared``), so the cores are used and the model is loaded
    once per pool process. A batch that fails, whatever the exception, is retried one article at
    a time so a single bad input becomes a dead letter instead of failing its neighbours.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int = DEFAULT_NER_PROCESSES,
    ) -> None:
        self._model = model
        self._batch_size = batch_size
        self._processes = processes
        self._shared_pool = Shared()
        self._pool = None
        self._annotate = None
        self._in = Metrics.counter(f"newsflow.{STEP}", "in")
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")
        self._per_article = Metrics.distribution(f"newsflow.{STEP}", "entities_per_article")
        self._ner_time = CounterHistogram(f"newsflow.{STEP}", NER_BATCH_TIME)

    def setup(self) -> None:
        if self._processes > 1:
            self._pool = self._shared_pool.acquire(
                lambda: NerPool(self._model, self._processes), tag=(self._model, self._processes)
            )
            self._annotate = self._pool.annotate
        else:
            self._annotate = partial(annotate, load_ner_model(self._model))

    def teardown(self) -> None:
        """Drop the model; the last instance to let go of a pool lets it shut down."""
        self._annotate = self._pool = None

    def process(self, batch: list[Article]):
        self._in.inc(len(batch))
        started = time.perf_counter()
        try:
            found = self._annotate([a.body for a in batch], self._batch_size)
            self._ner_time.observe((time.perf_counter() - started) * 1000)
        except Exception:  # any failure: retry one by one, so only the culprit is dead-lettered
            found = [None] * len(batch)
        for article, entities in zip(batch, found, strict=True):
            yield self._one(article, entities)

    def _one(self, article: Article, entities: tuple[Entity, ...] | None):
        """The enriched article, annotating it alone when its batch failed; whatever goes wrong
        on this one article (NER, language detection, entity resolution) makes it an
        ``enrich_failed`` dead letter with the exception's class and message."""
        try:
            if entities is None:
                (entities,) = self._annotate([article.body], 1)
            return self._enriched(article, entities)
        except Exception as exc:
            return dead_letter_output(STEP, article_payload(article), article.ref, exc)

    def _enriched(self, article: Article, entities: tuple[Entity, ...]) -> Article:
        """Mentions resolved within the article: "Rudd" gets canonical "Amber Rudd" and the
        label its cluster's mentions mostly carry."""
        self._out.inc()
        self._per_article.update(len(entities))
        language = detect_language(article.body) or article.language_hint
        return replace(article, entities=resolve_entities(entities), language=language)


class ExtractMetadata(beam.PTransform):
    """Outputs ``articles`` (main) and ``dead_letter``."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int = DEFAULT_NER_PROCESSES,
    ) -> None:
        super().__init__()
        self._model = model
        self._batch_size = batch_size
        self._processes = processes

    def expand(self, articles):
        return (
            articles
            | "BatchForNER" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "ExtractEntities"
            >> beam.ParDo(
                ExtractEntitiesFn(self._model, self._batch_size, self._processes)
            ).with_outputs(DEAD_LETTER, main=ARTICLES)
        )
