"""Node paths as the kernel resolves them.

``//etc``, ``/etc/`` and ``/var/lib/../lib/kubelet`` all mount the same directory as
their normal forms; every comparison of a hostPath (sensitive paths, allowed paths,
audit rules) goes through :func:`normalize_host_path` first.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

_SLASHES = re.compile(r"/{2,}")


def normalize_host_path(path: Any) -> str:
    """The normal form of a node path: repeated slashes collapsed, ``.`` and ``..`` resolved.

    Lexical, as the path cannot be resolved against symlinks of a node we do not see.
    ``posixpath.normpath`` alone keeps a leading ``//`` (POSIX allows it a meaning; Linux
    gives it none), hence the collapse first. Relative or empty paths come back stripped.
    """
    text = str(path or "").strip()
    if not text.startswith("/"):
        return text
    return posixpath.normpath(_SLASHES.sub("/", text))


def has_backsteps(path: Any) -> bool:
    """Whether ``path`` has a ``..`` element, which the API server refuses in a hostPath.

    Kubernetes: pkg/apis/core/validation (``validatePathNoBacksteps``): "must not contain '..'".
    """
    return ".." in str(path or "").split("/")
