"""Which files a fix run edits: each real file once, under one of its names, and where it is written.

A manifest can be reached by several names: a symbolic link beside its target (``dir/link.yaml ->
real.yaml``), or one folder named twice on the command line. The scan reads every name; the fix
edits the real file once (by :func:`os.path.realpath`), under the name that is not itself a link
where there is one, else the first. Writes go through to the real file (:func:`write_path`), so a
link stays a link.

A link found in a folder whose target is outside every given PATH is not followed for writing: the
fix would change a file the user did not name (a shared base in another checkout, a file of another
tree). Its findings are listed as not fixed with the target's path; naming the link or its target on
the command line fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class EditableFiles:
    #: another name of a file -> the name it is fixed under
    alias_of: dict[str, str] = field(default_factory=dict)
    #: the name a file is fixed under -> its other names
    aliases: dict[str, list[str]] = field(default_factory=dict)
    #: name -> why it is not edited (a link out of the given paths)
    refused: dict[str, str] = field(default_factory=dict)

    def refusal(self, path: str) -> str | None:
        """Why ``path`` is not edited, or None."""
        return self.refused.get(path)


def write_path(path: str) -> str:
    """The file a fix of ``path`` is written to: the target of a symbolic link (of every link on the way)."""
    return os.path.realpath(path)


def _inside(real: str, roots: list[str]) -> bool:
    for root in roots:
        try:
            if os.path.commonpath([real, root]) == root:
                return True
        except ValueError:  # different drives
            continue
    return False


def editable_files(given: Iterable[str], files: Iterable[str]) -> EditableFiles:
    """Group ``files`` (the files found under the ``given`` command-line paths) by the real file they name.

    Returns the names to leave out of the fix (``alias_of``), the other names of each file fixed
    (``aliases``) and the links whose target is outside every given path (``refused``, with why).
    """
    roots = [os.path.realpath(p) for p in given if p != "-"]
    groups: dict[str, list[str]] = {}
    for path in files:
        groups.setdefault(os.path.realpath(path), []).append(path)
    out = EditableFiles()
    for real, names in groups.items():
        chosen = min(names, key=lambda n: (os.path.islink(n), names.index(n)))
        others = [n for n in names if n != chosen]
        for name in others:
            out.alias_of[name] = chosen
        if others:
            out.aliases[chosen] = others
        if not _inside(real, roots):
            out.refused[chosen] = (f"a symbolic link to {real}, outside the given paths: left alone "
                                   "(name the link or its target on the command line to fix it)")
    return out
