"""Fixture node trees (tests/fixtures/nodes/) copied into a test's tmp_path, with file modes applied.

git keeps neither owners nor modes beyond the executable bit, so a test that judges them builds its
tree here: a copy of a fixture tree, then ``modes`` (node path -> mode) applied with chmod.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

NODES = Path(__file__).parent / "fixtures" / "nodes"


def node_tree(tmp_path: Path, name: str, modes: dict[str, int] | None = None) -> Path:
    """A copy of ``tests/fixtures/nodes/NAME`` under ``tmp_path``, each file of ``modes`` chmod-ed."""
    root = tmp_path / name
    shutil.copytree(NODES / name, root, symlinks=True)
    for node_path, mode in (modes or {}).items():
        os.chmod(root / node_path.lstrip("/"), mode)
    return root


#: Modes of a hardened node by kind of file, as the catalogue asks (it follows the CIS Kubernetes Benchmark
#: 1.9, sections 1.1 and 4.1: 1.1.20 certificates 600, 4.1.1 the kubelet service file 600, 4.1.9 its
#: configuration 600; the guide's 3.5): private keys, certificates, kubeconfigs, static Pod manifests,
#: the kubelet's and kube-proxy's configuration, unit files and drop-ins 0600; the PKI folder 0755;
#: etcd's data folder 0700.
HARDENED_MODES: tuple[tuple[str, int], ...] = (
    (".key", 0o600), (".conf", 0o600), ("config.yaml", 0o600), ("/manifests/", 0o600), (".kubeconfig", 0o600),
    ("k3s.yaml", 0o600), ("/cred/", 0o600), ("/enc/", 0o600), ("/audit/", 0o600), ("/admission/", 0o600), (".crt", 0o600),
    (".pem", 0o600), (".pub", 0o600), (".service", 0o600), (".env", 0o600), ("/etc/default/kubelet", 0o600),
)


def hardened_modes(root: Path) -> dict[str, int]:
    """The mode map (node path -> mode) that makes every file of the tree at ``root`` as strict as
    :data:`HARDENED_MODES` asks (systemd drop-ins ``*.conf`` under ``*.service.d`` too: 0600)."""
    modes: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        node_path = "/" + str(path.relative_to(root))
        if node_path.startswith("/proc/"):
            continue
        if path.is_dir():
            if node_path.endswith("/pki"):
                modes[node_path] = 0o755
            elif node_path == "/var/lib/etcd":
                modes[node_path] = 0o700
            continue
        if ".service.d/" in node_path:
            modes[node_path] = 0o600
            continue
        for marker, mode in HARDENED_MODES:
            if node_path.endswith(marker) or marker in node_path:
                modes[node_path] = mode
                break
    return modes


def hardened_tree(tmp_path: Path, name: str = "hardened") -> Path:
    """A copy of a fixture tree with :func:`hardened_modes` applied."""
    root = node_tree(tmp_path, name)
    for node_path, mode in hardened_modes(root).items():
        os.chmod(root / node_path.lstrip("/"), mode)
    return root


def write(root: Path, node_path: str, text: str | bytes) -> Path:
    """Write a node file below ``root`` (folders created)."""
    path = root / node_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``needle``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
