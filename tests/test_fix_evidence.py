"""Safety by evidence (docs/fix.md): a fix is safe exactly where the input shows it cannot break the workload.

Each case is a manifest written from the Kubernetes API reference (SecurityContext, PodSecurityContext,
RBAC); the verdict and its ``because`` are read from the finding, which `kubeharden fix` and the mutating
webhook both act on.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap

import pytest
from conftest import scan

from kubeharden.catalogue.loader import CatalogueError, _parse_fix
from kubeharden.config import ConfigError, parse_config
from kubeharden.enforce.admission import AdmissionSettings, Reviewer
from kubeharden.model.controls import FIX_EVIDENCE


def pod(container_sc: dict | None = None, pod_sc: dict | None = None, **container) -> str:
    spec: dict = {"containers": [{"name": "web", "image": "registry.example.com/web:1.0", **container}]}
    if container_sc is not None:
        spec["containers"][0]["securityContext"] = container_sc
    if pod_sc is not None:
        spec["securityContext"] = pod_sc
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
                       "spec": spec})


def fix_of(text: str, control: str, config: dict | None = None):
    findings, _ = scan(text, config or {}, only=[control])
    fixes = [f.fix for f in findings if f.status == "fail" and f.fix is not None]
    assert len(fixes) == 1, [f.message for f in findings]
    return fixes[0]


# -- allowPrivilegeEscalation: false (KH-POD-011) and capabilities.drop: [ALL] (KH-POD-012) -----------

NON_ROOT = [
    ({"runAsNonRoot": True}, None, "runAsNonRoot: true on the container"),
    (None, {"runAsNonRoot": True}, "runAsNonRoot: true on the pod"),
    ({"runAsUser": 10001}, None, "UID 10001 (runAsUser on the container)"),
    (None, {"runAsUser": 1000}, "UID 1000 (runAsUser on the pod)"),
    ({"runAsUser": 1000}, {"runAsUser": 0}, "UID 1000 (runAsUser on the container)"),  # the container's wins
]


@pytest.mark.parametrize("control", ["KH-POD-011", "KH-POD-012"])
@pytest.mark.parametrize(("container_sc", "pod_sc", "evidence"), NON_ROOT)
def test_non_root_container_makes_the_fix_safe_and_says_why(control, container_sc, pod_sc, evidence):
    fix = fix_of(pod(container_sc, pod_sc), control)
    assert fix.safe is True
    assert fix.because.startswith("safe: ") and evidence in fix.because


ROOT_OR_UNKNOWN = [
    (None, None, "nothing shows it runs as a non-root user"),
    ({"runAsNonRoot": False}, None, "nothing shows it runs as a non-root user"),
    ({"runAsUser": 0}, {"runAsNonRoot": True}, "it runs as root (runAsUser: 0 on the container)"),
    (None, {"runAsUser": 0, "runAsNonRoot": True}, "it runs as root (runAsUser: 0 on the pod)"),
    ({"runAsUser": 0}, {"runAsUser": 1000}, "it runs as root (runAsUser: 0 on the container)"),
    ({"runAsUser": "1000"}, None, "runAsUser is '1000', not a UID"),
]


@pytest.mark.parametrize("control", ["KH-POD-011", "KH-POD-012"])
@pytest.mark.parametrize(("container_sc", "pod_sc", "missing"), ROOT_OR_UNKNOWN)
def test_root_or_unknown_user_keeps_the_fix_unsafe_with_the_missing_evidence(control, container_sc, pod_sc, missing):
    findings, _ = scan(pod(container_sc, pod_sc), {}, only=[control])
    fixes = [f.fix for f in findings if f.fix is not None]
    for fix in fixes:
        assert fix.safe is False and fix.because.startswith("not safe: ") and missing in fix.because
    assert fixes or control == "KH-POD-011"  # a string runAsUser is refused by the API: no escalation finding fix


def test_privilege_escalation_fix_is_unsafe_beside_an_added_sys_admin_in_any_spelling():
    for spelling in ("SYS_ADMIN", "cap_sys_admin", "CAP_SYS_ADMIN"):
        findings, _ = scan(pod({"runAsNonRoot": True, "capabilities": {"add": [spelling]}}), {},
                           only=["KH-POD-011"])
        # the API server refuses allowPrivilegeEscalation: false here, so the finding carries no fix at all
        assert findings and all(f.fix is None for f in findings)


def test_weigh_refuses_privileged_and_sys_admin_itself():
    from kubeharden.checks.fix_evidence import non_root_unprivileged
    from kubeharden.model.pods import pod_view
    from kubeharden.sources.files import parse_text

    for sc, why in (({"runAsNonRoot": True, "privileged": True}, "privileged"),
                    ({"runAsNonRoot": True, "capabilities": {"add": ["cap_sys_admin"]}}, "CAP_SYS_ADMIN")):
        obj = next(o for o in parse_text(pod(sc), "p.yaml") if hasattr(o, "raw"))
        view = pod_view(obj)
        ok, because = non_root_unprivileged(view.containers[0])
        assert ok is False and why in because


def test_drop_all_keeps_the_explicit_add_and_the_rescan_is_clean(tmp_path):
    from kubeharden.fix.session import fix_rounds

    path = tmp_path / "pod.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: web, namespace: shop}
        spec:
          securityContext: {runAsNonRoot: true}   # the evidence
          containers:
            - name: web
              image: registry.example.com/web:1.0
              securityContext:
                capabilities: {add: [NET_BIND_SERVICE]}
        """), encoding="utf-8")
    session = run_fix(path, ["KH-POD-011", "KH-POD-012"], fix_rounds)
    text = session.current[str(path)]
    assert "add: [NET_BIND_SERVICE]" in text and "drop:" in text
    # an added capability reaches a non-root process only through a file capability on its binary, which
    # no_new_privs ignores: allowPrivilegeEscalation: false would take NET_BIND_SERVICE away, so it is not applied
    assert "allowPrivilegeEscalation" not in text
    assert "# the evidence" in text
    findings, _ = scan(text, {}, only=["KH-POD-011", "KH-POD-012"])
    assert [f.control.id for f in findings if f.status == "fail"] == ["KH-POD-011"]


# -- seccomp stays unsafe; imagePullPolicy: Always is safe only over the API server's default -----------

def test_seccomp_fix_stays_unsafe_even_for_a_non_root_container_and_says_why():
    fix = fix_of(pod({"runAsNonRoot": True}), "KH-POD-016")
    assert fix.safe is False and "--seccomp-default" in fix.because and "keyctl" in fix.because


@pytest.mark.parametrize("written", [{}, {"imagePullPolicy": None}, {"imagePullPolicy": ""},
                                     {"imagePullPolicy": "IfNotPresent"}, {"imagePullPolicy": "Never"}])
def test_pull_policy_fix_is_never_safe_and_says_what_may_break(written):
    # set or defaulted (IfNotPresent for a tag), the policy may be what runs images loaded into the nodes
    # (kind load, air-gapped imports): no manifest shows every node reaches the registry ("Images")
    fix = fix_of(pod(**written), "KH-IMG-004", {"profile": "strict"})
    assert fix.safe is False
    assert "registry" in fix.reason and "kind load" in fix.reason


def test_pull_policy_fix_is_applied_only_with_consent(tmp_path, capsys):
    from kubeharden.cli import main

    path = tmp_path / "pods.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: web, namespace: shop}
        spec:
          containers:
            - name: web
              image: registry.example.com/web:1.0      # no policy: the default, IfNotPresent
            - name: offline
              image: registry.example.com/tools:2.1
              imagePullPolicy: Never                   # side-loaded on the nodes
        """), encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    assert main(["fix", "--profile", "strict", "--only", "KH-IMG-004", "--", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == before
    err = capsys.readouterr().err
    assert re.search(r"KH-IMG-004 Pod/shop/web container containers/offline", err) and "kind load" in err
    assert main(["fix", "--profile", "strict", "--unsafe", "--only", "KH-IMG-004", "--", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert text.count("imagePullPolicy: Always") == 2 and "# side-loaded on the nodes" in text


# -- automountServiceAccountToken: false (KH-POD-024) ---------------------------------------------------

SA = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\n"
ROLE = ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: read, namespace: shop}\n"
        "rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]\n")


def binding(subject: str, role: str = "read", kind: str = "RoleBinding") -> str:
    ref_kind = "Role" if role == "read" else "ClusterRole"
    ns = "  namespace: shop\n" if kind == "RoleBinding" else ""
    return (f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: b\n{ns}"
            f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {ref_kind}, name: {role}}}\n"
            f"subjects: [{subject}]\n")


def workload(extra_spec: str = "", annotations: str = "{}") -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web, namespace: shop}}
        spec:
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}, annotations: {annotations}}}
            spec:
              serviceAccountName: web
              containers:
                - name: web
                  image: registry.example.com/web:1.0{extra_spec}
        """)


def docs(*parts: str) -> str:
    return "---\n".join(parts)


def token_fix(text: str):
    """The one KH-POD-024 fix of ``text``, read as the registry reads it (a Snapshot envelope is unpacked)."""
    import tempfile

    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.sources.registry import read_inputs

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/input.yaml"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        evaluator = Evaluator(parse_config({}), only=["KH-POD-024"])
        findings = list(evaluator.run(read_inputs([path])))
    assert not [p for p in evaluator.result.problems if p.level == "error"], evaluator.result.problems
    fixes = [f.fix for f in findings if f.status == "fail" and f.fix is not None]
    assert len(fixes) == 1, [f.message for f in findings]
    return fixes[0]


def listing(*parts: str, namespaces: tuple[str, ...] = (), excluded: tuple[str, ...] = (), unlisted: tuple[str, ...] = (),
            scope: bool = True) -> str:
    """``parts`` as the snapshot of a live cluster (kubeharden's envelope): the objects, then the ClusterInfo the
    cluster source adds (``scope``: the -n / --exclude-namespace of the listing), and the kinds it could not list."""
    import yaml

    info = {"apiVersion": "kubeharden.io/v1", "kind": "ClusterInfo", "metadata": {"name": "prod"},
            "cluster": {"context": "prod", "server": "https://10.0.0.1", "version": None},
            "provider": None, "controlPlane": None}
    if scope:
        info["scope"] = {"namespaces": list(namespaces), "excluded": list(excluded)}
    items = [yaml.safe_load(p) for p in parts] + [info]
    cluster = {"context": "prod", "unlisted": [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": k}
                                              for k in unlisted]}
    return json.dumps({"apiVersion": "kubeharden.io/v1", "kind": "Snapshot", "metadata": {"name": "prod"},
                       "cluster": cluster, "items": items})


def test_token_fix_is_safe_when_a_whole_cluster_listing_shows_the_account_bound_to_nothing():
    fix = token_fix(listing(SA, ROLE, binding("{kind: ServiceAccount, name: other, namespace: shop}"), workload()))
    assert fix.safe is True and fix.value is False
    assert "ServiceAccount shop/web is in the input, which lists every binding of the cluster" in fix.because


def test_an_unrelated_role_in_a_manifest_folder_is_no_evidence():
    # the reviewer's case: one Role of another app in the folder said nothing about the account's bindings
    fix = token_fix(docs(SA, ROLE, binding("{kind: ServiceAccount, name: other, namespace: shop}"), workload()))
    assert fix.safe is False
    assert "no binding in the input grants ServiceAccount shop/web anything" in fix.because
    assert "not a listing of a whole cluster" in fix.because and "--unsafe" in fix.because


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"namespaces": ("shop",)}, "listed only namespaces shop"),
    ({"excluded": ("kube-system",)}, "listed without namespaces kube-system"),
    ({"unlisted": ("RoleBinding",)}, "RoleBinding could not be listed whole"),
    ({"unlisted": ("ClusterRoleBinding",)}, "ClusterRoleBinding could not be listed whole"),
    ({"scope": False}, "does not record which namespaces it covered"),
])
def test_a_listing_that_may_miss_bindings_is_no_evidence(kwargs, why):
    fix = token_fix(listing(SA, ROLE, workload(), **kwargs))
    assert fix.safe is False and why in fix.because


def test_a_cluster_info_written_in_a_manifest_is_no_listing():
    info = ("apiVersion: kubeharden.io/v1\nkind: ClusterInfo\nmetadata: {name: prod}\n"
            "scope: {namespaces: [], excluded: []}\n")
    fix = token_fix(docs(SA, ROLE, info, workload()))
    assert fix.safe is False and "not a listing of a whole cluster" in fix.because


def _live(*parts: str, problems=()):
    """The objects of ``parts`` as the cluster source yields them (provenance ``cluster``), then its ClusterInfo."""
    import yaml

    from kubeharden.model.objects import K8sObject, Provenance, make_ref

    info = {"apiVersion": "kubeharden.io/v1", "kind": "ClusterInfo", "metadata": {"name": "prod"},
            "scope": {"namespaces": [], "excluded": []}}
    for raw in [*problems, *(yaml.safe_load(p) for p in parts), info]:
        yield raw if not isinstance(raw, dict) else K8sObject(raw, make_ref(raw), Provenance(
            file=f"kubectl get {raw['kind'].lower()}", line=None, source="cluster"))


@pytest.mark.parametrize(("problem", "safe", "why"), [
    (None, True, "lists every binding of the cluster"),
    ("forbidden", False, "RoleBinding could not be listed whole"),
    ("too-large", False, "part of the input could not be read (1 error(s))"),
])
def test_a_live_cluster_scan_is_evidence_only_when_every_binding_was_listed(problem, safe, why):
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.model.findings import UNLISTED, Problem
    from kubeharden.model.objects import ResourceRef

    problems = {None: [], "forbidden": [Problem("warning", UNLISTED, "cannot list rolebindings: 403 Forbidden",
                                                resource=ResourceRef("rbac.authorization.k8s.io/v1", "RoleBinding",
                                                                     None, ""))],
                "too-large": [Problem("error", "too-large", "decompressed snapshot is over the limit")]}[problem]
    evaluator = Evaluator(parse_config({}), only=["KH-POD-024"], input_kind="cluster")
    findings = [f for f in evaluator.run(_live(SA, ROLE, workload(), problems=problems)) if f.status == "fail"]
    (fix,) = [f.fix for f in findings]
    assert fix.safe is safe and why in fix.because


@pytest.mark.parametrize(("subject", "kind", "role"), [
    ("{kind: ServiceAccount, name: web, namespace: shop}", "RoleBinding", "read"),
    ("{kind: ServiceAccount, name: web}", "RoleBinding", "read"),  # namespace of the binding
    ("{kind: Group, name: 'system:serviceaccounts:shop'}", "RoleBinding", "read"),
    ("{kind: Group, name: 'system:serviceaccounts'}", "ClusterRoleBinding", "view"),
    ("{kind: Group, name: 'system:authenticated'}", "ClusterRoleBinding", "view"),
    ("{kind: User, name: 'system:serviceaccount:shop:web'}", "RoleBinding", "read"),
])
@pytest.mark.parametrize("wrap", [docs, listing])
def test_token_fix_is_unsafe_when_a_binding_grants_the_account_or_its_groups(subject, kind, role, wrap):
    fix = token_fix(wrap(SA, ROLE, binding(subject, role, kind), workload()))
    assert fix.safe is False and "grants ServiceAccount shop/web" in fix.because


def test_the_discovery_roles_every_user_holds_do_not_count_as_a_grant():
    fix = token_fix(listing(SA, ROLE, binding("{kind: Group, name: 'system:authenticated'}", "system:discovery",
                                              "ClusterRoleBinding"), workload()))
    assert fix.safe is True


@pytest.mark.parametrize("role", [
    # a Role may carry any name: a discovery role's name does not make its rules harmless
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: 'system:basic-user', namespace: shop}\n"
    "rules: [{apiGroups: [''], resources: [secrets], verbs: [get, list, watch]}]\n",
    # nor does a ClusterRole of that name that adds rules to the default
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: 'system:basic-user'\n"
    "  annotations: {rbac.authorization.kubernetes.io/autoupdate: 'false'}\n"
    "rules: [{apiGroups: [''], resources: [secrets], verbs: [get, list, watch]}]\n",
])
def test_a_role_named_like_a_discovery_role_is_judged_by_its_rules(role):
    kind = "Role" if "kind: Role\n" in role else "ClusterRole"
    bound = ("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: shop}\n"
             f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: 'system:basic-user'}}\n"
             "subjects: [{kind: ServiceAccount, name: web, namespace: shop}]\n")
    fix = token_fix(listing(SA, role, bound, workload()))
    assert fix.safe is False and "secrets" in fix.because, fix.because


def test_a_binding_to_a_role_missing_from_the_input_makes_it_unsafe():
    fix = token_fix(listing(SA, ROLE, binding("{kind: ServiceAccount, name: web, namespace: shop}", "ghost",
                                              "RoleBinding"), workload()))
    assert fix.safe is False and "RoleBinding/b names ServiceAccount shop/web; its role is not in the input" in fix.because


@pytest.mark.parametrize(("text", "why"), [
    (listing(ROLE, workload()), "not in the input"),
    (docs(SA, workload()), "not a listing of a whole cluster"),
    (listing(SA, ROLE, workload(annotations="{vault.hashicorp.com/agent-inject: 'true'}")), "Vault agent"),
    (listing(SA, ROLE, workload("\n                  env: [{name: TOKEN, value: "
                                "/var/run/secrets/kubernetes.io/serviceaccount/token}]")), "token's path"),
    (listing(SA, ROLE, workload("\n                  args: [--token-file=/var/run/secrets/kubernetes.io/serviceaccount/token]")),
     "token's path"),
])
def test_token_fix_is_unsafe_without_evidence(text, why):
    fix = token_fix(text)
    assert fix.safe is False and why in fix.because


def test_a_pod_asking_for_the_token_is_never_fixed_silently():
    text = listing(SA, ROLE, workload().replace("serviceAccountName: web",
                                                "serviceAccountName: web\n      automountServiceAccountToken: true"))
    fix = token_fix(text)
    assert fix.safe is False and "asks for the token itself" in fix.because


def test_fix_applies_the_token_fix_to_manifests_scanned_beside_a_snapshot_of_their_cluster(tmp_path, capsys):
    from kubeharden.cli import main

    manifest = tmp_path / "web.yaml"
    manifest.write_text(workload(), encoding="utf-8")
    # the ServiceAccount and the cluster's bindings (none for web) come from the snapshot of the live cluster
    snapshot = tmp_path / "prod.json"
    snapshot.write_text(listing(SA, ROLE, binding("{kind: ServiceAccount, name: other, namespace: shop}")),
                        encoding="utf-8")
    assert main(["fix", "--only", "KH-POD-024", "--", str(manifest)]) == 0
    assert "automountServiceAccountToken" not in manifest.read_text(encoding="utf-8")  # alone: no evidence
    assert "ServiceAccount shop/web is not in the input" in capsys.readouterr().err
    assert main(["fix", "--only", "KH-POD-024", "--", str(snapshot), str(manifest)]) == 0
    assert "automountServiceAccountToken: false" in manifest.read_text(encoding="utf-8")


# -- requests and limits from the user's profile (KH-RES-001..003) ----------------------------------

PROFILE = {"fix": {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                 "limits": {"cpu": "1", "memory": "256Mi"}}}}


def test_without_a_profile_resource_fixes_use_our_sizes_and_are_unsafe():
    fix = fix_of(pod(), "KH-RES-001")
    assert fix.safe is False and "fix.resources" in fix.because and fix.value == {"cpu": "100m", "memory": "128Mi"}


def test_profile_sizes_are_safe_and_written_as_given():
    request = fix_of(pod(), "KH-RES-001", PROFILE)
    assert request.safe is True and request.value == {"cpu": "50m", "memory": "64Mi"}
    limit = fix_of(pod(), "KH-RES-003", PROFILE)
    assert limit.safe is True and limit.value == "256Mi" and "fix.resources.limits.memory" in limit.because


def test_a_profile_limit_below_the_containers_request_is_unsafe():
    fix = fix_of(pod(resources={"requests": {"memory": "1Gi"}}), "KH-RES-003", PROFILE)
    assert fix.safe is False and fix.value == "1Gi" and "refuses a limit below the request" in fix.because


def test_a_profile_missing_one_resource_is_not_safe_for_it():
    partial = {"fix": {"resources": {"requests": {"cpu": "50m"}}}}
    fix = fix_of(pod(), "KH-RES-001", partial)
    assert fix.safe is False and fix.value == {"cpu": "50m", "memory": "128Mi"}


@pytest.mark.parametrize(("raw", "message"), [
    ({"fix": {"resources": {"requests": {"cpu": "lots"}}}}, "not a quantity"),
    ({"fix": {"resources": {"requests": {"gpu": "1"}}}}, "unknown keys"),
    ({"fix": {"resources": {"request": {"cpu": "1"}}}}, "unknown keys"),
    ({"fix": {"sizes": {}}}, "unknown keys"),
    ({"fix": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}}, "above its limit"),
    ({"fix": "yes"}, "must be a mapping"),
])
def test_bad_resource_profiles_are_configuration_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


# -- the catalogue's evidence names ---------------------------------------------------------------------

def test_catalogue_evidence_names_are_checked():
    with pytest.raises(CatalogueError, match="evidence"):
        _parse_fix({"op": "set", "value": False, "evidence": "looks-fine"}, "X")
    with pytest.raises(CatalogueError, match="not both"):
        _parse_fix({"op": "set", "value": False, "evidence": "non-root", "safe": True}, "X")
    assert set(FIX_EVIDENCE) == {"non-root", "non-root-unprivileged", "service-account-unbound"}


# -- kubeharden fix (default mode) and the mutating webhook use the same verdicts ----------------------------

def run_fix(path, only, fix_rounds, config=None, unsafe=False):
    from kubeharden.engine.evaluator import Evaluator
    from kubeharden.sources.files import parse_text

    cfg = parse_config(config or {})

    def scan_with(overlay):
        text = overlay.get(str(path)) or path.read_text(encoding="utf-8")
        return list(Evaluator(cfg, only=only).run(parse_text(text, str(path))))

    return fix_rounds(scan_with, set(only) if only else None, unsafe=unsafe)


def test_webhook_mutation_applies_evidence_safe_fixes_only():
    reviewer = Reviewer(AdmissionSettings(mutate=True, only=frozenset({"KH-POD-011", "KH-POD-012", "KH-POD-016"})))
    obj = json.loads(pod(pod_sc={"runAsNonRoot": True}))
    obj["spec"]["containers"].append({"name": "root", "image": "registry.example.com/r:1",
                                      "securityContext": {"runAsUser": 0}})
    req = {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
           "namespace": "shop", "object": obj, "userInfo": {"username": "alice"}}
    r = reviewer.review(req).response()["response"]
    ops = json.loads(base64.b64decode(r["patch"]))
    assert ops == [{"op": "add", "path": "/spec/containers/0/securityContext",
                    "value": {"allowPrivilegeEscalation": False}},
                   {"op": "add", "path": "/spec/containers/0/securityContext/capabilities",
                    "value": {"drop": ["ALL"]}}]


APP = textwrap.dedent("""\
    # the shop's web tier
    apiVersion: v1
    kind: ServiceAccount
    metadata: {name: web, namespace: shop}
    ---
    apiVersion: v1
    kind: ServiceAccount
    metadata: {name: ops, namespace: shop}
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: Role
    metadata: {name: read-config, namespace: shop}
    rules:
      - apiGroups: [""]
        resources: [configmaps]
        verbs: [get, list]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata: {name: ops-read-config, namespace: shop}
    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-config}
    subjects: [{kind: ServiceAccount, name: ops, namespace: shop}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web        # serves the storefront
      namespace: shop
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          serviceAccountName: web
          securityContext:
            runAsNonRoot: true   # the image runs as UID 10001
          containers:
            - name: web
              image: "registry.example.com/web:1.4"
              ports: [{containerPort: 8080}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: ops, namespace: shop}
    spec:
      selector: {matchLabels: {app: ops}}
      template:
        metadata: {labels: {app: ops}}
        spec:
          serviceAccountName: ops
          containers:
            - name: ops
              image: registry.example.com/ops:2.0
    """)
APP_CONFIG = {"fix": {"resources": {"requests": {"cpu": "100m", "memory": "96Mi"},
                                    "limits": {"cpu": "500m", "memory": "192Mi"}}}}
EVIDENCE_CONTROLS = ["KH-POD-011", "KH-POD-012", "KH-POD-016", "KH-POD-024", "KH-RES-001", "KH-RES-002",
                     "KH-RES-003"]


def test_default_fix_applies_what_the_evidence_allows_and_round_trips(tmp_path):
    from test_fix_roundtrip import assert_untouched_parts_equal

    from kubeharden.fix.apply import APPLIED
    from kubeharden.fix.session import fix_rounds

    path = tmp_path / "app.yaml"
    path.write_text(APP, encoding="utf-8")
    session = run_fix(path, EVIDENCE_CONTROLS, fix_rounds, APP_CONFIG)
    assert not session.errors
    applied = {(o.change.finding.control_id, o.change.finding.resource.name)
               for o in session.outcomes if o.status == APPLIED}
    # web: non-root, sizes from the profile; seccomp is never safe, nor the token: the folder does not show
    # every binding of the cluster (test_fix_applies_the_token_fix_to_manifests_scanned_beside_a_snapshot…)
    assert {("KH-POD-011", "web"), ("KH-POD-012", "web"), ("KH-RES-001", "web"),
            ("KH-RES-002", "web"), ("KH-RES-003", "web")} <= applied
    assert ("KH-POD-024", "web") not in applied
    # ops: runs as whoever its image says and its account is granted configmaps: only the profile's sizes
    assert not {c for c, name in applied if name == "ops"} - {"KH-RES-001", "KH-RES-002", "KH-RES-003"}
    assert not any(c == "KH-POD-016" for c, _ in applied)
    after = session.current[str(path)]
    assert_untouched_parts_equal(APP, after, session)
    # the documents no fix touched (the ServiceAccounts and RBAC objects) are byte for byte as they were
    before_docs, after_docs = APP.split("---\n"), after.split("---\n")
    assert len(before_docs) == len(after_docs) == 6
    assert before_docs[:4] == after_docs[:4] and before_docs[4] != after_docs[4]
    findings, _ = scan(after, APP_CONFIG, only=EVIDENCE_CONTROLS)
    left = {(f.control_id, f.resource.name) for f in findings if f.status == "fail"}
    assert not left & applied, "a safe fix was applied but its finding is still reported"
    assert {("KH-POD-011", "ops"), ("KH-POD-012", "ops"), ("KH-POD-024", "ops"), ("KH-POD-016", "web"),
            ("KH-POD-024", "web")} <= left
    assert all(not f.fix.safe for f in findings if f.status == "fail" and f.fix is not None)
    # idempotent: a second run over the result has nothing to do
    path.write_text(after, encoding="utf-8")
    again = run_fix(path, EVIDENCE_CONTROLS, fix_rounds, APP_CONFIG)
    assert not again.changed_files() and not [o for o in again.outcomes if o.status == APPLIED]


def test_fix_command_prints_the_evidence_of_applied_and_left_fixes(tmp_path, capsys):
    from kubeharden.cli import main

    (tmp_path / "app.yaml").write_text(APP, encoding="utf-8")
    config = tmp_path / "kh.yaml"
    config.write_text(json.dumps(APP_CONFIG), encoding="utf-8")
    assert main(["fix", "--config", str(config), "--dry-run", str(tmp_path / "app.yaml")]) == 1
    out = capsys.readouterr().out
    assert re.search(r"would fix .*KH-POD-011 Deployment/shop/web.*\(safe: runAsNonRoot: true on the pod", out)
    assert "would fix [unsafe]" not in out
    assert re.search(r"  - not safe: nothing shows it runs as a non-root user.*KH-POD-011 Deployment/shop/ops", out)
    assert re.search(r"  - not safe: RoleBinding/shop/ops-read-config -> Role/shop/read-config grants "
                     r"ServiceAccount shop/ops get,list configmaps.*KH-POD-024 Deployment/shop/ops", out)


# -- a privileged port: the capability a non-root process gets only from a file capability ------------------

@pytest.mark.parametrize("control", ["KH-POD-011", "KH-POD-012"])
def test_a_non_root_container_declaring_a_port_below_1024_keeps_the_fix_unsafe(control):
    fix = fix_of(pod({"runAsNonRoot": True}, ports=[{"containerPort": 80}]), control)
    assert fix.safe is False and "port 80" in fix.because and "CAP_NET_BIND_SERVICE" in fix.because


@pytest.mark.parametrize("control", ["KH-POD-011", "KH-POD-012"])
@pytest.mark.parametrize(("probes", "port"), [
    ({"readinessProbe": {"httpGet": {"path": "/", "port": 80}}}, 80),
    ({"livenessProbe": {"tcpSocket": {"port": 443}}}, 443),
    ({"startupProbe": {"grpc": {"port": 50}}}, 50),
    ({"lifecycle": {"postStart": {"httpGet": {"path": "/warm", "port": 80}}}}, 80),
    ({"lifecycle": {"preStop": {"tcpSocket": {"port": 22}}}}, 22),
    ({"ports": [{"name": "web", "containerPort": 8080}, {"name": "admin", "containerPort": 81}],
      "readinessProbe": {"httpGet": {"path": "/", "port": "admin"}}}, 81),
])
def test_a_probe_on_a_port_below_1024_keeps_the_fix_unsafe(control, probes, port):
    # the kubelet connects to the pod's IP on the probe's port, so the program listens there ("Configure
    # Liveness, Readiness and Startup Probes"), whatever ports[] declares
    fix = fix_of(pod({"runAsNonRoot": True}, **probes), control)
    assert fix.safe is False and f"port {port}" in fix.because


@pytest.mark.parametrize("probe", [{"httpGet": {"path": "/", "port": 8080}},
                                   {"httpGet": {"path": "/", "port": 80, "host": "example.com"}},
                                   {"tcpSocket": {"port": "missing-name"}}, {"exec": {"command": ["true"]}},
                                   {"httpGet": "oops"}, "oops"])
def test_probes_on_high_ports_or_elsewhere_leave_the_fix_safe(probe):
    assert fix_of(pod({"runAsNonRoot": True}, livenessProbe=probe), "KH-POD-012").safe is True


def test_adding_net_bind_service_keeps_the_port_for_the_capability_drop_but_not_for_no_new_privs():
    text = pod({"runAsNonRoot": True, "capabilities": {"add": ["NET_BIND_SERVICE"]}}, ports=[{"containerPort": 443}])
    assert fix_of(text, "KH-POD-012").safe is True
    escalation = fix_of(text, "KH-POD-011")
    assert escalation.safe is False and "no_new_privs ignores file capabilities" in escalation.because


@pytest.mark.parametrize("control", ["KH-POD-011", "KH-POD-012"])
def test_the_unprivileged_port_sysctl_or_a_high_port_makes_it_safe_again(control):
    sysctl = {"runAsNonRoot": True, "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}]}
    assert fix_of(pod(pod_sc=sysctl, ports=[{"containerPort": 80}]), control).safe is True
    assert fix_of(pod({"runAsUser": 1000}, ports=[{"containerPort": 8080}]), control).safe is True
    high_start = {"runAsNonRoot": True, "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "1000"}]}
    assert fix_of(pod(pod_sc=high_start, ports=[{"containerPort": 80}]), control).safe is False


@pytest.mark.parametrize("ports", [5, "80", {"containerPort": 80}, [None, 3, {"containerPort": "80"}], [{"containerPort": True}]])
def test_odd_ports_never_crash_the_evidence(ports):
    findings, result = scan(pod({"runAsNonRoot": True}, ports=ports), {}, only=["KH-POD-011", "KH-POD-012"])
    assert not [p for p in result.problems if p.kind == "internal"]
    assert all(f.fix.because for f in findings if f.fix is not None)


def test_odd_sysctls_and_capabilities_never_crash_the_evidence():
    text = pod({"runAsNonRoot": True, "capabilities": {"add": [None, 7]}}, {"sysctls": [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "low"}, "x"]}, ports=[{"containerPort": 22}])
    findings, result = scan(text, {}, only=["KH-POD-011", "KH-POD-012"])
    assert not [p for p in result.problems if p.kind == "internal"]
    assert all(f.fix.safe is False for f in findings if f.fix is not None)


def test_a_binding_named_like_a_default_grants_what_its_role_ref_says():
    # recreated as the default only at the API server's next start ("Auto-reconciliation"): until then it grants edit
    moved = binding("{kind: ServiceAccount, name: web, namespace: shop}", "edit", "ClusterRoleBinding").replace(
        "name: b\n", "name: 'system:discovery'\n")
    fix = token_fix(listing(SA, ROLE, moved, workload()))
    assert fix.safe is False and "system:discovery" in fix.because, fix.because
