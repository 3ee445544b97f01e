"""Where Flink runs each partition's reader, and the salt that spreads them.

The expected subtasks were computed by Flink 1.19's own ``KeyGroupRangeAssignment
.assignKeyToParallelOperator`` on a ``ByteBuffer`` of Beam 2.62's ``KvCoder(StringUtf8Coder,
VarLongCoder)`` encoding (the key ``SdfByteBufferKeySelector`` gives the runner), in a one-off
Java program against the job server's jars; four jobs on the cluster read their partitions where
they say."""

from __future__ import annotations

import pytest

from transforms.io.reader_placement import (
    FlinkPlacement,
    default_max_parallelism,
    flink_subtask,
    reader_element,
    topic_partition,
)

SALTED = 5 | 7 << 32
FLINK = [
    ("bench.cb5fa376.raw", 2, {0: 1, 1: 1, 2: 0, 3: 1, SALTED: 1}),
    ("bench.d1bbfb19.raw", 3, {0: 2, 1: 2, 2: 1, 3: 2, SALTED: 1}),
    ("articles.raw", 2, {0: 0, 1: 0, 2: 0, 3: 0, SALTED: 1}),
    ("articles.raw", 3, {0: 0, 1: 0, 2: 0, 3: 1, SALTED: 2}),
    ("naïve-topic", 4, {0: 2, 1: 0, 2: 0, 3: 1, SALTED: 3}),
]


@pytest.mark.parametrize(("topic", "parallelism", "subtasks"), FLINK)
def test_the_subtask_of_a_reader_element_is_the_one_flink_computes(topic, parallelism, subtasks):
    key_groups = default_max_parallelism(parallelism)
    got = {p: flink_subtask((topic, p), parallelism, key_groups) for p in subtasks}
    assert got == subtasks


def test_the_default_key_groups_are_flinks():
    got = [default_max_parallelism(p) for p in (1, 2, 3, 85, 86, 100, 1000, 30000)]
    assert got == [128, 128, 128, 128, 256, 256, 2048, 32768]


@pytest.mark.parametrize("parallelism", [2, 3, 4, 7])
@pytest.mark.parametrize("topic", ["articles.raw", "bench.cb5fa376.raw", "feeds.eu-west"])
def test_spread_puts_partition_p_on_subtask_p_mod_parallelism(topic, parallelism):
    placement = FlinkPlacement(parallelism)
    key_groups = default_max_parallelism(parallelism)
    for partition in range(2 * parallelism + 1):
        element = placement.spread((topic, partition))
        assert topic_partition(element) == (topic, partition)
        assert flink_subtask(element, parallelism, key_groups) == partition % parallelism


def test_an_explicit_max_parallelism_is_used_for_the_key_groups():
    placement = FlinkPlacement(3, max_parallelism=720)
    for partition in range(6):
        assert flink_subtask(placement.spread(("articles.raw", partition)), 3, 720) == partition % 3


def test_an_element_without_a_salt_stands_for_its_own_partition():
    """Readers in a savepoint taken before the salt restore as the same partitions."""
    assert topic_partition(("articles.raw", 7)) == ("articles.raw", 7)
    assert topic_partition(reader_element("articles.raw", 7, salt=12)) == ("articles.raw", 7)
    assert reader_element("articles.raw", 7) == ("articles.raw", 7)
