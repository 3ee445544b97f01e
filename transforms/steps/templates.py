"""Strip per-source template lines (kind ``template``), learned in keyed state that expires.

Keyed by ``source``: each key buffers arrivals until the watermark passes them, then learns and
strips in ``(fetched_at, input position)`` order, as dedup decides, so batch and streaming agree on
which page of a source is the first to lose its template. What a source has learned is pruned to
the window at every decision, and cleared by an event-time timer when the source goes quiet for a
window: memory is bounded by a source's distinct edge lines per window. Articles without a
``source`` have no site to learn from and pass through untouched.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Duration

from transforms.steps.dedup import KeyedArticle, arrival_order, flush_time
from transforms.text.models import Article
from transforms.text.templates import TemplateConfig, TemplateMemory, learn_and_strip

STEP = "templates"


class LearnTemplatesFn(beam.DoFn):
    """Keyed by source: every article goes on, its learned template lines removed and recorded."""

    PENDING = BagStateSpec("pending", PickleCoder())
    MEMORY = ReadModifyWriteStateSpec("memory", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: TemplateConfig) -> None:
        self._config = config
        self._stripped = Metrics.counter(f"newsflow.{STEP}", "articles_stripped")
        self._lines = Metrics.counter(f"newsflow.{STEP}", "lines_removed")

    def process(
        self,
        element: tuple[str, Article],
        timestamp=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        pending.add(element[1])
        flush.set(flush_time(timestamp))

    @on_timer(FLUSH)
    def decide(
        self,
        fired_at=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        memory_state=beam.DoFn.StateParam(MEMORY),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        memory = memory_state.read() or TemplateMemory()
        for article in sorted(pending.read(), key=arrival_order):
            stripped = learn_and_strip(article, memory, self._config)
            removed = len(stripped.boilerplate) - len(article.boilerplate)
            if removed:
                self._stripped.inc()
                self._lines.inc(removed)
            yield stripped
        memory.forget_before(fired_at.micros // 1000 - self._config.window_ms)
        memory_state.write(memory)
        expire.set(fired_at + Duration(seconds=self._config.window_hours * 3600))
        pending.clear()

    @on_timer(EXPIRE)
    def forget(self, memory_state=beam.DoFn.StateParam(MEMORY)):
        memory_state.clear()


class StripTemplates(beam.PTransform):
    """Articles in, the same articles out (none dropped), learned template lines removed."""

    def __init__(self, config: TemplateConfig | None = None) -> None:
        super().__init__()
        self._config = config or TemplateConfig()

    def expand(self, articles):
        sourced, unsourced = articles | "SplitBySource" >> beam.Partition(
            lambda article, _: 0 if article.source else 1, 2
        )
        learned = (
            sourced
            | "KeyBySource" >> beam.Map(lambda a: (a.source, a)).with_output_types(KeyedArticle)
            | "LearnTemplates" >> beam.ParDo(LearnTemplatesFn(self._config))
        )
        return (learned, unsourced) | "WithUnsourced" >> beam.Flatten()
