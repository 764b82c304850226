"""The sample audit log in examples/ shows the intrusion and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from kubeharden.cli import main

LOG = Path(__file__).resolve().parents[1] / "examples" / "audit" / "audit.log"


def test_sample_audit_log_raises_the_intrusions_alerts_only(capsys):
    assert main(["audit", "scan", str(LOG), "--format", "jsonl"]) == 1
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    rules = {a["rule"]["id"] for a in alerts}
    assert {"KH-AUDIT-001", "KH-AUDIT-031", "KH-AUDIT-050"} <= rules
    actors = {a["user"]["name"] if isinstance(a.get("user"), dict) else None for a in alerts}
    assert actors <= {"mallory@example.com", "system:serviceaccount:shop:web"}, actors
