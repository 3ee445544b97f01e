"""The lease holder's identity: written into the guard's client id, read back for the message a
refused second job prints."""

from datetime import UTC, datetime

import pytest

from pipelines.group_lock import describe_holder, holder_id


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
