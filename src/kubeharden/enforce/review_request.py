"""Is a body an AdmissionReview v1 request the API server could have sent? Cheap checks of its shape.

The API server decodes the object into typed Go structs (and validates it) before it calls a
validating webhook, and builds the AdmissionReview itself
(https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request):
``uid`` a string, ``kind`` (group, version, kind) and ``resource`` (group, version, resource) always
set, ``operation`` one of CREATE, UPDATE, DELETE, CONNECT, ``object`` the new object on CREATE and
UPDATE, ``oldObject`` the stored one on UPDATE and DELETE. A body that breaks one of these did not come
from an API server: it is refused with 400 and a message naming the field, never admitted.

The object's own field types are checked against the API's types where the object is judged (the
evaluator's type check, ``model/apitypes.py``, the one place these types live); here only the pod
structure every pod control walks is checked on every request: the pod spec a mapping and its
container lists (``model.pods.CONTAINER_LISTS``) lists of mappings, so an unjudged request (an
excluded namespace, an unchanged update) is refused as well. It reads a few dict keys per container.
"""

from __future__ import annotations

from typing import Any

from kubeharden.model.apitypes import describe
from kubeharden.model.pods import CONTAINER_LISTS, builtin_pod_path

#: AdmissionRequest.operation (admission.k8s.io/v1 Operation).
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
#: Operations whose request carries the new object (``request.object``).
WITH_OBJECT = ("CREATE", "UPDATE")
#: Optional string fields of the request.
_STRINGS = ("name", "namespace", "subResource", "requestSubResource")
#: Optional mapping fields of the request (``object``/``oldObject`` are checked per operation).
_MAPPINGS = ("requestKind", "requestResource", "userInfo", "options")


class BadReview(ValueError):
    """The body is not an AdmissionReview v1 request; the server answers 400 with this message."""


def check_request(request: Any) -> dict[str, Any]:
    """``request`` (the AdmissionReview's ``request``) when its fields have the types the API server
    sends; raises :class:`BadReview` naming the first field that does not."""
    if not isinstance(request, dict):
        raise BadReview("request is missing" if request is None else f"request is {describe(request)}, expected "
                        "a mapping")
    uid = request.get("uid")
    if uid is None or uid == "":
        raise BadReview("request.uid is missing")
    if not isinstance(uid, str):
        raise BadReview(f"request.uid must be a string, not {describe(uid)}")
    _group_version(request, "kind", "kind")
    _group_version(request, "resource", "resource")
    operation = request.get("operation")
    if operation not in OPERATIONS:
        raise BadReview(f"request.operation must be one of {', '.join(OPERATIONS)}, not {describe(operation)}")
    for key in _STRINGS:
        if request.get(key) is not None and not isinstance(request[key], str):
            raise BadReview(f"request.{key} must be a string, not {describe(request[key])}")
    for key in _MAPPINGS:
        if request.get(key) is not None and not isinstance(request[key], dict):
            raise BadReview(f"request.{key} must be a mapping, not {describe(request[key])}")
    if request.get("dryRun") is not None and not isinstance(request["dryRun"], bool):
        raise BadReview(f"request.dryRun must be a boolean, not {describe(request['dryRun'])}")
    obj, old = request.get("object"), request.get("oldObject")
    if operation in WITH_OBJECT and not isinstance(obj, dict):
        raise BadReview(f"request.object must be a mapping on {operation}, not {describe(obj)}")
    if obj is not None and not isinstance(obj, dict):
        raise BadReview(f"request.object must be a mapping, not {describe(obj)}")
    if old is not None and not isinstance(old, dict):
        raise BadReview(f"request.oldObject must be a mapping, not {describe(old)}")
    if obj is not None:  # (oldObject is what the API server stored: only compared, or judged as written)
        if operation in WITH_OBJECT:  # (a CONNECT's object is its options, e.g. PodExecOptions)
            _same_kind(request, obj)
        check_pod_structure(obj, "request.object")
    return request


def _group_version(request: dict[str, Any], key: str, name_field: str) -> None:
    value = request.get(key)
    if value is None:
        raise BadReview(f"request.{key} is missing")
    if not isinstance(value, dict):
        raise BadReview(f"request.{key} must be a mapping ({{group, version, {name_field}}}), not {describe(value)}")
    # metav1.GroupVersionKind / GroupVersionResource: every field is serialised, group "" for the core group
    for field in ("group", "version", name_field):
        if field not in value:
            raise BadReview(f"request.{key}.{field} is missing")
        if not isinstance(value[field], str):
            raise BadReview(f"request.{key}.{field} must be a string, not {describe(value[field])}")
    for field in ("version", name_field):
        if not value[field]:
            raise BadReview(f"request.{key}.{field} is missing")


def _same_kind(request: dict[str, Any], obj: dict[str, Any]) -> None:
    """The object is of the kind ``request.kind`` says: the API server sends the object in the group, version
    and kind it names (after converting it to the version the webhook registered for)."""
    gvk = request["kind"]
    api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
    if obj.get("kind") != gvk["kind"] or obj.get("apiVersion") != api_version:
        raise BadReview(f"request.object is {_describe_kind(obj)}, but request.kind says {api_version} {gvk['kind']}")


def _describe_kind(obj: dict[str, Any]) -> str:
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    return f"{str(api_version)[:60]} {str(kind)[:60]}" if kind and api_version else "without apiVersion and kind"


def check_pod_structure(obj: dict[str, Any], where: str) -> None:
    """Raises BadReview when ``obj``'s metadata, or the pod of a built-in pod kind (its pod template, pod spec,
    pod securityContext and container lists) is not made of the API's mappings and lists of mappings
    (Kubernetes API reference, PodTemplateSpec and PodSpec: ``containers``, ``initContainers`` and
    ``ephemeralContainers`` are lists of Container). A custom resource's schema is its CRD's, unknown here:
    only its metadata is checked."""
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise BadReview(f"{where}.metadata must be a mapping, not {describe(meta)}")
    path = builtin_pod_path(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
    if path is None:
        return
    pod: Any = obj
    for step in path:
        where += f".{step}"
        pod = pod.get(step)
        if pod is None:  # a workload without a template: nothing to walk (the API server requires one)
            return
        if not isinstance(pod, dict):
            raise BadReview(f"{where} must be a mapping, not {describe(pod)}")
    for key in ("metadata", "spec"):
        if pod.get(key) is not None and not isinstance(pod[key], dict):
            raise BadReview(f"{where}.{key} must be a mapping, not {describe(pod[key])}")
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    for _, key in CONTAINER_LISTS:
        items = spec.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise BadReview(f"{where}.spec.{key} must be a list of containers, not {describe(items)}")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise BadReview(f"{where}.spec.{key}[{i}] must be a container (a mapping), not {describe(item)}")
    if spec.get("securityContext") is not None and not isinstance(spec["securityContext"], dict):
        raise BadReview(f"{where}.spec.securityContext must be a mapping, not {describe(spec['securityContext'])}")
