"""deploy/ files parse and carry what the operator, Kubernetes, Beam and Flink need.

Nothing here talks to a cluster or a container engine: these checks catch the mistakes that
would otherwise surface only at `kubectl apply` or job submission (bad YAML, a missing key, a
sidecar port that does not match the submission's environment_config, a base image whose Beam
version differs from the pinned SDK).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import NewsflowOptions

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
ROOT = DEPLOY.parent
K8S = DEPLOY / "k8s"


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def resource(kind: str) -> dict:
    found = [d for p in sorted(K8S.glob("*.yaml")) for d in documents(p) if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


def pinned_beam_version() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==")[1] for d in deps if d.startswith("apache-beam=="))


def submit_args() -> list[str]:
    container = resource("Job")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["newsflow"]
    return container["args"]


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("*/*.yaml")), ids=lambda p: p.name)
def test_every_manifest_is_yaml_with_kind_or_config(path):
    docs = documents(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        assert isinstance(doc, dict)
        if path.parent == K8S:
            assert {"apiVersion", "kind"} <= doc.keys(), path


def test_kustomization_lists_every_manifest():
    listed = set(resource("Kustomization")["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_flink_deployment_has_a_beam_worker_pool_sidecar():
    deployment = resource("FlinkDeployment")
    assert deployment["apiVersion"] == "flink.apache.org/v1beta1"
    spec = deployment["spec"]
    assert {"image", "flinkVersion", "serviceAccount", "jobManager", "taskManager"} <= spec.keys()
    assert "job" not in spec, "a session cluster: jobs come from submit-job.yaml"
    assert spec["flinkVersion"] == "v1_19"
    assert spec["serviceAccount"] == resource("ServiceAccount")["metadata"]["name"]
    containers = spec["taskManager"]["podTemplate"]["spec"]["containers"]
    assert containers[0]["name"] == "flink-main-container"
    sidecar = next(c for c in containers if c["name"] == "beam-worker-pool")
    assert sidecar["args"] == ["--worker_pool"]
    ports = {p["containerPort"] for p in sidecar["ports"]}
    assert "--environment_config=localhost:50000" in submit_args() and 50000 in ports


def test_submission_reaches_the_deployments_rest_service_on_flink_1_19():
    args = submit_args()
    name = resource("FlinkDeployment")["metadata"]["name"]
    assert f"--flink_master=http://{name}-rest:8081" in args
    assert "--flink_version=1.19" in args
    assert {"--runner=FlinkRunner", "--environment_type=EXTERNAL", "run"} <= set(args)
    assert resource("Job")["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_submission_flags_are_newsflow_or_beam_options():
    options = PipelineOptions(submit_args()[1:])
    assert options.view_as(NewsflowOptions).input_topic == "articles.raw"
    assert options.get_all_options(retain_unknown_options=True)["flink_submit_uber_jar"] is True


def test_dataflow_flags_are_known_options():
    lines = (DEPLOY / "dataflow" / "flags.txt").read_text().splitlines()
    flags = [line for line in lines if line.strip() and not line.startswith("#")]
    all_options = PipelineOptions(flags).get_all_options()
    assert all_options["runner"] == "DataflowRunner"
    assert all_options["sdk_location"] == "container"
    assert "use_runner_v2" in all_options["experiments"]
    names = {flag.split("=", 1)[0].lstrip("-").replace("-", "_") for flag in flags}
    assert names <= set(all_options), names - set(all_options)


def test_sdk_image_matches_the_pinned_beam_and_python():
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/beam_python(\d+\.\d+)_sdk:(\S+)$", dockerfile, re.M)
    assert base, "the SDK harness image derives from Beam's Python SDK image"
    assert base.group(1) == "3.11"
    assert base.group(2) == pinned_beam_version()


def test_flink_config_is_a_local_session_cluster():
    config = yaml.safe_load((DEPLOY / "flink" / "conf" / "config.yaml").read_text())
    assert config["rest"]["port"] == 8081
    assert config["taskmanager"]["numberOfTaskSlots"] >= 1
    assert config["classloader"]["resolve-order"] == "parent-first"
    backend = config["state"]["backend"]
    assert (backend["type"], backend["incremental"]) == ("rocksdb", True)


def flat(config: dict, prefix: str = "") -> dict[str, str]:
    """Flink's nested config.yaml as the flat ``a.b.c`` keys flinkConfiguration uses."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = str(value).lower()
    return out


def test_kubernetes_cluster_has_the_fault_settings_tested_locally():
    """What the failover tests ran with (RocksDB with its options factory, incremental and
    retained checkpoints, full restarts so a lost worker pool recovers, a process that ends on an
    uncaught error, heartbeats, the restart strategy) holds on Kubernetes too."""
    local = flat(yaml.safe_load((DEPLOY / "flink" / "conf" / "config.yaml").read_text()))
    k8s = {
        k: str(v).lower()
        for k, v in resource("FlinkDeployment")["spec"]["flinkConfiguration"].items()
    }
    tested = [
        "state.backend.type",
        "state.backend.incremental",
        "state.backend.rocksdb.compression.per.level",
        "state.backend.rocksdb.options-factory",
        "newsflow.rocksdb.level0-file-num-compaction-trigger",
        "state.checkpoints.num-retained",
        "execution.checkpointing.externalized-checkpoint-retention",
        "jobmanager.execution.failover-strategy",
        "cluster.uncaught-exception-handling",
        "taskmanager.jvm-exit-on-oom",
        "heartbeat.interval",
        "heartbeat.timeout",
        "restart-strategy.type",
        "restart-strategy.exponential-delay.initial-backoff",
        "restart-strategy.exponential-delay.max-backoff",
        "restart-strategy.exponential-delay.backoff-multiplier",
        "restart-strategy.exponential-delay.jitter-factor",
        "restart-strategy.exponential-delay.reset-backoff-threshold",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff",
    ]
    assert {key: k8s.get(key) for key in tested} == {key: local[key] for key in tested}


def test_kubernetes_flink_image_carries_the_options_factory_it_names():
    """The stock Flink image has no newsflow class: the deployment runs the image of
    Dockerfile.flink, which compiles deploy/flink/rocksdb into its lib folder, on the Flink
    minor version the local cluster tested (deploy/flink/pom.xml)."""
    deployment = resource("FlinkDeployment")["spec"]
    dockerfile = (DEPLOY / "docker" / "Dockerfile.flink").read_text()
    base = re.search(r"^FROM flink:(\d+)\.(\d+)-java17 AS flink$", dockerfile, re.M)
    assert base, "the Flink image derives from the stock Flink image"
    pom_minor = re.search(
        r"<flink.minor>(\S+)</flink.minor>", (DEPLOY / "flink" / "pom.xml").read_text()
    )
    assert f"{base.group(1)}.{base.group(2)}" == pom_minor.group(1)
    assert deployment["flinkVersion"] == f"v{base.group(1)}_{base.group(2)}"
    assert deployment["image"].split("/")[-1].startswith("newsflow-flink:")
    assert "COPY deploy/flink/rocksdb " in dockerfile
    factory = deployment["flinkConfiguration"]["state.backend.rocksdb.options-factory"]
    source = DEPLOY / "flink" / "rocksdb" / (factory.replace(".", "/") + ".java")
    assert source.is_file(), source
