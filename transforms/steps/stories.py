"""Stories in one keyed step: every enriched article and every duplicate gets its ``story_id``.

``StoryTerms`` (stateless, where the runner has cores) reduces each article to its three term
vectors (``transforms.text.story_terms``). ``DecideStories`` is keyed on one key (``SHARD``), as
dedup is, so one index sees every story and the order is global: it buffers until the event-time
watermark passes (``transforms.steps.buffering``), then decides each batch in ``(fetched_at, input
position)`` order against the live stories (``transforms.text.stories.StoryIndex``). It runs after
NER (it needs the entities) and also receives dedup's duplicates, which never went through NER:
a duplicate is decided after its original (it arrived later, and the original's flush slot is
never later than its own) and takes the story the original was given.

The state is the index's records in an append-only Beam bag, with a version carried in the
pending bag and an in-memory cache, exactly as dedup keeps its index (see
``transforms.steps.dedup``); the bag is rewritten once it holds more than twice the live records.
With a changelog configured (``newsflow run`` on the local runner) every flush's changed records
are written to ``<group>-stories-changelog`` and acknowledged before its decisions are emitted,
and empty Beam state is restored from it. Aliases (two stories found to be one) leave on the
``aliases`` output as ``StoryAlias`` records, or, with an alias sink configured (``newsflow run``),
are written to the aliases topic and acknowledged before the flush's records go to the
changelog, and so before the decisions that revealed them are emitted: a run that fails before
the changelog has the folds decides them again after its restart and writes their aliases then,
and one that fails after it finds the aliases written. A failure between the two acknowledgements
writes an alias twice (the same record, keyed by its story id); none is ever lost.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, replace
from functools import partial

import apache_beam as beam
from apache_beam.coders import BytesCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import BagStateSpec, on_timer

from schemas.codec import STORY_ALIAS
from schemas.confluent import ValueEncoder
from transforms.io.changelog import ChangelogConfig, ChangelogWriter, ensure_topic, restore_values
from transforms.state_coders import BagVersionCoder, StoryTermsCoder
from transforms.steps import buffering
from transforms.steps.dead_letters import article_payload, attempt
from transforms.steps.shared import ARTICLES, DEAD_LETTER, DUPLICATES, arrival_order
from transforms.steps.state_params import with_states
from transforms.steps.versioned_bag import VersionedBag
from transforms.text.models import Article
from transforms.text.records import story_alias_record
from transforms.text.stories import Alias, StoryConfig, StoryIndex, decode_record
from transforms.text.story_terms import article_terms

STEP = "stories"
NAMESPACE = f"newsflow.{STEP}"
ALIASES = "aliases"
SHARD = "all"
Keyed = tuple[str, typing.Any]


@dataclass(frozen=True)
class AliasSink:
    """Where ``newsflow run`` writes aliases itself: the topic (in ``changelog``'s client
    settings, not compacted) and the value encoder of ``--value-format``."""

    topic: ChangelogConfig
    encode: ValueEncoder = field(default_factory=lambda: ValueEncoder(STORY_ALIAS))


@dataclass(frozen=True)
class StoriesConfig:
    """How stories are decided, and the changelog and alias sink of ``newsflow run`` (None in
    file mode and, for the changelog, on a runner whose state is durable)."""

    story: StoryConfig = field(default_factory=StoryConfig)
    changelog: ChangelogConfig | None = None
    aliases: AliasSink | None = None


class StoryTermsFn(beam.DoFn):
    """Article -> ``(shard, (article, terms))``; a failure is a ``stories_failed`` dead letter."""

    def __init__(self, cfg: StoryConfig) -> None:
        self._cfg = cfg

    def process(self, article: Article):
        terms, failure = attempt(
            STEP, article, article_payload, article_terms, article, self._cfg.lead_chars
        )
        yield failure if failure is not None else (SHARD, (article, terms))


def _checked(value: bytes) -> bytes:
    """A changelog value as the index replays it, refused (ValueError) if it is not a record."""
    decode_record(value)
    return value


class DecideStoriesFn(buffering.CountsStateRequests, beam.DoFn):
    """Keyed by shard: each article leaves with its ``story_id`` on ``articles`` (or
    ``duplicates``, for dedup's duplicates); aliases on ``aliases`` unless written to Kafka."""

    PENDING = buffering.pending_spec(StoryTermsCoder(), BagVersionCoder())
    BUCKETS = buffering.bucket_specs(StoryTermsCoder(), BagVersionCoder())
    FLUSH = buffering.flush_spec()
    RECORDS = BagStateSpec("stories", BytesCoder())

    def __init__(self, config: StoriesConfig) -> None:
        self._config = config
        self._requests = buffering.StateRequests(NAMESPACE)
        self._counters = {
            kind: Metrics.counter(NAMESPACE, kind)
            for kind in ("new", "joined", "duplicate", "replay")
        }
        self._aliases = Metrics.counter(NAMESPACE, "aliases")
        self._restored = Metrics.counter(NAMESPACE, "records_restored")
        self._live = Metrics.gauge(NAMESPACE, "live_stories")
        self._bag = VersionedBag("stories", self._requests)
        self._changelog: ChangelogWriter | None = None
        self._alias_writer: ChangelogWriter | None = None

    def setup(self) -> None:
        self._bag.attach()
        if self._config.changelog is not None:
            ensure_topic(self._config.changelog)
            self._changelog = ChangelogWriter(self._config.changelog)
        if self._config.aliases is not None:
            ensure_topic(self._config.aliases.topic, compacted=False)
            self._alias_writer = ChangelogWriter(self._config.aliases.topic)

    def teardown(self) -> None:
        for writer in (self._changelog, self._alias_writer):
            if writer is not None:
                writer.close()

    process = buffering.buffering_process(BUCKETS, FLUSH, buffering.STORIES_PHASE)

    @on_timer(FLUSH)
    @with_states(BUCKETS)
    def flush(
        self,
        key=beam.DoFn.KeyParam,
        fired_at=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        records=beam.DoFn.StateParam(RECORDS),
        **buckets,
    ):
        due = buffering.take_due(key, fired_at, pending, buckets, self._requests)
        if not due.values:
            return
        index, stored, fresh = self._index(key, due.carried, records)
        outputs, aliases = self._decide(index, due.values)
        outputs.extend(self._publish(aliases))  # before the folds are remembered: see the module
        changes = index.changes()
        if changes and self._changelog is not None:
            self._changelog.send([(k.encode(), v) for k, v in changes], "story records")
        version = due.carried
        if changes or fresh:
            version = self._persist(key, index, stored, changes, records)
        else:
            self._bag.keep(key, version, index)
        self._live.set(len(index))
        buffering.put_back(key, due, version, pending, buckets, self._requests)
        yield from outputs

    def _decide(self, index: StoryIndex, values) -> tuple[list, list[tuple[Alias, int]]]:
        """Each article, in arrival order, with its story; the aliases found on the way."""
        outputs, aliases = [], []
        for article, terms in sorted(values, key=lambda item: arrival_order(item[0])):
            assignment, failure = attempt(
                STEP, article, article_payload, index.decide, terms, article.id,
                article.duplicate_of,
            )  # fmt: skip
            if failure is not None:
                outputs.append(failure)
                continue
            self._counters[assignment.kind].inc()
            aliases.extend((alias, article.fetched_at) for alias in assignment.aliases)
            linked = replace(article, story_id=assignment.story_id)
            outputs.append(
                beam.pvalue.TaggedOutput(DUPLICATES, linked) if article.duplicate_of else linked
            )
        return outputs, aliases

    def _publish(self, aliases: list[tuple[Alias, int]]) -> list:
        """Aliases as records: written and acknowledged here with an alias sink, else outputs."""
        self._aliases.inc(len(aliases))
        records = [story_alias_record(a.story_id, a.alias_of, at) for a, at in aliases]
        if self._alias_writer is None:
            return [beam.pvalue.TaggedOutput(ALIASES, record) for record in records]
        if records:
            encode = self._config.aliases.encode
            messages = [(r["story_id"].encode(), encode(r)) for r in records]
            self._alias_writer.send(messages, "story aliases")
        return []

    def _index(self, key, version, records) -> tuple[StoryIndex, int, bool]:
        """``(index, records in the bag, whether the state was empty)``: the cached index when
        its version is the state's, else replayed from the bag, else (empty state) restored from
        the changelog."""

        def restored() -> list[bytes]:
            rows = list(
                StoryIndex(self._config.story, restore_values(changelog, _checked)).records()
            )
            self._restored.inc(len(rows))
            return rows

        changelog = self._config.changelog
        build = partial(StoryIndex, self._config.story)
        return self._bag.load(key, version, records, build, restored if changelog else None)

    def _persist(self, key, index: StoryIndex, stored: int, changes, records) -> tuple[int, int]:
        """Append the changed records (or rewrite the bag once most of it is stale); returns the
        new version, so every cached copy elsewhere is known stale."""
        live = len(index) + index.remembered_articles
        rows = [row for _, row in changes]
        return self._bag.persist(key, records, index, stored, rows, live, index.records)


def _story_terms(cfg: StoryConfig) -> beam.ParDo:
    """``StoryTermsFn``: ``keyed`` (main) and ``dead_letter``."""
    return (
        beam.ParDo(StoryTermsFn(cfg))
        .with_output_types(Keyed)
        .with_outputs(DEAD_LETTER, main="keyed")
    )


class LinkStories(beam.PTransform):
    """Input: a dict with ``articles`` (enriched, after NER) and ``duplicates`` (from dedup).
    Outputs ``articles`` and ``duplicates`` with ``story_id`` set, ``aliases`` (``StoryAlias``
    records; empty when an alias sink writes them) and ``dead_letter`` (``stories_failed``)."""

    def __init__(self, config: StoriesConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, inputs):
        # Terms are taken from each input before the two are merged: a runner fuses a step with
        # its producer but not across a Flatten of two stages (Prism), so NER's enriched articles
        # would otherwise be encoded, shipped to the runner and decoded once more on their way.
        articles = inputs[ARTICLES] | "StoryTerms" >> _story_terms(self._config.story)
        duplicates = inputs[DUPLICATES] | "DuplicateStoryTerms" >> _story_terms(self._config.story)
        keyed = (articles.keyed, duplicates.keyed) | "ArticlesAndDuplicates" >> beam.Flatten()
        decided = keyed | "DecideStories" >> beam.ParDo(DecideStoriesFn(self._config)).with_outputs(
            DUPLICATES, ALIASES, DEAD_LETTER, main=ARTICLES
        )
        dead_letters = (articles[DEAD_LETTER], duplicates[DEAD_LETTER], decided[DEAD_LETTER]) | (
            "StoriesDeadLetters" >> beam.Flatten()
        )
        return {
            ARTICLES: decided[ARTICLES],
            DUPLICATES: decided[DUPLICATES],
            ALIASES: decided[ALIASES],
            DEAD_LETTER: dead_letters,
        }
