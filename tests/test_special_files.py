"""Files that are not regular files (a device, a FIFO) are refused with a problem naming them, never read.

A FIFO named like a manifest would block ``open``/``read`` forever and ``/dev/zero`` would be read without
end (``os.path.getsize`` is 0 for both); a hostile repository or node tree can hold either.
"""

from __future__ import annotations

import json
import os
import threading

import pytest

from kubeharden.cli import main
from kubeharden.sources.files import read_limited
from kubeharden.model.findings import Problem

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers: [{name: c, image: i}]\n"


def _scan(capsys, *argv: str) -> dict:
    main(["scan", "--no-config", "-f", "json", "--fail-on", "none", *argv])
    return json.loads(capsys.readouterr().out)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_like_a_manifest_is_refused_not_waited_on(tmp_path, capsys):
    (tmp_path / "pod.yaml").write_text(POD)
    os.mkfifo(tmp_path / "pipe.yaml")
    done: list[dict] = []
    worker = threading.Thread(target=lambda: done.append(_scan(capsys, str(tmp_path), "--jobs", "1")), daemon=True)
    worker.start()
    worker.join(30)
    assert done, "the scan blocked on the FIFO"
    [problem] = [e for e in done[0]["errors"] if e["file"].endswith("pipe.yaml")]
    assert "not a regular file" in problem["message"]
    assert done[0]["summary"]["objects"] == 1  # the manifest beside it was still read


def test_a_device_behind_a_manifest_name_is_refused(tmp_path):
    os.symlink("/dev/zero", tmp_path / "zero.yaml")
    got = read_limited(str(tmp_path / "zero.yaml"), 1024)
    assert isinstance(got, Problem) and "not a regular file" in got.message


def test_a_folder_is_not_read_as_a_file(tmp_path):
    got = read_limited(str(tmp_path), 1024)
    assert isinstance(got, Problem) and "folder" in got.message


def test_at_most_the_limit_is_read(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 5000)
    got = read_limited(str(big), 1000)
    assert isinstance(got, Problem) and got.kind == "too-large"
    assert read_limited(str(big), 5000) == b"#" * 5000


@pytest.mark.parametrize("size", [0, 1, 4095, 3 * 1024 * 1024 + 7])
def test_a_file_is_read_whole_to_its_end(tmp_path, size):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    (tmp_path / "f.yaml").write_bytes(data)
    assert read_limited(str(tmp_path / "f.yaml"), 64 * 1024 * 1024) == data


def test_a_file_longer_than_its_size_said_is_read_to_the_limit_only(tmp_path):
    from kubeharden.sources.files import _read_up_to

    (tmp_path / "f.yaml").write_bytes(b"a" * 3000)
    fd = os.open(tmp_path / "f.yaml", os.O_RDONLY)
    try:  # fstat said 10 bytes (the file grew since): reading goes on, and stops at the limit
        assert _read_up_to(fd, 2001, 11) == b"a" * 2001
        os.lseek(fd, 0, os.SEEK_SET)
        assert _read_up_to(fd, 5000, 11) == b"a" * 3000
    finally:
        os.close(fd)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_node_tree_with_a_fifo_for_the_kubelet_config_finishes(tmp_path, capsys):
    from node_trees import node_tree

    root = node_tree(tmp_path, "worker", {})
    config = root / "var" / "lib" / "kubelet" / "config.yaml"
    config.unlink()
    os.mkfifo(config)
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(main(["node", "--root", str(root), "-f", "json",
                                                                "--fail-on", "none", "--no-config"])),
                              daemon=True)
    worker.start()
    worker.join(60)
    assert codes, "kubeharden node blocked on the FIFO"
    report = json.loads(capsys.readouterr().out)
    assert any("config.yaml" in (e.get("file") or "") and "not a regular file" in e["message"]
               for e in report["errors"])


def test_csv_says_what_was_not_checked(tmp_path, capsys):
    """Every format says what was not checked: CSV rows for not-assessable and not-applicable controls
    and for input errors, after the findings."""
    import csv
    import io

    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "broken.yaml").write_text("kind: [\n")
    main(["scan", "--no-config", "-f", "csv", "--fail-on", "none", str(tmp_path)])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_status: dict[str, list[dict]] = {}
    for row in rows:
        by_status.setdefault(row["status"], []).append(row)
    assert any(r["control_id"].startswith("KH-CP-") and "needs node input" in r["message"]
               for r in by_status["not-assessable"])
    assert by_status["not-applicable"]
    [error] = by_status["error"]
    assert error["file"].endswith("broken.yaml") and error["line"]
