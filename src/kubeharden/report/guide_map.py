"""What implements each requirement of the guide: controls of the catalogue and audit rules.

Joins :data:`kubeharden.model.guide.REQUIREMENTS` with the ``nsa:`` IDs of the control catalogue
(``catalogue/controls/*.yaml``) and of the built-in audit rule pack (``detect/rules/*.yaml``).
A requirement that nothing implements keeps the gap and reason written in ``model/guide.py``, so no
requirement is ever shown as covered by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeharden.catalogue.loader import load_catalogue
from kubeharden.detect.rules import load_rules
from kubeharden.model.guide import REQUIREMENTS, Requirement, requirement_url

CHECKED = "checked in manifests"       # at least one control that judges objects (manifests, clusters)
NODE_CHECKED = "checked on nodes"      # only controls of node facts (scope: facts, `kubeharden node`)
DETECTED = "detected in audit logs"    # audit rules only
IMPLEMENTED = (CHECKED, NODE_CHECKED, DETECTED)


@dataclass(slots=True)
class GuideEntry:
    """One requirement with the controls and audit rules that implement it (ID, title pairs)."""

    requirement: Requirement
    controls: list[tuple[str, str]] = field(default_factory=list)
    audit_rules: list[tuple[str, str]] = field(default_factory=list)
    #: the IDs of ``controls`` that judge node facts only (their ``inputs`` are ``node``)
    on_nodes: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        """:data:`CHECKED`, :data:`NODE_CHECKED`, :data:`DETECTED`, or the requirement's gap (one of
        ``guide.GAP_KINDS``)."""
        if any(i not in self.on_nodes for i, _ in self.controls):
            return CHECKED
        if self.controls:
            return NODE_CHECKED
        if self.audit_rules:
            return DETECTED
        return self.requirement.gap

    @property
    def reason(self) -> str:
        """What is not checked and why (empty when the listed controls and rules cover it)."""
        return self.requirement.reason

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        return {"id": r.id, "section": r.section, "title": r.title, "text": r.text, "status": self.status,
                "reason": self.reason or None, "url": requirement_url(r.id),
                "controls": [{"id": i, "title": t} for i, t in self.controls],
                "audit_rules": [{"id": i, "title": t} for i, t in self.audit_rules]}


def guide_map() -> list[GuideEntry]:
    """Every requirement, in the guide's order, with what implements it.

    Reads the packaged catalogue and rule pack; raises CatalogueError or RuleError if either is
    broken (the test suite keeps them valid).
    """
    entries = {i: GuideEntry(r) for i, r in REQUIREMENTS.items()}
    for control in load_catalogue():
        for nsa_id in control.nsa:
            entries[nsa_id].controls.append((control.id, control.title))
            if control.inputs == ("node",):
                entries[nsa_id].on_nodes.add(control.id)
    for rule in load_rules():
        for nsa_id in (*rule.nsa, *rule.det):
            entries[nsa_id].audit_rules.append((rule.id, rule.title))
    return list(entries.values())
