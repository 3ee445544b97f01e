"""Malformed messages between good ones on a live topic: the streaming job stays up, the good ones
are enriched, each bad one is in the dead-letter topic with its reason code, and the offsets are
committed past all of them (the messages and the checks: ``conftest.HOSTILE``,
``assert_hostile_handled``; the same on the Flink cluster in ``test_flink_failover.py``)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_malformed_messages_between_good_ones_leave_the_job_running(
    kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    good = kit.events(len(kit.HOSTILE) + 1, 9)
    group = f"{stream_topics['raw']}.hostile"
    job = job_factory(kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files"))
    job.wait_until_reading(stream_topics["raw"], 3)
    kit.send_with_hostile(kafka_bootstrap, stream_topics["raw"], good)

    kit.assert_hostile_handled(kafka_bootstrap, stream_topics, group, job, good)
    assert job.stop() == 0, "SIGTERM stops the job cleanly"
