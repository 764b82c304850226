"""The catalogue files' parsed data, kept between runs as JSON so that start-up does not parse YAML.

Every command that checks something loads the whole catalogue (380 KB of YAML, about 12,000
nodes): with libyaml that is ~45 ms of every run's start-up, while the same data read back from
JSON takes ~2 ms. The cache is one file, ``$XDG_CACHE_HOME/kubeharden/catalogue.json`` (else
``~/.cache/kubeharden/``): a header line with the layout's version, the SHA-256 of what it was parsed
from (every file's name and text, the PyYAML version and loader) and the SHA-256 of the data, then the
data; it is used only for those very texts and only when the data is whole;
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
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The cache file's name in the cache folder.
CACHE_FILE = "catalogue.json"
#: The layout of the cache file: a header line (this format, the key, the SHA-256 of the data) and the data.
FORMAT = 2


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
    """The cached data when the file is the user's own regular file, made for ``digest`` in this format, and
    its data is whole (its own SHA-256 matches the header's); else None. Never raises."""
    try:
        if not _trusted(path):
            return None
        with path.open("rb") as handle:
            header = json.loads(handle.readline())
            body = handle.read()
        if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("digest") != digest \
                or header.get("data_sha256") != hashlib.sha256(body).hexdigest():
            return None
        files = json.loads(body)
    except Exception:  # unreadable, damaged, too deeply nested (RecursionError): parse the YAML instead
        return None
    return files if isinstance(files, list) else None


def _trusted(path: Path) -> bool:
    """Whether the cache file is the user's own: owned by them and writable by nobody else (POSIX), as
    ssh asks of its configuration. The data decides which controls run, so a file another account could
    have written is never read (the YAML is parsed instead). Raises OSError when it cannot be examined."""
    if not hasattr(os, "getuid"):  # Windows: the per-user profile folder's ACLs apply
        return path.is_file()
    info = path.stat()
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def _write(path: Path, digest: str, data: list[Any]) -> None:
    try:
        body = json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):  # not plain JSON data: never cached
        return
    if json.loads(body) != data:  # int keys would come back as strings
        return
    header = json.dumps({"format": FORMAT, "digest": digest, "data_sha256": hashlib.sha256(body).hexdigest()})
    text = header + "\n" + body.decode("utf-8")
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
