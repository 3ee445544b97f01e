"""Write records to a Kafka topic and report which inputs' outputs are durably written.

``WriteToKafka`` sends each ``(key, value, ref)`` with ``acks=all`` and, once the bundle is flushed
and every send acknowledged, emits the ``SourceRef`` of each written record; wiring the refs of
every sink into ``kafka_commit.CommitOffsets`` gives DESIGN.md's at-least-once delivery: an offset
is committed only after the output of its input is durably written.

The producer rides through a broker outage of up to ``--broker-timeout-seconds``: ``send`` is
retried while it cannot get metadata (nothing was appended, so nothing is sent twice) and the
producer's own delivery retries, idempotent (kafka-python's default, which stops a retried batch
being written twice), are allowed that long (never less than kafka-python's floor,
``KafkaConnection.producer``). A record still not acknowledged then is an
infrastructure failure: ``KafkaIOError`` with the input's coordinates ends the job, and a restart
resumes from the committed offsets. Bodies are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from schemas.errors import KafkaIOError
from transforms.io.broker_retry import BrokerCalls
from transforms.io.histograms import CounterHistogram
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.producer_acks import first_unwritten
from transforms.text.models import SourceRef

_LOG = logging.getLogger(__name__)

WRITE_METRICS_NAMESPACE = "newsflow.write_kafka"
COUNTER_IN = "in"
COUNTER_OUT = "out"
COUNTER_NOT_KAFKA = "not_from_kafka"
# From an input's Kafka timestamp (its event time) to the acknowledgement of its output.
END_TO_END_LATENCY = "end_to_end_latency"

# Beyond the broker timeout, how long a flush may wait for the last in-flight requests.
FLUSH_MARGIN_SECONDS = 60.0

_TIMESTAMP = beam.DoFn.TimestampParam
_WINDOW = beam.DoFn.WindowParam


def flush_timeout_seconds(broker: BrokerCalls) -> float:
    """How long a flush may wait: the outage a write rides through, plus the last requests."""
    return broker.timeout_seconds + FLUSH_MARGIN_SECONDS


class WriteToKafkaFn(beam.DoFn):
    """Sends ``(key, value, ref)`` to the topic; after the flush, emits each written ``ref``.

    Refs are emitted from ``finish_bundle`` in the window and at the timestamp of their input, so a
    downstream step sees a ref only once the record is acknowledged.
    """

    def __init__(self, connection: KafkaConnection, topic: str) -> None:
        self._connection = connection
        self._topic = topic
        self._broker = connection.broker
        self._producer: KafkaProducer | None = None
        self._pending: list[tuple[FutureRecordMetadata, SourceRef, Timestamp, BoundedWindow]] = []
        self._in = Metrics.counter(WRITE_METRICS_NAMESPACE, COUNTER_IN)
        self._out = Metrics.counter(WRITE_METRICS_NAMESPACE, COUNTER_OUT)
        self._latency = CounterHistogram(WRITE_METRICS_NAMESPACE, END_TO_END_LATENCY)

    def setup(self) -> None:
        self._producer = self._connection.producer()

    def start_bundle(self) -> None:
        self._pending = []

    def process(
        self,
        element: tuple[bytes | None, bytes, SourceRef],
        timestamp: Timestamp = _TIMESTAMP,
        window: BoundedWindow = _WINDOW,
    ) -> None:
        key, value, ref = element
        self._in.inc()
        future = self._broker.call(
            f"sending the output of {ref} to {self._topic}",
            lambda: self._producer.send(self._topic, key=key, value=value),
            local=True,
        )
        self._pending.append((future, ref, timestamp, window))

    def finish_bundle(self) -> Iterator[WindowedValue]:
        futures = [future for future, _, _, _ in self._pending]
        failed = first_unwritten(self._producer, futures, flush_timeout_seconds(self._broker))
        if failed is not None:
            position, exc = failed
            ref = self._pending[position][1]
            raise KafkaIOError(
                f"writing the output of {ref} to {self._topic} failed: {exc!r}"
            ) from exc
        self._out.inc(len(self._pending))
        written, self._pending = self._pending, []
        acked_ms = time.time() * 1000
        for _, ref, timestamp, window in written:
            if timestamp.micros > 0:  # a Kafka input's event time; file inputs have none
                self._latency.observe(acked_ms - timestamp.micros / 1000)
            yield WindowedValue(ref, timestamp, (window,))

    def teardown(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None


class WriteToKafka(beam.PTransform):
    """``PCollection[(key, value, SourceRef)]`` to ``PCollection[SourceRef]`` of written inputs.

    Keys and values are bytes (the key may be ``None``); ``acks`` is always ``all``
    (``KafkaConnection.producer``).
    """

    def __init__(self, connection: KafkaConnection, topic: str) -> None:
        super().__init__()
        self._connection = connection
        self._topic = topic

    def default_label(self) -> str:
        return f"WriteToKafka({self._topic})"

    def expand(self, records: beam.PCollection) -> beam.PCollection[SourceRef]:
        return records | "Send" >> beam.ParDo(
            WriteToKafkaFn(self._connection, self._topic)
        ).with_output_types(SourceRef)
