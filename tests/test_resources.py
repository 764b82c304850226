"""Requests and limits as admitted: own values, LimitRange defaults, pod-level resources."""

from __future__ import annotations

from conftest import scan

RES = ["KH-RES-001", "KH-RES-002", "KH-RES-003", "KH-RES-004", "KH-RES-005"]


def _pod(namespace: str | None, containers: str, extra: str = "") -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: web{ns}}}
spec:
{extra}  containers:
{containers}
"""


def _limit_range(namespace: str, item: str) -> str:
    return f"""
apiVersion: v1
kind: LimitRange
metadata: {{name: defaults, namespace: {namespace}}}
spec:
  limits:
{item}
"""


BARE = "    - {name: app, image: registry.example.com/app:1}\n"


def _found(text: str) -> set[tuple[str, str | None]]:
    findings, result = scan(text, only=RES)
    assert not [p for p in result.problems if p.level == "error"], result.problems
    return {(f.control.id, f.container) for f in findings}


def test_bare_container_without_limit_range_fails_every_control():
    assert _found(_pod("shop", BARE)) == {(c, "app") for c in RES}


def test_limit_range_defaults_count_even_when_read_after_the_workload():
    lr = _limit_range("shop", """    - type: Container
      default: {cpu: 500m, memory: 256Mi, ephemeral-storage: 1Gi}
      defaultRequest: {cpu: 100m, memory: 128Mi, ephemeral-storage: 64Mi}""")
    assert _found(_pod("shop", BARE) + "---" + lr) == set()
    assert _found(lr + "---" + _pod("shop", BARE)) == set()


def test_limit_range_of_another_namespace_gives_nothing():
    lr = _limit_range("other", """    - type: Container
      default: {cpu: 500m, memory: 256Mi, ephemeral-storage: 1Gi}""")
    assert _found(_pod("shop", BARE) + "---" + lr) == {(c, "app") for c in RES}


def test_pod_and_pvc_items_default_nothing():
    lr = _limit_range("shop", """    - type: Pod
      max: {cpu: "2", memory: 2Gi}
    - type: PersistentVolumeClaim
      max: {storage: 10Gi}""")
    assert _found(_pod("shop", BARE) + "---" + lr) == {(c, "app") for c in RES}


def test_max_becomes_default_and_default_becomes_default_request():
    # SetDefaults_LimitRangeItem: default <- max, defaultRequest <- default
    lr = _limit_range("shop", """    - type: Container
      max: {cpu: "1", memory: 1Gi}""")
    assert _found(_pod("shop", BARE) + "---" + lr) == {("KH-RES-004", "app"), ("KH-RES-005", "app")}


def test_min_defaults_the_request_only():
    lr = _limit_range("shop", """    - type: Container
      min: {cpu: 10m, memory: 16Mi, ephemeral-storage: 10Mi}""")
    assert _found(_pod("shop", BARE) + "---" + lr) == {
        ("KH-RES-002", "app"), ("KH-RES-003", "app"), ("KH-RES-005", "app")}


def test_default_request_alone_leaves_the_limits_missing():
    lr = _limit_range("shop", """    - type: Container
      defaultRequest: {cpu: 100m, memory: 128Mi, ephemeral-storage: 64Mi}""")
    assert _found(_pod("shop", BARE) + "---" + lr) == {
        ("KH-RES-002", "app"), ("KH-RES-003", "app"), ("KH-RES-005", "app")}


def test_unnamespaced_workload_and_limit_range_of_the_default_namespace():
    lr = _limit_range("default", """    - type: Container
      default: {cpu: 500m, memory: 256Mi, ephemeral-storage: 1Gi}""")
    assert _found(_pod(None, BARE) + "---" + lr) == set()


def test_pod_level_resources_cover_cpu_and_memory_but_not_ephemeral_storage():
    extra = "  resources:\n    limits: {cpu: \"1\", memory: 1Gi, ephemeral-storage: 1Gi}\n"
    # pod-level ephemeral-storage is not a pod-level resource (KEP-2837: cpu and memory)
    assert _found(_pod("shop", BARE, extra)) == {("KH-RES-004", "app"), ("KH-RES-005", "app")}


def test_limit_stands_in_for_the_request():
    containers = "    - name: app\n      image: registry.example.com/app:1\n" \
                 "      resources: {limits: {cpu: 500m, memory: 256Mi, ephemeral-storage: 1Gi}}\n"
    assert _found(_pod("shop", containers)) == set()


def test_init_containers_are_judged_and_ephemeral_containers_are_not():
    text = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  initContainers:
    - {name: init, image: registry.example.com/init:1}
  containers:
    - name: app
      image: registry.example.com/app:1
      resources: {limits: {cpu: 500m, memory: 256Mi, ephemeral-storage: 1Gi}}
  ephemeralContainers:
    - {name: debug, image: registry.example.com/debug:1}
"""
    assert _found(text) == {(c, "init") for c in RES}


def test_finding_names_the_container_line_namespace_and_fix():
    text = _pod("shop", """    - name: app
      image: registry.example.com/app:1
      resources:
        limits: {cpu: 500m}
""")
    findings, _ = scan(text, only=["KH-RES-003"])
    (f,) = findings
    assert f.container == "app" and f.line == 10 and f.resource.name == "web"
    assert "no memory limit" in f.message and "'shop' has no LimitRange" in f.message
    assert "resources.limits.memory" in f.remediation and "LimitRange default" in f.remediation


def test_message_says_the_limit_range_lacks_the_resource():
    lr = _limit_range("shop", """    - type: Container
      default: {cpu: 500m}""")
    findings, _ = scan(_pod("shop", BARE) + "---" + lr, only=["KH-RES-003"])
    assert "no LimitRange of namespace 'shop' gives a default for it" in findings[0].message


def test_malformed_limit_ranges_never_crash_and_credit_nothing():
    for spec in ("spec: 3", "spec: {limits: oops}", "spec: {limits: [3, {type: Container, default: [cpu]}]}",
                 "spec: {limits: [{type: Container, default: {cpu: null, memory: ''}}]}"):
        text = _pod("shop", BARE) + f"---\napiVersion: v1\nkind: LimitRange\nmetadata: {{name: x, namespace: shop}}\n{spec}\n"
        findings, result = scan(text, only=["KH-RES-002"])
        assert [f.container for f in findings] == ["app"], spec
        assert not [p for p in result.problems if p.kind == "internal"], result.problems


def test_annotation_suppresses_a_container_finding():
    text = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations: {kubeharden.io/suppress.KH-RES-005.app: "scratch space is bounded by the image"}
spec:
  template:
    spec:
      containers:
        - {name: app, image: registry.example.com/app:1}
"""
    findings, _ = scan(text, only=["KH-RES-005"])
    assert [f.status for f in findings] == ["suppressed"]


def test_wrong_types_in_resources_never_crash_and_make_the_pod_invalid():
    for resources in ("resources: 3", "resources: {limits: [cpu], requests: oops}"):
        containers = f"    - name: app\n      image: registry.example.com/app:1\n      {resources}\n"
        extra = "  resources: [1, 2]\n"
        findings, result = scan(_pod("shop", containers, extra), only=RES)
        assert not [p for p in result.problems if p.kind == "internal"], result.problems
        assert [p for p in result.problems if p.kind == "invalid-object"], resources
        assert result.pss[0].level == "invalid"
    # null and empty values have the right type: they count as unset
    containers = "    - name: app\n      image: registry.example.com/app:1\n      resources: {limits: {cpu: null, memory: ''}}\n"
    findings, result = scan(_pod("shop", containers, ""), only=RES)
    assert {f.control.id for f in findings} == set(RES)
    assert not [p for p in result.problems if p.kind == "internal"], result.problems


def test_a_zero_quantity_is_no_request_or_limit_and_the_message_says_it_was_written():
    """The kubelet sets no CPU quota and no memory limit for a zero limit and a zero request reserves nothing
    ("Pod Quality of Service Classes" counts only non-zero quantities); the LimitRanger defaults only absent
    keys, so a LimitRange's default does not replace a written zero either."""
    containers = ("    - name: app\n      image: registry.example.com/app:1\n"
                  "      resources: {requests: {cpu: 0m, memory: 64Mi, ephemeral-storage: 0}, "
                  "limits: {cpu: \"0\", memory: 0.0Gi, ephemeral-storage: 1Gi}}\n")
    assert _found(_pod("shop", containers)) == {(c, "app") for c in ("KH-RES-001", "KH-RES-002", "KH-RES-003",
                                                                      "KH-RES-004")}
    findings, _ = scan(_pod("shop", containers), only=["KH-RES-002"])
    assert findings[0].message.startswith("no cpu limit (cpu written as 0, which counts as no limit) and ")
    # the API server sets an absent request to the limit, never a request written as zero
    written_zero = ("    - name: app\n      image: registry.example.com/app:1\n"
                    "      resources: {requests: {cpu: \"0\", memory: 64Mi}, limits: {cpu: 500m, memory: 64Mi}}\n")
    assert ("KH-RES-001", "app") in _found(_pod("shop", written_zero))
    lr = _limit_range("shop", """    - type: Container
      default: {cpu: 500m, memory: 256Mi}""")
    assert ("KH-RES-002", "app") in _found(_pod("shop", containers) + "---" + lr)


ZERO_BESIDE_LIMIT = """apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  containers:
    - name: app
      image: registry.example.com/app:1
      resources:
        requests:
          cpu: 0
          memory: "64Mi"  # measured p99, keep
        limits: {cpu: 50m, memory: 64Mi}
"""


def test_a_zero_request_fix_changes_only_its_line_and_never_exceeds_the_limit(tmp_path):
    """The API server refuses a request above its limit ("Resource Management for Pods and Containers"), so
    the proposed request is capped at the container's limit and then needs --unsafe even from a profile; the
    mapping is edited in place, so the other request keeps its quoting and comment."""
    from kubeharden.cli import main

    (tmp_path / ".kubeharden.yaml").write_text("fix:\n  resources:\n    requests: {cpu: 100m, memory: 128Mi}\n")
    path = tmp_path / "pod.yaml"
    path.write_text(ZERO_BESIDE_LIMIT)
    config = ["--config", str(tmp_path / ".kubeharden.yaml")]
    findings, _ = scan(ZERO_BESIDE_LIMIT, config={"fix": {"resources": {"requests": {"cpu": "100m"}}}},
                       only=["KH-RES-001"])
    (f,) = findings
    assert (f.fix.op, f.fix.value, f.fix.safe) == ("set", {"cpu": "50m", "memory": "64Mi"}, False)
    assert "limit is below the request proposed for cpu" in f.fix.reason
    assert "Replace the 0 of resources.requests.cpu" in f.remediation and "LimitRange" not in f.remediation.split(":")[0]
    assert main(["fix", *config, "--only", "KH-RES-001", "--", str(path)]) == 0  # not safe: left for --unsafe
    assert path.read_text() == ZERO_BESIDE_LIMIT
    assert main(["fix", *config, "--unsafe", "--only", "KH-RES-001", "--", str(path)]) == 0
    assert path.read_text() == ZERO_BESIDE_LIMIT.replace("cpu: 0\n", "cpu: 50m\n")


def test_a_request_taken_from_a_zero_limit_is_named_at_the_limit():
    text = _pod("shop", "    - name: app\n      image: registry.example.com/app:1\n"
                        "      resources: {requests: {cpu: 10m}, limits: {memory: \"0\"}}\n")
    findings, _ = scan(text, only=["KH-RES-001"])
    assert "(memory taken from a limit written as 0)" in findings[0].message
    assert "Replace the 0 of resources.limits.memory" in findings[0].remediation


def test_the_request_fix_replaces_a_zero_request_and_keeps_the_others(tmp_path):
    from kubeharden.cli import main

    path = tmp_path / "pod.yaml"
    path.write_text(_pod("shop", "    - name: app\n      image: registry.example.com/app:1\n"
                                 "      resources:\n        requests:\n          cpu: 0\n          memory: 64Mi\n"
                                 "          nvidia.com/gpu: 1\n"))
    assert main(["fix", "--no-config", "--unsafe", "--only", "KH-RES-001", "--", str(path)]) == 0
    import yaml
    requests = yaml.safe_load(path.read_text())["spec"]["containers"][0]["resources"]["requests"]
    assert requests["memory"] == "64Mi" and requests["nvidia.com/gpu"] == 1
    assert requests["cpu"] not in (0, "0") and _found(path.read_text()) - {(c, "app") for c in RES[1:]} == set()
