"""Print what `.venv-flink` installs: the project's requirements, Beam at the job server's version.

Beam supports only the same version on both sides of the job API, and the newest Flink job server
Maven Central serves here (``deploy/flink/pom.xml``) is older than the project's Beam pin. So the
FlinkRunner runs from a second virtualenv whose only difference is the Beam version, read from the
pom so the two can never drift apart. Usage: ``python deploy/flink/sdk_requirements.py``.
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def job_server_beam_version(pom: Path = ROOT / "deploy" / "flink" / "pom.xml") -> str:
    version = ET.parse(pom).find("m:properties/m:beam.version", POM_NS)
    if version is None or not (version.text or "").strip():
        raise ValueError(f"{pom}: no <beam.version> property")
    return version.text.strip()


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    beam = f"apache-beam=={job_server_beam_version()}"
    return [beam if r.replace("_", "-").startswith("apache-beam") else r for r in wanted]


if __name__ == "__main__":
    print("\n".join(requirements()))
