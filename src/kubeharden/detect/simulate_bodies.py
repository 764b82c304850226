"""Request and response bodies for simulated audit events, as a real API server records them.

:func:`record_bodies` takes an event of :func:`kubeharden.detect.simulate.traffic` and adds what an
API server running the example policy of the Kubernetes "Auditing" documentation would log:

* writes (create, update, patch) of pods, workloads, leases, nodes/status and bindings at level
  ``RequestResponse``: ``requestObject`` is what the client sent (a kubelet's status patch, a
  controller's whole Pod, a CI tool's partial patch) and ``responseObject`` the stored object, with
  the server-set metadata (uid, resourceVersion, creationTimestamp, managedFields in ``FieldsV1``
  form) and status;
* ``get`` of a single object at ``RequestResponse`` (the object in the response);
* list and watch, Secrets and ConfigMaps, and everything else at ``Metadata`` (no bodies), as the
  example policy does for Secrets and as lists are usually configured (a list's response is
  every object of the collection).

Only the benchmark and tests use it; the detection code never depends on it.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

_IMAGES = [f"registry.example.com/{team}/{app}" for team in ("shop", "payments", "search", "platform")
           for app in ("api", "worker", "web", "cache", "proxy", "agent", "exporter")]


def record_bodies(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Add the bodies the example audit policy would record to ``event`` (changed in place, returned)."""
    ref: Any = event.get("objectRef") or {}
    verb, resource, sub = event.get("verb"), ref.get("resource"), ref.get("subresource")
    name, ns = ref.get("name"), ref.get("namespace")
    at = event.get("stageTimestamp", "2026-03-02T09:00:00.000000Z")[:19] + "Z"
    user = (event.get("user") or {}).get("username", "")
    manager = (event.get("userAgent") or "client").split("/", 1)[0]
    request: Any = None
    response: Any = None
    if resource == "leases" and verb == "update":
        request = _lease(name, ns, at, rng)
        response = _stored(_lease(name, ns, at, rng), manager, at, rng)
    elif resource == "nodes" and sub == "status":
        request = event.get("requestObject") or {"status": {}}
        request = {"status": {**request.get("status", {}), "conditions": _node_conditions(at)}}
        response = _stored(_node(name, at, rng), manager, at, rng)
    elif resource == "pods" and sub == "binding":
        request = {"kind": "Binding", "apiVersion": "v1",
                   "metadata": {"name": name, "namespace": ns, "uid": _uid(rng)},
                   "target": {"kind": "Node", "name": f"node-{rng.randint(1, 12)}"}}
        response = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    elif resource == "pods" and not sub and verb in ("create", "update"):
        request = event.get("requestObject") or _pod(name or "web", ns, rng)
        if verb == "create" and user.endswith("replicaset-controller"):
            request = _owned_pod(request, rng)
        response = _stored(_pod_defaults(request, rng), manager, at, rng)
    elif resource == "deployments" and verb in ("patch", "update"):
        request = event.get("requestObject") or {"spec": {"replicas": rng.randint(2, 6)}}
        response = _stored(_deployment(name or "web", ns, request, rng), manager, at, rng)
    elif resource in ("replicasets", "endpointslices") and verb == "update":
        request = _generic(resource, name, ns, rng)
        response = _stored(_generic(resource, name, ns, rng), manager, at, rng)
    elif verb == "get" and name and resource in ("pods", "deployments", "services", "replicasets", "endpointslices",
                                                  "events"):
        response = _stored(_generic(resource, name, ns, rng), manager, at, rng)
    if request is not None:
        event["requestObject"] = request
    if response is not None:
        event["responseObject"] = response
    if request is not None or response is not None:
        event["level"] = "RequestResponse"
    return event


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _fields_v1(value: Any, depth: int = 0) -> Any:
    """The managedFields ``fieldsV1`` shape of ``value``: ``f:`` keys, ``k:`` keys for named list items."""
    if depth > 8:
        return {}
    if isinstance(value, dict):
        return {f"f:{k}": _fields_v1(v, depth + 1) for k, v in value.items() if k not in ("status",)}
    if isinstance(value, list) and value and all(isinstance(x, dict) and "name" in x for x in value):
        return {f'k:{{"name":"{x["name"]}"}}': {".": {}, **_fields_v1(x, depth + 1)} for x in value}
    return {}


def _stored(obj: dict[str, Any], manager: str, at: str, rng: random.Random) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    meta.setdefault("uid", _uid(rng))
    meta["resourceVersion"] = str(rng.randint(10_000_000, 99_999_999))
    meta.setdefault("creationTimestamp", "2026-02-20T08:14:03Z")
    meta["managedFields"] = [
        {"manager": manager, "operation": "Update", "apiVersion": obj.get("apiVersion", "v1"), "time": at,
         "fieldsType": "FieldsV1", "fieldsV1": _fields_v1({k: v for k, v in obj.items() if k in ("metadata", "spec")})},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": obj.get("apiVersion", "v1"),
         "time": at, "fieldsType": "FieldsV1", "fieldsV1": {"f:status": _fields_v1(obj.get("status", {}))},
         "subresource": "status"},
    ]
    return obj


def _lease(name: str, ns: str, at: str, rng: random.Random) -> dict[str, Any]:
    return {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "uid": _uid(rng), "resourceVersion": str(rng.randint(1, 10**8)),
                         "creationTimestamp": "2026-02-20T08:14:03Z",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": _uid(rng)}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": at.replace("Z", ".000000Z")}}


def _node_conditions(at: str) -> list[dict[str, Any]]:
    out = []
    for kind, status, reason in (("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                                 ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                                 ("PIDPressure", "False", "KubeletHasSufficientPID"),
                                 ("Ready", "True", "KubeletReady")):
        out.append({"type": kind, "status": status, "lastHeartbeatTime": at,
                    "lastTransitionTime": "2026-02-20T08:14:03Z",
                    "reason": reason, "message": f"kubelet {reason[7:]}"})
    return out


def _node(name: str, at: str, rng: random.Random) -> dict[str, Any]:
    images = [{"names": [f"{img}@sha256:{rng.getrandbits(256):064x}", f"{img}:1.{rng.randint(0, 40)}"],
               "sizeBytes": rng.randint(5_000_000, 900_000_000)} for img in rng.sample(_IMAGES, 20)]
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": "amd64",
                                                  "node.kubernetes.io/instance-type": "m6i.xlarge",
                                                  "topology.kubernetes.io/zone": "eu-west-1a"},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"podCIDR": "10.244.3.0/24", "podCIDRs": ["10.244.3.0/24"], "providerID": f"aws:///eu-west-1a/i-{rng.getrandbits(64):016x}"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.4"},
                                     {"type": "Hostname", "address": name}],
                       "allocatable": {"cpu": "3920m", "ephemeral-storage": "95491281146", "memory": "15136852Ki",
                                       "pods": "58"},
                       "capacity": {"cpu": "4", "ephemeral-storage": "104845292Ki", "memory": "16009300Ki",
                                    "pods": "58"},
                       "conditions": _node_conditions(at),
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "images": images,
                       "nodeInfo": {"architecture": "amd64", "bootID": _uid(rng), "containerRuntimeVersion": "containerd://1.7.11",
                                    "kernelVersion": "6.1.72", "kubeProxyVersion": "v1.30.2",
                                    "kubeletVersion": "v1.30.2",
                                    "machineID": f"{rng.getrandbits(128):032x}", "operatingSystem": "linux",
                                    "osImage": "Amazon Linux 2023", "systemUUID": _uid(rng)}}}


def _pod(name: str, ns: str, rng: random.Random) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": rng.choice(_IMAGES) + ":1.4"}]}}


def _owned_pod(pod: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    meta = dict(pod.get("metadata") or {})
    meta.update(generateName="web-7c9d8f6b5d-", labels={"app": "web", "pod-template-hash": "7c9d8f6b5d"},
                ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7c9d8f6b5d",
                                  "uid": _uid(rng), "controller": True, "blockOwnerDeletion": True}])
    spec = dict(pod.get("spec") or {})
    spec["containers"] = [{**c, "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                           "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                           "env": [{"name": "LOG_LEVEL", "value": "info"},
                                   {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                   "fieldPath": "metadata.name"}}}],
                           "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
                                              "periodSeconds": 10, "timeoutSeconds": 1}}
                          for c in spec.get("containers", [])]
    return {**pod, "metadata": meta, "spec": spec}


def _pod_defaults(pod: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    spec = dict(pod.get("spec") or {})
    spec.update(dnsPolicy="ClusterFirst", enableServiceLinks=True, preemptionPolicy="PreemptLowerPriority",
                priority=0, restartPolicy="Always", schedulerName="default-scheduler", securityContext={},
                serviceAccount="default", serviceAccountName="default", terminationGracePeriodSeconds=30,
                tolerations=[{"effect": "NoExecute", "key": f"node.kubernetes.io/{k}", "operator": "Exists",
                              "tolerationSeconds": 300} for k in ("not-ready", "unreachable")],
                volumes=[{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                                "path": "namespace"}]}}]}}])
    spec["containers"] = [{**c, "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                           "terminationMessagePolicy": "File",
                           "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                             "name": "kube-api-access-x7k2p", "readOnly": True}]}
                          for c in spec.get("containers", []) if isinstance(c, dict)]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": dict(pod.get("metadata") or {}), "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Burstable"}}


def _deployment(name: str, ns: str, request: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    template = ((request.get("spec") or {}).get("template") or {}) if isinstance(request, dict) else {}
    containers = ((template.get("spec") or {}).get("containers")
                  or [{"name": "web", "image": rng.choice(_IMAGES) + ":1.4"}])
    return {"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": ns, "generation": rng.randint(2, 300), "labels": {"app": name},
                         "annotations": {"deployment.kubernetes.io/revision": str(rng.randint(2, 80))}},
            "spec": {"replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                     "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{**c, "imagePullPolicy": "IfNotPresent",
                                                           "terminationMessagePath": "/dev/termination-log",
                                                           "terminationMessagePolicy": "File"} for c in containers
                                                          if isinstance(c, dict)],
                                           "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                                           "schedulerName": "default-scheduler", "securityContext": {},
                                           "terminationGracePeriodSeconds": 30}}},
            "status": {"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                       "updatedReplicas": 3,
                       "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                      {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}}


def _generic(resource: str, name: str | None, ns: str | None, rng: random.Random) -> dict[str, Any]:
    kind = {"pods": "Pod", "deployments": "Deployment", "services": "Service", "replicasets": "ReplicaSet",
            "endpointslices": "EndpointSlice", "events": "Event"}.get(resource, "Object")
    name = name or "obj"
    if kind == "Pod":
        return _pod_defaults(_pod(name, ns or "default", rng), rng)
    if kind in ("Deployment", "ReplicaSet"):
        obj = _deployment(name, ns or "default", {}, rng)
        obj["kind"] = kind
        return obj
    return {"kind": kind, "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                     "selector": {"app": name}, "type": "ClusterIP",
                     "clusterIP": f"10.96.{rng.randint(0, 255)}.{rng.randint(1, 254)}"},
            "endpoints": [{"addresses": [f"10.244.{rng.randint(0, 9)}.{rng.randint(2, 250)}"],
                           "conditions": {"ready": True}} for _ in range(3)]}
