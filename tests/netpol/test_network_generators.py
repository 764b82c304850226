"""``generate netpol`` and ``generate quotas``: valid YAML that the scan then judges clean."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import yaml
from netpol_clusters import deploy

from kubeharden.analysis.reachability import Network
from kubeharden.cli import main
from kubeharden.config import parse_config
from kubeharden.engine.evaluator import Evaluator, build_inventory
from kubeharden.generators.quotas import format_cpu, format_memory, parse_quantity
from kubeharden.sources.files import read_objects

NETWORK_CONTROLS = ["KH-NET-001", "KH-NET-002", "KH-NET-003", "KH-NET-004", "KH-NET-006", "KH-NET-007",
                    "KH-NET-015"]


def _svc(name: str, ns: str, selector: dict, ports: list[dict], **spec) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                       "spec": {"selector": selector, "ports": ports, **spec}})


def _with_resources(doc: str, requests: dict | None, limits: dict | None, replicas: int = 1) -> str:
    data = json.loads(doc)
    res = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    data["spec"]["replicas"] = replicas
    data["spec"]["template"]["spec"]["containers"][0]["resources"] = res
    return json.dumps(data)


APP = [
    deploy("web", "shop", {"app": "web"}, [{"name": "http", "containerPort": 8080}]),
    deploy("api", "shop", {"app": "api"}, [{"name": "grpc", "containerPort": 9000}]),
    deploy("db", "data", {"app": "db"}, [{"containerPort": 5432}]),
    _svc("web", "shop", {"app": "web"}, [{"port": 80, "targetPort": "http"}], type="LoadBalancer",
         loadBalancerSourceRanges=["203.0.113.0/24"]),
    _svc("api", "shop", {"app": "api"}, [{"port": 9000}]),
    _svc("db", "data", {"app": "db"}, [{"port": 5432, "targetPort": 5432}]),
    _svc("ext", "shop", {}, [{"port": 1}], type="ExternalName", externalName="example.com"),
    json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "shop"},
                "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {
                        "number": 9000}}}}]}}]}}),
]


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text("\n---\n".join(APP))
    return str(path)


def _scan(paths: list[str], controls: list[str]):
    ev = Evaluator(parse_config({"profile": "strict"}), only=controls)
    findings = [f for f in ev.run(read_objects(paths)) if f.status == "fail"]
    return findings, ev.result.problems


def test_generated_policies_round_trip_clean_and_keep_the_app_working(app, tmp_path):
    before, _ = _scan([app], NETWORK_CONTROLS)
    assert {f.control.id for f in before} >= {"KH-NET-001", "KH-NET-002", "KH-NET-003"}
    out = tmp_path / "netpol.yaml"
    assert main(["generate", "netpol", app, "--no-config", "-o", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert all(d["kind"] == "NetworkPolicy" for d in docs)
    names = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs}
    assert {("shop", "default-deny-all"), ("data", "default-deny-all"), ("shop", "allow-dns-egress"),
            ("shop", "svc-web-ingress"), ("shop", "svc-api-egress"), ("data", "svc-db-ingress")} <= names
    assert not any("ext" in n for _, n in names)  # no selector: nothing to allow
    after, problems = _scan([app, str(out)], NETWORK_CONTROLS)
    assert after == [] and problems == []

    inventory, _ = build_inventory(read_objects([app, str(out)]))
    net = Network(inventory)
    web, api, db = (net.find_workloads(n)[0] for n in ("shop/web", "shop/api", "data/db"))
    assert net.egress_verdict(web.klass, api.klass).ports.labels() == ["TCP 9000"]
    assert (net.ingress_verdict(web.klass, api.klass).ports & net.egress_verdict(web.klass, api.klass).ports)
    # The named targetPort resolves against the container port; the LB admits its source range only.
    ports, _ = net.ingress_from_address(web.klass, __import__("ipaddress").ip_address("203.0.113.9"))
    assert ports.labels() == ["TCP 8080"]
    assert not net.ingress_from_address(web.klass, __import__("ipaddress").ip_address("198.51.100.1"))[0]
    # Cross-namespace traffic cannot be inferred from manifests and stays closed.
    assert not (net.egress_verdict(web.klass, db.klass).ports & net.ingress_verdict(web.klass, db.klass).ports)
    ingress_rule = next(d for d in docs if d["metadata"]["name"] == "svc-api-ingress")["spec"]["ingress"][0]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in \
        ingress_rule["from"]


def test_generate_netpol_namespace_option(app, capsys):
    assert main(["generate", "netpol", app, "--no-config", "-n", "data"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {d["metadata"]["namespace"] for d in docs} == {"data"}


def test_quantities():
    assert parse_quantity("500m") == Fraction(1, 2) and parse_quantity(2) == 2
    assert parse_quantity("1.5Gi") == Fraction(3 * 2**29) and parse_quantity("1e3") == 1000
    assert parse_quantity("128M") == 128 * 10**6
    for bad in ("lots", None, True, "-1", "1Zi"):
        with pytest.raises(ValueError):
            parse_quantity(bad)
    assert format_cpu(Fraction(3, 2)) == "1500m" and format_cpu(Fraction(2)) == "2"
    assert format_memory(Fraction(2**30)) == "1Gi" and format_memory(Fraction(100 * 10**6)) == "96Mi"


def test_generated_quotas_parse_fit_the_workloads_and_satisfy_the_controls(tmp_path):
    docs = [
        _with_resources(deploy("api", "shop", {"app": "api"}), {"cpu": "250m", "memory": "256Mi"},
                        {"cpu": "1", "memory": "1Gi"}, replicas=3),
        _with_resources(deploy("job", "shop", {"app": "job"}), {"cpu": "2", "memory": "3Gi"}, None),
        _with_resources(deploy("tiny", "shop", {"app": "tiny"}), None, {"cpu": "5m", "memory": "8Mi"}),
        deploy("bare", "shop", {"app": "bare"}),
        _with_resources(deploy("bad", "shop", {"app": "bad"}), {"cpu": "lots"}, None),
        json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "empty"}}),
    ]
    src = tmp_path / "in.yaml"
    src.write_text("\n---\n".join(docs))
    out = tmp_path / "quotas.yaml"
    assert main(["generate", "quotas", str(src), "--no-config", "--headroom", "1.5", "-o", str(out)]) == 0
    generated = list(yaml.safe_load_all(out.read_text()))
    by = {(d["kind"], d["metadata"]["namespace"]): d for d in generated}
    assert set(by) == {("LimitRange", "shop"), ("ResourceQuota", "shop"), ("LimitRange", "empty"),
                       ("ResourceQuota", "empty")}
    limits = by[("LimitRange", "shop")]["spec"]["limits"][0]
    # default must cover the 2-CPU request made without a limit; max the largest value; min the smallest.
    assert parse_quantity(limits["default"]["cpu"]) >= 2 and parse_quantity(limits["max"]["memory"]) >= 3 * 2**30
    assert parse_quantity(limits["min"]["cpu"]) <= Fraction(5, 1000)
    assert parse_quantity(limits["min"]["memory"]) <= 8 * 2**20
    for key in ("default", "defaultRequest", "max", "min"):
        assert set(limits[key]) == {"cpu", "memory"}
    for r in ("cpu", "memory"):
        assert parse_quantity(limits["min"][r]) <= parse_quantity(limits["defaultRequest"][r]) \
            <= parse_quantity(limits["default"][r]) <= parse_quantity(limits["max"][r])
    hard = by[("ResourceQuota", "shop")]["spec"]["hard"]
    # requests: 3 x 250m + 2 + 5m (request = limit) + 100m (default) + 100m (bad value ignored) = 2.955 CPU
    assert parse_quantity(hard["requests.cpu"]) == parse_quantity(format_cpu(Fraction(2955, 1000) * Fraction(3, 2)))
    assert parse_quantity(hard["limits.cpu"]) >= 3 + 2 + Fraction(5, 1000)
    assert hard["pods"] == str(-(-7 * 3 // 2))
    findings, problems = _scan([str(src), str(out)], ["KH-NET-012", "KH-NET-013"])
    assert findings == [] and problems == []


def test_api_server_egress_and_system_namespace_warning(app, capsys):
    assert main(["generate", "netpol", app, "--no-config", "-n", "kube-system", "--api-server", "10.0.0.1"]) == 0
    captured = capsys.readouterr()
    assert "system namespace" in captured.err
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(captured.out)}
    rule = docs["allow-apiserver-egress"]["spec"]["egress"][0]
    assert rule["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert {p["port"] for p in rule["ports"]} == {443, 6443}
    with pytest.raises(SystemExit):
        main(["generate", "netpol", app, "--api-server", "not-an-ip"])


UNSET = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 7
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.25
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def test_quotas_count_namespaceless_workloads_in_the_one_namespace_asked_for(tmp_path, capsys):
    src = tmp_path / "chart.yaml"
    src.write_text(UNSET)
    assert main(["generate", "quotas", str(src), "--no-config", "-n", "shop"]) == 0
    captured = capsys.readouterr()
    hard = next(d for d in yaml.safe_load_all(captured.out) if d["kind"] == "ResourceQuota")["spec"]["hard"]
    assert hard["pods"] == "11"  # 7 replicas x headroom 1.5, not room for one default pod
    assert parse_quantity(hard["requests.cpu"]) == Fraction(7 * 100, 1000) * Fraction(3, 2)
    assert "warning" not in captured.err


def test_netpol_counts_namespaceless_services_in_the_one_namespace_asked_for(tmp_path, capsys):
    src = tmp_path / "chart.yaml"
    src.write_text(UNSET)
    assert main(["generate", "netpol", str(src), "--no-config", "-n", "shop"]) == 0
    captured = capsys.readouterr()
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(captured.out)}
    assert docs["svc-web-ingress"]["metadata"]["namespace"] == "shop"
    assert "warning" not in captured.err


def test_generators_warn_when_a_namespace_asked_for_has_no_workloads(app, capsys):
    assert main(["generate", "netpol", app, "--no-config", "-n", "shpo"]) == 0
    err = capsys.readouterr().err
    assert "namespace shpo has no workloads in the input (did you mean shop?" in err
    assert "deny all traffic" in err
    assert main(["generate", "quotas", app, "--no-config", "-n", "shop", "-n", "shpo"]) == 0
    err = capsys.readouterr().err
    assert "namespace shpo has no workloads" in err and "namespace shop" not in err
    assert "one pod of the LimitRange's default size" in err


def test_generators_have_no_profile_option(app, capsys):
    for kind in ("netpol", "quotas"):
        with pytest.raises(SystemExit) as exc:
            main(["generate", kind, app, "--profile", "strict"])
        assert exc.value.code == 2
        assert "unrecognized arguments: --profile" in capsys.readouterr().err
