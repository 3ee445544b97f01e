"""The streaming job on the standalone Flink cluster (``deploy/flink/flink.sh up``: three
one-slot TaskManagers, two of them running the job, Beam's worker pool, RocksDB, checkpoints)
survives a lost TaskManager, a lost Python worker pool, a savepoint upgrade, a cancel and a
fresh start, a broker restart and malformed messages with every input in exactly one output
topic, once; and takes a burst sent at once without any flush reading more than one second of
it, its partitions read on the subtasks ``reader_placement`` picks.

Each fault is injected when the state it needs is observed through the REST API and the topics:
a completed checkpoint, and outputs whose offsets the group has not committed yet. Dedup and story
memory are Flink state alone here (``--dedup-changelog off``, ``--story-changelog off``): an
article kept before a fault makes a near copy sent after it a duplicate naming it, in its story.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from pipelines import cli
from pipelines.flink_job import flag_value
from pipelines.flink_rest import TERMINAL_STATES, FlinkRest, local_name
from pipelines.kafka_tools import read_topic
from schemas.codec import decode_any
from transforms.io.reader_placement import default_max_parallelism, flink_subtask
from transforms.steps.buffering import FLUSH_READ

pytestmark = [pytest.mark.integration, pytest.mark.flink]

ROOT = Path(__file__).resolve().parents[3]
FLINK_SH = ROOT / "deploy" / "flink" / "flink.sh"
FLINK_PYTHON = ROOT / ".venv-flink" / "bin" / "python"
PYTHON = str(FLINK_PYTHON)
MASTER = "localhost:8081"
RATE_PER_SECOND = 3.0
DEADLINE_SECONDS = 420.0
BURST = 3000
# The burst's Kafka CreateTimes (the job's event time) are set explicitly, spread evenly over this
# many seconds from a little ahead of the wall clock: the flush slots they fall in do not depend
# on how fast this machine sends them.
BURST_SPREAD_SECONDS = 20
BURST_LEAD_MS = 5000
GATES = {"templates", "dedup", "stories"}
# How long the broker is down: longer than a checkpoint interval and kafka-python's request
# timeouts, so every part of the job meets the outage.
OUTAGE_SECONDS = 30


def flink_sh(command: str) -> str:
    done = subprocess.run(
        [str(FLINK_SH), command], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if command != "status" and done.returncode:
        pytest.fail(f"flink.sh {command} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def processes() -> dict[str, int]:
    """``flink.sh status``: running process name -> pid."""
    lines = flink_sh("status").splitlines()
    return {name: int(pid) for name, pid in (line.split() for line in lines)}


@pytest.fixture
def cluster(stream_topics) -> Iterator[FlinkRest]:
    """The cluster ``make test`` starts; skipped (like the other cluster test) when it is down.
    A job of this test still running at its end (a failed test) is cancelled."""
    if subprocess.run([str(FLINK_SH), "status"], capture_output=True, check=False).returncode:
        pytest.skip("no standalone Flink cluster on localhost:8081: `make flink-cluster-up`")
    if not FLINK_PYTHON.is_file():
        pytest.fail(f"{FLINK_PYTHON} is missing: run `make flink-venv`")
    rest = FlinkRest(MASTER)
    yield rest
    for job in rest.jobs():
        if stream_topics["raw"] in job["name"] and job["state"] not in TERMINAL_STATES:
            rest.cancel(job["jid"])


def wait_until(what: str, condition, timeout: float = DEADLINE_SECONDS):
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` at the end."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(1)
    return result


def flink_argv(kit, bootstrap, topics, group, files, job_name, *extra: str) -> list[str]:
    return [
        *kit.run_argv(bootstrap, topics, group, files),
        "--runner", "FlinkRunner", f"--flink_master={MASTER}", f"--job_name={job_name}",
        "--checkpoint-interval-seconds", "5", "--dedup-changelog", "off",
        "--story-changelog", "off", *extra,
    ]  # fmt: skip


def running_job(rest: FlinkRest, name: str) -> dict:
    return wait_until(f"job {name} running", lambda: _running(rest, name))


def _running(rest: FlinkRest, name: str) -> dict | None:
    job = rest.find_job(name)
    if job is None or job["state"] != "RUNNING" or job["tasks"]["running"] != job["tasks"]["total"]:
        return None
    return job


def last_checkpoint(rest: FlinkRest, jid: str) -> dict | None:
    return (rest.checkpoints(jid).get("latest") or {}).get("completed")


def written_not_committed(kit, bootstrap, topics, group, rest, jid) -> set | None:
    """Inputs with an output whose offsets the group has not committed, once a checkpoint has
    completed (what a restore from it must not write twice); None while there are none."""
    if last_checkpoint(rest, jid) is None:
        return None
    found = kit.output_records(bootstrap, topics)
    committed, _ends = kit.committed_vs_end(bootstrap, topics["raw"], group)
    return kit.uncommitted_outputs(found, committed) or None


def restored_count(rest: FlinkRest, jid: str) -> int:
    return rest.checkpoints(jid)["counts"]["restored"]


def offsets_at_end(kit, bootstrap, topic, group) -> bool:
    committed, ends = kit.committed_vs_end(bootstrap, topic, group)
    return all((committed.get(tp) or 0) >= end for tp, end in ends.items())


def near_copy(payload: bytes, new_id: str) -> bytes:
    """The article with an extra closing sentence and another id: a near duplicate."""
    event = json.loads(payload)
    event["id"] = new_id
    event["body"] += "\n\nThis story was updated with new information."
    return json.dumps(event).encode()


def duplicates_of(bootstrap: str, topic: str) -> dict[str, str]:
    records = (decode_any(m.value)[1] for m in read_topic(topic, bootstrap, {}))
    return {record["id"]: record["duplicate_of"] for record in records}


def story_ids(bootstrap: str, topics: dict, kinds=("enriched", "duplicates")) -> dict[str, str]:
    """Each enriched and duplicate record's story id, by article id."""
    found = {}
    for kind in kinds:
        for message in read_topic(topics[kind], bootstrap, {}):
            record = decode_any(message.value)[1]
            found[record["id"]] = record["story_id"]
    return found


def assert_exactly_once(kit, bootstrap, topics, group, expected_inputs: int, files, avro_ids):
    """Every input in exactly one output topic once; once the group's offsets reach the end
    (an enriched article is committed only when its file is written), in the files too."""
    found = kit.wait_for_outputs(bootstrap, topics, expected_inputs, DEADLINE_SECONDS)
    counts = kit.accounted(found)
    assert len(counts) == expected_inputs, "an input has no output"
    twice = {coords: n for coords, n in counts.items() if n > 1}
    assert not twice, f"inputs with more than one output record: {sorted(twice)[:10]}"
    wait_until(
        "the group's offsets at the end",
        lambda: offsets_at_end(kit, bootstrap, topics["raw"], group),
    )
    missing = {row[2] for row in found["enriched"]} - avro_ids(files)
    assert not missing, f"enriched records missing from the files: {sorted(missing)[:10]}"


def scenario(kit, topics, tmp_path, label: str, count: int, seed: int):
    """A test's group, job name, files, distinct articles, and a near copy of the first."""
    payloads = kit.events(count, seed)
    return (
        f"{topics['raw']}.{label}",
        f"newsflow-{label}-{topics['raw']}",
        tmp_path / "files",
        payloads,
        near_copy(payloads[0], f"near-copy-after-{label}"),
    )


def send_copy_and_check(kit, bootstrap, topics, group, files, payloads, copy, avro_ids):
    """After the fault: the near copy is sent; every input is accounted for exactly once, and the
    copy is a duplicate of the first article (kept before the fault, in Flink state alone) and
    continues its story: the story memory (changelog off) came back from Flink state too, else
    the copy would start a story of its own."""
    kit.produce_steadily(bootstrap, topics["raw"], [copy], RATE_PER_SECOND).join()
    assert_exactly_once(kit, bootstrap, topics, group, len(payloads) + 1, files, avro_ids)
    copy_id, first_id = json.loads(copy)["id"], json.loads(payloads[0])["id"]
    assert duplicates_of(bootstrap, topics["duplicates"]) == {copy_id: first_id}
    stories = story_ids(bootstrap, topics)
    assert stories[first_id] is not None
    assert stories[copy_id] == stories[first_id]


def start_until_uncommitted(
    kit, bootstrap, topics, group, files, name, payloads, job_factory, rest, extra=()
):
    """Start the job (``extra`` flags last), produce ``payloads`` steadily, and return (job, Flink
    job id, producer) once some outputs are written but not committed after a checkpoint."""
    job = job_factory(flink_argv(kit, bootstrap, topics, group, files, name, *extra), PYTHON)
    jid = running_job(rest, name)["jid"]
    producer = kit.produce_steadily(bootstrap, topics["raw"], payloads, RATE_PER_SECOND)
    wait_until(
        "outputs written, not committed, after a checkpoint",
        lambda: written_not_committed(kit, bootstrap, topics, group, rest, jid),
    )
    return job, jid, producer


def kill_busy_taskmanager(rest: FlinkRest, jid: str) -> None:
    """SIGKILL a TaskManager running the job's tasks (flink.sh also runs an idle standby, whose
    loss would test nothing)."""
    os.kill(processes()[local_name(sorted(rest.job_taskmanagers(jid))[0])], signal.SIGKILL)


KILLS = {
    # A TaskManager running the job dies; the job restores on the standby's slot and the one
    # left, and flink.sh's replacement registers under a new resource id.
    "taskmanager": kill_busy_taskmanager,
    # The pool's process group (the pool and every SDK worker it started) dies, as a crashed
    # Kubernetes sidecar; the job must get workers from the new pool (docs/flink-delivery.md says
    # why every task restarts for that).
    "workerpool": lambda rest, jid: os.killpg(processes()["workerpool"], signal.SIGKILL),
}


@pytest.mark.parametrize(("process", "seed"), [("taskmanager", 17), ("workerpool", 29)])
def test_a_lost_process_loses_nothing_and_writes_nothing_twice(
    process, seed, kafka_bootstrap, stream_topics, job_factory, kit, cluster, avro_ids, tmp_path
):
    """Once outputs are written but not committed after a checkpoint, SIGKILL ``process``
    (by its ``flink.sh status`` pid) and start its replacement with ``flink.sh up``: the job
    restores from the checkpoint by itself; every input once, dedup memory kept, and the
    launcher, stopped with SIGTERM, leaves no job on the cluster."""
    topics = stream_topics
    group, name, files, payloads, copy = scenario(kit, topics, tmp_path, process, 150, seed)
    job, jid, producer = start_until_uncommitted(
        kit, kafka_bootstrap, topics, group, files, name, payloads, job_factory, cluster
    )
    KILLS[process](cluster, jid)
    flink_sh("up")
    wait_until("a restore from the checkpoint", lambda: restored_count(cluster, jid) >= 1)
    running_job(cluster, name)

    producer.join()
    send_copy_and_check(kit, kafka_bootstrap, topics, group, files, payloads, copy, avro_ids)
    assert job.stop() == 0
    wait_until("the stopped launcher's job cancelled", lambda: cluster.find_job(name) is None)


@pytest.mark.parametrize("parallelism", [None, 3], ids=["same-parallelism", "scaled-out"])
def test_savepoint_upgrade_loses_nothing_writes_nothing_twice_and_keeps_dedup_and_story_memory(
    parallelism, kafka_bootstrap, stream_topics, job_factory, kit, cluster, avro_ids, tmp_path,
    capsys,
):  # fmt: skip
    """Stop with a savepoint mid-stream and resubmit from it: the same job, or scaled out to
    ``parallelism`` subtasks (the third TaskManager's slot), as a user outgrowing two slots
    does; Flink hands each subtask its key groups of the dedup, story and commit state."""
    topics = stream_topics
    group, name, files, payloads, copy = scenario(kit, topics, tmp_path, "upgrade", 90, 23)
    scaled = [f"--parallelism={parallelism}"] if parallelism else []
    first, _jid, producer = start_until_uncommitted(
        kit, kafka_bootstrap, topics, group, files, name, payloads, job_factory, cluster
    )

    # The operator's commands (deploy/README.md, "Upgrades"): stop with a savepoint, resubmit.
    capsys.readouterr()
    assert cli.main(["savepoint", "--job", name, "--flink-master", MASTER]) == 0
    location = capsys.readouterr().out.strip()
    assert first.proc.wait(timeout=120) == 0, "the stopped job's launcher did not end cleanly"
    second = job_factory(
        flink_argv(
            kit, kafka_bootstrap, topics, group, files, name, f"--savepoint_path={location}",
            *scaled,
        ),
        PYTHON,
    )  # fmt: skip
    restored = running_job(cluster, name)["jid"]
    widths = {vertex["parallelism"] for vertex in cluster.job(restored)["vertices"]}
    assert max(widths) == (parallelism or cluster.default_parallelism())

    producer.join()
    send_copy_and_check(kit, kafka_bootstrap, topics, group, files, payloads, copy, avro_ids)
    assert second.stop() == 0


def test_a_job_cancelled_mid_stream_and_started_afresh_writes_nothing_twice(
    kafka_bootstrap, stream_topics, job_factory, kit, cluster, avro_ids, tmp_path
):
    """The operator's other way back: the job cancelled (SIGTERM to its launcher) once outputs
    are written but not committed, and a new job started on the same group without a savepoint.
    No Flink state comes back: the new job's restore guard scans the outputs from the floors the
    group's commits record, so every input is in one output topic once; dedup and story memory
    come back from their changelogs (on here), so the near copy is still a duplicate in its
    story."""
    topics = stream_topics
    group, name, files, payloads, copy = scenario(kit, topics, tmp_path, "fresh", 90, 43)
    changelogs = ("--dedup-changelog", "on", "--story-changelog", "on")
    first, _jid, producer = start_until_uncommitted(
        kit, kafka_bootstrap, topics, group, files, name, payloads, job_factory, cluster,
        changelogs,
    )  # fmt: skip
    assert first.stop() == 0
    wait_until("the cancelled job gone", lambda: cluster.find_job(name) is None)
    argv = flink_argv(kit, kafka_bootstrap, topics, group, files, name, *changelogs)
    second = job_factory(argv, PYTHON)
    assert restored_count(cluster, running_job(cluster, name)["jid"]) == 0

    producer.join()
    send_copy_and_check(kit, kafka_bootstrap, topics, group, files, payloads, copy, avro_ids)
    assert second.stop() == 0


def test_a_broker_restart_mid_stream_loses_nothing_and_writes_nothing_twice(
    kafka_bootstrap, stream_topics, job_factory, kit, cluster, avro_ids, tmp_path
):
    """The broker is stopped, as an operator stops it, once outputs are written but not
    committed after a checkpoint, and started again ``OUTAGE_SECONDS`` later: the job is running
    on the cluster afterwards (ridden through, or restored from a checkpoint by Flink itself),
    the inputs sent after the outage are enriched, every input is in exactly one output topic
    once, and dedup memory (Flink state alone) holds across the outage."""
    topics = stream_topics
    group, name, files, payloads, copy = scenario(kit, topics, tmp_path, "broker", 90, 41)
    before, after = payloads[:60], payloads[60:]
    job, jid, producer = start_until_uncommitted(
        kit, kafka_bootstrap, topics, group, files, name, before, job_factory, cluster
    )
    producer.join()
    kit.kafka_sh("down")
    time.sleep(OUTAGE_SECONDS)  # the fault itself, not a wait for a condition
    kit.kafka_sh("up")
    assert job.proc.poll() is None, "the launcher is alive after the outage"

    kit.produce_steadily(kafka_bootstrap, topics["raw"], after, RATE_PER_SECOND).join()
    send_copy_and_check(kit, kafka_bootstrap, topics, group, files, payloads, copy, avro_ids)
    running_job(cluster, name)
    print(f"\nrestored from a checkpoint {restored_count(cluster, jid)} time(s) over the outage")
    assert job.stop() == 0


def test_a_second_job_is_refused_and_malformed_messages_leave_the_flink_job_running(
    kafka_bootstrap, stream_topics, job_factory, kit, cluster, procs, avro_ids, tmp_path, capsys
):
    """A second ``newsflow run`` on the running job's consumer group is refused (exit 2, naming
    the first) and leaves the first alone. Then ``test_hostile_input.py`` on the cluster: bytes
    that are not UTF-8, NaN and 5,000-digit numbers, 100,000 nested brackets, a truncated Avro
    frame between good articles; each bad one a dead letter with its reason, the good ones
    enriched, the group committed past all of them, and no task failed or restored. Last, the
    first job's launcher is killed with SIGKILL: its job server goes with it, its cluster job runs
    on (nothing cancels it), and a restart, holding the expired lease, is refused naming that
    job; the cluster keeps one job of the group. Taken over as the refusal says (a savepoint,
    then a job from it), one more article is enriched and every input stays once."""
    good = kit.events(len(kit.HOSTILE) + 1, 9)
    group, name = f"{stream_topics['raw']}.hostile", f"newsflow-hostile-{stream_topics['raw']}"
    files = tmp_path / "files"
    argv = flink_argv(kit, kafka_bootstrap, stream_topics, group, files, name)
    job = job_factory(argv, PYTHON)
    jid = running_job(cluster, name)["jid"]
    refused = kit.run_once([*argv[1:], "--stop-at-end"], python=PYTHON)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert f"consumer group {group} is in use" in refused.stderr
    assert f"pid {job.proc.pid}," in refused.stderr, "the refusal names the running job"
    live = [j for j in cluster.jobs() if j["state"] not in TERMINAL_STATES]
    assert [j["jid"] for j in live if stream_topics["raw"] in j["name"]] == [jid]

    kit.send_with_hostile(kafka_bootstrap, stream_topics["raw"], good)
    kit.assert_hostile_handled(kafka_bootstrap, stream_topics, group, job, good)
    assert restored_count(cluster, jid) == 0
    failures = cluster.call(f"/jobs/{jid}/exceptions")["exceptionHistory"]["entries"]
    assert not failures, [f["exceptionName"] for f in failures]

    taken = kill_launcher_and_take_over(
        kit, kafka_bootstrap, stream_topics, argv, job, jid, job_factory, cluster, procs, capsys
    )
    sent = [*kit.with_hostile(good), kit.events(1, 10)[0]]
    kit.produce_steadily(kafka_bootstrap, stream_topics["raw"], sent[-1:], 5.0, lambda _n: 0).join()
    assert_exactly_once(kit, kafka_bootstrap, stream_topics, group, len(sent), files, avro_ids)
    assert taken.stop() == 0


def kill_launcher_and_take_over(
    kit, bootstrap, topics, argv, job, jid, job_factory, cluster, procs, capsys
):
    """SIGKILL the launcher of cluster job ``jid``: its job server goes with it, the cluster job
    runs on, a restart is refused naming it; then the way back the refusal gives (stop it with a
    savepoint, resubmit from it) runs the group's only job."""
    job_servers = [p for p in procs.children(job.proc.pid) if "job-server" in procs.command_line(p)]
    assert len(job_servers) == 1, "the launcher runs its Flink job server"
    job.proc.kill()
    job.proc.wait(timeout=60)
    wait_until("the job server gone with its launcher", lambda: not procs.alive(job_servers[0]), 30)
    restarted = kit.run_once([*argv[1:], "--stop-at-end"], python=PYTHON)
    assert restarted.returncode == 2, restarted.stderr[-2000:]
    name, group = flag_value(argv, "job_name"), flag_value(argv, "consumer_group")
    assert f"consumer group {group} is read by Flink job {name} ({jid}, RUNNING" in restarted.stderr
    live = [j for j in cluster.jobs() if j["state"] not in TERMINAL_STATES]
    assert [j["jid"] for j in live if topics["raw"] in j["name"]] == [jid]

    capsys.readouterr()
    savepoint = re.search(r"`newsflow (savepoint [^`]+)`", restarted.stderr).group(1)
    assert cli.main(savepoint.split()) == 0
    location = capsys.readouterr().out.strip()
    taken = job_factory([*argv, f"--savepoint_path={location}"], PYTHON)
    assert running_job(cluster, name)["jid"] != jid
    live = [j for j in cluster.jobs() if j["state"] not in TERMINAL_STATES]
    assert len([j for j in live if topics["raw"] in j["name"]]) == 1
    return taken


def send_burst(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    """Send every payload at once, stamped ``BURST_SPREAD_SECONDS`` apart in total."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    start_ms = int(time.time() * 1000) + BURST_LEAD_MS
    step_ms = BURST_SPREAD_SECONDS * 1000 / len(payloads)
    for n, payload in enumerate(payloads):
        producer.send(topic, value=payload, timestamp_ms=start_ms + int(n * step_ms))
    producer.flush()
    producer.close()


def clumped(topic: str, parallelism: int, partitions: int = 3) -> bool:
    """Flink would read every partition of ``topic`` on one subtask, without the readers' salt."""
    key_groups = default_max_parallelism(parallelism)
    return len({flink_subtask((topic, p), parallelism, key_groups) for p in range(partitions)}) == 1


def partitions_per_reader(rest: FlinkRest, jid: str) -> list[int]:
    """How many partitions each subtask of the job's reader stage reads: the records into it,
    one per partition."""
    [stage] = [v for v in rest.job(jid)["vertices"] if "DecodeEvents" in v["name"]]
    subtasks = rest.call(f"/jobs/{jid}/vertices/{stage['id']}")["subtasks"]
    return [s["metrics"]["read-records"] for s in sorted(subtasks, key=lambda s: s["subtask"])]


def most_per_slot(timestamps_ms) -> int:
    """The most inputs whose Kafka CreateTime falls in one flush slot of a buffering step (one
    second, shifted by each gate's phase of 1 to 3 ms): what one flush may read."""
    return max(
        max(Counter((ms - phase) // 1000 for ms in timestamps_ms).values()) for phase in (1, 2, 3)
    )


def test_a_burst_is_decided_once_with_no_restore_and_no_flush_reading_the_backlog(
    kafka_bootstrap, stream_topics, unique_topic, job_factory, kit, cluster, avro_ids, tmp_path
):
    """3,000 articles sent at once to a running job, their CreateTimes spread over 20 s (NER
    bypassed: the buffering steps are the point). On main a flush read its key's whole pending
    bag, and in the 100,000-article run (deploy/README.md) that read ran a TaskManager out of
    heap at every restore. Here: every
    input in exactly one output topic once, no restore, no failure of the job, and no flush of
    the templates, dedup or stories step read more than the inputs of one second of CreateTime
    (the steps' ``flush_read_elements``, read from the cluster's REST API). The raw topic's name
    would put its three partitions' readers on one subtask (as ``articles.raw``'s are); they are
    read 2-1, partition p on subtask p % 2."""
    parallelism = cluster.default_parallelism()
    raw = unique_topic(3, "raw", accept=lambda name: clumped(name, parallelism))
    topics = {**stream_topics, "raw": raw}
    group, name, files, payloads, _copy = scenario(kit, topics, tmp_path, "burst", BURST, 37)
    argv = flink_argv(kit, kafka_bootstrap, topics, group, files, name, "--spacy-model", "blank:en")
    job = job_factory(argv, PYTHON)
    jid = running_job(cluster, name)["jid"]
    send_burst(kafka_bootstrap, topics["raw"], payloads)

    assert_exactly_once(kit, kafka_bootstrap, topics, group, BURST, files, avro_ids)
    assert restored_count(cluster, jid) == 0
    failures = cluster.call(f"/jobs/{jid}/exceptions")["exceptionHistory"]["entries"]
    assert not failures, [f["exceptionName"] for f in failures]
    # Flink's REST API serves operator metrics from a cache it refreshes every few seconds.
    reads = wait_until(
        "the three buffering steps' flush reads in the REST API",
        lambda: (r := cluster.distribution_maxima(jid, FLUSH_READ)).keys() >= GATES and r,
    )
    timestamps = kit.input_timestamps(kafka_bootstrap, topics["raw"]).values()
    bound = most_per_slot(timestamps)
    assert max(reads.values()) <= bound, f"most read by one flush {reads}, one slot {bound}"
    spread = [len(range(n, 3, parallelism)) for n in range(parallelism)]
    per_reader = wait_until(
        "the reader stage's records in the REST API",
        lambda: r if sum(r := partitions_per_reader(cluster, jid)) == 3 else None,
    )
    assert per_reader == spread
    assert job.stop() == 0
