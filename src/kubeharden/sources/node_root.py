"""A node's filesystem seen from ``--root``: node paths resolved inside it, never outside.

Paths in flags and unit files are *node* paths (``/etc/kubernetes/pki/ca.crt``). They are resolved below
the root as the node resolves them, symbolic link by symbolic link, as ``chroot`` would: an absolute
link target starts again at the root. A link whose ``..`` steps would leave the root is refused (an
input problem naming it), never followed, so a copied node tree cannot make kubeharden read the
scanning host's files.

Owners and groups are named by the *scanning* host's user and group databases (``pwd``/``grp``); an
id they do not know is given as its number. Scanning a node's own ``/`` (or a read-only host mount in
a DaemonSet with the host's /etc/passwd) gives the node's names.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from typing import Any

from kubeharden.model.findings import Problem
from kubeharden.sources.files import read_limited

#: Symbolic links followed in one path before it is refused (Linux's MAXSYMLINKS).
MAX_LINKS = 40


class Escape(Exception):
    """A node path whose symbolic links lead out of the root (or loop)."""


class NodeRoot:
    """The node tree under ``root`` (a folder of the scanning host)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root or "/")

    def host_path(self, node_path: str) -> str:
        """Where the node path ``node_path`` is on the scanning host, its symbolic links resolved inside the
        root. Raises :class:`Escape` for a link that leaves it or loops."""
        pending = [p for p in node_path.split("/") if p and p != "."]
        done: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if not done:
                    raise Escape(f"{node_path}: '..' leads above the node's root")
                done.pop()
                continue
            candidate = os.path.join(self.root, *done, part)
            if os.path.islink(candidate):
                links += 1
                if links > MAX_LINKS:
                    raise Escape(f"{node_path}: too many levels of symbolic links")
                target = os.readlink(candidate)
                steps = [p for p in target.split("/") if p and p != "."]
                if target.startswith("/"):
                    done = []
                pending[:0] = steps
                continue
            done.append(part)
        return os.path.join(self.root, *done)

    def process_root(self, pid: int) -> NodeRoot | None:
        """The files as process ``pid`` sees them (``/proc/PID/root``: a container's own root, proc(5)), or None
        when that is not there, is the node's own root, or is a symbolic link outside a mounted procfs (a
        copied tree's link is never followed)."""
        path = os.path.join(self.root, "proc", str(pid), "root")
        if not os.path.isdir(path):
            return None
        # a link is the kernel's own only on a mounted procfs; in a copied tree it could lead anywhere
        if os.path.islink(path) and not os.path.ismount(os.path.join(self.root, "proc")):
            return None
        try:
            if os.path.samefile(path, self.root):
                return None
        except OSError:
            return None
        return NodeRoot(path)

    def display(self, node_path: str) -> str:
        """The scanning host's path of ``node_path`` (unresolved), for messages and findings."""
        return os.path.join(self.root, node_path.lstrip("/")) if self.root != "/" else node_path

    def exists(self, node_path: str) -> bool:
        try:
            return os.path.exists(self.host_path(node_path))
        except Escape:
            return False

    def is_dir(self, node_path: str) -> bool:
        try:
            return os.path.isdir(self.host_path(node_path))
        except Escape:
            return False

    def listdir(self, node_path: str) -> list[str]:
        """The names in the node folder ``node_path``, sorted; empty when it is no readable folder."""
        try:
            return sorted(os.listdir(self.host_path(node_path)))
        except (Escape, OSError):
            return []

    def read(self, node_path: str, max_bytes: int) -> bytes | Problem:
        """The bytes of the node file ``node_path``, or a Problem naming it (missing, unreadable, too large,
        a symbolic link out of the root)."""
        try:
            host = self.host_path(node_path)
        except Escape as exc:
            return Problem("error", "node-path", f"refused: {exc}", file=self.display(node_path))
        return read_limited(host, max_bytes)

    def file_facts(self, node_path: str, role: str) -> tuple[dict[str, Any], Problem | None]:
        """``{"mode": "0600", "owner": "root", "group": "root", "role": role, "exists": True}`` of a node file
        (``{"role", "exists": False}`` when it is not there), and a Problem when it cannot be examined."""
        facts: dict[str, Any] = {"role": role}
        try:
            st = os.stat(self.host_path(node_path))
        except Escape as exc:
            facts["exists"] = False
            return facts, Problem("error", "node-path", f"refused: {exc}", file=self.display(node_path))
        except FileNotFoundError:
            facts["exists"] = False
            return facts, None
        except OSError as exc:
            facts["exists"] = False
            return facts, Problem("error", "read", f"cannot examine: {exc.strerror or exc}",
                                  file=self.display(node_path))
        facts.update(exists=True, mode=f"{stat.S_IMODE(st.st_mode):04o}", owner=user_name(st.st_uid),
                     group=group_name(st.st_gid))
        if stat.S_ISDIR(st.st_mode):
            facts["directory"] = True
        return facts, None


def user_name(uid: int) -> str:
    """The scanning host's name for ``uid``, else the number as text."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    """The scanning host's name for ``gid``, else the number as text."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
