"""``kubeharden snapshot PATH… -o FILE``: save the objects of any input as one snapshot file."""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

from kubeharden.commands.common import add_input_options, fail, open_inputs
from kubeharden.commands.emit import report_problems
from kubeharden.commands.empty_input import Counted, check_read
from kubeharden.commands.helptext import examples
from kubeharden.exitcodes import INPUT_ERRORS, OK, USAGE
from kubeharden.model.cluster import INFO_API_VERSION, INFO_KIND
from kubeharden.model.findings import UNLISTED, Problem
from kubeharden.model.objects import K8sObject, as_dict, as_list
from kubeharden.report.output import atomic_binary
from kubeharden.sources.snapshot import is_snapshot_header
from kubeharden.sources.snapshot_writer import header, without_secret_values, write


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("snapshot", help="save the objects of the input as one snapshot file (scan it offline)",
                       description="Save every object of the input (files, folders, stdin, snapshots; a cluster "
                                   "once --cluster exists) as one gzip-compressed kubeharden.io/v1 Snapshot, which "
                                   "every command reads offline (docs/snapshots.md). Secret values are removed "
                                   "unless --include-secret-values is given. Exit status: 0 written, 2 usage or "
                                   "cannot write, 3 some input unreadable (the rest is saved) or nothing to save.",
                       **examples("kubeharden snapshot k8s/ -o before.json.gz",
                                  "kubectl get -A -o json pods,roles | kubeharden snapshot - -o now.json.gz",
                                  "kubeharden snapshot before.json.gz -n shop -o again.json.gz"))
    add_input_options(p)
    p.add_argument("-o", "--output", metavar="FILE", required=True,
                   help="the snapshot to write (atomically; mode 0600 when new); its name must end in .gz")
    p.add_argument("--name", help="the snapshot's metadata.name (default: the kubeconfig context, else the "
                                  "output file's name)")
    p.add_argument("--include-secret-values", action="store_true",
                   help="keep the values of Secrets (data, stringData, last-applied annotation); by default "
                        "they are replaced by empty strings, keys kept")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.output.lower().endswith(".gz"):
        fail(f"{args.output}: a snapshot is gzip-compressed; name it *.gz (e.g. prod.json.gz) so that every "
             "command reads it as a snapshot")
        return USAGE
    problems: list[Problem] = []
    stream = Counted(open_inputs(args))
    context = getattr(args, "context", None)
    # what a live source knows about its cluster (its ClusterInfo) comes after its objects; the name is in
    # the opening line, so without --name or --context the objects are read up to it first (held in memory)
    items, info = _until_info(stream) if _reads_cluster(args) and not (args.name or context) else ([], None)
    known = as_dict(info.raw.get("cluster")) if info is not None else {}
    context = context or (known.get("context") if isinstance(known.get("context"), str) else None)
    name = args.name or context or os.path.basename(args.output).split(".")[0] or "snapshot"
    head = header(name, context=context, version=as_dict(known.get("version")) or None,
                  secret_values=args.include_secret_values)
    try:
        with atomic_binary(args.output) as out:
            write(out, head, _objects(itertools.chain(items, stream), problems, head["cluster"],
                                      args.include_secret_values))
            empty = check_read(args.paths, stream, problems, "snapshot", args.allow_empty)
            if empty is not None and empty.level == "error":
                raise _NothingToSave
    except _NothingToSave:
        report_problems(problems)
        return INPUT_ERRORS
    except OSError as exc:
        report_problems(problems)
        fail(f"cannot write {args.output}: {exc.strerror or exc}")
        return USAGE
    report_problems(problems)
    return INPUT_ERRORS if any(p.level == "error" for p in problems) else OK


def _reads_cluster(args: argparse.Namespace) -> bool:
    """Whether a live cluster is among the inputs (``--cluster``)."""
    return bool(getattr(args, "cluster", False)) or any(str(p).startswith("cluster:") for p in args.paths or ())


def _until_info(stream: Iterable[Any]) -> tuple[list[Any], K8sObject | None]:
    """The items of ``stream`` up to and including the first ClusterInfo, and that ClusterInfo (or None)."""
    items: list[Any] = []
    for item in stream:
        items.append(item)
        if isinstance(item, K8sObject) and item.kind == INFO_KIND and item.ref.api_version == INFO_API_VERSION:
            return items, item
    return items, None


class _NothingToSave(Exception):
    """The input held no object: the snapshot is not written (the atomic writer leaves nothing behind)."""


def _objects(stream: Iterable[Any], problems: list[Problem], cluster: dict[str, Any],
             secret_values: bool) -> Iterator[dict[str, Any]]:
    """The raw objects to save, collecting problems.

    A snapshot header in the input (a snapshot saved again) is not saved as an object: the context,
    version and unlisted kinds it knows fill the gaps in ``cluster``; so do those of a ClusterInfo (what
    a live source knows about its cluster), which is saved. A kind the cluster refused to list
    (a Problem of kind ``unlisted``) is recorded in ``cluster.unlisted``, so a scan of the snapshot
    finds the same controls not assessable.
    """
    for item in stream:
        if isinstance(item, Problem):
            problems.append(item)
            record_unlisted(cluster, item)
        elif is_snapshot_header(item.raw):
            _fill(cluster, item.raw.get("cluster"))
            known = item.raw.get("cluster")
            for entry in as_list(known.get("unlisted") if isinstance(known, dict) else None):
                _add_unlisted(cluster, entry)
        else:
            if item.kind == INFO_KIND and item.ref.api_version == INFO_API_VERSION:
                _fill(cluster, item.raw.get("cluster"))
            raw = _placed(item)
            yield raw if secret_values else without_secret_values(raw)


def _fill(cluster: dict[str, Any], known: Any) -> None:
    for key in ("context", "version"):
        if isinstance(known, dict) and known.get(key) and not cluster.get(key):
            cluster[key] = known[key]


def record_unlisted(cluster: dict[str, Any], problem: Problem) -> None:
    """Record an ``unlisted`` problem (a kind the cluster refused) in the header's ``cluster.unlisted``."""
    if problem.kind != UNLISTED or problem.resource is None:
        return
    _add_unlisted(cluster, {"apiVersion": problem.resource.api_version, "kind": problem.resource.kind,
                            "message": problem.message})


def _add_unlisted(cluster: dict[str, Any], entry: Any) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        return
    listed = cluster.setdefault("unlisted", [])
    if not any(e.get("kind") == entry["kind"] and e.get("apiVersion") == entry.get("apiVersion") for e in listed):
        listed.append({k: entry.get(k) for k in ("apiVersion", "kind", "message")})


def _placed(obj: K8sObject) -> dict[str, Any]:
    """The object as the cluster would hold it: a namespace-less namespaced object gets the one it was placed in."""
    if not obj.origin.namespace_defaulted or obj.ref.namespace is None:
        return obj.raw
    meta = obj.raw.get("metadata")
    return {**obj.raw, "metadata": {**(meta if isinstance(meta, dict) else {}), "namespace": obj.ref.namespace}}
