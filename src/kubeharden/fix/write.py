"""Writing fixed files: atomically in place or under another folder, or as a unified diff."""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from kubeharden.fix.files import write_path


def unified_diff(path: str, before: str, after: str) -> str:
    """The change as ``diff -u`` shows it, with ``a/`` and ``b/`` before relative names as git writes them.

    A last line without its line end is followed by ``\\ No newline at end of file``, as GNU diff writes
    and ``patch`` and ``git apply`` require (difflib leaves the line unterminated, which runs it into the
    next line of the output and makes the diff malformed).
    """
    lines = difflib.unified_diff(_lines(before), _lines(after), fromfile=_side("a", path), tofile=_side("b", path))
    return "".join(line if line.endswith("\n") else line + "\n" + NO_NEWLINE for line in lines)


def _lines(text: str) -> list[str]:
    """The lines of ``text`` as ``patch`` counts them: ended by ``\\n`` only (``str.splitlines`` also cuts
    at a form feed, U+2028 and other characters a manifest may hold in a comment or a string)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


#: what a unified diff writes after a last line that has no line end (GNU diffutils, "Incomplete Lines")
NO_NEWLINE = "\\ No newline at end of file\n"


def _side(prefix: str, path: str) -> str:
    """A diff header's name of ``path``: ``a/k8s/x.yaml`` for ``./k8s/x.yaml`` (``git apply`` refuses a ``.``
    step in a name); an absolute path as it is."""
    return path if path.startswith("/") else f"{prefix}/{os.path.normpath(path)}"


def write_atomic(path: str | Path, text: str, like: str | Path | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    Readers see the old file or the new one, never half of it. A symbolic link is written through:
    the temporary file goes beside the link's final target and replaces it, so the link stays a link
    (:func:`kubeharden.fix.files.write_path`). The permission bits of ``like`` (the original file, a
    link followed) are kept, and a file replaced keeps its owner and group (:func:`_keep_owner`).
    Raises OSError.
    """
    target = Path(write_path(str(path)))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
            if target.exists():
                _keep_owner(fh.fileno(), target.stat())
        source = Path(like) if like is not None else target
        if source.exists():
            os.chmod(tmp, stat.S_IMODE(source.stat().st_mode))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keep_owner(fd: int, replaced: os.stat_result) -> None:
    """Give the new file (open as ``fd``) the owner and group of the file it replaces, as ``sed -i`` does:
    a file created by root is root's, so a fix run as root would otherwise hand the manifest to root.
    A user who may not give it away (EPERM: only root changes a file's owner, chown(2)) leaves it as created."""
    if (replaced.st_uid, replaced.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.fchown(fd, replaced.st_uid, replaced.st_gid)
    except PermissionError:
        pass


def output_path(path: str, output_dir: str) -> Path:
    """Where ``path`` goes under ``--output DIR``: its path relative to the working folder when it is
    inside it (``k8s/app.yaml`` -> ``DIR/k8s/app.yaml``), else its absolute path below DIR (``../a/x.yaml``
    run from ``/w`` -> ``DIR/a/x.yaml``, ``../b/x.yaml`` -> ``DIR/b/x.yaml``), so files of one name in two
    folders stay apart. A symbolic link is placed by its target (``Path.resolve``)."""
    p = Path(path).resolve()
    try:
        rel = p.relative_to(Path.cwd().resolve())
    except ValueError:
        rel = p.relative_to(p.anchor)
    return Path(output_dir) / rel


def output_paths(paths: list[str], output_dir: str,
                 inputs: Iterable[str] = ()) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Where each of ``paths`` goes under ``--output DIR`` (:func:`output_path`), and those that must not be
    written there: path -> what else is at its place (``the output of OTHER``, ``the input OTHER``).
    Two paths collide when they land on one place (a file inside the working folder and one outside whose
    absolute path ends alike): the second write would silently replace the first. A place that is one of
    the ``inputs`` (``--output .``, or DIR a folder of the inputs) would overwrite a manifest ``--output``
    promises to leave alone."""
    targets = {path: output_path(path, output_dir) for path in paths}
    by_target: dict[str, list[str]] = {}
    for path, target in targets.items():
        by_target.setdefault(os.path.realpath(target), []).append(path)
    collisions = {path: [f"the output of {other}" for other in group if other != path]
                  for group in by_target.values() if len(group) > 1 for path in group}
    seen: set[str] = set()
    for name in inputs:
        real = os.path.realpath(name)
        if real not in seen:
            seen.add(real)
            for path in by_target.get(real, []):
                collisions.setdefault(path, []).append(f"the input {name}")
    return targets, collisions
