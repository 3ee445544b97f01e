"""Language and named entities, after dedup so duplicates cost no NER time."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms.io.histograms import CounterHistogram
from transforms.steps.dead_letters import article_payload, attempt, guarded
from transforms.steps.shared import ARTICLES, DEAD_LETTER
from transforms.text.entities import resolve_entities
from transforms.text.extract import detect_language
from transforms.text.models import Article, Entity
from transforms.text.ner import DEFAULT_MODEL, MemoryZones, load_ner_model
from transforms.text.ner_pool import NerPool

STEP = "enrich"
DEFAULT_BATCH_SIZE = 32
DEFAULT_NER_PROCESSES = 2
NER_BATCH_TIME = "ner_batch_time"
# Batches a bundle keeps submitted to the NER pool beyond the one it is collecting, so the
# workers always have one queued while this process resolves the last one's entities.
IN_FLIGHT = 2
Collect = Callable[[], list[tuple[Entity, ...]]]  # a submitted batch's entities, when called

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
    once per pool process. A bundle keeps up to ``IN_FLIGHT`` full batches submitted to the pool
    beyond the one whose results it is resolving, so the pool never waits on this process between
    batches; every batch is collected, in order, by the end of the bundle. A batch that fails on
    its data is retried one article at a time, so a single bad input becomes an
    ``enrich_failed`` dead letter instead of failing its neighbours; a broken pool
    (``NerPoolError``) is no article's fault and fails the bundle.
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
        self._pool: NerPool | None = None
        self._ner: MemoryZones | None = None
        self._in = Metrics.counter(f"newsflow.{STEP}", "in")
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")
        self._per_article = Metrics.distribution(f"newsflow.{STEP}", "entities_per_article")
        self._ner_time = CounterHistogram(f"newsflow.{STEP}", NER_BATCH_TIME)

    def setup(self) -> None:
        if self._processes > 1:
            self._pool = shared_pool(self._model, self._processes)
        else:
            self._ner = MemoryZones(load_ner_model(self._model))

    def teardown(self) -> None:
        """Drop the in-worker model; a pool lives as long as the SDK worker process."""
        if self._ner is not None:
            self._ner.close()
        self._pool = self._ner = None

    def _submit(self, bodies: Sequence[str], batch_size: int) -> Collect:
        """A pool's batch is queued to its workers now; an in-process one runs when collected.
        Either way what fails on the batch's data (a body that is no string) fails when it is
        collected, where the batch is retried one article at a time."""
        if self._pool is None:
            return partial(self._ner.annotate, bodies, batch_size)
        pending, failure = guarded(self._pool.submit, bodies, batch_size)
        return pending.result if failure is None else partial(_reraise, failure)

    def start_bundle(self) -> None:
        self._batch: list[WindowedValue] = []
        self._in_flight: deque[tuple[list[WindowedValue], Collect, float]] = deque()

    def process(self, article: Article, at=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        """Batch the bundle's articles for NER here, each kept as a windowed value: its outputs
        leave with the article's own timestamp and window. (Beam's ``BatchElements`` stamps
        every batch at the end of the global window, so a stateful step after NER would see
        timestamps it cannot order by; re-stamping them earlier afterwards makes them late: the
        watermark may already have passed them, and a downstream ``GroupByKey`` drops them.)
        Each output's timestamp is that of an input of the running bundle, which holds the
        output watermark, so none is late."""
        self._batch.append(WindowedValue(article, at, (window,)))
        if len(self._batch) >= self._batch_size:
            self._send()
            yield from self._collect(keep=IN_FLIGHT)

    def finish_bundle(self):
        self._send()
        yield from self._collect(keep=0)

    def _send(self) -> None:
        """Submit the batch being filled (the pool starts on it at once)."""
        if self._batch:
            bodies = [held.value.body for held in self._batch]
            started = time.perf_counter()
            self._in_flight.append((self._batch, self._submit(bodies, self._batch_size), started))
            self._batch = []

    def _collect(self, keep: int):
        """Outputs of the oldest submitted batches, in order, until ``keep`` are left in flight."""
        while len(self._in_flight) > keep:
            batch, entities, started = self._in_flight.popleft()
            outputs = self._finish([held.value for held in batch], entities, started)
            yield from self._windowed(batch, outputs)

    @staticmethod
    def _windowed(batch: list[WindowedValue], outputs: list):
        for held, output in zip(batch, outputs, strict=True):
            if isinstance(output, beam.pvalue.TaggedOutput):
                yield beam.pvalue.TaggedOutput(output.tag, held.with_value(output.value))
            else:
                yield held.with_value(output)

    def annotated(self, batch: list[Article]) -> list:
        """Each article enriched, or its ``enrich_failed`` dead letter, in order."""
        started = time.perf_counter()
        entities = self._submit([a.body for a in batch], self._batch_size)
        return self._finish(batch, entities, started)

    def _finish(self, batch: list[Article], collect: Collect, started: float) -> list:
        """``annotated`` once the batch was submitted (``collect`` returns its entities)."""
        self._in.inc(len(batch))
        found, failure = guarded(collect)
        if failure is None:
            self._ner_time.observe((time.perf_counter() - started) * 1000)
        else:  # one article's failure: annotate one by one, so only the culprit is dead-lettered
            found = [None] * len(batch)
        outputs = []
        for article, entities in zip(batch, found, strict=True):
            enriched, failure = attempt(
                STEP, article, article_payload, self._one, article, entities
            )
            if failure is None:
                self._out.inc()
                self._per_article.update(len(enriched.entities))
            outputs.append(failure if failure is not None else enriched)
        return outputs

    def _one(self, article: Article, entities: tuple[Entity, ...] | None) -> Article:
        """The enriched article, annotated alone when its batch failed. Mentions are resolved
        within the article: "Rudd" gets canonical "Amber Rudd" and the label its cluster's
        mentions mostly carry."""
        if entities is None:
            (entities,) = self._submit([article.body], 1)()
        language = detect_language(article.body) or article.language_hint
        return replace(article, entities=resolve_entities(entities), language=language)


def _reraise(failure: Exception):
    raise failure


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
        return articles | "ExtractEntities" >> beam.ParDo(
            ExtractEntitiesFn(self._model, self._batch_size, self._processes)
        ).with_outputs(DEAD_LETTER, main=ARTICLES)
