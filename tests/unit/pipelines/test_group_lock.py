"""The lease holder's identity: written into the guard's client id, read back for the message a
refused second job prints; and how a described lock group is read (who holds the lease)."""

from datetime import UTC, datetime

import pytest
from kafka.errors import KafkaError

from pipelines.group_lock import describe_holder, holder_id, holds_lock, members_of


def test_holder_id_names_host_pid_and_start():
    since = datetime(2026, 12, 3, 11, 30, 5, tzinfo=UTC)
    client_id = holder_id("ingest-1", 4242, since)
    assert describe_holder(client_id, "/10.0.0.7") == (
        "host ingest-1, pid 4242, since 2026-12-03T11:30:05Z"
    )


@pytest.mark.parametrize(
    ("client_id", "host", "described"),
    [
        ("kafka-python-3.0.12", "/10.0.0.7", "client 'kafka-python-3.0.12' at 10.0.0.7"),
        ("", "/127.0.0.1", "client '' at 127.0.0.1"),
    ],
)
def test_a_member_that_is_not_a_newsflow_guard_is_still_named(client_id, host, described):
    assert describe_holder(client_id, host) == described


# A lock group as kafka-python 3.0.12 describes it from a Kafka 4 broker (captured, trimmed).
HOLDER = {
    "member_id": "newsflow-lock host=vm pid=13040 since=2026-12-06T03:51:28Z lease=5ccee804-48",
    "client_id": "newsflow-lock host=vm pid=13040 since=2026-12-06T03:51:28Z lease=5ccee804",
    "client_host": "/127.0.0.1",
    "member_metadata": {"topics": ["newsflow.locks"], "user_data": ""},
    "member_assignment": {
        "assigned_partitions": [{"topic": "newsflow.locks", "partitions": [0]}],
        "user_data": "",
    },
}
UNKNOWN_GROUP = {
    "group_id": "g.lock",
    "group_state": "Dead",
    "members": [],
    "error": "[Error 69] GroupIdNotFoundError: Group g.lock not found.",
}


def test_a_group_the_broker_does_not_know_has_no_members():
    assert members_of(UNKNOWN_GROUP) == []


def test_a_failed_description_is_an_error_not_an_empty_group():
    loading = {
        "group_id": "g.lock",
        "group_state": "",
        "members": [],
        "error": "[Error 14] CoordinatorLoadInProgressError: ",
    }
    with pytest.raises(KafkaError, match=r"g\.lock: .*CoordinatorLoadInProgress"):
        members_of(loading)


def test_members_of_a_stable_group():
    assert members_of({"group_state": "Stable", "members": [HOLDER], "error": None}) == [HOLDER]


@pytest.mark.parametrize(
    ("assignment", "holds"),
    [
        (HOLDER["member_assignment"], True),
        ({"assigned_partitions": [], "user_data": ""}, False),
        ({"assigned_partitions": [{"topic": "other", "partitions": [0]}]}, False),
        ({"assigned_partitions": [{"topic": "newsflow.locks", "partitions": []}]}, False),
        (b"", False),  # mid-rebalance: no assignment yet
        (None, False),
    ],
)
def test_only_the_member_assigned_the_lock_partition_holds_the_lease(assignment, holds):
    assert holds_lock({**HOLDER, "member_assignment": assignment}) is holds
