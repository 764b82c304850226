"""Running processes of a node: ``ROOT/proc/PID/cmdline`` (the arguments, NUL-separated; proc(5)).

A process whose program is a Kubernetes component (:data:`kubeharden.model.components.BINARIES`) or
k3s (``k3s server``, ``k3s agent``) is returned with its words; a process that rewrote its command line
into one string (k3s does) is split at spaces.
"""

from __future__ import annotations

from typing import NamedTuple

from kubeharden.model.components import BINARIES
from kubeharden.sources.node_root import NodeRoot
from kubeharden.sources.node_systemd import Word

K3S = "k3s"


class Process(NamedTuple):
    """A component's process: ``component`` (or ``k3s``), its pid and its words (each naming the cmdline file)."""

    component: str
    pid: int
    words: list[Word]


def program(word: str) -> str:
    """The program name of a command's first word (``/usr/local/bin/kubelet`` → ``kubelet``)."""
    return word.rsplit("/", 1)[-1]


def component_processes(root: NodeRoot, max_bytes: int = 1 << 20) -> list[Process]:
    """The processes of the node that run a Kubernetes component or k3s, by pid."""
    found: list[Process] = []
    for name in root.listdir("/proc"):
        if not name.isdigit():
            continue
        data = root.read(f"/proc/{name}/cmdline", max_bytes)
        if not isinstance(data, bytes) or not data:
            continue  # a process that ended, or a kernel thread: nothing to judge
        args = [a.decode("utf-8", "replace") for a in data.rstrip(b"\0").split(b"\0")]
        if len(args) == 1 and " " in args[0]:
            args = args[0].split()
        first = program(args[0]) if args else ""
        component = BINARIES.get(first) or (K3S if first == K3S or first.startswith(K3S + "-") else None)
        if component is None:
            continue
        where = root.display(f"/proc/{name}/cmdline")
        found.append(Process(component, int(name), [Word(a, where, None) for a in args]))
    return sorted(found, key=lambda p: p.pid)


__all__ = ["K3S", "Process", "component_processes", "program"]
