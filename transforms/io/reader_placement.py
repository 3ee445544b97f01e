"""Which Flink subtask reads each Kafka partition, and a salt that spreads the readers evenly.

Beam 2.62's FlinkRunner keys a splittable DoFn's elements by their encoded bytes
(``SdfByteBufferKeySelector``: a ``ByteBuffer`` of the element in the nested context), and Flink
places a key by its hash: key group ``murmur(ByteBuffer.hashCode()) % max_parallelism``, subtask
``key_group * parallelism // max_parallelism`` (``KeyGroupRangeAssignment``). A reader element is
``(topic, partition)``, so where a partition is read was a matter of the topic's name: 3
partitions on parallelism 2 gave one subtask 2 of them or all 3, and on parallelism 3 one subtask
often none (four jobs of 2026-12-06, seen in each reader subtask's ``read-records`` on the REST
API, all as computed here). A subtask reading more partitions passes a later watermark on (the
oldest of its partitions' holds) and every keyed step downstream waits for the slowest subtask
(deploy/README.md, "Where each partition is read").

So in a streaming Flink job each partition's element carries a salt, the smallest that puts
partition ``p`` on subtask ``p % parallelism``. The salt sits above bit 32 of the partition field
rather than in a field of its own: elements in a savepoint taken before (salt 0) decode to the
same partition, and the element keeps Beam's standard ``KV<string, varint>`` coding, which is
what the placement is computed on. If a later Beam or Flink places keys otherwise, the salt only
stops spreading; no record is read twice or missed, since every reader still reads exactly its
own partition.
"""

from __future__ import annotations

from dataclasses import dataclass

from apache_beam.coders import StrUtf8Coder, TupleCoder, VarIntCoder

SALT_SHIFT = 32
PARTITION_MASK = (1 << SALT_SHIFT) - 1
# Flink's default number of key groups: max(128, the parallelism x 1.5 rounded up to a power of
# two), at most 32768 (KeyGroupRangeAssignment.computeDefaultMaxParallelism).
DEFAULT_MIN_KEY_GROUPS, MAX_KEY_GROUPS = 128, 1 << 15
MAX_SALT = 1 << 16
_ELEMENT_CODER = TupleCoder((StrUtf8Coder(), VarIntCoder())).get_impl()


def reader_element(topic: str, partition: int, salt: int = 0) -> tuple[str, int]:
    return topic, partition | salt << SALT_SHIFT


def topic_partition(element: tuple[str, int]) -> tuple[str, int]:
    """The ``(topic, partition)`` a reader element stands for, salted or not."""
    topic, packed = element
    return topic, packed & PARTITION_MASK


def default_max_parallelism(parallelism: int) -> int:
    rounded = 1 << max(0, (parallelism + parallelism // 2 - 1).bit_length())
    return min(max(rounded, DEFAULT_MIN_KEY_GROUPS), MAX_KEY_GROUPS)


def flink_subtask(element: tuple[str, int], parallelism: int, max_parallelism: int) -> int:
    """The subtask of a ``parallelism``-wide Flink operator that a reader element is keyed to."""
    key_group = _murmur(_byte_buffer_hash(_encoded(element))) % max_parallelism
    return key_group * parallelism // max_parallelism


@dataclass(frozen=True)
class FlinkPlacement:
    """A FlinkRunner job's ``--parallelism`` and ``--max_parallelism`` (-1: Flink's default)."""

    parallelism: int
    max_parallelism: int = -1

    def spread(self, element: tuple[str, int]) -> tuple[str, int]:
        """``element`` with the smallest salt placing its partition on subtask
        ``partition % parallelism``."""
        topic, partition = topic_partition(element)
        key_groups = self.max_parallelism
        if key_groups <= 0:
            key_groups = default_max_parallelism(self.parallelism)
        target = partition % self.parallelism
        for salt in range(MAX_SALT):
            salted = reader_element(topic, partition, salt)
            if flink_subtask(salted, self.parallelism, key_groups) == target:
                return salted
        return reader_element(topic, partition)


def _encoded(element: tuple[str, int]) -> bytes:
    """The bytes the runner keys on: ``element`` in the nested context of the coder Beam infers
    for ``tuple[str, int]`` (``KV<StringUtf8Coder, VarIntCoder>`` on the runner's side)."""
    return _ELEMENT_CODER.encode_nested(element)


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _byte_buffer_hash(data: bytes) -> int:
    """``java.nio.ByteBuffer.hashCode``: over the bytes from last to first, as signed bytes."""
    h = 1
    for byte in reversed(data):
        h = _int32(31 * h + (byte - 256 if byte > 127 else byte))
    return h


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & 0xFFFFFFFF


def _murmur(code: int) -> int:
    """Flink's ``MathUtils.murmurHash(int)``: one murmur3 round and its finaliser, made
    non-negative."""
    code = _rotl((code * 0xCC9E2D51) & 0xFFFFFFFF, 15)
    code = _rotl((code * 0x1B873593) & 0xFFFFFFFF, 13)
    code = ((code * 5 + 0xE6546B64) & 0xFFFFFFFF) ^ 4
    code ^= code >> 16
    code = (code * 0x85EBCA6B) & 0xFFFFFFFF
    code ^= code >> 13
    code = (code * 0xC2B2AE35) & 0xFFFFFFFF
    code ^= code >> 16
    signed = _int32(code)
    return abs(signed) if signed != -(1 << 31) else 0
