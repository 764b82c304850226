"""``kubeharden fix`` file handling: symbolic links, byte-order marks and line ends, JSON kept JSON,
untouched lines byte for byte, and a reason for every fix not applied (docs/fix.md)."""

from __future__ import annotations

import io
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from kubeharden.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> int:
    return main(["fix", "--no-config", *args])


# --- every fix not applied says why ---------------------------------------------------------------

FINDING = re.compile(r"KH-[A-Z]+-\d+ [A-Za-z]+/")


def unsafe_reasons(text: str) -> tuple[int, int]:
    """(findings the "can break the application" line counts, findings named on its reason lines)."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "can break the application" in line)
    counted = int(lines[at].split(" ", 1)[0])
    named = 0
    for line in lines[at + 1:]:
        if not line.startswith("  - "):
            break
        named += len(FINDING.findall(line))
    return counted, named


@pytest.mark.parametrize("mode", ["--dry-run", "--diff", "in place"])
def test_every_unsafe_fix_of_the_insecure_example_says_why(mode, tmp_path, capsys):
    work = tmp_path / "insecure"
    shutil.copytree(ROOT / "examples" / "insecure", work)
    run(str(work), *([mode] if mode.startswith("--") else []))
    captured = capsys.readouterr()
    counted, named = unsafe_reasons(captured.out if mode == "--dry-run" else captured.err)
    assert counted > 10 and named == counted
    output = captured.out + captured.err
    # a fix without a recorded reason says what it changes at run time
    assert re.search(r"not safe \(needs --unsafe\): the node port goes away[^\n]*KH-POD-010 Deployment/shop/frontend",
                     output)


def test_a_declined_fix_is_named(tmp_path, monkeypatch, capsys):
    path = tmp_path / "pod.yaml"
    path.write_text(POD, encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert run(str(path), "--interactive", "--only", "KH-POD-004") == 0
    assert re.search(r"not fixed \(declined\): \S+pod.yaml:\d+ KH-POD-004 Pod/default/web", capsys.readouterr().err)


POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0
          securityContext:
            privileged: true
    """)


# --- symbolic links -------------------------------------------------------------------------------


@pytest.fixture
def linked(tmp_path):
    """``app/real.yaml`` (mode 0640), ``app/link.yaml -> real.yaml`` and ``app/shared.yaml -> ../shared/base.yaml``."""
    app, shared = tmp_path / "app", tmp_path / "shared"
    app.mkdir()
    shared.mkdir()
    (app / "real.yaml").write_text(POD, encoding="utf-8")
    (app / "real.yaml").chmod(0o640)
    (app / "link.yaml").symlink_to("real.yaml")
    (shared / "base.yaml").write_text(POD.replace("name: web\n", "name: base\n", 1), encoding="utf-8")
    (app / "shared.yaml").symlink_to(Path("..") / "shared" / "base.yaml")
    return tmp_path


def test_a_link_beside_its_target_is_fixed_once_through_the_link(linked, capsys):
    app = linked / "app"
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(app)) == 0
    err = capsys.readouterr().err
    assert (app / "link.yaml").is_symlink() and Path((app / "link.yaml").readlink()) == Path("real.yaml")
    assert (app / "real.yaml").read_text(encoding="utf-8") == POD.replace("privileged: true", "privileged: false")
    assert (app / "real.yaml").stat().st_mode & 0o777 == 0o640
    assert len(re.findall(r"^fixed .*KH-POD-004 Pod/default/web ", err, re.M)) == 1
    assert f"wrote {app / 'real.yaml'} (also reached as {app / 'link.yaml'})" in err
    assert "defined again" not in err  # the link is not read as a second copy of the Pod


def test_a_link_out_of_the_given_paths_is_left_alone_with_its_target_named(linked, capsys):
    base = linked / "shared" / "base.yaml"
    before = base.read_text(encoding="utf-8")
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(linked / "app")) == 0
    assert base.read_text(encoding="utf-8") == before and (linked / "app" / "shared.yaml").is_symlink()
    assert f"a symbolic link to {base}, outside the given paths: left alone" in capsys.readouterr().err


def test_a_link_named_on_the_command_line_is_written_through(linked, capsys):
    link, base = linked / "app" / "shared.yaml", linked / "shared" / "base.yaml"
    assert run("--unsafe", "--only", "KH-POD-004", "--", str(link)) == 0
    assert link.is_symlink() and "privileged: false" in base.read_text(encoding="utf-8")
    assert f"wrote {base} (through the link {link})" in capsys.readouterr().err
    assert not [p.name for p in base.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def test_a_diff_of_a_linked_file_shows_it_once(linked, capsys):
    assert run("--unsafe", "--diff", "--only", "KH-POD-004", "--", str(linked / "app")) == 1
    assert capsys.readouterr().out.count("+        privileged: false") == 1
