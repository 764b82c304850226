"""``kubeharden generate role --from-audit`` and ``generate dockerfile-user``: outputs that scan clean."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import scan

from kubeharden.cli import main
from kubeharden.generators.dockerfile import snippet
from kubeharden.generators.role import build, observe

SA = "system:serviceaccount:shop:web"


def event(n, verb, resource=None, namespace=None, name=None, code=200, user=SA, group="", sub=None,
          uri="/api", decision=None, stage="ResponseComplete"):
    e = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": str(n), "stage": stage,
         "requestURI": uri, "verb": verb, "user": {"username": user}, "responseStatus": {"code": code},
         "stageTimestamp": f"2026-11-30T10:00:{n:02d}.000000Z"}
    if resource:
        e["objectRef"] = {k: v for k, v in {"resource": resource, "namespace": namespace, "name": name,
                                             "apiGroup": group, "subresource": sub}.items() if v}
    if decision:
        e["annotations"] = {"authorization.k8s.io/decision": decision}
    return e


EVENTS = [
    event(1, "get", "configmaps", "shop", "settings", stage="RequestReceived"),
    event(1, "get", "configmaps", "shop", "settings"),
    event(2, "get", "secrets", "shop", "db"),
    event(3, "watch", "pods", "shop"),
    event(4, "create", "events", "shop"),
    event(5, "get", "pods", "shop", "web-1", sub="log"),
    event(6, "patch", "deployments", "shop", "web", group="apps"),
    event(7, "list", "nodes"),
    event(8, "list", "secrets", "kube-system", code=403, decision="forbid"),
    event(9, "get", uri="/healthz?verbose=1"),
    event(10, "list", "pods"),  # across all namespaces
    event(11, "get", "widgets", "shop", "w", group="example.com"),  # a custom resource
    event(12, "get", "secrets", "shop", "not-mine", user="system:serviceaccount:shop:other"),
    event(13, "get", "configmaps", "other", "x"),
]


def docs_of(events, **kw):
    return build(observe(events, "shop", "web"), "shop", "web", **kw)


def by_kind(docs, kind, ns=None):
    return [d for d in docs if d["kind"] == kind and (ns is None or d["metadata"].get("namespace") == ns)]


def test_grants_exactly_what_was_used_in_the_right_scope():
    docs = docs_of(EVENTS)
    role = by_kind(docs, "Role", "shop")[0]
    rules = {(r["apiGroups"][0], tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ())))
             for r in role["rules"]}
    assert rules == {
        ("", ("configmaps", "pods/log"), ("get",), ()),
        ("", ("secrets",), ("get",), ("db",)),  # Secrets are always narrowed to the names used
        ("", ("pods",), ("watch",), ()),
        ("", ("events",), ("create",), ()),
        ("apps", ("deployments",), ("patch",), ()),
        ("example.com", ("widgets",), ("get",), ()),
    }
    # a request in another namespace gets a Role there, not a ClusterRole
    assert by_kind(docs, "Role", "other")[0]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    cluster = by_kind(docs, "ClusterRole")[0]["rules"]
    assert {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["list"]} in cluster
    assert {"nonResourceURLs": ["/healthz"], "verbs": ["get"]} in cluster
    text = json.dumps(docs)
    assert "kube-system" not in text and "not-mine" not in text  # refused, and another account's
    bindings = by_kind(docs, "RoleBinding") + by_kind(docs, "ClusterRoleBinding")
    assert len(bindings) == 3
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}] for b in bindings)


def test_resource_names_for_every_resource_only_where_rbac_can_narrow_them():
    role = by_kind(docs_of(EVENTS, all_names=True), "Role", "shop")[0]
    named = {r["resources"][0]: r.get("resourceNames") for r in role["rules"]}
    assert named["configmaps"] == ["settings"] and named["deployments"] == ["web"]
    assert named["pods"] is None and named["events"] is None  # watch and create cannot be narrowed by name


def test_output_scans_clean_at_the_strict_profile(tmp_path, capsys):
    log = tmp_path / "audit.log"
    # an application that reads its settings and Secret, watches pods and reports events; writing
    # Deployments (event 6) is a risk the scan reports (KH-RBAC-005), so it is left out here
    log.write_text("".join(json.dumps(e) + "\n" for e in EVENTS if e["auditID"] not in ("6", "10")),
                   encoding="utf-8")
    out = tmp_path / "rbac.yaml"
    assert main(["generate", "role", "--from-audit", str(log), "--serviceaccount", "shop/web", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "list secrets in kube-system" in text  # the refused request is named in the header
    findings, result = scan(text, {"profile": "strict"})
    assert not [f for f in findings if f.status == "fail"], [f.message for f in findings]
    assert len(list(yaml.safe_load_all(text))) == 6


def test_risky_use_is_granted_as_used_and_the_scan_says_so():
    docs = docs_of([event(1, "list", "secrets", "shop"), event(2, "patch", "deployments", "shop", "web", group="apps")])
    findings, _ = scan(yaml.safe_dump_all(docs))
    assert {"KH-RBAC-003", "KH-RBAC-005"} <= {f.control.id for f in findings}


def test_nothing_to_grant_is_a_usage_error(tmp_path, capsys):
    log = tmp_path / "audit.log"
    log.write_text(json.dumps(event(1, "get", "pods", "shop", user="someone")) + "\n", encoding="utf-8")
    assert main(["generate", "role", "--from-audit", str(log), "--serviceaccount", "shop/web"]) == 2
    assert "nothing to grant" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "role", "--from-audit", str(log), "--serviceaccount", "web"])


# --- dockerfile-user --------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["debian", "alpine", "distroless"])
def test_dockerfile_snippet_ends_with_a_numeric_user(base):
    text = snippet(base, 10001, 10002)
    last = [line for line in text.splitlines() if line.startswith("USER ")][-1]
    uid, gid = last.removeprefix("USER ").split(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) > 0 and int(gid) > 0


def test_dockerfile_security_context_scans_clean(capsys):
    assert main(["generate", "dockerfile-user", "--base", "alpine", "--uid", "10001", "--security-context"]) == 0
    sc = yaml.safe_load(capsys.readouterr().out)["securityContext"]
    assert sc == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
           "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1.0", "securityContext": sc}]}}
    findings, _ = scan(yaml.safe_dump(pod), only=["KH-POD-001", "KH-POD-002"])
    assert not findings


def test_dockerfile_refuses_root_and_system_ids():
    with pytest.raises(SystemExit):
        main(["generate", "dockerfile-user", "--uid", "0"])
    with pytest.raises(SystemExit):
        main(["generate", "dockerfile-user", "--uid", "999"])


def test_impersonated_requests_grant_only_impersonate_to_the_service_account(tmp_path, capsys):
    # "User impersonation": the request is authorised as the impersonated user, the SA needs only impersonate
    e = event(1, "delete", "pods", "prod", "db-0")
    e["impersonatedUser"] = {"username": "jane", "groups": ["ops"]}
    sa = event(2, "get", "secrets", "shop", "x", code=403)  # forbidden as the impersonated SA
    sa["impersonatedUser"] = {"username": "system:serviceaccount:prod:deployer"}
    sa["annotations"] = {"authorization.k8s.io/decision": "forbid"}
    docs = docs_of([e, sa, event(3, "get", "configmaps", "shop", "settings")])
    everything = json.dumps(docs)
    assert "delete" not in everything and "secrets" not in everything
    cluster = by_kind(docs, "ClusterRole")[0]["rules"]
    assert {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["jane"]} in cluster
    assert {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": ["ops"]} in cluster
    prod = by_kind(docs, "Role", "prod")[0]["rules"]
    assert prod == [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"],
                     "resourceNames": ["deployer"]}]
    log = tmp_path / "audit.log"
    log.write_text("".join(json.dumps(x) + "\n" for x in [e, sa]), encoding="utf-8")
    assert main(["generate", "role", "--from-audit", str(log), "--serviceaccount", "shop/web"]) == 0
    out = capsys.readouterr().out
    assert "delete pods in prod as jane: authorised as the impersonated user" in out


def test_a_refused_impersonation_is_not_granted():
    e = event(1, "get", "pods", "prod", "db-0", code=403)
    e["impersonatedUser"] = {"username": "admin"}
    observed = observe([e], "shop", "web")
    assert not observed.allowed and {r.resource for r in observed.denied} == {"users"}


def test_dockerfile_distroless_refuses_uid_and_gid(capsys):
    assert main(["generate", "dockerfile-user", "--base", "distroless", "--uid", "20000"]) == 2
    assert "distroless" in capsys.readouterr().err
    assert main(["generate", "dockerfile-user", "--base", "distroless", "--gid", "20000"]) == 2
    assert main(["generate", "dockerfile-user", "--base", "distroless"]) == 0
    assert "USER 65532:65532" in capsys.readouterr().out
    assert main(["generate", "dockerfile-user", "--uid", "20000"]) == 0
    assert "USER 20000:20000" in capsys.readouterr().out


def test_debian_snippet_does_not_log_init():
    # Docker best practices (USER): useradd --no-log-init, a large UID otherwise fills /var/log/faillog
    assert "useradd --system --no-log-init" in snippet("debian", 20000, 20000)
