"""The catalogue files' parsed data, kept between runs as JSON so that start-up does not parse YAML.

Every command that checks something loads the whole catalogue (380 KB of YAML, about 12,000
nodes): with libyaml that is ~45 ms of every run's start-up, while the same data read back from
JSON takes ~2 ms. The cache is one file, ``$XDG_CACHE_HOME/kubeharden/catalogue.json`` (else
``~/.cache/kubeharden/``), holding the data and the SHA-256 of what it was parsed from (every
file's name and text, the PyYAML version and loader), so it is used only for those very texts;
any edit of a catalogue file, or another PyYAML, parses the YAML again and rewrites the cache.

Safe by construction: it holds JSON (plain data, read with :func:`json.loads`, nothing is ever
executed), it is read only when the user owns it and no one else can write it (the data decides which
controls run), and data is cached only when JSON gives back exactly what the YAML loader built
(equal values of the same JSON types: no dates, sets, binary, non-string keys or NaN, which the
catalogue never holds anyway). A cache that cannot be read or written (no home, a read-only file
system, a damaged file) costs only the time: the YAML is parsed as before, silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The cache file's name in the cache folder.
CACHE_FILE = "catalogue.json"


def cache_path() -> Path | None:
    """Where the cache lives (XDG Base Directory: ``$XDG_CACHE_HOME``, else ``~/.cache``); None without a home.

    Not through platformdirs (which the history store uses): importing it costs ~24 ms, more than half of
    what the cache saves on every start-up."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # the specification ignores a relative value
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "kubeharden" / CACHE_FILE


def parsed(texts: list[tuple[str, str]], parse: Callable[[str], Any], loader: str) -> list[Any]:
    """``[parse(text) for _, text in texts]``, from the cache when it was made from these ``texts``
    (pairs of file name and text) by the same ``loader`` (a name and version); errors of ``parse``
    propagate, cache problems never do."""
    digest = _digest(texts, loader)
    path = cache_path()
    found = _read(path, digest) if path is not None else None
    if found is not None and len(found) == len(texts):
        return found
    data = [parse(text) for _, text in texts]
    if path is not None:
        _write(path, digest, data)
    return data


def _digest(texts: list[tuple[str, str]], loader: str) -> str:
    h = hashlib.sha256(loader.encode("utf-8"))
    for name, text in texts:
        for part in (name, text):
            encoded = part.encode("utf-8")
            h.update(len(encoded).to_bytes(8, "big"))
            h.update(encoded)
    return h.hexdigest()


def _read(path: Path, digest: str) -> list[Any] | None:
    try:
        if not _trusted(path):
            return None
        cached = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("digest") != digest or not isinstance(cached.get("files"), list):
        return None
    files: list[Any] = cached["files"]
    return files


def _trusted(path: Path) -> bool:
    """Whether the cache file is the user's own: owned by them and writable by nobody else (POSIX), as
    ssh asks of its configuration. The data decides which controls run, so a file another account could
    have written is never read (the YAML is parsed instead). Raises OSError when it cannot be examined."""
    if not hasattr(os, "getuid"):  # Windows: the per-user profile folder's ACLs apply
        return True
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def _write(path: Path, digest: str, data: list[Any]) -> None:
    try:
        text = json.dumps({"digest": digest, "files": data}, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # not plain JSON data: never cached
        return
    if json.loads(text)["files"] != data:  # int keys would come back as strings
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".catalogue-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, path)  # whole or not at all, whoever reads it meanwhile
        except OSError:
            os.unlink(temporary)
            raise
    except OSError:
        return
