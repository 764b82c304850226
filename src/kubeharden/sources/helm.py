"""Helm charts: a chart folder (with ``Chart.yaml``) or a packaged ``.tgz``, rendered offline and read.

Rendering uses helm-python-sdk (the Helm v4 SDK behind a C ABI; no ``helm`` binary, no cluster,
no network), as ``helm template`` would (https://helm.sh/docs/helm/helm_template/): the release
name (``--release-name``, Helm's own default ``release-name``), the namespace (``-n``), the
user values (``--values`` files in order, then ``--set`` and ``--set-string``), and the
capabilities (``--kube-version``, ``--api-versions``). Dependencies are never fetched: a chart
whose ``Chart.yaml`` declares one that is not in its ``charts/`` folder is refused, as
``helm template`` refuses it, with the dependency named (``helm dependency build`` vendors it).

Each object's lines are the lines of the template that emitted them (helm_templates.py), its
file the template file, and its tracer adds the ``.Values`` path behind a field and the values
file and line that set it (helm_values.py). docs/helm-kustomize.md says what cannot be traced.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import yaml

from kubeharden.model.findings import Problem
from kubeharden.model.lines import LineList, LineMap
from kubeharden.model.objects import K8sObject, Provenance
from kubeharden.sources.files import ReadOptions, mebibytes, parse_text
from kubeharden.sources.helm_templates import LineValues, instrument, line_table, values_references
from kubeharden.sources.helm_values import (
    SET_FLAG,
    ValuesError,
    ValuesIndex,
    ValuesLayer,
    load_values_text,
    merge,
)

SOURCE = "helm"
#: The file that makes a folder a chart, https://helm.sh/docs/topics/charts/#the-chartyaml-file
CHART_FILE = "Chart.yaml"
#: ``helm template``'s release name when none is given.
DEFAULT_RELEASE = "release-name"
INSTALL_SDK = "pip install 'helm-python-sdk>=0.2,<0.3' (it bundles the Helm SDK; no helm binary is needed)"
_SUFFIXES = (".yaml", ".yml", ".json")
_EXECUTION = re.compile(r"\(([^():\s]+):(\d+):\d+\)")
_POSITION = re.compile(r"^([^:\s]+):(\d+):\d+")


@dataclass(frozen=True, slots=True)
class HelmOptions:
    """How charts are rendered (the options of ``helm template``)."""

    values: tuple[str, ...] = ()
    set: tuple[str, ...] = ()
    set_string: tuple[str, ...] = ()
    release_name: str = DEFAULT_RELEASE
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()
    #: the name of this values set in a ``--values-matrix`` run
    values_set: str | None = None


def add_options(parser: argparse.ArgumentParser) -> None:
    """The ``helm template`` options every command that reads inputs takes."""
    group = parser.add_argument_group("Helm charts (docs/helm-kustomize.md)")
    group.add_argument("--values", action="append", default=[], metavar="FILE",
                       help="values file for charts, as helm's -f (repeatable; later files win)")
    group.add_argument("--set", action="append", default=[], metavar="KEY=VAL",
                       help="chart value on the command line, as helm --set (repeatable)")
    group.add_argument("--set-string", action="append", default=[], metavar="KEY=VAL",
                       help="chart value kept as a string, as helm --set-string (repeatable)")
    group.add_argument("--release-name", default=DEFAULT_RELEASE, metavar="NAME",
                       help=f"release name charts are rendered with (default {DEFAULT_RELEASE})")
    group.add_argument("--kube-version", metavar="VERSION",
                       help="Kubernetes version for .Capabilities.KubeVersion (e.g. 1.32.0; default: the SDK's)")
    group.add_argument("--api-versions", action="append", default=[], metavar="GROUP/VERSION",
                       help="API version for .Capabilities.APIVersions (repeatable)")


def options_from(args: argparse.Namespace) -> HelmOptions:
    """The rendering options of a parsed command line (defaults where a command lacks them)."""
    return HelmOptions(values=tuple(getattr(args, "values", None) or ()), set=tuple(getattr(args, "set", None) or ()),
                       set_string=tuple(getattr(args, "set_string", None) or ()),
                       release_name=getattr(args, "release_name", None) or DEFAULT_RELEASE,
                       kube_version=getattr(args, "kube_version", None),
                       api_versions=tuple(getattr(args, "api_versions", None) or ()),
                       values_set=getattr(args, "values_set", None))


def claims(path: str) -> bool:
    """A folder holding ``Chart.yaml``, or a ``.tgz`` file (a packaged chart)."""
    if path == "-":
        return False
    if path.lower().endswith(".tgz"):
        return os.path.isfile(path)
    return os.path.isfile(os.path.join(path, CHART_FILE))


def read(path: str, options: ReadOptions) -> Iterator[K8sObject | Problem]:
    """The objects of the chart at ``path`` rendered with ``options.source_options['helm']``.

    Problems (errors, so the exit code is 3) for: helm-python-sdk missing, a chart that cannot be
    loaded, a dependency missing from ``charts/``, an unreadable values file or ``--set``, and a
    render that stops (``required``, ``fail``, a template error), each naming the chart and the cause.
    """
    if not options.render:
        yield Problem("warning", SOURCE, "Helm chart not rendered (--no-render): its templates were not judged",
                      file=path)
        return
    opts = options.source_options.get(SOURCE) or HelmOptions()
    try:
        import helm_python as helm
    except ImportError:
        yield Problem("error", SOURCE, f"cannot render the Helm chart: helm-python-sdk is not installed; {INSTALL_SDK}",
                      file=path)
        return
    if os.path.isfile(path) and os.path.getsize(path) > options.max_file_bytes:
        yield Problem("error", "too-large", f"chart archive is over the {mebibytes(options.max_file_bytes)} limit "
                      "(--max-file-size); skipped", file=path)
        return
    try:
        chart = helm.Chart.load(path)
    except helm.HelmError as exc:
        yield Problem("error", SOURCE, f"not a readable Helm chart: {_first_line(exc)}", file=path)
        return
    with chart:
        yield from _read_chart(helm, chart, path, opts, options)


def _read_chart(helm: Any, chart: Any, path: str, opts: HelmOptions,
                options: ReadOptions) -> Iterator[K8sObject | Problem]:
    name = chart.name or path
    missing = _missing_dependencies(chart)
    if missing:
        yield Problem("error", SOURCE, f"chart {name}: dependencies declared in Chart.yaml are not in its charts/ "
                      f"folder: {', '.join(missing)}; run `helm dependency build {path}` (kubeharden never fetches "
                      "charts) and scan again", file=os.path.join(path, CHART_FILE) if os.path.isdir(path) else path)
        return
    try:
        user, layers = _user_values(helm, opts)
    except ValuesError as exc:
        yield Problem("error", SOURCE, f"chart {name}: {exc}", file=path)
        return
    try:
        rendered = _render(helm, chart, user, opts, options.namespace)
    except helm.HelmError as exc:
        yield _render_problem(name, path, exc, opts)
        return
    archive = _archive(chart, options.max_file_bytes)
    tables = _line_tables(helm, archive, user, opts, options.namespace, rendered) if archive else {}
    tracer = HelmTracer(_references(archive), ValuesIndex([*layers, *_chart_layers(archive, path)]),
                        _aliases(chart))
    for template in sorted(rendered):
        text = rendered[template]
        if not template.lower().endswith(_SUFFIXES) or not text.strip():
            continue
        display = _display(path, template)
        table = tables.get(template)
        if table is None and archive:
            yield Problem("note", SOURCE, f"template lines of {template} could not be traced; its findings name "
                          "the template file only", file=display)
        for item in parse_text(text, display, SOURCE, options.shallow_kind, options.namespace,
                               options.namespace_strict):
            if isinstance(item, Problem):
                item.line = _mapped(table, item.line)
                yield item
                continue
            _relabel(item.raw, table)
            item.origin = replace(item.origin, line=_mapped(table, item.origin.line), input=path, template=template,
                                  values_set=opts.values_set, tracer=tracer)
            yield item


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _missing_dependencies(chart: Any) -> list[str]:
    """Dependencies of Chart.yaml not loaded from ``charts/`` (``name version (repository)``)."""
    loaded = {str(d.get("name")) for d in chart.dependencies}
    missing = []
    for dep in chart.metadata.get("dependencies") or []:
        if isinstance(dep, dict) and str(dep.get("name")) not in loaded:
            repo = f" from {dep['repository']}" if dep.get("repository") else ""
            missing.append(f"{dep.get('name')} {dep.get('version') or ''}{repo}".replace("  ", " "))
    return missing


def _user_values(helm: Any, opts: HelmOptions) -> tuple[dict[str, Any], list[ValuesLayer]]:
    """The user values merged as Helm merges them, and their layers from the strongest. Raises ValuesError."""
    layers: list[ValuesLayer] = []
    merged: dict[str, Any] = {}
    for file in opts.values:
        try:
            with open(file, encoding="utf-8-sig") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValuesError(f"cannot read values file {file}: {getattr(exc, 'strerror', None) or exc}") from None
        data = load_values_text(text, file)
        merged = merge(merged, data)
        layers.insert(0, ValuesLayer(file, data))
    for flag, parse, expressions in (("--set", helm.parse_set_string, opts.set),
                                     ("--set-string", helm.parse_set_string_values, opts.set_string)):
        for expression in expressions:
            try:
                data = parse(expression)
            except helm.HelmError as exc:
                raise ValuesError(f"{flag} {expression!r}: {_first_line(exc)}") from None
            merged = merge(merged, data)
            layers.insert(0, ValuesLayer(SET_FLAG if flag == "--set" else flag, data))
    return merged, layers


def _render(helm: Any, chart: Any, values: dict[str, Any], opts: HelmOptions, namespace: str | None) -> dict[str, str]:
    """Template name -> rendered text. The SDK's render call takes kube_version and api_versions
    in its options (the Python wrapper does not expose them), so it is called directly."""
    from helm_python import _native

    render_opts: dict[str, Any] = {"name": opts.release_name, "namespace": namespace or "default",
                                   "is_install": True}
    if opts.kube_version:
        render_opts["kube_version"] = f"v{opts.kube_version.removeprefix('v')}"
    if opts.api_versions:
        render_opts["api_versions"] = list(opts.api_versions)
    rendered: dict[str, str] = json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(values),
                                                              json.dumps(render_opts)))
    return rendered


def _render_problem(name: str, path: str, exc: Exception, opts: HelmOptions | None = None) -> Problem:
    """A render that stopped: the template file and line, and what to do."""
    message = " ".join(str(exc).split())
    where = _EXECUTION.search(message) or _POSITION.search(message)
    file = _display(path, where.group(1)) if where else path
    line = int(where.group(2)) if where else None
    if "execution error" in message:
        cause = ("a `required` value is missing or a `fail` call stopped it; give the value with --values FILE or "
                 "--set KEY=VALUE")
    elif "nil pointer" in message:
        cause = "a value the template reads is not set (a parent key is missing); give it with --values or --set"
    else:
        cause = "a template error"
    with_values = ""
    if opts is not None and opts.values_set:
        with_values = f" with the values set {opts.values_set}"
    elif opts is not None and opts.values:
        with_values = f" with the values files {', '.join(opts.values)}"
    return Problem("error", SOURCE, f"chart {name} cannot be rendered{with_values}: {cause}: {message}", file=file,
                   line=line)


def _display(path: str, template: str) -> str:
    """Where a chart file (``mychart/templates/x.yaml``, as Helm names it) is: on disk, or inside the archive."""
    inner = template.split("/", 1)[1] if "/" in template else template
    if os.path.isdir(path):
        return _on_disk(path, inner.split("/"))
    return f"{path}#{template}"


def _on_disk(folder: str, parts: list[str]) -> str:
    """Where ``charts/NAME/…`` of a chart folder is: the subchart's real folder (its folder name may differ
    from its name or alias), or ``charts/NAME-VERSION.tgz#NAME/…`` for a vendored archive."""
    if len(parts) < 3 or parts[0] != "charts":
        return os.path.join(folder, *parts)
    key, rest = parts[1], parts[2:]
    charts = os.path.join(folder, "charts")
    names = {key} | {str(d.get("name")) for d in _dependencies(folder) if d.get("alias") == key}
    direct = os.path.join(charts, key)
    if os.path.isfile(os.path.join(direct, CHART_FILE)):
        return _on_disk(direct, rest)
    try:
        entries = sorted(os.listdir(charts))
    except OSError:
        return os.path.join(folder, *parts)
    for entry in entries:
        sub = os.path.join(charts, entry)
        if os.path.isdir(sub) and _chart_name(sub) in names:
            return _on_disk(sub, rest)
    for entry in entries:
        if entry.endswith(".tgz") and any(entry.startswith(f"{n}-") or entry == f"{n}.tgz" for n in names):
            name = next(n for n in names if entry.startswith(f"{n}-") or entry == f"{n}.tgz")
            return f"{os.path.join(charts, entry)}#{name}/{'/'.join(rest)}"
    return os.path.join(folder, *parts)


def _chart_meta(folder: str) -> dict[str, Any]:
    try:
        with open(os.path.join(folder, CHART_FILE), encoding="utf-8") as fh:
            meta = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _chart_name(folder: str) -> str | None:
    name = _chart_meta(folder).get("name")
    return str(name) if name is not None else None


def _dependencies(folder: str) -> list[dict[str, Any]]:
    deps = _chart_meta(folder).get("dependencies")
    return [d for d in deps if isinstance(d, dict)] if isinstance(deps, list) else []


def _archive(chart: Any, limit: int) -> dict[str, bytes]:
    """The chart's files as Helm packages them (``.helmignore`` applied; subcharts included), by name."""
    with tempfile.TemporaryDirectory(prefix="kubeharden-helm-") as tmp:
        try:
            packaged = chart.save(tmp)
        except Exception:
            return {}
        files: dict[str, bytes] = {}
        _unpack(packaged, "", files, limit)
        return files


def _unpack(archive: str | bytes, prefix: str, files: dict[str, bytes], limit: int) -> None:
    """Regular files of a chart archive (and of subchart archives inside it) into ``files``."""
    try:
        fileobj = io.BytesIO(archive) if isinstance(archive, bytes) else open(archive, "rb")
        with fileobj, tarfile.open(fileobj=fileobj, mode="r:gz") as tar:
            for member in tar:
                if not member.isfile() or member.size > limit:
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                data = handle.read()
                name = prefix + member.name
                if member.name.endswith(".tgz") and "/charts/" in f"/{member.name}":
                    _unpack(data, name.rsplit("/", 1)[0] + "/", files, limit)
                else:
                    files[name] = data
    except (OSError, tarfile.TarError, EOFError):
        return


def _is_template(name: str) -> bool:
    parts = name.split("/")
    return len(parts) >= 3 and parts[-2] == "templates" and not parts[-1].startswith("_")


def _line_tables(helm: Any, archive: dict[str, bytes], values: dict[str, Any], opts: HelmOptions,
                 namespace: str | None, rendered: dict[str, str]) -> dict[str, list[int | None]]:
    """Template name -> its rendered lines' template lines, from a render of the instrumented chart."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in archive.items():
            if _is_template(name):
                try:
                    data = instrument(data.decode("utf-8")).encode("utf-8")
                except UnicodeDecodeError:
                    pass
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    try:
        with helm.Chart.load_archive(buffer.getvalue()) as marked:
            instrumented = _render(helm, marked, values, opts, namespace)
    except helm.HelmError:
        return {}
    tables = {}
    for name, text in rendered.items():
        table = line_table(instrumented.get(name, ""), text)
        if table is not None:
            tables[name] = table
    return tables


def _mapped(table: list[int | None] | None, line: int | None) -> int | None:
    if table is None or line is None or not 0 < line <= len(table):
        return None
    return table[line - 1]


def _relabel(node: Any, table: list[int | None] | None) -> None:
    """Replace the rendered lines of every mapping and list under ``node`` by template lines (None: unknown)."""
    if isinstance(node, LineMap):
        lines = node.lines
        node.line = _mapped(table, node.line)
        mapped = {key: _mapped(table, line) or node.line for key, line in lines.items()}
        if lines and None not in mapped.values():
            node.lines = mapped  # type: ignore[assignment]
        else:
            node._lines = ()  # no key line known: lines are asked of the mapping, which says None
        for value in node.values():
            _relabel(value, table)
    elif isinstance(node, LineList):
        node.line = _mapped(table, node.line)
        for value in node:
            _relabel(value, table)
    elif isinstance(node, dict):
        for value in node.values():
            _relabel(value, table)
    elif isinstance(node, list):
        for value in node:
            _relabel(value, table)


def _references(archive: dict[str, bytes]) -> dict[str, dict[int, LineValues]]:
    refs = {}
    for name, data in archive.items():
        if _is_template(name):
            try:
                refs[name] = values_references(data.decode("utf-8"))
            except UnicodeDecodeError:
                continue
    return refs


def _chart_layers(archive: dict[str, bytes], path: str) -> list[ValuesLayer]:
    """Each chart's own values.yaml, the top chart's first, then subcharts' under their key."""
    layers = []
    for name in sorted(archive, key=lambda n: n.count("/")):
        parts = name.split("/")
        if parts[-1] != "values.yaml" or (len(parts) > 2 and parts[-3] != "charts"):
            continue
        prefix = "".join(f"{p}." for p in parts[2:-1:2])
        try:
            data = load_values_text(archive[name].decode("utf-8-sig"), name)
        except (ValuesError, UnicodeDecodeError):
            continue
        layers.append(ValuesLayer(_display(path, name), data, prefix))
    return layers


def _aliases(chart: Any) -> dict[str, str]:
    """Subchart name -> the key its values sit under (its alias in Chart.yaml, else its name)."""
    return {str(d.get("name")): str(d.get("alias")) for d in chart.metadata.get("dependencies") or []
            if isinstance(d, dict) and d.get("alias")}


class HelmTracer:
    """Adds the ``.Values`` path behind a field, and the values file and line that set it, to a template line."""

    def __init__(self, references: dict[str, dict[int, LineValues]], index: ValuesIndex,
                 aliases: dict[str, str]) -> None:
        self.references = references
        self.index = index
        self.aliases = aliases

    def trace(self, origin: Provenance, line: int | None, path: str) -> Provenance:
        template = origin.template or ""
        found = self.references.get(template, {}).get(line) if line is not None else None
        candidates = (found.used or found.conditions) if found else []
        names = [part for part in re.split(r"\.|\[[^\]]*\]", path) if part]
        if found and found.key and found.used and found.key not in names:
            candidates = []  # the line writes another field (the line of a mapping whose field is missing)
        if not candidates:
            return replace(origin, line=line)
        prefix = self._prefix(template)
        if found and found.used and candidates is found.used and len(candidates) > 1:
            # several values on the line ("{{ .Values.image.repository }}:{{ .Values.image.tag }}"): the one
            # named like the field, else all of them, never a wrong single one
            named = [c for c in candidates if names and c.replace("[]", "").split(".")[-1] == names[-1]]
            if len(named) == 1:
                candidates = named
            else:
                return self._several(origin, line, [c if c.startswith("global.") else prefix + c for c in candidates])
        indices = [int(n) for n in re.findall(r"\[(\d+)\]", path)]
        best: tuple[str, Any] | None = None
        for candidate in candidates:
            full = self._refined(candidate if candidate.startswith("global.") else prefix + candidate, path)
            source = self.index.source(full, indices[-1] if indices else None)
            if source is not None:
                best = (full, source)
                break
            if best is None:
                best = (full, None)
        assert best is not None
        full, source = best
        return replace(origin, line=line, values_path=full, values_file=source.file if source else None,
                       values_line=source.line if source else None)

    def _several(self, origin: Provenance, line: int | None, paths: list[str]) -> Provenance:
        """Every values path of a line that uses several: the file and line of the first that is set."""
        sources = [self.index.source(p) for p in paths]
        source = next((s for s in sources if s is not None), None)
        return replace(origin, line=line, values_path=" and .Values.".join(paths),
                       values_file=source.file if source else None, values_line=source.line if source else None)

    def _prefix(self, template: str) -> str:
        """The key a subchart's values sit under for the user (``redis.``), "" for the top chart."""
        parts = template.split("/")
        names = [self.aliases.get(parts[i + 1], parts[i + 1]) for i in range(1, len(parts) - 2)
                 if parts[i] == "charts"]
        return "".join(f"{n}." for n in names)

    def _refined(self, values_path: str, path: str) -> str:
        """``values_path`` extended by the tail of the field path when the values hold it (``toYaml``
        of ``.Values.securityContext`` emitting ``privileged``: ``securityContext.privileged``)."""
        if "[]" in values_path:  # an element of a range: the field path of the rendered object is not in the values
            return values_path
        names = [part for part in re.split(r"\.|\[[^\]]*\]", path) if part]
        for size in range(len(names), 0, -1):
            longer = f"{values_path}.{'.'.join(names[-size:])}"
            if self.index.has(longer):
                return longer
        return values_path
