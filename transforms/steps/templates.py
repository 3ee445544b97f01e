"""Strip per-source template lines (kind ``template``), learned in keyed state that expires.

Keyed by ``source``: each key buffers arrivals until the watermark passes them, then learns and
strips in ``(fetched_at, input position)`` order, as dedup decides, so batch and streaming agree on
which page of a source is the first to lose its template. What a source has learned is pruned to
the window at every decision, and cleared by an event-time timer when the source goes quiet for a
window: memory is bounded by a source's distinct edge lines per window. Articles without a
``source`` have no site to learn from and pass through untouched.

What a source has learned is kept as the stories step keeps its index (``VersionedBag``): line
records (``transforms.text.template_memory``) appended to the bag ``lines``, only those of lines
a flush changed (a story's own edge lines once, 25 bytes each), the bag rewritten from the live
lines once it holds more than twice as many; a ``TemplateVersion`` carried in the bag ``pending``;
and the decoded memory cached in the DoFn while that version is the state's. A flush writes what
it changed, never the whole memory. State of format 1 (the whole memory carried in the pending
bag) is moved into the records bag at the key's first flush.
"""

from __future__ import annotations

from functools import partial

import apache_beam as beam
from apache_beam.coders import BytesCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration

from transforms.state_coders import ArticleCoder, TemplateStateCoder
from transforms.steps import buffering
from transforms.steps.dead_letters import article_payload, attempt
from transforms.steps.shared import ARTICLES, DEAD_LETTER, KeyedArticle, arrival_order
from transforms.steps.state_params import with_states
from transforms.steps.versioned_bag import VersionedBag
from transforms.text.template_memory import TemplateMemory, TemplateVersion
from transforms.text.templates import TemplateConfig, learn_and_strip

STEP = "templates"
NAMESPACE = f"newsflow.{STEP}"
LINES_BAG = "lines"


class LearnTemplatesFn(buffering.CountsStateRequests, beam.DoFn):
    """Keyed by source: every article goes on, its learned template lines removed and recorded;
    an unexpected error on one article makes it a ``templates_failed`` dead letter."""

    PENDING = buffering.pending_spec(ArticleCoder(), TemplateStateCoder())
    BUCKETS = buffering.bucket_specs(ArticleCoder(), TemplateStateCoder())
    FLUSH = buffering.flush_spec()
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)
    LINES = BagStateSpec(LINES_BAG, BytesCoder())

    def __init__(self, config: TemplateConfig) -> None:
        self._config = config
        self._requests = buffering.StateRequests(NAMESPACE)
        self._stripped = Metrics.counter(NAMESPACE, "articles_stripped")
        self._lines = Metrics.counter(NAMESPACE, "lines_removed")
        self._bag = VersionedBag(LINES_BAG, self._requests)

    def setup(self) -> None:
        self._bag.attach()

    process = buffering.buffering_process(BUCKETS, FLUSH, buffering.TEMPLATES_PHASE)

    @on_timer(FLUSH)
    @with_states(BUCKETS)
    def decide(
        self,
        key=beam.DoFn.KeyParam,
        fired_at=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        lines=beam.DoFn.StateParam(LINES),
        expire=beam.DoFn.TimerParam(EXPIRE),
        **buckets,
    ):
        due = buffering.take_due(key, fired_at, pending, buckets, self._requests)
        if not due.values:
            return
        memory, stored = self._memory(key, due.carried, lines)
        for article in sorted(due.values, key=arrival_order):
            stripped, failure = attempt(
                STEP, article, article_payload, learn_and_strip, article, memory, self._config
            )
            if failure is not None:
                yield failure
                continue
            removed = len(stripped.boilerplate) - len(article.boilerplate)
            if removed:
                self._stripped.inc()
                self._lines.inc(removed)
            yield stripped
        memory.forget_before(fired_at.micros // 1000 - self._config.window_ms)
        changes = memory.take_changes()
        bag = due.carried.bag if isinstance(due.carried, TemplateVersion) else None
        if changes or bag is None or stored > 2 * len(memory.lines):
            bag = self._bag.persist(
                key, lines, memory, stored, changes, len(memory.lines), memory.records
            )
        else:
            self._bag.keep(key, bag, memory)
        version = TemplateVersion(bag, memory.forgot_before_ms)
        buffering.put_back(key, due, version, pending, buckets, self._requests)
        expire.set(fired_at + Duration(seconds=self._config.window_hours * 3600))

    def _memory(self, key, carried, lines) -> tuple[TemplateMemory, int]:
        """``(memory, records in the bag)``: the cached memory when the carried version is the
        state's, else replayed from the bag; a format 1 memory carried whole (its lines all
        marked changed, so the flush writes them to the empty bag); or a new one."""
        if isinstance(carried, TemplateMemory):
            return carried, 0
        if carried is None:
            return TemplateMemory(), 0
        build = partial(TemplateMemory.from_records, forgot_before_ms=carried.forgot_before_ms)
        memory, stored, _ = self._bag.load(key, carried.bag, lines, build, None)
        return memory, stored

    @on_timer(EXPIRE)
    def forget(
        self,
        key=beam.DoFn.KeyParam,
        pending=beam.DoFn.StateParam(PENDING),
        lines=beam.DoFn.StateParam(LINES),
    ):
        buffering.forget_carried(key, pending, self._requests)
        self._requests.clear(key, LINES_BAG, lines)
        self._bag.forget(key)


class StripTemplates(beam.PTransform):
    """Articles in; ``articles`` (every article, learned template lines removed; none dropped) and
    ``dead_letter`` (``templates_failed``) out."""

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
            | "LearnTemplates"
            >> beam.ParDo(LearnTemplatesFn(self._config)).with_outputs(DEAD_LETTER, main=ARTICLES)
        )
        return {
            ARTICLES: (learned[ARTICLES], unsourced) | "WithUnsourced" >> beam.Flatten(),
            DEAD_LETTER: learned[DEAD_LETTER],
        }
