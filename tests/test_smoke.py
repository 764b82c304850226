from pathlib import Path

from kubeharden.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "kubeharden" in capsys.readouterr().out


def test_ci_runs_exactly_the_readme_test_command():
    """.ci/run must run the README's test command verbatim, so CI sees what a new user runs."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    commands = [line for line in readme.splitlines() if "pytest" in line and not line.startswith("#")]
    assert commands, "the README's first screen has no test command"
    ci = (root / ".ci" / "run").read_text().splitlines()
    assert commands[0].strip() in [line.strip() for line in ci]
