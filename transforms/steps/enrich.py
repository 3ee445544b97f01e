"""Language and named entities, after dedup so duplicates cost no NER time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

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
DEFAULT_NER_PROCESSES = 2
NER_BATCH_TIME = "ner_batch_time"
Annotate = Callable[[Sequence[str], int], list[tuple[Entity, ...]]]

_pools: dict[tuple[str, int], NerPool] = {}
_pools_lock = threading.Lock()


def shared_pool(model: str, processes: int) -> NerPool:
    """This process's pool for ``model``: started (every worker with its model loaded) by whoever
    asks first, the job-start warm-up or an ``ExtractEntitiesFn``, and kept while the SDK worker
    lives, so all DoFn instances and threads share its processes."""
    with _pools_lock:
        pool = _pools.get((model, processes))
        if pool is None:
            pool = _pools[(model, processes)] = NerPool(model, processes)
            pool.warm_up()
        return pool


class LoadNerModelFn(beam.DoFn):
    """Starts the NER pool when the job starts (fed by an Impulse), so the first articles do
    not wait while its processes load spaCy. With one process the model loads in the DoFn that
    uses it, as before."""

    def __init__(self, model: str, processes: int) -> None:
        self._model = model
        self._processes = processes

    def process(self, _):
        if self._processes > 1:
            shared_pool(self._model, self._processes)
        return ()


class ExtractEntitiesFn(beam.DoFn):
    """Batches of articles -> articles with ``language`` and resolved ``entities``.

    With ``processes`` = 1 the spaCy model is loaded once per DoFn instance in ``setup`` and runs
    in the SDK worker; above 1, every instance in the SDK worker process shares one ``NerPool``
    of that many processes (``shared_pool``), so the cores are used and the model is loaded
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
        self._annotate: Annotate | None = None
        self._in = Metrics.counter(f"newsflow.{STEP}", "in")
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")
        self._per_article = Metrics.distribution(f"newsflow.{STEP}", "entities_per_article")
        self._ner_time = CounterHistogram(f"newsflow.{STEP}", NER_BATCH_TIME)

    def setup(self) -> None:
        if self._processes > 1:
            self._annotate = shared_pool(self._model, self._processes).annotate
        else:
            self._annotate = partial(annotate, load_ner_model(self._model))

    def teardown(self) -> None:
        """Drop the in-worker model; a pool lives as long as the SDK worker process."""
        self._annotate = None

    def process(self, batch: list[tuple[Article, Timestamp]]):
        """Each output keeps its article's own timestamp: ``BatchElements`` stamps a batch at the
        end of the global window, which would hold every event-time timer downstream (the story
        step's) until the job ends."""
        self._in.inc(len(batch))
        started = time.perf_counter()
        try:
            found = self._annotate([a.body for a, _ in batch], self._batch_size)
            self._ner_time.observe((time.perf_counter() - started) * 1000)
        except Exception:  # any failure: retry one by one, so only the culprit is dead-lettered
            found = [None] * len(batch)
        for (article, at), entities in zip(batch, found, strict=True):
            yield _stamped(self._one(article, entities), at)

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


def _stamped(output, at: Timestamp):
    """``output`` (a value or a tagged output) at timestamp ``at``."""
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(output.tag, TimestampedValue(output.value, at))
    return TimestampedValue(output, at)


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
        _ = (
            articles.pipeline
            | "StartNER" >> beam.Impulse()
            | "LoadNERModel" >> beam.ParDo(LoadNerModelFn(self._model, self._processes))
        )
        return (
            articles
            | "KeepTimestamps" >> beam.Map(lambda a, at=beam.DoFn.TimestampParam: (a, at))
            | "BatchForNER" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "ExtractEntities"
            >> beam.ParDo(
                ExtractEntitiesFn(self._model, self._batch_size, self._processes)
            ).with_outputs(DEAD_LETTER, main=ARTICLES)
        )
