"""Do two ``newsflow process`` output directories hold the same records?

For changes that must not change results (issue 19: a faster pipeline, the same records): run
``newsflow process`` on one input at two commits (e.g. ``profile_pipeline.py --keep-outputs``
with ``--base-root`` a ``git archive`` of main), then compare the ``enriched``, ``duplicates``
and ``dead_letter`` JSON lines of both, record by record, keyed by id (dead letters by their
source coordinates). Fields that differ by construction between two runs are left out:
``processed_at``, ``pipeline_version``, ``fetched_at`` (file mode's default is the read time)
and a dead letter's ``failed_at``. The ``enriched`` Avro container files are compared the same
way (``enriched (avro)``). Prints the counts and the first differences; exits 1 when any record
differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import fastavro

OUTPUTS = ("enriched", "duplicates", "dead_letter", "enriched (avro)")
RUN_FIELDS = frozenset({"processed_at", "pipeline_version", "fetched_at", "failed_at"})


def records(directory: Path, name: str) -> dict[str, dict]:
    """The ``name`` records of a run, by id (or source coordinates), run fields removed."""
    found: dict[str, dict] = {}
    for raw in raw_records(directory, name):
        record = {k: v for k, v in raw.items() if k not in RUN_FIELDS}
        coordinates = [record.get(k) for k in ("file", "line", "kafka")]
        key = record.get("id") or json.dumps(coordinates, sort_keys=True, default=str)
        found[key] = record
    return found


def raw_records(directory: Path, name: str) -> Iterator[dict]:
    """Every record of the JSON lines ``name*.jsonl``, or of ``enriched*.avro`` for
    ``enriched (avro)``."""
    if name == "enriched (avro)":
        for path in sorted(directory.glob("enriched*.avro")):
            with path.open("rb") as fo:
                yield from fastavro.reader(fo)
        return
    for path in sorted(directory.glob(f"{name}*.jsonl")):
        for line in path.open(encoding="utf-8"):
            yield json.loads(line)


def differences(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """One line per record missing on either side or differing, naming the fields."""
    lines = [f"only before: {key}" for key in sorted(before.keys() - after.keys())]
    lines += [f"only after: {key}" for key in sorted(after.keys() - before.keys())]
    for key in sorted(before.keys() & after.keys()):
        fields = sorted(
            f
            for f in before[key].keys() | after[key].keys()
            if before[key].get(f) != after[key].get(f)
        )
        if fields:
            lines.append(f"{key}: {', '.join(fields)} differ")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path, help="output directory of the first run")
    parser.add_argument("after", type=Path, help="output directory of the second run")
    args = parser.parse_args()
    differing = 0
    for name in OUTPUTS:
        before, after = records(args.before, name), records(args.after, name)
        lines = differences(before, after)
        differing += len(lines)
        entities = sum(len(r.get("entities") or ()) for r in after.values())
        spans = sum(len(r.get("boilerplate") or ()) for r in after.values())
        print(
            f"{name}: {len(before)} before, {len(after)} after, {len(lines)} differing "
            f"(after: {entities} entities, {spans} boilerplate spans)"
        )
        for line in lines[:10]:
            print(f"  {line}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
