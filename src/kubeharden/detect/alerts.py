"""The alert record: what a detection rule found in the audit log, and who did it.

Alerts are not :class:`~kubeharden.model.findings.Finding`: they describe an act (an API request
at a time, by an identity, from an address), not a resource's configuration. They share
the severities, guide IDs and mappings so gates and reports read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kubeharden.model.findings import Severity
from kubeharden.model.guide import GUIDE_DOC_URL, requirement_url

if TYPE_CHECKING:
    from kubeharden.detect.rules import DetectionRule


@dataclass(slots=True)
class Alert:
    rule: DetectionRule
    time: float
    event: dict[str, Any]
    audit_ids: list[str]
    message: str
    count: int = 1
    key: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    @property
    def rule_id(self) -> str:
        return self.rule.id

    def timestamp(self) -> str:
        return datetime.fromtimestamp(self.time, UTC).isoformat(timespec="microseconds").replace(
            "+00:00", "Z")

    def to_dict(self) -> dict[str, Any]:
        """The plain alert: every field a responder needs, flat enough for any tool."""
        e = self.event
        user = e["user"] if isinstance(e.get("user"), dict) else {}
        imp = e.get("impersonatedUser") if isinstance(e.get("impersonatedUser"), dict) else None
        ref = e["objectRef"] if isinstance(e.get("objectRef"), dict) else {}
        status = e["responseStatus"] if isinstance(e.get("responseStatus"), dict) else {}
        ann = e["annotations"] if isinstance(e.get("annotations"), dict) else {}
        r = self.rule
        return {
            "rule_id": r.id,
            "title": r.title,
            "severity": r.severity.label,
            "message": self.message,
            "time": self.timestamp(),
            "nsa": list(r.nsa),
            "nsa_urls": [requirement_url(i) for i in r.nsa],
            "detections": list(r.det),
            "section": r.section,
            "mitre": list(r.mitre),
            "user": user.get("username"),
            "groups": user.get("groups") or [],
            "impersonated_user": imp.get("username") if imp else None,
            "source_ips": e.get("sourceIPs") or [],
            "user_agent": e.get("userAgent"),
            "verb": e.get("verb"),
            "request_uri": e.get("requestURI"),
            "object": {"api_group": ref.get("apiGroup"), "resource": ref.get("resource"),
                       "subresource": ref.get("subresource"), "namespace": ref.get("namespace"),
                       "name": ref.get("name")},
            "response_code": status.get("code"),
            "decision": ann.get("authorization.k8s.io/decision"),
            "count": self.count,
            "key": self.key,
            "audit_ids": self.audit_ids,
            "remediation": r.remediation,
        }

    def to_siem(self) -> dict[str, Any]:
        """One JSON line for a SIEM, in Elastic Common Schema field names with Kubernetes identity."""
        d = self.to_dict()
        obj = d["object"]
        r = self.rule
        return {
            "@timestamp": d["time"],
            "message": d["message"],
            "event": {"kind": "alert", "module": "kubeharden", "dataset": "kubeharden.audit",
                      "severity": int(r.severity), "action": d["verb"], "id": self.audit_ids[-1] if self.audit_ids
                      else None, "outcome": _outcome(d["response_code"])},
            # ECS rule.reference is a URL: the guide page entry of the rule's first requirement.
            "rule": {"id": r.id, "name": r.title, "reference": d["nsa_urls"][0] if r.nsa else GUIDE_DOC_URL,
                     "category": r.section},
            "log": {"level": r.severity.label},
            "threat": {"framework": "MITRE ATT&CK", "technique": {"id": list(r.mitre)}},
            "user": {"name": d["user"], "roles": d["groups"],
                     "effective": {"name": d["impersonated_user"]} if d["impersonated_user"] else None},
            "source": {"ip": d["source_ips"][0] if d["source_ips"] else None},
            "related": {"ip": d["source_ips"], "user": [u for u in (d["user"], d["impersonated_user"]) if u]},
            "user_agent": {"original": d["user_agent"]},
            "url": {"original": d["request_uri"]},
            "http": {"response": {"status_code": d["response_code"]}},
            "kubernetes": {
                "namespace": obj["namespace"],
                "audit": {"auditID": self.audit_ids, "verb": d["verb"], "decision": d["decision"],
                          "objectRef": {"apiGroup": obj["api_group"], "resource": obj["resource"],
                                        "subresource": obj["subresource"], "namespace": obj["namespace"],
                                        "name": obj["name"]}},
            },
            "kubeharden": {"nsa": d["nsa"], "nsa_urls": d["nsa_urls"], "detections": d["detections"],
                           "count": d["count"], "key": d["key"], "remediation": d["remediation"]},
        }


def _outcome(code: Any) -> str:
    if not isinstance(code, int):
        return "unknown"
    return "success" if code < 400 else "failure"
