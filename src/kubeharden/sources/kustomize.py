"""Kustomize folders: a folder with a kustomization file, built with ``kubectl kustomize`` and read.

Kustomize has no Python implementation; ``kubectl kustomize DIR`` (kubectl 1.14+, kustomize v5 in
kubectl 1.27+) builds it (https://kubectl.docs.kubernetes.io/references/kustomize/). kubeharden
builds a throw-away kustomization that includes the folder and asks for Kustomize's build
metadata (``buildMetadata: [originAnnotations, transformerAnnotations]``,
https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/buildmetadata/): each
object then names the resource file it came from and the kustomization files whose transformers
changed it. Those annotations are removed again; they only serve :mod:`kustomize_trace`, which
puts every field at its line in the base resource file or, when a patch set it, the patch's.

Remote references (URLs, ``github.com/…``, ``git@…``) in any field of a kustomization (bases,
resources, patches, openapi, configurations, crds…) are refused before anything runs:
kubeharden never uses the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import yaml

from kubeharden.model.findings import Problem
from kubeharden.model.lines import line_of
from kubeharden.model.objects import K8sObject
from kubeharden.sources.files import (
    ReadOptions,
    iter_paths,
    mebibytes,
    own_output_note,
    parse_text,
    read_file,
    skipped_reason,
)
from kubeharden.sources.kustomize_trace import (
    KustomizeTracer,
    PatchIndex,
    base_document,
    load_yaml_file,
    relabel,
    shown,
)

SOURCE = "kustomize"
#: The file names Kustomize reads in a folder (kubectl kustomize DIR),
#: https://kubectl.docs.kubernetes.io/references/kustomize/glossary/#kustomization-root
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
INSTALL_KUBECTL = ("install kubectl 1.27 or newer (https://kubernetes.io/docs/tasks/tools/), which builds Kustomize "
                   "folders with `kubectl kustomize`, or pipe the output of `kustomize build DIR` into kubeharden -")
#: Fields of a kustomization that name other files or folders, https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/
_REFERENCES = ("resources", "bases", "components", "crds")
_REMOTE_PREFIXES = ("http://", "https://", "git@", "git::", "ssh://", "github.com/", "gitlab.com/", "bitbucket.org/")
BUILD_TIMEOUT = 120
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def claims(path: str) -> bool:
    """A folder holding a kustomization file."""
    # one stat for a file (the registry asks every input file), three only for a folder
    return path != "-" and os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name))
                                                      for name in KUSTOMIZATION_NAMES)


def kustomization_file(folder: str) -> str | None:
    return next((os.path.join(folder, n) for n in KUSTOMIZATION_NAMES if os.path.isfile(os.path.join(folder, n))), None)


def read(path: str, options: ReadOptions) -> Iterator[K8sObject | Problem]:
    """The objects ``kubectl kustomize path`` builds, each traced to its resource file and patches.

    Problems (errors): kubectl missing (with what to install), a remote base or resource (named
    with its kustomization file and line), a build that fails (kubectl's message).
    With ``options.render`` False (``--no-render``) the folder's files are read as plain manifests.
    """
    if not options.render:
        yield from _plain(path, options)
        return
    remote = list(remote_references(path))
    if remote:
        for file, line, ref in remote:
            yield Problem("error", SOURCE, f"remote Kustomize reference {ref!r} in {file} refused: kubeharden "
                          "never uses the network (kubectl would fetch it); vendor it into the repository and "
                          "refer to it by a local path",
                          file=file, line=line)
        return
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        yield Problem("error", SOURCE, f"cannot build the Kustomize folder: kubectl is not on PATH; {INSTALL_KUBECTL}",
                      file=path)
        return
    with tempfile.TemporaryDirectory(prefix="kubeharden-kustomize-") as wrapper:
        with open(os.path.join(wrapper, "kustomization.yaml"), "w", encoding="utf-8") as fh:
            yaml.safe_dump({"resources": [os.path.relpath(os.path.abspath(path), wrapper)],
                            "buildMetadata": ["originAnnotations", "transformerAnnotations"]}, fh)
        built = _build(kubectl, wrapper, options.max_file_bytes)
        if isinstance(built, Problem):  # a Component, or a folder kustomize refuses to include: build it as is
            plain = _build(kubectl, path, options.max_file_bytes)
            if isinstance(plain, Problem):
                plain.file = path
                yield plain
                return
            built, wrapper_used = plain, False
        else:
            wrapper_used = True
        used: set[str] = set()
        for item in _objects(built, path, wrapper if wrapper_used else path, options):
            if isinstance(item, K8sObject) and item.origin.file:
                used.add(os.path.abspath(item.origin.file))
            yield item
    for folder in nested_unbuilt(path, used):
        yield Problem("warning", SOURCE, f"the Kustomize folder {folder} lies below {path} but is not part of its "
                      "build, so it was not read: name it as its own PATH to scan it", file=folder)


def _plain(path: str, options: ReadOptions) -> Iterator[K8sObject | Problem]:
    """The manifest files of the folder as they are, without building it (the kustomization files,
    which are not Kubernetes objects, left out): what tools that do not render Kustomize read. The report
    this run writes is never read back, as in any folder the files source walks."""
    for item in iter_paths([path]):
        if isinstance(item, Problem):
            yield item
        elif (reason := skipped_reason(item, options.skip_files)) is not None:
            yield own_output_note(item, reason)
        elif os.path.basename(item) not in KUSTOMIZATION_NAMES:
            yield from read_file(item, options)


def _is_component(file: str) -> bool:
    try:
        with open(file, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("kind") == "Component"


#: Folders never searched for nested Kustomize folders.
_SKIP = frozenset({".git", "node_modules", "vendor", "__pycache__"})


def nested_unbuilt(path: str, used_files: set[str]) -> list[str]:
    """Folders below ``path`` that hold a kustomization of their own but gave no file to its build (an
    overlay beside the one built, ``tests/`` variants): they would otherwise go unread without a word."""
    out = []
    root = os.path.abspath(path)
    for folder, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))
        file = kustomization_file(folder)
        if folder == root or file is None or _is_component(file):
            continue  # a Component is applied by the overlays that list it, never built alone
        inside = folder + os.sep
        if not any(f.startswith(inside) for f in used_files):
            out.append(os.path.relpath(folder) if not os.path.isabs(path) else folder)
    return out


def _build(kubectl: str, folder: str, limit: int) -> str | Problem:
    try:
        done = subprocess.run([kubectl, "kustomize", folder], capture_output=True, timeout=BUILD_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Problem("error", SOURCE, f"kubectl kustomize did not finish: {exc}")
    if done.returncode != 0:
        message = " ".join(done.stderr.decode("utf-8", "replace").split())[-2000:]
        return Problem("error", SOURCE, f"kubectl kustomize failed: {message or f'exit status {done.returncode}'}")
    if len(done.stdout) > limit:
        return Problem("error", "too-large", f"the built output is over the {mebibytes(limit)} limit "
                       "(--max-file-size); skipped")
    return done.stdout.decode("utf-8", "replace")


def _objects(text: str, path: str, root: str, options: ReadOptions) -> Iterator[K8sObject | Problem]:
    """Objects of the build output, with their annotations of build metadata turned into provenance."""
    patches = PatchIndex()
    for item in parse_text(text, path, SOURCE, options.shallow_kind, options.namespace, options.namespace_strict):
        if isinstance(item, Problem):
            item.line = None  # a line of the built stream, which exists nowhere on disk
            yield item
            continue
        origin_file, configured = _build_metadata(item, root)
        base = base_document(origin_file, item) if origin_file else None
        relabel(item.raw, base)
        tracer = KustomizeTracer(item.raw, patches.for_object(configured, item))
        item.origin = replace(item.origin, file=shown(origin_file) if origin_file else path,
                              line=base.line if base is not None else None, input=path, tracer=tracer)
        yield item


def _build_metadata(obj: K8sObject, root: str) -> tuple[str | None, list[str]]:
    """The resource file and the kustomization files of the transformers, read from and removed off ``obj``."""
    meta = obj.raw.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(annotations, dict):
        return None, []
    origin = _yaml(annotations.pop(ORIGIN, None))
    transformations = _yaml(annotations.pop(TRANSFORMATIONS, None))
    if not annotations:
        meta.pop("annotations", None)
    file = None
    if isinstance(origin, dict) and isinstance(origin.get("path"), str) and not origin.get("repo"):
        file = os.path.normpath(os.path.join(root, origin["path"]))
    configured = []
    for entry in transformations if isinstance(transformations, list) else []:
        where = entry.get("configuredIn") if isinstance(entry, dict) else None
        if isinstance(where, str):
            full = os.path.normpath(os.path.join(root, where))
            if full not in configured:
                configured.append(full)
    return file, configured


def _yaml(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)  # libyaml: one small document per built object
    except yaml.YAMLError:
        return None


def remote_references(folder: str, seen: set[str] | None = None) -> Iterator[tuple[str, int | None, str]]:
    """(kustomization file, line, reference) of every URL-valued field of the kustomizations under ``folder``.

    Not only ``resources``/``bases``/``components``: kubectl also fetches ``patches[].path``,
    ``patchesStrategicMerge``, ``patchesJson6902[].path``, ``openapi.path``, ``configurations``,
    ``crds``, generators' ``files``… when they are URLs, so every string of the kustomization that
    is a remote reference is refused (labels and annotations, which are only copied, excepted).
    """
    seen = seen if seen is not None else set()
    real = os.path.realpath(folder)
    if real in seen:
        return
    seen.add(real)
    file = kustomization_file(folder)
    if file is None:
        return
    doc = load_yaml_file(file)
    if not isinstance(doc, dict):
        return
    try:
        with open(file, encoding="utf-8", errors="replace") as fh:
            text_lines = fh.read().splitlines()
    except OSError:
        text_lines = []
    for value, line in _strings(doc, None):
        if _is_remote(value):
            exact = next((n for n, text in enumerate(text_lines, 1) if value in text), None)
            yield file, exact or line, value
    for key in _REFERENCES:
        entries = doc.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, str) and not _is_remote(entry):
                target = os.path.join(folder, entry)
                if os.path.isdir(target):
                    yield from remote_references(target, seen)


#: Kustomization fields whose strings are copied into objects, never loaded: a URL there is data.
_COPIED = frozenset(("commonLabels", "commonAnnotations", "labels", "metadata", "patch", "literals",
                     "replacements", "images", "namePrefix", "nameSuffix", "namespace", "apiVersion", "kind"))


def _is_remote(value: str) -> bool:
    value = value.strip()
    return value.startswith(_REMOTE_PREFIXES) or "?ref=" in value or "://" in value.split("\n", 1)[0]


def _strings(node: Any, line: int | None) -> Iterator[tuple[str, int | None]]:
    """Every string of a kustomization (outside copied fields), with the nearest known line."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _COPIED:
                continue
            yield from _strings(value, line_of(node, key) or line)
    elif isinstance(node, list):
        start = getattr(node, "line", None) or line
        for index, value in enumerate(node):
            yield from _strings(value, (start + index) if start and isinstance(value, str) else start)
    elif isinstance(node, str):
        yield node, line
