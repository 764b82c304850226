"""The live cluster source: every object a control or analysis needs, listed through the API.

``cluster://`` (the current context) or ``cluster://CONTEXT`` as an input, or ``--cluster`` on any
command that reads inputs (docs/cluster.md). Steps:

1. connect with the official client (:mod:`kubeharden.sources.cluster_client`: kubeconfig,
   ``--context``, in-cluster configuration, exec credential plugins);
2. ask discovery which of the needed kinds the cluster serves (:mod:`kubeharden.sources.cluster_discovery`);
3. list each, in pages (``limit``/``continue``, "Retrieving large results sets in chunks",
   https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks),
   at most ``--requests`` at a time; across all namespaces, or ``-n NS`` only (scan), less
   ``--exclude-namespace``;
4. yield each object with provenance ``cluster`` naming the ``kubectl get`` command that shows it,
   then one ``ClusterInfo`` object (:mod:`kubeharden.sources.cluster_info`).

A list the API server refuses (403) or does not find (404) is a warning of kind ``unlisted`` whose
``resource`` names the kind: the engine reports the controls that need that kind as not assessable.
Objects whose controller is a listed workload (a Deployment's ReplicaSets and their Pods, a CronJob's
Jobs) are judged through that workload, as they were written, and only counted in a note: the
``ownerReferences`` with ``controller: true`` say so ("Owners and Dependents",
https://kubernetes.io/docs/concepts/overview/working-with-objects/owners-dependents/).
Secrets are listed as metadata only (``PartialObjectMetadataList``) and only those of type
``kubernetes.io/service-account-token``: their values never leave the API server.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from kubeharden.model.apiresources import RESOURCES
from kubeharden.model.cluster import INFO_KIND
from kubeharden.model.findings import UNLISTED, Problem
from kubeharden.model.inventory import INDEXED_KINDS, controller_owner
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef, as_dict, as_list, make_ref
from kubeharden.model.pods import POD_TEMPLATE_PATHS
from kubeharden.model.supply import API_VERSION, RUNNING_IMAGES, digest_of_image_id
from kubeharden.sources.files import ReadOptions

if TYPE_CHECKING:  # the client modules load when a cluster is read (read and _read), not with every command
    from kubeharden.sources.cluster_client import Connection
    from kubeharden.sources.cluster_discovery import Resource

SOURCE = "cluster"
SCHEME = "cluster://"
#: Objects per page: kubectl's own ``--chunk-size`` default.
PAGE_SIZE = 500
#: Requests in flight at once.
REQUESTS = 8
#: Workload controllers whose dependents (``controller: true``) are judged through them.
CONTROLLER_KINDS = ("CronJob", "Deployment", "StatefulSet", "DaemonSet", "ReplicationController", "Job",
                    "ReplicaSet")
#: Kinds the analyses read beyond the catalogue's and the inventory's (admission policies for NSA-POD-7;
#: custom workload kinds whose spec.template is a pod template).
EXTRA_KINDS = frozenset({"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Rollout",
                         "DeploymentConfig"})
#: Secret type of legacy ServiceAccount tokens (the only Secrets an analysis reads, for RBAC paths).
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
#: Metadata-only lists (api-concepts, "Receiving resources as Table" / PartialObjectMetadataList).
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

Item = K8sObject | Problem


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """The options of a cluster scan (``--kubeconfig`` … ; docs/cluster.md)."""

    kubeconfig: str | None = None
    context: str | None = None
    #: list only these namespaces (namespaced kinds); empty: all
    namespaces: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    chunk_size: int = PAGE_SIZE
    requests: int = REQUESTS
    progress: bool = False


def claims(path: str) -> bool:
    """Whether ``path`` names a live cluster: ``cluster://`` or ``cluster://CONTEXT``."""
    return path.startswith(SCHEME)


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--cluster`` and the options of a live cluster, for every command that reads inputs."""
    group = parser.add_argument_group("live cluster (docs/cluster.md)")
    group.add_argument("--cluster", action="store_true",
                       help="read the live cluster of the kubeconfig's current context (or --context); the same as "
                            "the input cluster://[CONTEXT]")
    group.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default $KUBECONFIG, ~/.kube/config; "
                       "in a Pod without one, the in-cluster configuration)")
    group.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")
    group.add_argument("--exclude-namespace", action="append", default=[], metavar="NS",
                       help="do not list objects of this namespace (repeatable)")
    group.add_argument("--chunk-size", type=_positive, default=PAGE_SIZE, metavar="N",
                       help=f"objects per list request, as kubectl's --chunk-size (default {PAGE_SIZE})")
    group.add_argument("--requests", type=_positive, default=REQUESTS, metavar="N",
                       help=f"list requests in flight at once (default {REQUESTS})")


def options(args: argparse.Namespace) -> tuple[list[str], ClusterOptions]:
    """The input ``--cluster`` stands for, and the ClusterOptions of ``args``.

    ``-n`` limits the listing only where it is the scan's ``-n`` (``namespace_is_apply``); RBAC and
    NetworkPolicy questions need the whole cluster, whatever namespace they ask about.
    """
    namespace = getattr(args, "namespace", None) if getattr(args, "namespace_is_apply", False) else None
    context = getattr(args, "context", None)
    opts = ClusterOptions(kubeconfig=getattr(args, "kubeconfig", None), context=context,
                          namespaces=(namespace,) if isinstance(namespace, str) and namespace else (),
                          exclude=tuple(getattr(args, "exclude_namespace", None) or ()),
                          chunk_size=getattr(args, "chunk_size", PAGE_SIZE),
                          requests=getattr(args, "requests", REQUESTS),
                          progress=sys.stderr.isatty())
    return ([SCHEME + (context or "")] if getattr(args, "cluster", False) else []), opts


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


@cache
def needed_kinds() -> frozenset[str]:
    """Every kind a control or an analysis reads: pod-bearing kinds, the inventory's, the catalogue's
    (of the controls a cluster can show: a configuration file's kind, such as an audit ``Policy``, is
    never listed, nor its namesakes)."""
    from kubeharden.catalogue.loader import load_catalogue

    named = {k for c in load_catalogue() if "cluster" in c.inputs for k in (*c.kinds, *c.reads) if k != "*"}
    return (frozenset(POD_TEMPLATE_PATHS) | INDEXED_KINDS | EXTRA_KINDS | named) - {INFO_KIND}


@cache
def _builtin_groups() -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for info in RESOURCES.values():
        if info.kind:
            groups.setdefault(info.kind, set()).add(info.group)
    return {kind: frozenset(g) for kind, g in groups.items()}


def wanted(group: str, kind: str) -> bool:
    """Whether to list ``kind`` of ``group``: a needed kind, a built-in one only from its own group."""
    if kind not in needed_kinds():
        return False
    builtin = _builtin_groups().get(kind)
    return builtin is None or group in builtin


def read(path: str, options: ReadOptions) -> Iterator[Item]:
    """The objects of the cluster ``path`` names, then its ClusterInfo; Problems for what cannot be read.

    Never raises: no configuration, no answer and refused discovery are errors naming the cluster;
    a refused or missing list is an ``unlisted`` warning naming its kind.
    """
    from kubeharden.sources.cluster_client import ClusterError, connect  # only a cluster scan needs the client

    opts = options.source_options.get(SOURCE) or ClusterOptions()
    context = path[len(SCHEME):] or opts.context
    try:
        conn = connect(opts.kubeconfig, context, opts.requests)
    except ClusterError as exc:
        yield Problem("error", "read", str(exc), file=path)
        return
    try:
        yield from _read(conn, opts, path)
    finally:
        conn.close()


def _read(conn: Connection, opts: ClusterOptions, path: str) -> Iterator[Item]:
    from kubeharden.sources.cluster_client import ApiError, ClusterError  # see read
    from kubeharden.sources.cluster_discovery import discover
    from kubeharden.sources.cluster_info import build_info
    from kubeharden.sources.cluster_lists import open_lists

    display = f"{SCHEME}{conn.context}" if conn.context else f"{SCHEME} ({conn.server})"
    version: dict[str, Any] | None = None
    try:
        answer = conn.get("/version")
        version = answer if isinstance(answer, dict) else None
    except (ApiError, ClusterError) as exc:
        if isinstance(exc, ClusterError):
            yield Problem("error", "read", str(exc), file=display)
            return
        yield Problem("warning", "read", f"GET /version: {exc}; the API server's version is unknown", file=display)
    try:
        found = discover(conn, wanted, opts.requests)
    except (ApiError, ClusterError) as exc:
        yield Problem("error", "read", f"discovery of the API's resources failed: {exc}", file=display)
        return
    for where, why in found.failed:
        yield Problem("warning", "read", f"discovery of {where} failed ({why}); kinds of that group version were "
                      "not listed", file=display)
    resources = sorted(found.resources, key=_order)
    progress = _Progress(opts.progress, len(resources))
    listed: set[str] = set()
    owned: Counter[str] = Counter()
    owners: dict[tuple[str | None, str, str], tuple[str, str]] = {}
    nodes: list[dict[str, Any]] = []
    system_pods: list[dict[str, Any]] = []
    lists = open_lists(conn, resources, opts.requests, partial(_query, opts), opts.namespaces, progress.add)
    try:
        listings = next(lists)
        # every refusal first, so the engine knows which controls cannot run before any object is judged
        for listing in listings:
            if listing.error is not None:
                yield _unlisted(listing.resource, listing.error, display)
            else:
                listed.add(listing.resource.kind)
        for listing in listings:
            if listing.error is not None:
                continue
            resource = listing.resource
            for raw in listing.objects():
                if isinstance(raw, str):  # stopped part way: what was not read cannot be judged
                    yield _unlisted(resource, f"the list stopped part way ({raw})", display)
                    break
                if not _chosen(raw, resource, opts):
                    continue
                if _controller_listed(raw, listed):
                    owned[resource.kind] += 1
                    running = _running_images(raw, resource, owners, display)
                    if running is not None:  # the digests its Pods run are judged for the owning workload
                        yield running
                    continue
                if resource.kind == "Node" and resource.group == "":
                    nodes.append(raw)
                elif resource.kind == "Pod" and resource.group == "" and _namespace(raw) == "kube-system":
                    system_pods.append(raw)
                yield _object(raw, resource, conn, opts)
            progress.kind_done()
    finally:
        lists.close()
        progress.done()
    if owned:
        counts = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in sorted(owned.items()))
        yield Problem("note", "skipped", f"{counts} created by a listed workload controller were judged through "
                      "that controller (their ownerReferences name it), not one by one", file=display)
    info = build_info(conn.context, conn.server, version, nodes, system_pods, opts.namespaces, opts.exclude)
    yield K8sObject(info, make_ref(info), Provenance(file=display, line=None, source=SOURCE))
    provider = info["provider"]
    if provider is not None and info["controlPlane"] is None:
        yield Problem("note", "managed-cluster", f"{provider['name']} ({provider['evidence']}): the provider runs "
                      "the control plane, so no control-plane static Pod shows its flags; what they decide "
                      "(admission plugins, audit policy, encryption at rest) cannot be assessed from the API",
                      file=display)


def _order(resource: Resource) -> tuple[int, str, str]:
    """Workload controllers first, then by kind and group: the order objects are yielded in."""
    rank = CONTROLLER_KINDS.index(resource.kind) if resource.kind in CONTROLLER_KINDS and resource.group in (
        "apps", "batch", "") else len(CONTROLLER_KINDS)
    return rank, resource.kind, resource.group


def _controller_listed(raw: dict[str, Any], listed: set[str]) -> bool:
    for ref in as_list(as_dict(raw.get("metadata")).get("ownerReferences")):
        ref = as_dict(ref)
        if ref.get("controller") is True and ref.get("kind") in CONTROLLER_KINDS and ref.get("kind") in listed:
            return True
    return False


def _running_images(raw: dict[str, Any], resource: Resource, owners: dict[tuple[str | None, str, str], tuple[str, str]],
                    display: str) -> K8sObject | None:
    """A RunningImages object (model/supply.py) for an owned Pod whose status names the digests its containers
    run, with its owners up to the top listed controller; an owned controller (a ReplicaSet, a Job) is only
    remembered, since the Pods it owns are listed after it."""
    namespace = _namespace(raw)
    owner = controller_owner(raw)
    if owner is None:
        return None
    if resource.kind != "Pod" or resource.group != "":
        name = as_dict(raw.get("metadata")).get("name")
        if isinstance(name, str):
            owners[(namespace, resource.kind, name)] = owner
        return None
    chain = [owner]
    while (up := owners.get((namespace, *chain[-1]))) is not None and len(chain) < len(CONTROLLER_KINDS):
        chain.append(up)
    status = as_dict(raw.get("status"))
    running = []
    for key, list_name in (("containerStatuses", "containers"), ("initContainerStatuses", "initContainers"),
                           ("ephemeralContainerStatuses", "ephemeralContainers")):
        for entry in as_list(status.get(key)):
            entry = as_dict(entry)
            digest = digest_of_image_id(str(entry.get("imageID") or ""))
            if digest and isinstance(entry.get("name"), str):
                running.append([list_name, entry["name"], digest])
    if not running:
        return None
    meta = as_dict(raw.get("metadata"))
    obj = {"apiVersion": API_VERSION, "kind": RUNNING_IMAGES,
           "metadata": {"name": str(meta.get("name") or ""), "namespace": namespace},
           "owners": [list(o) for o in chain], "running": running}
    return K8sObject(obj, make_ref(obj), Provenance(file=display, line=None, source=SOURCE))


def _namespace(raw: dict[str, Any]) -> str | None:
    ns = as_dict(raw.get("metadata")).get("namespace")
    return ns if isinstance(ns, str) else None


def _object(raw: dict[str, Any], resource: Resource, conn: Connection, opts: ClusterOptions) -> K8sObject:
    ref = make_ref(raw)
    return K8sObject(raw, ref, Provenance(file=kubectl_command(resource, ref, conn.context, opts.kubeconfig),
                                          line=None, source=SOURCE))


def kubectl_command(resource: Resource, ref: ResourceRef, context: str | None, kubeconfig: str | None) -> str:
    """The kubectl command that shows the live object: ``kubectl get deployments.apps web -n shop -o yaml``."""
    head, tail = _kubectl_words(resource.kubectl_name, context, kubeconfig)
    namespace = f" -n {shlex.quote(ref.namespace)}" if ref.namespace else ""
    return f"{head} {shlex.quote(ref.name)}{namespace} {tail}"


@cache
def _kubectl_words(resource: str, context: str | None, kubeconfig: str | None) -> tuple[str, str]:
    """The command's words before and after the object's name and namespace, quoted once per resource."""
    tail = (["--context", context] if context else []) + (["--kubeconfig", kubeconfig] if kubeconfig else [])
    return shlex.join(["kubectl", "get", resource]), shlex.join([*tail, "-o", "yaml"])


def _query(opts: ClusterOptions, resource: Resource) -> tuple[list[tuple[str, Any]], str]:
    """The query parameters and Accept header of ``resource``'s list (Secrets: token ones, metadata only)."""
    if resource.kind == "Secret" and resource.group == "":
        return [("limit", opts.chunk_size), ("fieldSelector", f"type={SA_TOKEN_TYPE}")], METADATA_ONLY
    return [("limit", opts.chunk_size)], "application/json"


def _chosen(raw: dict[str, Any], resource: Resource, opts: ClusterOptions) -> bool:
    """Whether ``raw`` is in the namespaces asked for (a Namespace: is one of them), and not excluded.

    A metadata-only Secret gets the type its list selected."""
    if resource.kind == "Secret" and resource.group == "":
        raw.setdefault("type", SA_TOKEN_TYPE)
    if resource.kind == "Namespace" and resource.group == "":
        name = _name(raw)
        return name not in opts.exclude and (not opts.namespaces or name in opts.namespaces)
    return not opts.exclude or _namespace(raw) not in opts.exclude


def _unlisted(resource: Resource, why: str, display: str) -> Problem:
    return Problem("warning", UNLISTED, f"cannot list {resource.kubectl_name}: {why}; the controls that need "
                   f"{resource.kind} objects are not assessable", file=display,
                   resource=ResourceRef(resource.api_version, resource.kind, None, ""))


def _name(raw: dict[str, Any]) -> str | None:
    name = as_dict(raw.get("metadata")).get("name")
    return name if isinstance(name, str) else None


class _Progress:
    """One line on standard error while listing, on a terminal only: kinds done and objects listed."""

    def __init__(self, enabled: bool, kinds: int) -> None:
        self.enabled, self.kinds = enabled, kinds
        self.objects = self.finished = 0
        self.lock = threading.Lock()

    def add(self, kind: str, n: int) -> None:
        if self.enabled:
            with self.lock:
                self.objects += n
                self._show(kind)

    def kind_done(self) -> None:
        if self.enabled:
            with self.lock:
                self.finished += 1
                self._show("")

    def _show(self, kind: str) -> None:
        sys.stderr.write(f"\r\x1b[Kkubeharden: listed {self.objects} objects, {self.finished}/{self.kinds} kinds"
                         + (f" ({kind})" if kind else ""))
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
