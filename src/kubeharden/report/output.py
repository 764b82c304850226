"""Atomic file output: a report is either complete on disk or not there at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A crash or an exception leaves any previous file untouched and no partial file behind.
    """
    with _atomic(path, 0o644, text=True) as fh:
        yield fh


@contextlib.contextmanager
def atomic_binary(path: str | os.PathLike[str], mode: int = 0o600) -> Iterator[IO[bytes]]:
    """As :func:`atomic_text`, in bytes; a new file gets ``mode`` (less the umask), an existing one keeps its own."""
    with _atomic(path, mode, text=False) as fh:
        yield fh


@contextlib.contextmanager
def atomic_secret_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """As :func:`atomic_text`, for a file holding keys: always mode 0600 (owner only), whatever the umask
    or the mode of a file it replaces."""
    with _atomic(path, 0o600, text=True, force_mode=True) as fh:
        yield fh


@contextlib.contextmanager
def _atomic(path: str | os.PathLike[str], mode: int, text: bool, force_mode: bool = False) -> Iterator[IO]:
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb")) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if force_mode:
            os.chmod(tmp, mode)
        elif target.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
