"""Nothing checked is a failure: an input without a single Kubernetes object never passes silently.

An empty folder, empty standard input, a Helm chart (templates are not manifests until
``helm template`` renders them) or a Kustomize folder (``kubectl kustomize`` builds the objects)
would otherwise give a clean report and exit 0. The commands that read manifests turn that into
an input problem (exit 3, docs/exit-codes.md) that says why and how to render the input, unless
``--allow-empty`` says an empty input is expected.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator

from kubeharden.model.findings import NOTHING_CHECKED, Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources.kustomize import KUSTOMIZATION_NAMES
from kubeharden.sources.registry import source_for

#: The file that makes a folder a Helm chart, https://helm.sh/docs/topics/charts/#the-chartyaml-file
CHART_NAMES = ("Chart.yaml", "Chart.yml")


class Counted:
    """A stream of objects and problems, passed through unchanged, counting the objects."""

    def __init__(self, items: Iterable[K8sObject | Problem]) -> None:
        self._items = items
        self.objects = 0

    def __iter__(self) -> Iterator[K8sObject | Problem]:
        for item in self._items:
            if not isinstance(item, Problem):
                self.objects += 1
            yield item


def nothing_checked(paths: Iterable[str], problems: Iterable[Problem], command: str, allow_empty: bool,
                    what: str = "no Kubernetes object was checked", why: str | None = None) -> Problem:
    """The problem to report when the input gave nothing to check.

    ``paths`` are the command line's inputs, ``problems`` what reading them reported (their
    files show Chart.yaml and kustomization files), ``command`` the command to pipe a rendered
    chart into (``scan``, ``rbac paths`` …); ``what`` and ``why`` replace the default wording
    when objects were read but none that the command answers from. An error, or a note with
    ``allow_empty``.
    """
    paths = list(paths)
    problems = [p for p in problems if p.kind != NOTHING_CHECKED]
    single = paths[0] if len(paths) == 1 and paths[0] != "-" else None
    where = "" if single else f" in {', '.join(_shown(p) for p in paths)}"
    parts = [f"{what}{where}: {why or _why(paths, problems)}"]
    parts.extend(_hints(paths, problems, command))
    if allow_empty:
        parts.append("accepted with --allow-empty")
    else:
        parts.append("if an empty input is expected, pass --allow-empty")
    return Problem("note" if allow_empty else "error", NOTHING_CHECKED, "; ".join(parts), file=single)


def _shown(path: str) -> str:
    return "standard input" if path == "-" else path


def _why(paths: list[str], problems: list[Problem]) -> str:
    if problems:
        counts = Counter((p.kind, p.level) for p in problems)
        listed = ", ".join(f"{kind}: {n} {level}(s)" for (kind, level), n in sorted(counts.items()))
        return f"every document was skipped or could not be read ({listed})"
    if paths == ["-"]:
        return "standard input was empty"
    source = source_for(paths[0]) if len(paths) == 1 and paths[0] != "-" else None
    if source is not None and source.name == "helm":
        return "the chart rendered no object with these values (check the conditions of its templates)"
    if source is not None and source.name == "kustomize":
        return "the Kustomize folder built no object"
    if len(paths) == 1 and os.path.isdir(paths[0]):
        return "the folder holds no .yaml, .yml or .json file with a document in it"
    if len(paths) == 1:
        return "the file holds no document"
    return "no YAML or JSON document in any of them (empty files, empty standard input, or folders " \
           "without .yaml, .yml or .json files)"


def _hints(paths: list[str], problems: list[Problem], command: str) -> list[str]:
    files = [p.file for p in problems if p.file]
    folders = [p for p in paths if p != "-" and os.path.isdir(p)]
    charts = _folders_with(CHART_NAMES, folders, files)
    kustomize = _folders_with(KUSTOMIZATION_NAMES, folders, files)
    hints = [f"{d} is a Helm chart: render it first: helm template RELEASE {d} | kubeharden {command} -"
             for d in charts]
    hints += [f"{d} is a Kustomize folder: render it first: kubectl kustomize {d} | kubeharden {command} -"
              for d in kustomize]
    return hints


def _folders_with(names: tuple[str, ...], folders: list[str], files: list[str]) -> list[str]:
    """Folders holding one of ``names`` that no source reads (one the Helm or Kustomize source read is not one)."""
    found = {d for d in folders if any(os.path.isfile(os.path.join(d, n)) for n in names)}
    found |= {os.path.dirname(f) or "." for f in files if os.path.basename(f) in names}
    return sorted({os.path.normpath(d) for d in found if source_for(d) is None})


def check_read(paths: Iterable[str], stream: Counted, problems: list[Problem], command: str,
               allow_empty: bool) -> Problem | None:
    """Append and return the nothing-checked problem when ``stream`` held no object, else None."""
    if stream.objects:
        return None
    problem = nothing_checked(paths, problems, command, allow_empty)
    problems.append(problem)
    return problem


def problems_under(path: str, problems: Iterable[Problem]) -> list[Problem]:
    """The problems of files read from the PATH argument ``path``."""
    if path == "-":
        return [p for p in problems if p.file == "<stdin>"]
    root = os.path.normpath(path)
    if root == os.curdir:  # files below "." are named without "./" (sources.files.input_name)
        return [p for p in problems if p.file and p.file != "<stdin>" and not os.path.isabs(p.file)
                and os.path.normpath(p.file).split(os.sep)[0] != os.pardir]
    return [p for p in problems if p.file and (os.path.normpath(p.file) == root
                                               or os.path.normpath(p.file).startswith(root + os.sep))]


def unrendered_folders(paths: Iterable[str], problems: Iterable[Problem], command: str) -> list[Problem]:
    """A warning for each Helm chart or Kustomize folder found inside a scan that did read other objects.

    Their templates and patches are skipped (notes) while the rest of the tree is checked; without
    this the chart would pass unseen in ``kubeharden scan .`` over a repository.
    """
    problems = list(problems)
    folders = [p for p in paths if p != "-" and os.path.isdir(p)]
    said = [os.path.normpath(p.file) for p in problems if p.kind == NOTHING_CHECKED and p.file]
    out = []
    for hint in _hints(folders, problems, command):
        folder = hint.split(" is a ", 1)[0]
        if any(folder == s or folder.startswith(s + os.sep) for s in said):
            continue  # its PATH argument already said that nothing in it was checked
        left = "its templates were not checked" if " Helm chart" in hint else \
            "its files were read as they are, without its patches and generators"
        out.append(Problem("warning", NOTHING_CHECKED, f"{hint} ({left})", file=folder))
    return out
