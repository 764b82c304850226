"""The HTML report's drawings: RBAC escalation paths, the reachability matrix and trends over stored
scans, rendered in headless Chromium (the harness of test_html_report.py) and compared with what
``kubeharden rbac paths``, ``kubeharden netpol matrix`` and the history store say of the same input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kubeharden.checks import drawings
from kubeharden.cli import main
from kubeharden.config import Config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.model.analyses import ISOLATED, OPEN, RESTRICTED
from kubeharden.report.html import sparkline, trends
from kubeharden.sources.files import read_objects

from test_html_report import INSECURE, _open, _report, browser  # noqa: F401 (the browser fixture)
from test_parallel import pools  # noqa: F401 (workers on any input size)
from test_store import postgres, store  # noqa: F401 (SQLite and a real PostgreSQL server)

CLUSTER = str(Path(__file__).parent / "fixtures" / "html" / "cluster.yaml")
PATHS = "section.escalation-paths details.escalation"


def _line_of(binding: str) -> int:
    """The line of the roleRef of the binding named ``binding`` in the fixture."""
    lines = Path(CLUSTER).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if f"name: {binding}" in line)
    return next(i for i in range(start, len(lines)) if lines[i].startswith("roleRef:")) + 1


def _visible_paths(page):
    return page.eval_on_selector_all(PATHS, "ds => ds.filter(d => !d.hidden).map(d => d.dataset.start)")


def _json_of(capsys, *argv):
    capsys.readouterr()
    main(list(argv))
    return json.loads(capsys.readouterr().out)


# -- escalation paths ---------------------------------------------------------------------------


def test_the_paths_rbac_paths_finds_are_drawn_hop_by_hop(browser, tmp_path, capsys):  # noqa: F811
    found = _json_of(capsys, "rbac", "paths", "-f", "json", CLUSTER)["paths"]
    # one path per start: a start reaching cluster-admin is not drawn again to the Secrets
    admins = {p["from"] for p in found if p["to"] == "goal:cluster-admin"}
    expected = {p["from"] for p in found if p["to"] == "goal:cluster-admin" or p["from"] not in admins}
    page, errors, requests = _open(browser, _report(tmp_path, CLUSTER))
    labels = {"serviceaccount:shop:ops": "ServiceAccount shop/ops", "user:alice": "User alice",
              "serviceaccount:shop:deployer": "ServiceAccount shop/deployer",
              "workload:Deployment/shop/web": "Deployment/shop/web"}
    assert {labels[k] for k in expected} == set(_visible_paths(page)) and len(expected) == 4
    chain = page.locator(f'{PATHS}[data-start="Deployment/shop/web"] summary .hop').all_inner_texts()
    assert chain == ["Deployment/shop/web", "ServiceAccount shop/deployer", "ServiceAccount shop/ops", "cluster-admin"]
    assert page.locator(f'{PATHS}[data-start="User alice"]').get_attribute("data-goal") == "read all Secrets"
    # a click opens the path: each step names its binding, role, rule and where the binding is
    web = page.locator(f'{PATHS}[data-start="Deployment/shop/web"]')
    assert not web.locator("ol").is_visible()
    web.locator("summary").click()
    steps = web.locator("ol > li").all_inner_texts()
    assert len(steps) == 3
    assert "runs as this ServiceAccount" in steps[0] and "via" not in steps[0]  # a fact, no grant
    assert "via RoleBinding shop/deployer-creates-pods → Role shop/pod-creator: create,get,list pods [core]" in steps[1]
    assert f"{CLUSTER}:{_line_of('deployer-creates-pods')}" in steps[1]  # the binding's roleRef line
    assert "via ClusterRoleBinding ops-everything → ClusterRole everything" in steps[2]
    # the chain itself shows subject, binding, role, permission and what each step reaches
    grants = web.locator("summary .grant").all_inner_texts()
    assert grants == ["RoleBinding shop/deployer-creates-pods ▸ Role shop/pod-creator ▸ create,get,list pods [core]",
                      "ClusterRoleBinding ops-everything ▸ ClusterRole everything ▸ * * [*]"]
    assert errors == [] and all(u.startswith("file://") for u in requests)


def test_a_path_is_drawn_left_to_right_on_one_line(browser, tmp_path):  # noqa: F811
    """The drawing itself: subject, grant and goal boxes side by side, in path order, arrows between them."""
    page, _, _ = _open(browser, _report(tmp_path, CLUSTER))
    summary = f'{PATHS}[data-start="User alice"] summary'
    boxes = page.eval_on_selector_all(f"{summary} .hop, {summary} .grant", """els => els.map(e => {
        const r = e.getBoundingClientRect(); return [e.textContent, r.left, r.right, (r.top + r.bottom) / 2]; })""")
    assert [b[0] for b in boxes] == ["User alice", "ClusterRoleBinding alice-lists-secrets ▸ ClusterRole secret-lister "
                                     "▸ list secrets [core]", "read all Secrets"]
    assert boxes[0][2] < boxes[1][1] and boxes[1][2] < boxes[2][1]  # no overlap, in order
    assert max(b[3] for b in boxes) - min(b[3] for b in boxes) < 4  # one line
    arrows = page.eval_on_selector(f"{summary} .edge", "e => [getComputedStyle(e, '::before').content, "
                                                      "getComputedStyle(e, '::after').content]")
    assert arrows == ['"→"', '"→"']


def test_the_path_filters_work(browser, tmp_path):  # noqa: F811
    page, errors, _ = _open(browser, _report(tmp_path, CLUSTER))
    section = "section.escalation-paths"
    page.select_option(f"{section} .path-goal", "read all Secrets")
    assert _visible_paths(page) == ["User alice"]
    page.select_option(f"{section} .path-goal", "")
    page.fill(f"{section} .path-search", "deployer-creates-pods")  # a binding's name is searched too
    assert sorted(_visible_paths(page)) == ["Deployment/shop/web", "ServiceAccount shop/deployer"]
    assert page.inner_text(f"{section} .path-count") == "2 of 4 paths"
    assert errors == []


def test_without_bindings_the_paths_are_said_not_assessed(browser, tmp_path):  # noqa: F811
    page, errors, _ = _open(browser, _report(tmp_path))
    text = page.inner_text("section.escalation-paths")
    assert "Not assessed: no RoleBinding or ClusterRoleBinding in the input" in text
    assert page.locator(PATHS).count() == 0 and errors == []


def test_the_paths_drawn_are_capped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(drawings, "MAX_PATHS", 2)
    html = _report(tmp_path, CLUSTER).read_text(encoding="utf-8")
    assert html.count('<details class="escalation"') == 2
    assert "2 of 4 paths drawn (shortest first)" in html


# -- the reachability matrix ---------------------------------------------------------------------


def _cells(page):
    return {(c["src"], c["dst"]): c for c in page.eval_on_selector_all(
        "section.reachability table.matrix td", "tds => tds.map(td => Object.assign({}, td.dataset))")}


def test_the_matrix_agrees_with_netpol_matrix(browser, tmp_path, capsys):  # noqa: F811
    allowed = _json_of(capsys, "netpol", "matrix", "-f", "json", "--no-external", CLUSTER)
    pairs = {(f"{c['src']['namespace']}/{c['src']['kind']}/{c['src']['name']}",
              f"{c['dst']['namespace']}/{c['dst']['kind']}/{c['dst']['name']}"): c["ports"] for c in allowed}
    page, errors, _ = _open(browser, _report(tmp_path, CLUSTER))
    cells = _cells(page)
    assert page.get_attribute("section.reachability table.matrix", "data-axis") == "workload"
    assert len(cells) == 9
    assert {k for k, c in cells.items() if c["state"] != ISOLATED} == set(pairs)
    api, ledger, web = "shop/Deployment/api", "billing/Deployment/ledger", "shop/Deployment/web"
    assert cells[(api, ledger)]["state"] == RESTRICTED and cells[(api, ledger)]["ports"] == "TCP 8080"
    assert cells[(web, ledger)]["state"] == ISOLATED and cells[(ledger, ledger)]["state"] == ISOLATED
    assert cells[(web, api)]["state"] == OPEN and cells[(ledger, web)]["state"] == OPEN
    # a click names every policy isolating the cell
    page.click(f'section.reachability td[data-src="{web}"][data-dst="{ledger}"]')
    detail = page.inner_text("section.reachability .matrix-detail")
    assert f"{web} → {ledger}: isolated" in detail
    assert "NetworkPolicy billing/default-deny-ingress" in detail
    assert "NetworkPolicy billing/ledger-from-shop-api" in detail
    page.click(f'section.reachability td[data-src="{web}"][data-dst="{api}"]')
    assert "no policy isolates either side" in page.inner_text("section.reachability .matrix-detail")
    assert errors == []


def test_the_matrix_cells_are_drawn_in_their_colours(browser, tmp_path):  # noqa: F811
    """A screenshot of cells compared with the legend's colours (isolated green, open red, restricted yellow)."""
    from PIL import Image

    page, _, _ = _open(browser, _report(tmp_path, CLUSTER))
    colours = {ISOLATED: (0xB9, 0xDC, 0xB9), OPEN: (0xF4, 0xB6, 0xA6), RESTRICTED: (0xF7, 0xE3, 0xA1)}
    for (src, dst), cell in _cells(page).items():
        png = page.locator(f'section.reachability td[data-src="{src}"][data-dst="{dst}"]').screenshot()
        image = Image.open(io.BytesIO(png)).convert("RGB")
        corner = image.getpixel((3, 3))  # off the symbol in the middle
        assert all(abs(a - b) < 6 for a, b in zip(corner, colours[cell["state"]], strict=True)), (src, dst, corner)


def _namespaces_manifest(path: Path, per_namespace: int, namespaces: list[str]) -> str:
    docs = []
    for ns in namespaces:
        docs.append(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")
        for i in range(per_namespace):
            docs.append(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: {ns}, labels: {{app: a{i}}}}}\n"
                        "spec: {containers: [{name: a, image: nginx}]}\n")
    docs.append("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: locked}\n"
                "spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n")
    path.write_text("---\n".join(docs))
    return str(path)


def test_many_workloads_are_drawn_per_namespace_and_capped_with_a_note(tmp_path, monkeypatch):
    manifest = _namespaces_manifest(tmp_path / "many.yaml", 5, ["alpha", "beta", "locked"])
    evaluator = Evaluator(Config())
    evaluator.keep_analyses = True
    for _ in evaluator.run(read_objects([manifest])):
        pass
    matrix = evaluator.result.analyses[0].matrix
    assert matrix is not None and matrix.axis == "namespace" and matrix.labels == ["alpha", "beta", "locked"]
    cell = {(matrix.labels[r], matrix.labels[c]): matrix.cells[r][c] for r in range(3) for c in range(3)}
    assert cell[("alpha", "beta")].state == OPEN and cell[("alpha", "beta")].allowed_pairs == 25
    assert cell[("alpha", "locked")].state == ISOLATED and cell[("locked", "alpha")].state == ISOLATED
    assert cell[("alpha", "locked")].policies == ("NetworkPolicy locked/deny",)
    monkeypatch.setattr(drawings, "MAX_AXIS", 2)
    html = _report(tmp_path, manifest).read_text(encoding="utf-8")
    assert "2 namespaces with the most workloads drawn (at most 2, and 500 groups" in html
    assert "; 1 left out:</b> locked" in html and html.count('data-src="alpha"') == 2
    # the budget of pod classes: each namespace here has 5 (pods with different labels)
    monkeypatch.setattr(drawings, "MAX_AXIS", 40)
    monkeypatch.setattr(drawings, "MAX_CLASSES", 10)
    html = _report(tmp_path, _namespaces_manifest(tmp_path / "more.yaml", 5, ["a", "b", "c", "dd"])) \
        .read_text(encoding="utf-8")
    assert "; 2 left out:</b> c, dd" in html and html.count('data-src="b"') == 2


def test_an_analysis_that_fails_is_said_and_the_report_still_written(tmp_path, monkeypatch):
    def broken(*_):
        raise RuntimeError("boom")

    monkeypatch.setattr(drawings, "_matrix_into", broken)
    html = _report(tmp_path, CLUSTER).read_text(encoding="utf-8")
    assert "Not drawn (reachability matrix: RuntimeError: boom)" in html
    assert '<details class="escalation"' in html  # the other drawing is kept


def test_other_formats_do_not_pay_for_the_drawings():
    evaluator = Evaluator(Config())
    for _ in evaluator.run(read_objects([CLUSTER])):
        pass
    assert evaluator.result.analyses == [] and evaluator.result.history is None


# -- trends ---------------------------------------------------------------------------------------


def _store_scan(url, *extra):
    assert main(["scan", "--no-config", "--fail-on", "none", "-f", "json", "-o", "/dev/null", *extra,
                 INSECURE, "--store", url]) == 0


def test_trends_show_the_stored_scans_of_the_same_inputs(browser, tmp_path, capsys):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    _store_scan(url)
    _store_scan(url, "--profile", "strict")
    main(["scan", "--no-config", "--fail-on", "none", "-f", "json", "-o", "/dev/null", CLUSTER, "--store", url])
    stored = _json_of(capsys, "history", "--store", url, "-f", "json")
    mine = sorted((s for s in stored if s["inputs"] == INSECURE), key=lambda s: s["id"])
    assert len(mine) == 2
    target = tmp_path / "report.html"
    main(["scan", "--no-config", "--fail-on", "none", "-f", "html", "-o", str(target), INSECURE, "--store", url])
    page, errors, requests = _open(browser, target)
    now = _json_of(capsys, "scan", "--no-config", "--fail-on", "none", "-f", "json", INSECURE)["summary"]
    columns = page.eval_on_selector_all("#trend-bars .col", "cs => cs.map(c => [c.dataset.point, +c.dataset.total])")
    assert columns == [[f"#{s['id']}", s["findings"]] for s in mine] + [["now", now["findings"]]]
    for sev in ("critical", "high", "medium", "low", "info"):
        row = page.locator(f'#trend-severity tr[data-severity="{sev}"]')
        assert row.get_attribute("data-values") == ",".join(
            str(v) for v in [*(s["by_severity"][sev] for s in mine), now["by_severity"][sev]])
        assert len(row.locator("polyline").get_attribute("points").split()) == 3
    # the bars are as high as the numbers: the strict scan's column is the tallest
    heights = page.eval_on_selector_all("#trend-bars .col", "cs => cs.map(c => c.getBoundingClientRect().height)")
    assert heights[1] == max(heights) and heights[0] < heights[1]
    assert page.locator("#trend-sections tr").count() == len(now["compliance"])
    assert errors == [] and all(u.startswith("file://") for u in requests)


def test_a_stored_baseline_brings_trends_and_no_store_none(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    _store_scan(url)
    with_baseline = tmp_path / "b.html"
    main(["scan", "--no-config", "--fail-on", "none", "-f", "html", "-o", str(with_baseline), INSECURE,
          "--baseline", "latest", "--store", url])
    assert 'id="trends"' in with_baseline.read_text(encoding="utf-8")
    assert 'id="trends"' not in _report(tmp_path, INSECURE).read_text(encoding="utf-8")


def test_the_first_stored_scan_says_the_trend_starts_now(tmp_path):
    target = tmp_path / "report.html"
    main(["scan", "--no-config", "--fail-on", "none", "-f", "html", "-o", str(target), INSECURE,
          "--store", f"sqlite:///{tmp_path / 'h.sqlite3'}"])
    html = target.read_text(encoding="utf-8")
    assert "No earlier stored scan of these inputs" in html and "<polyline" not in html


def test_an_unreadable_store_costs_the_trends_only(tmp_path, capsys):
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_text("not a database")
    target = tmp_path / "report.html"
    code = main(["scan", "--no-config", "--fail-on", "none", "-f", "html", "-o", str(target), INSECURE,
                 "--store", f"sqlite:///{bad}"])
    assert "the HTML report shows no trends" in capsys.readouterr().err
    assert target.exists() and 'id="trends"' not in target.read_text(encoding="utf-8")
    assert code == 2  # storing fails afterwards, as without HTML


def test_sparklines_scale_the_numbers():
    assert sparkline([0, 5, 10]) == "0.0,26.0 80.0,14.0 160.0,2.0"
    assert sparkline([50.0, None, 100.0], 100.0) == "0.0,14.0 160.0,2.0"
    assert sparkline([3]) == "" and sparkline([None, 4]) == ""


def test_trends_put_this_scan_last_and_keep_missing_sections_missing():
    import datetime as dt

    from kubeharden.model.history import ScanInfo

    old = ScanInfo(7, dt.datetime(2026, 1, 2, 3, 4), "k8s/", "manifest", "default", "1", 3,
                   {"by_severity": {"high": 2}, "compliance": [{"section": "Pod security", "compliance_percent": 50.0,
                                                               "failed": 4}]})
    now = {"profile": "default", "by_severity": {"critical": 1, "high": 1},
           "compliance": [{"section": "Pod security", "compliance_percent": 75.0, "failed": 2},
                          {"section": "Secrets", "compliance_percent": 100.0, "failed": 0}]}
    t = trends([old], now)
    assert [p["label"] for p in t["points"]] == ["#7", "now"] and [p["total"] for p in t["points"]] == [2, 2]
    assert t["severity"][0] == {"label": "critical", "values": [0, 1], "points": sparkline([0, 1])}
    sections = {s["section"]: s for s in t["sections"]}
    assert sections["Pod security"]["values"] == [50.0, 75.0] and sections["Pod security"]["failed"] == [4, 2]
    assert sections["Secrets"]["values"] == [None, 100.0] and sections["Secrets"]["points"] == ""


# -- scopes and parallel scans ----------------------------------------------------------------------


def _split_cluster(folder: Path) -> Path:
    """The fixture in three files (RBAC, workloads, policies): workers read them apart, the parent joins them."""
    folder.mkdir()
    docs = Path(CLUSTER).read_text().split("\n---\n")
    for name, kinds in (("rbac", ("Role", "ClusterRole", "ServiceAccount", "Namespace")), ("apps", ("Deployment",)),
                        ("policies", ("NetworkPolicy",))):
        mine = [d for d in docs if any(f"kind: {k}" in d for k in kinds)]
        (folder / f"{name}.yaml").write_text("\n---\n".join(mine) + "\n")
    return folder


def test_the_drawings_are_the_same_for_any_jobs(tmp_path, pools):  # noqa: F811
    folder = str(_split_cluster(tmp_path / "in"))
    pages = []
    for jobs in (1, 2):
        target = tmp_path / f"report-{jobs}.html"
        main(["scan", "--no-config", "--fail-on", "none", "-f", "html", "-o", str(target), "--jobs", str(jobs), folder])
        pages.append(target.read_bytes())
    assert pools == [1]  # one worker beside this process: two in all
    assert pages[0] == pages[1] and pages[0].count(b'<details class="escalation"') == 4
    assert b'data-state="restricted"' in pages[0]


def test_each_scope_is_drawn_on_its_own(tmp_path):
    target = tmp_path / "report.html"
    main(["scan", "--no-config", "--fail-on", "none", "-f", "html", "-o", str(target), "--scope", "path", CLUSTER,
          INSECURE])
    html = target.read_text(encoding="utf-8")
    assert "RBAC privilege-escalation paths (scope 1 of 2)" in html and "Network reachability (scope 2 of 2)" in html
    assert 'id="escalation-2"' in html and 'id="reachability-2"' in html
    # the second scope (the insecure example) has no binding: its paths are not assessed, the first's are drawn
    second = html[html.index('id="escalation-2"'):html.index('id="reachability-2"')]
    assert "Not assessed: no RoleBinding" in second and html.count('<details class="escalation"') == 4


ADMIN_POLICY = """\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: shop-egress-pass}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - name: pass-to-billing
    action: Pass
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: billing}}}]
"""


@pytest.mark.parametrize("layered", [False, True])
def test_class_pairs_within_classes_are_the_full_matrix_cut_to_them(layered):
    from kubeharden.analysis.reachability import Network
    from kubeharden.engine.evaluator import build_inventory
    from kubeharden.sources.files import parse_text

    text = Path(CLUSTER).read_text() + ("---\n" + ADMIN_POLICY if layered else "")
    inventory, _ = build_inventory(parse_text(text, "cluster.yaml"))
    network = Network(inventory)
    assert network.layered is layered
    every = {(s, d): str(p) for s, d, p in network.class_pairs()}
    sizes = []
    for namespaces in (("shop",), ("billing",), ("shop", "billing")):
        within = sum(1 << c.index for c in network.classes if c.namespace in namespaces)
        cut = {(s, d): str(p) for s, d, p in network.class_pairs(within)}
        assert cut == {k: v for k, v in every.items() if within >> k[0] & 1 and within >> k[1] & 1}
        sizes.append(len(cut))
    assert sizes[0] == 4 and sizes[1] == 0 and sizes[2] == len(every) > 4


def test_hostile_names_in_paths_and_policies_are_shown_as_text(browser, tmp_path):  # noqa: F811
    evil = "<img src=x onerror=window.pwned=1>"
    text = Path(CLUSTER).read_text().replace("name: deployer-creates-pods", f"name: '{evil}'") \
        .replace("name: default-deny-ingress", f"name: '{evil}2'")
    manifest = tmp_path / "hostile.yaml"
    manifest.write_text(text)
    page, errors, _ = _open(browser, _report(tmp_path, str(manifest)))
    page.locator(f'{PATHS}[data-start="Deployment/shop/web"] summary').click()
    page.click('section.reachability td[data-src="shop/Deployment/web"][data-dst="billing/Deployment/ledger"]')
    assert page.evaluate("window.pwned") is None and errors == []
    assert f"RoleBinding shop/{evil}" in page.inner_text("section.escalation-paths")
    assert f"NetworkPolicy billing/{evil}2" in page.inner_text("section.reachability .matrix-detail")


def test_a_stored_summary_of_another_shape_is_drawn_as_missing_numbers():
    import datetime as dt

    from kubeharden.model.history import ScanInfo

    odd = ScanInfo(1, dt.datetime(2026, 1, 1), "k8s/", "manifest", "default", "0", 0,
                   {"by_severity": ["not", "a", "dict"], "compliance": [None, {"section": 3}, {"section": "Secrets",
                                                                                              "failed": "x"}]})
    t = trends([odd], {"profile": "default", "by_severity": {"high": True}, "compliance": "nope"})
    assert [p["total"] for p in t["points"]] == [0, 0]
    assert t["sections"] == [{"section": "Secrets", "values": [None, None], "failed": [None, None], "points": ""}]


@pytest.mark.parametrize(("kind", "paths", "matrix"), [
    ("ClusterRoleBinding", "Not assessed: the cluster would not list ClusterRoleBinding", None),
    ("NetworkPolicy", None, "Not assessed: the cluster would not list NetworkPolicy"),
    ("Secret", "Incomplete: escalation paths: Secret could not be listed", None),
    ("Namespace", "Incomplete: escalation paths: Namespace could not be listed",
     "Incomplete: reachability: Namespace could not be listed"),
])
def test_kinds_a_cluster_would_not_list_are_never_drawn_as_a_pass(tmp_path, kind, paths, matrix):
    """A live cluster that refuses to list a kind (an ``unlisted`` problem, as sources/cluster.py reports it)."""
    from kubeharden.model.findings import UNLISTED, Problem
    from kubeharden.model.objects import ResourceRef
    from kubeharden.report.html import write

    refused = Problem("warning", UNLISTED, f"cannot list {kind}", resource=ResourceRef("v1", kind, None, ""))
    evaluator = Evaluator(Config())
    evaluator.keep_analyses = True
    findings = list(evaluator.run([refused, *read_objects([CLUSTER])]))
    out = io.StringIO()
    write(findings, evaluator.result, out)
    page = out.getvalue()
    drawn = evaluator.result.analyses[0]
    for expected, section, drawing in ((paths, "escalation", drawn.paths), (matrix, "reachability", drawn.matrix)):
        part = page[page.index(f'id="{section}"'):]
        if expected is None:
            assert drawing and "Not assessed" not in part[:part.index("</section>")]
        else:
            assert expected in page
            if expected.startswith("Not assessed"):
                assert not drawing and expected in part[:part.index("</section>")]


def test_the_trend_reads_the_last_scans_of_the_same_inputs_oldest_first(store, tmp_path):  # noqa: F811
    """store/history.scans_of on SQLite and a real PostgreSQL server (the fixtures of test_store.py)."""
    from kubeharden.store.database import open_store
    from kubeharden.store.history import scans_of

    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: app}\n"
                     "spec: {containers: [{name: a, image: nginx}]}\n")
    for paths in ([INSECURE], [str(other)], [INSECURE], [INSECURE, str(other)], [INSECURE]):
        assert main(["scan", "--no-config", "--fail-on", "none", "-f", "json", "-o", str(tmp_path / "r.json"),
                     *paths, "--store", store]) == 0
    engine = open_store(store)
    try:
        every = scans_of(engine, INSECURE)
        last_two = scans_of(engine, INSECURE, limit=2)
    finally:
        engine.dispose()
    assert [s.inputs for s in every] == [INSECURE] * 3
    ids = [s.id for s in every]
    assert ids == sorted(ids) and [s.id for s in last_two] == ids[1:]
    assert all(s.summary["findings"] > 0 for s in every)


SECRET_MAKER = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: maker, namespace: vault}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: boss, namespace: vault}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secrets, namespace: vault}
rules: [{apiGroups: [""], resources: [secrets], verbs: [create, get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: maker-secrets, namespace: vault}
subjects: [{kind: ServiceAccount, name: maker, namespace: vault}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secrets}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: boss-admin}
subjects: [{kind: ServiceAccount, name: boss, namespace: vault}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
"""


def test_a_grant_that_serves_a_step_twice_is_drawn_once():
    """Creating a token Secret and reading it back needs create and get: here one rule grants both."""
    from kubeharden.sources.files import parse_text

    evaluator = Evaluator(Config())
    evaluator.keep_analyses = True
    for _ in evaluator.run(parse_text(SECRET_MAKER, "vault.yaml")):
        pass
    path = next(p for p in evaluator.result.analyses[0].paths if p.start == "ServiceAccount vault/maker")
    first = path.hops[0]
    assert "kubernetes.io/service-account-token Secret" in first.action and first.reached == "ServiceAccount vault/boss"
    assert [(g.binding, g.role, g.rule) for g in first.grants] == [
        ("RoleBinding vault/maker-secrets", "Role vault/secrets", "create,get secrets [core]")]
    assert first.grants[0].file == "vault.yaml" and first.grants[0].line == 18  # its roleRef
    assert path.goal == "cluster-admin" and path.hops[1].grants[0].binding == "ClusterRoleBinding boss-admin"
