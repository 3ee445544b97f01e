"""One ``newsflow run`` per consumer group: a lease held through Kafka itself.

Two jobs committing one group's offsets would each read every partition (the reader assigns
partitions by hand) and write every input twice. So ``newsflow run`` first takes a lease: a guard
consumer in the group ``<group>.lock`` subscribes to the one-partition topic ``newsflow.locks``;
Kafka assigns that partition to one live member only. The guard is not a member of the job's own
group, whose manual offset commits a group with live members would reject.

The holder's client id names it (host, pid, start time), so a second job refuses to start with a
message naming the running one. The lease lives as long as the guard's session: a job killed with
``kill -9`` stops heartbeating and Kafka frees its lease after the session timeout
(``LOCK_SESSION_TIMEOUT_MS``, 10 s), so a restart waits up to ``LOCK_WAIT_SECONDS`` for a lease
still held and then starts; a job still alive after that wait is a live job, and the newcomer
refuses.

Only a member the broker shows holding the partition makes the group "in use". A guard that has
not been assigned it yet is still joining (a busy broker can take many polls over a join): it
waits, up to ``--broker-timeout-seconds``, and a join that never completes is a broker problem
(``LeaseTimeoutError``), not another job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.errors import ConfigurationError, KafkaIOError
from transforms.io.kafka_clients import KafkaConnection

_LOG = logging.getLogger(__name__)

LOCK_TOPIC = "newsflow.locks"
LOCK_SESSION_TIMEOUT_MS = 10000
# A kill -9'd holder's session expires within LOCK_SESSION_TIMEOUT_MS; wait a little longer.
LOCK_WAIT_SECONDS = LOCK_SESSION_TIMEOUT_MS / 1000 + 5
# A guard joins in well under a second on an idle broker; one still unassigned after this, with
# nobody else holding the lease, is replaced.
JOIN_ATTEMPT_SECONDS = 30.0
_CLIENT_PREFIX = "newsflow-lock"


class GroupInUseError(ConfigurationError):
    """Another live newsflow job holds the consumer group."""

    code = "group_in_use"


class LeaseTimeoutError(KafkaIOError):
    """The broker answered but did not let the guard join its group in time."""

    code = "lease_timeout"


def holder_id(host: str, pid: int, since: datetime) -> str:
    """The guard's client id: who holds the lease, readable by the job that is refused."""
    return f"{_CLIENT_PREFIX} host={host} pid={pid} since={since.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def describe_holder(client_id: str, client_host: str) -> str:
    """A holder for humans: its own client id's fields, else what the broker saw."""
    if client_id.startswith(_CLIENT_PREFIX + " "):
        fields = dict(part.split("=", 1) for part in client_id.split()[1:] if "=" in part)
        return f"host {fields.get('host')}, pid {fields.get('pid')}, since {fields.get('since')}"
    return f"client {client_id!r} at {client_host.lstrip('/')}"


def members_of(group: dict[str, Any]) -> list[dict[str, Any]]:
    """A described group's members. kafka-python reports a failed description (a coordinator
    moving or loading after a broker restart) as an ``error`` next to an empty member list: raised
    here, so the caller retries instead of reading "no members". A group the broker does not know
    is ``Dead`` (Kafka 4 adds GROUP_ID_NOT_FOUND): it has no members."""
    if group.get("error") and group.get("group_state") != "Dead":
        raise KafkaError(f"describing consumer group {group.get('group_id')}: {group['error']}")
    return list(group.get("members") or [])


def holds_lock(member: dict[str, Any]) -> bool:
    """Whether a described member is assigned the lock topic's partition (kafka-python decodes the
    assignment; a member mid-rebalance has none)."""
    assignment = member.get("member_assignment") or {}
    if not isinstance(assignment, dict):
        return False
    return any(
        tp.get("topic") == LOCK_TOPIC and tp.get("partitions")
        for tp in assignment.get("assigned_partitions") or []
    )


def lease_consumer(connection: KafkaConnection, lock_group: str) -> KafkaConsumer:
    """The guard consumer of ``lock_group``, not yet subscribed. The lease's own settings win over
    --kafka-config (a user's session.timeout.ms or client.id would otherwise be a second value
    for the same keyword; a user's auto.offset.reset=none, meant for the input, made the guard's
    first poll fail: it never commits, so it has no offset to start from)."""
    return connection.group_member(
        lock_group,
        # The nonce tells this guard from another of the same process started in the same second.
        client_id=f"{holder_id(socket.gethostname(), os.getpid(), datetime.now(UTC))} "
        f"lease={uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="latest",
        session_timeout_ms=LOCK_SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=LOCK_SESSION_TIMEOUT_MS // 5,
        partition_assignment_strategy=[StickyPartitionAssignor],
    )


class GroupLock:
    """Held from ``acquire`` to ``release`` by a guard consumer polled from a daemon thread."""

    def __init__(self, connection: KafkaConnection, group: str) -> None:
        self._connection = connection
        self._group = group
        self._lock_group = f"{group}.lock"
        self._broker = connection.broker
        self._consumer: KafkaConsumer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lease or raise ``GroupInUseError`` naming the job that holds it."""
        admin = self._broker.call("connecting", self._connection.admin)
        try:
            self._broker.call("creating the lock topic", self._ensure_topic, admin)
            self._wait_for_no_members(admin)
            self._consumer = self._join(admin)
        finally:
            admin.close()
        self._thread = threading.Thread(target=self._heartbeat, name="group-lock", daemon=True)
        self._thread.start()
        _LOG.info("holding consumer group %s (lease %s)", self._group, self._lock_group)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def _ensure_topic(self, admin: KafkaAdminClient) -> None:
        try:
            if LOCK_TOPIC not in admin.list_topics():
                admin.create_topics([NewTopic(LOCK_TOPIC, 1, 1)], timeout_ms=30000)
        except TopicAlreadyExistsError:
            pass

    def _wait_for_no_members(self, admin: KafkaAdminClient) -> None:
        """A member left by a job killed with ``kill -9`` expires within the session timeout; one
        still there after ``LOCK_WAIT_SECONDS`` is a live job."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while members := self._described(admin):
            if time.monotonic() >= deadline:
                raise self._in_use(members)
            time.sleep(1)

    def _described(self, admin: KafkaAdminClient) -> list[dict[str, Any]]:
        return self._broker.call("describing the lock group", self._members, admin)

    def _members(self, admin: KafkaAdminClient) -> list[dict[str, Any]]:
        return members_of(admin.describe_groups([self._lock_group]).get(self._lock_group, {}))

    def _join(self, admin: KafkaAdminClient) -> KafkaConsumer:
        """The guard, once it holds the lock partition; ``GroupInUseError`` once another member
        does. A join can take many polls on a busy broker, so only a member seen holding the
        partition decides that the group is in use, never the guard's own wait: a guard that has
        not joined within ``JOIN_ATTEMPT_SECONDS`` is replaced by a new one (a new connection, a
        new member), until ``--broker-timeout-seconds``."""
        deadline = time.monotonic() + self._broker.timeout_seconds
        while True:
            guard = self._broker.call("joining the lock group", self._join_once, admin)
            if guard is not None:
                return guard
            if time.monotonic() >= deadline:
                raise LeaseTimeoutError(
                    f"the broker did not let a guard join {self._lock_group} within "
                    f"{self._broker.timeout_seconds:g} s (limit --broker-timeout-seconds)"
                )
            _LOG.info("no guard of %s joined in %g s; trying a new one", self._lock_group,
                      JOIN_ATTEMPT_SECONDS)  # fmt: skip

    def _join_once(self, admin: KafkaAdminClient) -> KafkaConsumer | None:
        """One guard's attempt: the guard if it is assigned the partition, None if it is not
        within ``JOIN_ATTEMPT_SECONDS`` while nobody else holds it (closed then)."""
        consumer = lease_consumer(self._connection, self._lock_group)
        own_id = consumer.config["client_id"]
        give_up = time.monotonic() + JOIN_ATTEMPT_SECONDS
        try:
            consumer.subscribe([LOCK_TOPIC])
            while time.monotonic() < give_up:
                consumer.poll(timeout_ms=500)
                if consumer.assignment():
                    return consumer
                members = self._described(admin)
                holders = [m for m in members if holds_lock(m) and m.get("client_id") != own_id]
                if holders:
                    raise self._in_use(holders)
        except BaseException:
            consumer.close(autocommit=False)
            raise
        consumer.close(autocommit=False)
        return None

    def _heartbeat(self) -> None:
        """Polls the guard so it stays a live member; a lost lease is logged, once per loss."""
        held = True
        while not self._stop.wait(1.0):
            try:
                self._consumer.poll(timeout_ms=0)
            except KafkaError:
                continue  # the broker is away; the job's IO logs the outage
            if held and not self._consumer.assignment():
                _LOG.warning("lost the lease on consumer group %s; rejoining", self._group)
            held = bool(self._consumer.assignment())

    def _in_use(self, holders: list[dict[str, Any]]) -> GroupInUseError:
        names = "; ".join(
            describe_holder(m.get("client_id") or "", m.get("client_host") or "") for m in holders
        )
        return GroupInUseError(
            f"consumer group {self._group} is in use by another newsflow job ({names}); stop it "
            f"first, or use another --consumer-group (a killed job's lease expires within "
            f"{LOCK_WAIT_SECONDS:g} s)"
        )
