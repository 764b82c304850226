"""A TEST DOUBLE of the Kubernetes API server, for the cluster source's tests and benchmark only.

It is not an API server: it serves, over HTTPS on 127.0.0.1, the read-only part of the API that
``kubectl get`` and kubeharden's cluster source use, shaped as the Kubernetes API reference and
"Kubernetes API Concepts" (https://kubernetes.io/docs/reference/using-api/api-concepts/) describe:

- ``/version`` (``version.Info``), ``/api`` (``APIVersions``), ``/api/v1`` and ``/apis/G/V``
  (``APIResourceList``), ``/apis`` (``APIGroupList`` with ``preferredVersion``);
- collections across all namespaces and per namespace, and single objects; list answers are
  ``<Kind>List`` with items lacking ``apiVersion``/``kind``, as the API server sends them;
- paging: ``limit`` and an opaque ``continue`` token, ``metadata.remainingItemCount``; an
  unknown token answers 410 Gone (``Expired``), as an expired one does;
- ``fieldSelector`` on ``metadata.name``, ``metadata.namespace`` and a Secret's ``type``;
- ``PartialObjectMetadataList`` when the Accept header asks for it;
- bearer-token authentication (401 without it), 403 ``Forbidden`` for resources listed as
  forbidden and 404 ``NotFound`` for unknown paths, both as ``Status`` objects.

``ClusterDouble(objects).start(folder)`` writes a CA, a server certificate and a kubeconfig there.
"""

from __future__ import annotations

import base64
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

from tests.pki import make_pki

HERE = Path(__file__).parent
TOKEN = "double-token-for-tests"
#: (group, version, resource, kind, namespaced): the resources this double serves.
RESOURCES = [
    ("", "v1", "namespaces", "Namespace", False), ("", "v1", "nodes", "Node", False),
    ("", "v1", "pods", "Pod", True), ("", "v1", "services", "Service", True),
    ("", "v1", "serviceaccounts", "ServiceAccount", True), ("", "v1", "secrets", "Secret", True),
    ("", "v1", "configmaps", "ConfigMap", True), ("", "v1", "limitranges", "LimitRange", True),
    ("", "v1", "resourcequotas", "ResourceQuota", True), ("", "v1", "podtemplates", "PodTemplate", True),
    ("", "v1", "replicationcontrollers", "ReplicationController", True),
    ("apps", "v1", "deployments", "Deployment", True), ("apps", "v1", "replicasets", "ReplicaSet", True),
    ("apps", "v1", "statefulsets", "StatefulSet", True), ("apps", "v1", "daemonsets", "DaemonSet", True),
    ("batch", "v1", "jobs", "Job", True), ("batch", "v1", "cronjobs", "CronJob", True),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
    ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
    ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", False),
    ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding",
     False),
    ("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False),
]
#: ``kubectl api-resources`` SHORTNAMES of the resources above.
SHORT_NAMES = {"namespaces": ["ns"], "nodes": ["no"], "pods": ["po"], "services": ["svc"], "serviceaccounts": ["sa"],
               "configmaps": ["cm"], "limitranges": ["limits"], "resourcequotas": ["quota"],
               "replicationcontrollers": ["rc"], "deployments": ["deploy"], "replicasets": ["rs"],
               "statefulsets": ["sts"], "daemonsets": ["ds"], "cronjobs": ["cj"], "networkpolicies": ["netpol"],
               "ingresses": ["ing"]}
VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.2", "gitCommit": "5864a4677267e6adeae276ad85882a8714d69d9d",
           "gitTreeState": "clean", "buildDate": "2024-10-22T20:28:14Z", "goVersion": "go1.22.8",
           "compiler": "gc", "platform": "linux/amd64"}


def small_cluster() -> list[dict[str, Any]]:
    """The objects of ``cluster.yaml``: a small cluster written from the API reference."""
    return [d for d in yaml.safe_load_all((HERE / "cluster.yaml").read_text()) if d]


@dataclass
class ClusterDouble:
    objects: list[dict[str, Any]]
    #: resources (plural names) answered with 403 Forbidden
    forbidden: set[str] = field(default_factory=set)
    #: resources left out of discovery although the objects list has some (a kind the cluster lacks)
    absent: set[str] = field(default_factory=set)
    version: dict[str, Any] = field(default_factory=lambda: dict(VERSION))
    #: resources discovery advertises but whose lists answer 404 (an aggregated API or CRD going away)
    not_found: set[str] = field(default_factory=set)
    #: resources answered with a body that is not a list (a broken proxy or aggregated API)
    broken: set[str] = field(default_factory=set)
    #: resources whose first ``continue`` request answers 410 Expired, as a token the server compacted away
    expire_once: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    kubeconfig: str = ""
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._by_resource: dict[str, list[dict[str, Any]]] = {r[2]: [] for r in RESOURCES}
        kinds = {(r[0], r[3]): r[2] for r in RESOURCES}
        for n, obj in enumerate(self.objects):
            meta = obj.setdefault("metadata", {})  # what the API server sets on every object it stores
            meta.setdefault("creationTimestamp", "2024-11-04T09:00:00Z")
            meta.setdefault("resourceVersion", str(1000 + n))
            meta.setdefault("uid", f"00000000-0000-4000-8000-{n:012d}")
            group = obj["apiVersion"].rpartition("/")[0]
            self._by_resource[kinds[(group, obj["kind"])]].append(obj)
        for items in self._by_resource.values():
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        self._encoded: dict[str, list[bytes]] = {}

    # -- life cycle ------------------------------------------------------------------------

    def start(self, folder: Path, context: str = "double") -> ClusterDouble:
        pki = make_pki(folder)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pki["server"], pki["server_key"])
        double = self

        class Handler(_Handler):
            cluster = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        ca = base64.b64encode(Path(pki["ca"]).read_bytes()).decode()
        config = {"apiVersion": "v1", "kind": "Config", "current-context": context,
                  "clusters": [{"name": "double", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                              "certificate-authority-data": ca}}],
                  "users": [{"name": "scanner", "user": {"token": TOKEN}}],
                  "contexts": [{"name": context, "context": {"cluster": "double", "user": "scanner"}}]}
        path = folder / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        self.kubeconfig = str(path)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- answers ---------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]], accept: str, auth: str) -> tuple[int, Any]:
        self.requests.append(path + ("?" + "&".join(f"{k}={v[0]}" for k, v in sorted(query.items())) if query else ""))
        if auth != f"Bearer {TOKEN}":
            return 401, _status(401, "Unauthorized", "Unauthorized")
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return 200, self.version
        if parts == ["api"]:
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if parts == ["apis"]:
            return 200, self._groups()
        if parts[:1] == ["api"] and len(parts) >= 2:
            return self._resource_path("", parts[1], parts[2:], query, accept)
        if parts[:1] == ["apis"] and len(parts) >= 3:
            return self._resource_path(parts[1], parts[2], parts[3:], query, accept)
        return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})")

    def _served(self) -> list[tuple[str, str, str, str, bool]]:
        return [r for r in RESOURCES if r[2] not in self.absent]

    def _groups(self) -> dict[str, Any]:
        groups: dict[str, str] = {}
        for group, version, *_ in self._served():
            if group:
                groups.setdefault(group, version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups.items()]}

    def _resource_path(self, group: str, version: str, rest: list[str], query: dict[str, list[str]],
                       accept: str) -> tuple[int, Any]:
        served = [r for r in self._served() if r[0] == group and r[1] == version]
        if not served:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        gv = f"{group}/{version}" if group else version
        if not rest:
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
                {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                 **({"shortNames": SHORT_NAMES[name]} if name in SHORT_NAMES else {})}
                for _g, _v, name, kind, namespaced in served]}
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        match = next((r for r in served if r[2] == rest[0]), None)
        if match is None or len(rest) > 2:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        resource, kind = match[2], match[3]
        if resource in self.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            verb = "get" if len(rest) == 2 else "list"
            return 403, _status(403, "Forbidden", f'{resource}{"." + group if group else ""} is forbidden: User '
                                f'"system:serviceaccount:kubeharden:scanner" cannot {verb} resource "{resource}" in '
                                f'API group "{group}" {scope}', {"kind": resource, "group": group})
        if resource in self.not_found:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        if resource in self.broken:
            return 200, ["not", "a", "list"]
        items = [o for o in self._by_resource[resource] if namespace is None or o["metadata"].get("namespace") == namespace]
        if len(rest) == 2:
            found = next((o for o in items if o["metadata"]["name"] == rest[1]), None)
            if found is None:
                return 404, _status(404, "NotFound", f'{resource} "{rest[1]}" not found', {"name": rest[1], "kind": resource})
            return 200, found
        items = _selected(items, query.get("fieldSelector", [""])[0])
        return self._page(gv, kind, resource, items, query, accept)

    def _page(self, gv: str, kind: str, resource: str, items: list[dict[str, Any]], query: dict[str, list[str]],
              accept: str) -> tuple[int, Any]:
        limit = int(query.get("limit", ["0"])[0] or 0)
        start = 0
        if "continue" in query and resource in self.expire_once:
            self.expire_once.discard(resource)
            return 410, _status(410, "Expired", "The provided continue parameter is too old to display a "
                                "consistent list result. You can start a new list without the continue parameter.")
        if "continue" in query:
            try:
                start = int(base64.urlsafe_b64decode(query["continue"][0]).decode())
            except ValueError:
                return 410, _status(410, "Expired", "The provided continue parameter is too old to display a "
                                    "consistent list result. You can start a new list without the continue parameter.")
        end = len(items) if limit <= 0 else min(len(items), start + limit)
        meta: dict[str, Any] = {"resourceVersion": "4242"}
        if end < len(items):
            meta["continue"] = base64.urlsafe_b64encode(str(end).encode()).decode()
            meta["remainingItemCount"] = len(items) - end
        page = [_without_type(o) for o in items[start:end]]
        if "as=PartialObjectMetadataList" in accept:
            return 200, {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                         "items": [{"metadata": o["metadata"]} for o in page]}
        return 200, {"kind": f"{kind}List", "apiVersion": gv, "metadata": meta, "items": page}


def _without_type(obj: dict[str, Any]) -> dict[str, Any]:
    """An item of a list as the API server sends it: without apiVersion and kind."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def _selected(items: list[dict[str, Any]], selector: str) -> list[dict[str, Any]]:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        negate = key.endswith("!")
        key = key.rstrip("!")

        def field_of(o: dict[str, Any], key: str = key) -> Any:
            return o.get("type") if key == "type" else o["metadata"].get(key.removeprefix("metadata."))

        items = [o for o in items if (field_of(o) == value) != negate]
    return items


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
           "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out


class _Handler(BaseHTTPRequestHandler):
    cluster: ClusterDouble
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        status, body = self.cluster.answer(url.path, parse_qs(url.query), self.headers.get("Accept", ""),
                                           self.headers.get("Authorization", ""))
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass
