#!/usr/bin/env python3
"""Build src/kubeharden/model/api_types.json: the field types of the built-in kinds kubeharden reads.

The API server decodes JSON into typed Go structs, so a value of the wrong type (a quoted
"true" for a boolean, "0" for an integer, a string for a list) makes it refuse the object.
kubeharden reports such objects as invalid instead of judging them, using this table.

Source: the Kubernetes OpenAPI definitions as shipped (offline) by the PyPI package
``kubernetes-validate``. Refresh with a newer Kubernetes version:

    python3 -m venv /tmp/kv && /tmp/kv/bin/pip install kubernetes-validate
    /tmp/kv/bin/python scripts/build_api_types.py [--version 1.37.0]

Type expressions in the table: ``string``, ``integer`` (int64), ``number``, ``boolean``,
``int32``, ``int-or-string``, ``quantity`` (string or number), ``any``, ``[T]`` (list of T),
``{T}`` (map of string to T), or the name of another definition in ``types``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

KINDS = {
    # group: kinds kubeharden reads in full (pod-bearing kinds, and those its analyses index)
    "": ["Pod", "ReplicationController", "PodTemplate", "Namespace", "ServiceAccount", "Secret", "ConfigMap",
         "Service", "LimitRange", "ResourceQuota", "Node"],
    "apps": ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"],
    "batch": ["Job", "CronJob"],
    "rbac.authorization.k8s.io": ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"],
    "networking.k8s.io": ["NetworkPolicy", "Ingress"],
    "node.k8s.io": ["RuntimeClass"],
    "admissionregistration.k8s.io": ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"],
}
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "int-or-string",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "quantity",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "string",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "string",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "any",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "any",
}
PREFIX = "io.k8s."


def short(name: str) -> str:
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def type_of(schema: dict, defs: dict, todo: list[str]) -> str:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name in SPECIAL:
            return SPECIAL[name]
        target = defs[name]
        if "properties" not in target and "type" in target:  # an alias of a primitive
            return type_of(target, defs, todo)
        todo.append(name)
        return short(name)
    if "oneOf" in schema or "anyOf" in schema:
        return "any"
    kinds = schema.get("type")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k not in (None, "null")]
    if not kinds:
        return "any"
    kind = kinds[0]
    if kind == "integer":
        return "int32" if schema.get("format") == "int32" else "integer"  # integer: int64
    if kind == "array":
        return f"[{type_of(schema.get('items', {}), defs, todo)}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return "{" + type_of(extra, defs, todo) + "}"
        if "properties" in schema:
            return "any"
        return "any"
    return kind


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="1.37.0")
    parser.add_argument("-o", "--output", default=str(Path(__file__).resolve().parents[1] /
                                                      "src/kubeharden/model/api_types.json"))
    args = parser.parse_args()
    import kubernetes_validate
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{args.version}-local"
    defs = json.loads((base / "_definitions.json").read_text())["$defs"]
    by_gvk: dict[tuple[str, str], str] = {}
    for name, schema in defs.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if gvk["kind"] in KINDS.get(gvk["group"], ()):
                by_gvk[(gvk["group"], gvk["kind"])] = name
    types: dict[str, dict[str, str]] = {}
    todo = sorted(set(by_gvk.values()))
    while todo:
        name = todo.pop()
        if short(name) in types:
            continue
        fields = {}
        for field, schema in sorted(defs[name].get("properties", {}).items()):
            fields[field] = type_of(schema, defs, todo)
        types[short(name)] = fields
    table = {
        "source": f"Kubernetes {args.version} OpenAPI definitions (kubernetes-validate "
                  f"{getattr(kubernetes_validate, '__version__', '?')}); built by scripts/build_api_types.py",
        "kinds": {f"{g}/{k}" if g else k: short(n) for (g, k), n in sorted(by_gvk.items())},
        "types": dict(sorted(types.items())),
    }
    tmp = args.output + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(table, fh, indent=0, sort_keys=False, separators=(",", ":"))
        fh.write("\n")
    os.replace(tmp, args.output)
    print(f"{len(table['kinds'])} kinds, {len(types)} types -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
