"""Every command's --help describes every argument and ends with two or three examples that parse."""

from __future__ import annotations

import argparse
import shlex

import pytest

from kubeharden.cli import COMMANDS, build_parser, main


def _walk(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*words, name))


PARSERS = list(_walk(build_parser()))


def test_every_command_is_walked():
    names = {words[0] for words, _ in PARSERS if words}
    assert names == set(COMMANDS)
    assert len(PARSERS) >= 19  # top level, commands and their subcommands


@pytest.mark.parametrize("words,parser", PARSERS, ids=[" ".join(w) or "kubeharden" for w, _ in PARSERS])
def test_every_argument_is_described(words, parser):
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.metavar or action.dest
        assert action.help and action.help != argparse.SUPPRESS and len(action.help) > 8, \
            f"kubeharden {' '.join(words)}: {name} has no help"


def _example_commands(epilog: str) -> list[list[str]]:
    lines = epilog.splitlines()
    assert lines[0] == "examples:"
    out = []
    for line in lines[1:]:
        command = line.split("  #", 1)[0].strip()
        segment = next(part for part in command.split(" | ") if part.startswith("kubeharden "))
        out.append(shlex.split(segment)[1:])
    return out


@pytest.mark.parametrize("words,parser", PARSERS, ids=[" ".join(w) or "kubeharden" for w, _ in PARSERS])
def test_help_ends_with_two_or_three_examples_that_parse(words, parser, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    tail = text[text.rindex("\nexamples:\n") + 1:].rstrip("\n")
    assert tail == parser.epilog, "the examples must close the help, as written"
    examples = _example_commands(parser.epilog)
    assert 2 <= len(examples) <= 3
    for argv in examples:
        assert argv[:len(words)] == list(words), f"example {argv} is not about kubeharden {' '.join(words)}"
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit:  # pragma: no cover - the message is in the captured stderr
            pytest.fail(f"example does not parse: kubeharden {shlex.join(argv)}: {capsys.readouterr().err}")
        assert getattr(args, "func", None) is not None or not words


def test_rbac_and_netpol_positionals_are_explained(capsys):
    for words, needles in ((["rbac", "who-can"], ("VERB", "deletecollection", "RESOURCE", "deployments.apps")),
                           (["rbac", "can"], ("SUBJECT", "serviceaccount:NAMESPACE:NAME")),
                           (["netpol", "can-reach"], ("SRC", "NS/KIND/NAME", ":PORT/PROTO"))):
        with pytest.raises(SystemExit):
            main([*words, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert all(n in text for n in needles), words
