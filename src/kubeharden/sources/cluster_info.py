"""The ``ClusterInfo`` object: what the API shows about the control plane and nodes, as one object.

Built by the cluster source from the ``/version`` answer (``version.Info``: ``gitVersion``, ``major``,
``minor``, ``platform`` …, https://kubernetes.io/docs/reference/using-api/health-checks/ and the
``/version`` endpoint), the Nodes' labels, and the mirror Pods of the control-plane static Pods in
``kube-system`` (see :mod:`kubeharden.model.cluster`). Shape::

    apiVersion: kubeharden.io/v1
    kind: ClusterInfo
    metadata: {name: CONTEXT}
    cluster: {context: CONTEXT, server: URL, version: {gitVersion: v1.31.2, ...} | null}
    provider: {key: eks, name: Amazon EKS, evidence: "..."} | null
    controlPlane:                      # null when no control-plane static Pod is visible
      kube-apiserver: [{pod: kube-system/kube-apiserver-cp1, node: cp1, flags: {authorization-mode: "Node,RBAC"}}]
    scope: {namespaces: [], excluded: []}   # -n / --exclude-namespace of the listing (empty: all)

``cluster`` has the shape of a snapshot header's ``cluster`` (context, version), so a snapshot
writer can take both from it. Checks read it like any object (``checks/cluster.py``).
"""

from __future__ import annotations

from typing import Any

from kubeharden.model.commandline import last_wins, parse_flags
from kubeharden.model.cluster import INFO_API_VERSION, INFO_KIND, PROVIDERS, control_plane_component
from kubeharden.model.objects import as_dict, as_list


def flags_of(raw: dict[str, Any]) -> dict[str, str]:
    """The ``--flag=value`` arguments of a Pod's first container (command and args); a bare ``--flag`` is "true"."""
    containers = as_list(as_dict(raw.get("spec")).get("containers"))
    container = as_dict(containers[0]) if containers else {}
    words = as_list(container.get("command")) + as_list(container.get("args"))
    return {name: flag.value for name, flag in last_wins(parse_flags(words)).items()}


def provider_of(version: dict[str, Any] | None, nodes: list[dict[str, Any]]) -> dict[str, str] | None:
    """The managed-Kubernetes provider recognised from ``version`` and the Nodes' labels, or None."""
    git = str(as_dict(version).get("gitVersion") or "")
    for p in PROVIDERS:
        if p.version_marker and p.version_marker in git:
            return {"key": p.key, "name": p.name, "evidence": f"the API server's gitVersion {git}"}
        for node in nodes:
            meta = as_dict(node.get("metadata"))
            if p.node_label and p.node_label in as_dict(meta.get("labels")):
                return {"key": p.key, "name": p.name,
                        "evidence": f"Node {meta.get('name')} has the label {p.node_label}"}
    return None


def build_info(context: str | None, server: str, version: dict[str, Any] | None, nodes: list[dict[str, Any]],
               system_pods: list[dict[str, Any]], namespaces: tuple[str, ...] = (),
               excluded: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ClusterInfo mapping (shape in the module docstring) from what was listed.

    ``system_pods``: the Pods of ``kube-system``; only mirror Pods of control-plane components count.
    ``namespaces``/``excluded``: the namespaces the listing was limited to / left out (``scope``).
    """
    control_plane: dict[str, list[dict[str, Any]]] = {}
    for pod in system_pods:
        component = control_plane_component(pod)
        if component is None:
            continue
        meta = as_dict(pod.get("metadata"))
        control_plane.setdefault(component, []).append({
            "pod": f"{meta.get('namespace')}/{meta.get('name')}",
            "node": as_dict(pod.get("spec")).get("nodeName"),
            "flags": flags_of(pod)})
    return {
        "apiVersion": INFO_API_VERSION,
        "kind": INFO_KIND,
        "metadata": {"name": context or server},
        "cluster": {"context": context, "server": server, "version": version},
        "provider": provider_of(version, nodes),
        "controlPlane": control_plane or None,
        "scope": {"namespaces": list(namespaces), "excluded": list(excluded)},
    }
