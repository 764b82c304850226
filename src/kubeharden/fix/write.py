"""Writing fixed files: atomically in place or under another folder, or as a unified diff."""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from pathlib import Path

from kubeharden.fix.files import write_path


def unified_diff(path: str, before: str, after: str) -> str:
    """The change as ``diff -u`` shows it, with ``a/`` and ``b/`` before relative names as git writes them."""
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=_side("a", path), tofile=_side("b", path)))


def _side(prefix: str, path: str) -> str:
    return path if path.startswith("/") else f"{prefix}/{path}"


def write_atomic(path: str | Path, text: str, like: str | Path | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    Readers see the old file or the new one, never half of it. A symbolic link is written through:
    the temporary file goes beside the link's final target and replaces it, so the link stays a link
    (:func:`kubeharden.fix.files.write_path`). The permission bits of ``like`` (the original file, a
    link followed) are kept. Raises OSError.
    """
    target = Path(write_path(str(path)))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        source = Path(like) if like is not None else target
        if source.exists():
            os.chmod(tmp, stat.S_IMODE(source.stat().st_mode))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def output_path(path: str, output_dir: str) -> Path:
    """Where ``path`` goes under ``--output DIR``: its path relative to the working folder, else its name."""
    p = Path(path)
    try:
        rel = p.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        rel = Path(p.name)
    return Path(output_dir) / rel
