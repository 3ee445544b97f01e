"""The consumer group's lease on the real broker: of two jobs started at the same moment, one holds
the group and the other is refused naming it; released, the lease goes to the next job at once."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.group_lock import GroupInUseError, GroupLock
from pipelines.options import NewsflowOptions, kafka_connection

pytestmark = pytest.mark.integration


def take_together(locks: list[GroupLock]) -> list[str]:
    """Each lock's outcome, "held", the refusal's message or any other error, all acquired at one
    barrier."""
    barrier = threading.Barrier(len(locks))
    outcomes = [""] * len(locks)

    def take(index: int) -> None:
        barrier.wait()
        try:
            locks[index].acquire()
            outcomes[index] = "held"
        except GroupInUseError as refused:
            outcomes[index] = str(refused)
        except Exception as error:  # reported by the assertion, not lost in a thread
            outcomes[index] = f"unexpected {error!r}"

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(locks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_of_two_jobs_started_together_one_holds_the_group_and_the_other_is_refused(
    kafka_bootstrap,
):
    group = f"test.group_lock.{uuid.uuid4().hex[:8]}"
    options = PipelineOptions(["--bootstrap-servers", kafka_bootstrap]).view_as(NewsflowOptions)
    locks = [GroupLock(kafka_connection(options), group) for _ in range(2)]
    outcomes = take_together(locks)

    assert sorted(outcome == "held" for outcome in outcomes) == [False, True], outcomes
    holder = locks[outcomes.index("held")]
    refused = next(outcome for outcome in outcomes if outcome != "held")
    assert f"consumer group {group} is in use" in refused
    assert f"pid {os.getpid()}," in refused, "the refusal names the holder"

    holder.release()
    successor = GroupLock(kafka_connection(options), group)
    successor.acquire()  # a released lease is free at once: no session timeout to wait out
    successor.release()
