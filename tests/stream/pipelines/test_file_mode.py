"""``newsflow process`` end to end on Prism: ReadEventFiles over a glob of plain and gzipped files,
build_file_mode's three JSON-twin outputs and the Avro file, each input in exactly one of them."""

from __future__ import annotations

import base64
import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import fastavro
import pytest

from pipelines import cli
from transforms.text.records import iso8601

pytestmark = pytest.mark.stream

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
EXPECTED = json.loads((ROOT / "tests" / "data" / "expected_examples.json").read_text())
ISO_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
NOT_UTF8 = b'{"id": "latin-1", "body": "caf\xe9 au lait"}'
EXTRA = {
    "id": "council-budget",
    "source": "gzip-feed",
    "body": "The county council approved a budget that adds two bus routes and repairs the bridge "
    "on Mill Lane.\n\nCouncillors said the bridge had been closed to lorries since the floods "
    "in the spring and that repairs would start in June.",
}


def json_lines(folder: Path, prefix: str) -> list[dict]:
    return [json.loads(line) for p in folder.glob(f"{prefix}-*.jsonl") for line in p.open()]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> SimpleNamespace:
    """Runs ``newsflow process`` on the examples plus a gzipped file with a blank line, a line
    that is not UTF-8 and one more article; returns the output folder and when the run began and
    ended (ISO strings, as the records hold times)."""
    tmp_path = tmp_path_factory.mktemp("file_mode")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "examples.jsonl").write_bytes(EXAMPLES.read_bytes())
    with gzip.open(inputs / "more.jsonl.gz", "wb") as fh:
        fh.write(b"\n" + NOT_UTF8 + b"\n" + json.dumps(EXTRA).encode() + b"\n")
    out = tmp_path / "out"
    began = iso8601(datetime.now(UTC))
    assert cli.main(["process", str(inputs / "*.jsonl*"), "--output", str(out)]) == 0
    return SimpleNamespace(out=out, began=began, ended=iso8601(datetime.now(UTC)))


@pytest.fixture(scope="module")
def outputs(run) -> Path:
    return run.out


def test_every_line_ends_in_exactly_one_output_with_its_file_and_line(outputs):
    enriched = json_lines(outputs, "enriched")
    duplicates = json_lines(outputs, "duplicates")
    dead = json_lines(outputs, "dead_letter")

    assert len(enriched) == EXPECTED["enriched_count"] + 1
    assert "council-budget" in {r["id"] for r in enriched}
    assert {r["id"]: r["duplicate_of"] for r in duplicates} == EXPECTED["duplicates"]
    from_examples = {str(r["line"]): r["error_code"] for r in dead if r["file"].endswith("s.jsonl")}
    assert from_examples == EXPECTED["dead_letters"], "dead letters point at the line to fix"
    from_gzip = [r for r in dead if r["file"].endswith("more.jsonl.gz")]
    assert [(r["line"], r["error_code"]) for r in from_gzip] == [(2, "not_utf8")]
    assert len(enriched) + len(duplicates) + len(dead) == 27 + 2, "the blank line is no input"


def test_json_twins_carry_iso_times_and_the_original_bytes(outputs):
    lines = EXAMPLES.read_bytes().splitlines()
    for record in json_lines(outputs, "enriched") + json_lines(outputs, "duplicates"):
        assert ISO_UTC_MS.fullmatch(record["fetched_at"]) and ISO_UTC_MS.fullmatch(
            record["processed_at"]
        )
        assert record["published_at"] is None or ISO_UTC_MS.fullmatch(record["published_at"])
    for record in json_lines(outputs, "dead_letter"):
        assert ISO_UTC_MS.fullmatch(record["failed_at"])
        if record["payload_encoding"] == "base64":
            assert base64.b64decode(record["payload"]) == NOT_UTF8
        else:
            assert record["payload"].encode("utf-8") == lines[record["line"] - 1]


@pytest.mark.parametrize(
    ("article", "fetched_at"),
    [
        ("seed-rudd-2017", "2017-03-26T10:00:00.000Z"),  # ISO-8601 with Z
        ("swiss-glaciers-2023", "2023-09-28T10:40:00.000Z"),  # +02:00, the same instant in UTC
        ("leeds-tram-2023", "2023-11-14T12:00:00.000Z"),  # epoch millis
    ],
)
def test_fetched_at_is_the_events_own_time_in_utc(outputs, article, fetched_at):
    records = json_lines(outputs, "enriched") + json_lines(outputs, "duplicates")
    assert next(r["fetched_at"] for r in records if r["id"] == article) == fetched_at


def test_an_event_without_fetched_at_gets_the_time_it_was_read(run):
    extra = next(r for r in json_lines(run.out, "enriched") if r["id"] == "council-budget")
    assert run.began <= extra["fetched_at"] <= run.ended


def test_the_avro_file_holds_the_enriched_records(outputs):
    avro_ids = set()
    for path in outputs.glob("enriched-*.avro"):
        with path.open("rb") as fh:
            avro_ids.update(r["id"] for r in fastavro.reader(fh))
    assert avro_ids == {r["id"] for r in json_lines(outputs, "enriched")}


def test_the_seed_record_is_the_one_the_readme_shows(outputs):
    seed = next(r for r in json_lines(outputs, "enriched") if r["id"] == "seed-rudd-2017")
    assert seed["title"] == "Amber Rudd: Whatsapp Must Be Accessible By Intelligence Services"
    assert seed["published_at"].startswith("2017-03-26")
    assert seed["byline"]
    entities = {(e["text"], e["label"]) for e in seed["entities"]}
    assert {("Khalid Masood", "PERSON"), ("WhatsApp", "ORG")} <= entities
    filler = seed["boilerplate"][-1]
    assert (filler["kind"], filler["start"], filler["end"]) == ("lorem_ipsum", 5750, 5921)
    assert filler["text"].startswith("Etiam at libero iaculis")
