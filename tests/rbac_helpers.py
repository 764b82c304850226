"""Small builders for RBAC fixtures, so each test states only the rules that matter."""

from __future__ import annotations

import textwrap

import yaml

from kubeharden.analysis.rbac import RbacModel, model_for
from kubeharden.engine.evaluator import build_inventory
from kubeharden.model.findings import Problem
from kubeharden.model.inventory import Inventory
from kubeharden.sources.files import parse_text

RBAC = "rbac.authorization.k8s.io/v1"


def role(name, rules, ns=None, kind=None, labels=None, aggregate=None):
    kind = kind or ("Role" if ns else "ClusterRole")
    meta = {"name": name, **({"namespace": ns} if ns else {}), **({"labels": labels} if labels else {})}
    obj = {"apiVersion": RBAC, "kind": kind, "metadata": meta, "rules": rules}
    if aggregate is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": aggregate}
    return obj


def rule(groups, resources, verbs, names=None):
    r = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        r["resourceNames"] = names
    return r


def binding(name, role_name, subjects, ns=None, role_kind="ClusterRole"):
    kind = "RoleBinding" if ns else "ClusterRoleBinding"
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": RBAC, "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": subjects}


def sa(name, ns):
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def user(name):
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def group(name):
    return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def service_account(name, ns, automount=None):
    obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}
    if automount is not None:
        obj["automountServiceAccountToken"] = automount
    return obj


def deployment(name, ns, account, automount=None):
    spec = {"serviceAccountName": account, "containers": [{"name": name, "image": "registry.example.com/x:1"}]}
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def to_yaml(*objects) -> str:
    return "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects)


def model(*objects, type_checked: bool = True) -> RbacModel:
    """The RBAC model of ``objects``; ``type_checked=False`` hands it objects the API server would refuse,
    to test that the model itself survives them (the scan leaves such objects out)."""
    text = to_yaml(*objects) if objects and not isinstance(objects[0], str) else textwrap.dedent(objects[0])
    if not type_checked:
        inventory = Inventory()
        for item in parse_text(text, "rbac.yaml"):
            if not isinstance(item, Problem):
                inventory.add_object(item)
        return model_for(inventory)
    inventory, problems = build_inventory(parse_text(text, "rbac.yaml"))
    assert not [p for p in problems if p.level == "error"], problems
    return model_for(inventory)


def scanned(grants):
    """The grants of the input's own bindings (the model also holds the built-in default bindings)."""
    return [g for g in grants if g.binding.origin.source != "builtin"]


def scanned_json(subjects):
    """The ``who-can -f json`` subjects granted by the input's own bindings."""
    return [s for s in subjects if not s["builtin"]]
