"""Every flag of every ``newsflow`` subcommand says what it means and shows its default."""

import argparse

import pytest

from pipelines import cli

_, COMMANDS = cli._parser()


def flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_flag_has_help_and_shows_its_default(name):
    parser = COMMANDS[name]
    formatter = parser.formatter_class(prog=parser.prog)
    for action in flags(parser):
        where = f"newsflow {name} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and len(action.help) > 8, f"{where}: no help"
        if not action.option_strings:
            continue  # a positional argument is required: no default to show
        shown = formatter._get_help_string(action)
        if action.default is argparse.SUPPRESS:
            assert action.required and "required" in shown, f"{where}: no default, not required"
        else:
            assert "%(default)" in shown, f"{where}: default not shown"


def test_every_subcommand_is_walked():
    assert {"run", "process", "produce", "tail", "status", "replay"} <= set(COMMANDS)


def test_help_renders_defaults_and_units(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "hours (event time) dedup remembers an article" in text
    assert "(default: 168" in text
    assert "(default: 2000000)" in text
