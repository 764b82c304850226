"""The package ships ``py.typed``, so its annotations are a promise: mypy finds nothing in it.

mypy runs through its API with the configuration in pyproject.toml (``[tool.mypy]``), so the
README's test command (and CI, which runs it verbatim) checks the types too. mypy and the PyYAML
stubs are in the ``test`` extras.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
#: mypy's default cache (as `mypy` run in the checkout uses it), so repeated runs are quick.
CACHE = ROOT / ".mypy_cache"


def mypy(*targets: str) -> tuple[str, int]:
    out, err, status = api.run(["--config-file", str(PYPROJECT), "--cache-dir", str(CACHE),
                                "--no-error-summary", "--hide-error-context", *targets])
    return out + err, status


def test_the_package_type_checks():
    report, status = mypy(str(ROOT / "src" / "kubeharden"))
    assert status == 0, f"mypy found errors:\n{report}"


def test_the_configuration_checks_every_function_and_ignores_nothing_wholesale():
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["mypy"]
    assert config["files"] == ["src/kubeharden"]
    assert config["check_untyped_defs"] is True and config["warn_unused_ignores"] is True
    assert "ignore_errors" not in config and "overrides" not in config
    assert (ROOT / "src" / "kubeharden" / "py.typed").exists()


def test_the_same_configuration_rejects_a_type_error(tmp_path):
    """The check above can fail: an unannotated function's body is checked too (check_untyped_defs)."""
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def count(items):\n    total: int = 0\n    total = 'many'\n    return total\n")
    report, status = mypy(str(wrong))
    assert status == 1
    assert 'wrong.py:3: error: Incompatible types in assignment (expression has type "str", variable has type ' \
           '"int")' in report
