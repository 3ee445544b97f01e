"""newsflow's error types, in the lowest layer so every package can raise and catch them.

Two kinds, handled differently everywhere (docs/DESIGN.md, "Delivery and faults"):

* ``DataError``: something about one input. It carries a reason code and becomes a dead letter;
  the job goes on.
* ``InfrastructureError``: the broker, a file system, a schema file or a setting. Never a dead
  letter: retried while it may heal (a broker outage), else the command ends with one clear line.
"""

from __future__ import annotations


class NewsflowError(Exception):
    """Base of every error newsflow raises on purpose."""

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class DataError(NewsflowError):
    """One input cannot become an article; ``code`` is its dead-letter reason code."""

    code = "data_error"


class InvalidEventError(DataError):
    """The event is not a usable article event (bad JSON, missing body, bad date, too large)."""

    code = "invalid_event"


class RejectedArticleError(DataError):
    """The event decoded, but nothing of an article is left (e.g. the body is all filler)."""

    code = "rejected"


class ExtractionError(DataError):
    """An extractor failed on one input; the input is dead-lettered, the pipeline goes on."""

    code = "extraction_failed"


class CodecError(DataError):
    """Bytes that are not a single-object Avro message of a known schema, or a record that does not
    fit its schema."""

    code = "codec_error"


class RecordTooLargeError(DataError):
    """An article's output record is larger than its topic takes (``--max-record-bytes``)."""

    code = "record_too_large"


class DeletedInputsError(DataError):
    """Offsets of an input topic were deleted (retention, a records deletion) before the job
    read them: their inputs are lost, and the dead letter says which."""

    code = "deleted_before_read"


class InfrastructureError(NewsflowError):
    """Not the input's fault: retried while it may heal, else the command ends with one line."""

    code = "infrastructure"


class KafkaIOError(InfrastructureError):
    """Kafka is unreachable or refused a request."""

    code = "kafka_io"


class ConfigurationError(InfrastructureError, ValueError):
    """A setting that cannot work (a missing schema file, a bad option)."""

    code = "configuration"


class PartitionRewoundError(KafkaIOError):
    """An input partition holds no offset where the job's commit says it left off, and starts
    again below it: the topic was deleted and recreated, or truncated. Which records are new is
    the operator's call (the group's offset), not the job's guess."""

    code = "partition_rewound"


class BrokerUnavailableError(KafkaIOError):
    """The broker stayed unreachable longer than ``--broker-timeout-seconds``."""

    code = "broker_unavailable"


class NerPoolError(InfrastructureError):
    """The NER pool cannot run: its worker processes keep dying (killed, out of memory, a crash in
    native code) or cannot start (spawn fails, the model does not load). Not any one article's
    fault, so never a dead letter: the job fails with this line."""

    code = "ner_pool_broken"


class AuthenticationError(ConfigurationError):
    """The broker rejected the client's credentials (SASL) or its TLS handshake."""

    code = "authentication_failed"


class StateFormatError(InfrastructureError):
    """Keyed state bytes this version cannot read (a newer format, or not newsflow's): the job
    stops rather than run on with state it does not understand."""

    code = "state_format"
