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


def test_every_data_file_the_package_reads_is_packaged():
    """A normal (non-editable) install only gets files matched by package-data in pyproject.toml."""
    import fnmatch
    import tomllib
    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["kubeharden"]
    package = root / "src" / "kubeharden"
    data = [p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    missing = [f for f in data if not any(fnmatch.fnmatchcase(f, g) for g in globs)]
    assert not missing, f"add to [tool.setuptools.package-data] in pyproject.toml: {missing}"
