"""The report a run writes is never read back as its input.

``kubeharden scan . -f json > report.json`` makes the shell create ``report.json`` inside the
scanned folder before kubeharden starts; the next run (or this one) would read a half-written
report as a manifest. Files are compared by identity (device and inode, as ``stat(2)`` gives
them), which holds whatever path, link or relative spelling names them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

FileId = tuple[int, int]


def report_files(output: str | None, stdout_fd: int = 1) -> dict[FileId, str]:
    """The files this run writes its report to: ``{(device, inode): how it is written}``.

    ``output`` is the ``-o`` path (it counts once it exists: the atomic writer replaces it at
    the end); standard output counts when it is redirected to a regular file. Never raises:
    a closed or unusable descriptor, or an absent file, just adds nothing.
    """
    found: dict[FileId, str] = {}
    redirected = _regular_file(lambda: os.fstat(stdout_fd))
    if redirected is not None:
        found[redirected] = "standard output of this run is redirected to it"
    written = _regular_file(lambda: os.stat(output)) if output else None
    if written is not None:
        found[written] = "this run writes its report to it (-o)"
    return found


def _regular_file(get: Callable[[], os.stat_result]) -> FileId | None:
    try:
        st = get()
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None
