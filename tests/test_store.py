"""The history store (scan --store, history, diff, --baseline) on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from postgres import Server, binaries

from kubeharden.cli import main
from kubeharden.store.database import StoreError, normalise_url, open_store
from kubeharden.store.history import findings_of, list_scans, resolve_scan

BEFORE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        securityContext: {privileged: true}
"""
# privileged removed (fixed), hostNetwork added (new), everything else unchanged (still open); the
# container moved down two lines, which must not make its findings new
AFTER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostNetwork: true

      containers:
      - name: web
        image: nginx:1.27
"""


@pytest.fixture(scope="module")
def postgres():
    if binaries() is None:
        message = "PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # in CI the real server is required, never skipped
        pytest.skip(message)
    server = Server()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    server = request.getfixturevalue("postgres")
    url = server.base_url("kh")
    engine = open_store(url)  # a clean store for each test
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM findings")
        conn.exec_driver_sql("DELETE FROM scans")
    engine.dispose()
    return url


def _scan(tmp_path, text, *extra):
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return main(["scan", "--no-config", "-f", "json", "-o", str(tmp_path / "report.json"), str(path), *extra])


def _ids(findings):
    return sorted(f["control_id"] for f in findings)


def test_scans_are_stored_listed_and_compared_by_fingerprint(store, tmp_path, capsys):
    assert _scan(tmp_path, BEFORE, "--store", store) == 1
    assert "stored as scan" in capsys.readouterr().err
    assert _scan(tmp_path, AFTER, "--store", store) == 1
    capsys.readouterr()

    assert main(["history", "--store", store, "-f", "json"]) == 0
    scans = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in scans] == sorted((s["id"] for s in scans), reverse=True) and len(scans) == 2
    assert scans[1]["by_severity"]["critical"] == 1 and scans[0]["by_severity"]["critical"] == 0
    assert scans[0]["objects"] == 1 and scans[0]["compliance"]

    assert main(["diff", "latest~1", "latest", "--store", store, "-f", "json"]) == 1  # new findings: exit 1
    d = json.loads(capsys.readouterr().out)
    assert _ids(d["new"]) == ["KH-POD-006"]
    # KH-NET-016 (kubelet reachable through pod egress) does not apply to a host-network pod
    assert _ids(d["fixed"]) == ["KH-NET-016", "KH-POD-004"]
    # the moved container's findings, and KH-NET-007 whose message changed, are the same findings
    assert {"KH-POD-001", "KH-POD-002", "KH-NET-007"} <= set(_ids(d["still_open"]))
    assert d["counts"] == {k: len(d[k]) for k in ("new", "fixed", "still_open", "accepted", "reopened")}

    assert main(["diff", "latest", "latest", "--store", store]) == 0
    assert "0 new, 0 fixed" in capsys.readouterr().out


def test_a_baseline_hides_known_findings_and_the_exit_code_follows_new_ones(store, tmp_path, capsys):
    assert _scan(tmp_path, BEFORE, "--store", store) == 1
    capsys.readouterr()
    # the same input against its own stored scan: nothing new, exit 0
    assert _scan(tmp_path, BEFORE, "--baseline", "latest", "--store", store) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["findings"] == []
    assert report["summary"]["baseline"]["not_shown"] > 0
    assert report["summary"]["findings"] == 0 and report["summary"]["by_severity"]["critical"] == 0
    # the changed input: only the new finding is shown and gates
    assert _scan(tmp_path, AFTER, "--baseline", "latest", "--store", store, "--fail-on", "high") == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert "KH-POD-006" in _ids(report["findings"]) and "KH-POD-001" not in _ids(report["findings"])


def test_a_report_file_is_a_baseline_and_a_diff_side(tmp_path, capsys):
    assert _scan(tmp_path, BEFORE) == 1
    (tmp_path / "before.json").write_text((tmp_path / "report.json").read_text())
    path = tmp_path / "app.yaml"
    assert main(["scan", "--no-config", "-f", "sarif", "-o", str(tmp_path / "before.sarif"), str(path)]) == 1
    path.write_text(AFTER)
    for baseline in ("before.json", "before.sarif"):
        assert main(["scan", "--no-config", "-f", "json", "-o", str(tmp_path / "after.json"), str(path),
                     "--baseline", str(tmp_path / baseline)]) == 1
        shown = _ids(json.loads((tmp_path / "after.json").read_text())["findings"])
        assert "KH-POD-006" in shown and "KH-POD-001" not in shown, baseline
    assert main(["diff", str(tmp_path / "before.json"), str(tmp_path / "after.json")]) == 1
    out = capsys.readouterr().out
    assert "KH-POD-006" in out and "KH-POD-004" in out


@pytest.mark.parametrize("text, message", [
    ('{"findings": [{"control_id": "KH-POD-004"}], "schema_version": "1.1"}', "has no fingerprint"),
    ("not json at all", "not a kubeharden JSON or SARIF report"),
    ('{"runs": [{"results": [{"ruleId": "X", "message": {"text": "m"}}]}]}', "without kubeharden fingerprints"),
    ("[1, 2]", "not a kubeharden JSON or SARIF report"),
])
def test_a_file_that_is_not_a_report_is_refused_by_name(tmp_path, capsys, text, message):
    (tmp_path / "app.yaml").write_text(BEFORE)
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    assert main(["scan", "--no-config", str(tmp_path / "app.yaml"), "--baseline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err


def test_unknown_scans_and_stores_give_clear_messages(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    assert main(["diff", "7", "latest", "--store", url]) == 2
    assert "no stored scan '7' (0 scans stored" in capsys.readouterr().err
    # neither a stored scan nor a report: read as an input, which does not exist
    assert main(["diff", "yesterday", "7", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "yesterday: no such file or directory" in err and "no stored scan '7'" in err
    with pytest.raises(SystemExit):
        main(["history", "--store", "k8s/"])  # a path, not a URL: refused before it is taken for one
    assert "not a store URL" in capsys.readouterr().err
    assert main(["history", "--store", "mysql://u@h/db"]) == 2
    assert "SQLite or PostgreSQL" in capsys.readouterr().err


def test_an_unreachable_server_is_named_without_its_password(capsys):
    assert main(["history", "--store", "postgresql://kh:topsecret@127.0.0.1:1/kh"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the store postgresql+psycopg://kh:***@127.0.0.1:1/kh" in err
    assert "topsecret" not in err


def test_a_file_that_is_not_a_database_is_refused_not_overwritten(tmp_path, capsys):
    db = tmp_path / "h.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    assert main(["history", "--store", f"sqlite:///{db}"]) == 2
    assert "cannot open the store" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_the_default_store_is_the_user_data_folder_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("KUBEHARDEN_STORE", raising=False)
    engine = open_store()
    assert str(engine.url).endswith(f"{tmp_path}/data/kubeharden/history.sqlite3")
    engine.dispose()
    monkeypatch.setenv("KUBEHARDEN_STORE", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    engine = open_store()
    assert str(engine.url).endswith("env.sqlite3")
    engine.dispose()
    assert normalise_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalise_url("h.db").startswith("sqlite:////")


def test_the_migrated_schema_is_the_models_schema(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kubeharden.store.schema import Base

    engine = open_store(store)
    with engine.connect() as conn:
        changes = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert changes == []


def test_a_stored_scan_keeps_failing_and_suppressed_findings_and_can_be_deleted(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    annotated = BEFORE.replace("metadata: {name: web, namespace: shop}",
                               "metadata: {name: web, namespace: shop, annotations: "
                               "{kubeharden.io/suppress.KH-POD-004: 'reviewed: test rig'}}")
    _scan(tmp_path, annotated, "--store", url)
    engine = open_store(url)
    scan_id = resolve_scan(engine, "latest")
    kept = findings_of(engine, scan_id, ("fail", "suppressed"))
    assert {f.status for f in kept.values() if f.control_id == "KH-POD-004"} == {"suppressed"}
    assert "KH-POD-004" not in {f.control_id for f in findings_of(engine, scan_id).values()}
    engine.dispose()
    assert main(["history", "--store", url, "--delete", "latest"]) == 0
    engine = open_store(url)
    assert list_scans(engine) == []
    engine.dispose()
    rows = sqlite3.connect(tmp_path / "h.sqlite3").execute("SELECT count(*) FROM findings").fetchone()
    assert rows == (0,)


def test_a_store_that_refuses_writes_is_reported_and_stores_nothing(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    open_store(url).dispose()
    conn = sqlite3.connect(tmp_path / "h.sqlite3")
    conn.execute("CREATE TRIGGER no_findings BEFORE INSERT ON findings BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    conn.commit()
    conn.close()
    assert _scan(tmp_path, BEFORE, "--store", url) == 2
    assert "--store: cannot store the scan: disk full" in capsys.readouterr().err
    engine = open_store(url)
    assert list_scans(engine) == []  # the scan row went with the failed transaction
    engine.dispose()
    with pytest.raises(StoreError):
        resolve_scan(open_store(url), "latest")


def test_a_finding_suppressed_by_a_new_exception_is_accepted_not_fixed(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    _scan(tmp_path, BEFORE, "--store", url)
    config = tmp_path / "kh.yaml"
    config.write_text("exceptions:\n- {control: KH-POD-004, reason: 'lab cluster, reviewed by sec team', "
                      "expires: 2099-01-01}\n")
    path = tmp_path / "app.yaml"
    assert main(["scan", "--config", str(config), "-f", "json", "-o", str(tmp_path / "r.json"), str(path),
                 "--store", url]) == 1
    capsys.readouterr()
    assert main(["diff", "latest~1", "latest", "--store", url, "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert _ids(d["accepted"]) == ["KH-POD-004"] and "KH-POD-004" not in _ids(d["fixed"]) and d["new"] == []
    assert main(["diff", "latest", "latest~1", "--store", url, "-f", "json"]) == 0  # the exception removed
    d = json.loads(capsys.readouterr().out)
    assert _ids(d["reopened"]) == ["KH-POD-004"] and d["new"] == []
