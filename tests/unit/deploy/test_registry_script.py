"""deploy/local/registry.sh refuses to start without a Java >= 21, naming where it looked."""

import os
import shutil
import subprocess
from pathlib import Path

REGISTRY_SH = Path(__file__).resolve().parents[3] / "deploy" / "local" / "registry.sh"
TOOLS = ("bash", "curl", "sed", "head", "ls", "sort", "mkdir", "flock", "dirname", "cat")
# A port nothing answers on, so `up` does not find a running registry and reuse it.
IDLE_PORT = "1"


def fake_java(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-16' >&2\n")
    path.chmod(0o755)


def test_up_without_java_21_is_a_clear_error(tmp_path):
    fake_java(tmp_path / "jvm" / "java-17" / "bin" / "java", "17.0.10")
    fake_java(tmp_path / "bin" / "java", "11.0.2")
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (tmp_path / "bin" / tool).symlink_to(found)
    env = {
        "PATH": str(tmp_path / "bin"),
        "JVM_DIR": str(tmp_path / "jvm"),
        "REGISTRY_PORT": IDLE_PORT,
        "NEWSFLOW_REGISTRY_HOME": str(tmp_path / "home"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
    }
    done = subprocess.run(
        [str(REGISTRY_SH), "up"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert f"no Java >= 21 found (looked at JAVA_HOME, {tmp_path / 'jvm'}/*, PATH)" in done.stderr
    assert not (tmp_path / "home" / "registry.pid").exists()
