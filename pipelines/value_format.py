"""How ``newsflow run`` frames its Kafka values: one encoder per output topic, chosen by
``--value-format`` before the job starts.

With ``confluent`` the schemas are registered here, in the launcher, so an incompatible schema
change stops the command with one clear line before any worker runs, and workers only prepend the
id they are handed. The default, single-object Avro, needs no registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.options import CONFLUENT, NewsflowOptions
from schemas.codec import DEAD_LETTER, ENRICHED, STORY_ALIAS
from schemas.confluent import ValueEncoder, registered_encoder


@dataclass(frozen=True)
class TopicEncoders:
    """The value encoder of each output topic."""

    enriched: ValueEncoder
    duplicates: ValueEncoder
    dead_letters: ValueEncoder


def topic_encoders(opts: NewsflowOptions) -> TopicEncoders:
    """Encoders for the job's three output topics (registering their schemas if confluent)."""
    pairs = (
        (opts.output_topic, ENRICHED),
        (opts.duplicates_topic, ENRICHED),
        (opts.dead_letter_topic, DEAD_LETTER),
    )
    if opts.value_format == CONFLUENT:
        encoders = [registered_encoder(opts.schema_registry_url, t, s) for t, s in pairs]
    else:
        encoders = [ValueEncoder(schema) for _, schema in pairs]
    return TopicEncoders(*encoders)


def alias_encoder(opts: NewsflowOptions) -> ValueEncoder:
    """The encoder of ``--story-aliases-topic`` (registering its schema if confluent)."""
    if opts.value_format == CONFLUENT:
        return registered_encoder(opts.schema_registry_url, opts.story_aliases_topic, STORY_ALIAS)
    return ValueEncoder(STORY_ALIAS)
