"""Every flag of every ``newsflow`` subcommand says what it means and shows its default, as a user
reads it in ``--help`` (rendered by argparse, nothing but its public API)."""

from __future__ import annotations

import re

import pytest

from pipelines import cli

SUBCOMMANDS = ("run", "process", "produce", "tail", "status", "replay")
# A benchmark figure (a rate, a speed-up, a machine) belongs in docs/performance figures, not in
# a help text that outlives the measurement.
FIGURE = re.compile(r"\d+(?:[.,]\d+)? ?(?:/s|x\b|articles/s|events/s)|README Performance|-core")


def rendered_help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def options(text: str) -> dict[str, str]:
    """Each option of a rendered help, by its first spelling: its whole entry on one line."""
    entries: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if line.startswith("  -"):
            name = line.split()[0].rstrip(",")
            entries[name] = line.strip()
        elif name and line.startswith("   "):
            entries[name] += " " + line.strip()
        else:
            name = None
    return entries


@pytest.mark.parametrize("argv", [[], *([name] for name in SUBCOMMANDS)], ids=" ".join)
def test_every_option_states_its_default_or_that_it_is_required(argv, capsys):
    entries = options(rendered_help(argv, capsys))
    assert "-v" in entries
    for name, entry in entries.items():
        if name == "-h":
            continue
        assert re.search(r"\(default: [^)]*\)|\(required\)", entry), f"{argv} {name}: {entry}"
        assert not FIGURE.search(entry), f"{argv} {name}: a benchmark figure in {entry}"


def test_the_check_sees_an_entry_without_a_default():
    text = "options:\n  --a A       first (default: 1)\n  --b B       second\n"
    assert options(text) == {"--a": "--a A       first (default: 1)", "--b": "--b B       second"}
    assert not re.search(r"\(default: [^)]*\)|\(required\)", options(text)["--b"])


def test_help_renders_defaults_and_units(capsys):
    text = " ".join(rendered_help(["run"], capsys).split())
    assert "hours (event time) dedup remembers an article" in text
    assert "(default: 168" in text
    assert "(default: 2000000)" in text
    assert "seconds reads, writes and commits keep retrying" in text


def test_the_kafka_connection_flags_read_the_same_everywhere(capsys):
    kafka = ("--bootstrap-servers", "--kafka-config", "--kafka-config-file")
    seen = {
        name: {flag: options(rendered_help([name], capsys))[flag] for flag in kafka}
        for name in ("run", "produce", "tail", "status", "replay")
    }
    assert all(entries == seen["run"] for entries in seen.values())
