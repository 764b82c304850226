"""The report a run writes is never read back as its input.

``kubeharden scan . -f json > report.json`` makes the shell create ``report.json`` inside the
scanned folder before kubeharden starts; the next run (or this one) would read a half-written
report as a manifest. Files are compared by identity (device and inode, as ``stat(2)`` gives
them), which holds whatever path, link or relative spelling names them.
"""

from __future__ import annotations

import os
import stat

FileId = tuple[int, int]


def file_id(st: os.stat_result) -> FileId:
    return st.st_dev, st.st_ino


def report_files(output: str | None, stdout_fd: int = 1) -> dict[FileId, str]:
    """The files this run writes its report to: ``{(device, inode): how it is written}``.

    ``output`` is the ``-o`` path (it counts once it exists: the atomic writer replaces it at
    the end); standard output counts when it is redirected to a regular file. Never raises:
    a closed or unusable descriptor just adds nothing.
    """
    found: dict[FileId, str] = {}
    try:
        st = os.fstat(stdout_fd)
        if stat.S_ISREG(st.st_mode):
            found[file_id(st)] = "standard output of this run is redirected to it"
    except (OSError, ValueError):
        pass
    if output:
        try:
            st = os.stat(output)
            if stat.S_ISREG(st.st_mode):
                found[file_id(st)] = "this run writes its report to it (-o)"
        except (OSError, ValueError):
            pass
    return found
