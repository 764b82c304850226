"""The audit Policy of the guide's appendix (NSA-LOG-8, NSA-LOG-9), corrected, plus what detection needs.

The guide's v1.2 policy logs Secrets at Metadata and everything else at RequestResponse. This one,
in the order the API server walks it (first match wins; "Auditing" in the Kubernetes documentation):

1. Secrets, ConfigMaps, TokenRequests (``serviceaccounts/token``) and TokenReviews at Metadata, so
   their values never reach the log (the guide's correction, widened to the other credential holders);
2. writes of Events, and authenticated health probes, at None (noise the guide says to drop; anonymous
   probes stay logged, NSA-LOG-5);
3. the requests the detection rules need bodies of, at their level, when the catch-all is lower
   (``needs``: given by the caller from the rule pack, ``detect/policy_controls.detection_needs``);
4. a catch-all at the level asked for (the guide's RequestResponse by default).

``omitStages: [RequestReceived]`` drops the duplicate first stage; ResponseComplete is kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from kubeharden.model.facts import AUDIT_LEVELS as LEVELS

#: Resources whose bodies hold credentials, by API group ("" is the core group).
CREDENTIAL_RESOURCES = {"": ["secrets", "configmaps", "serviceaccounts/token"],
                        "authentication.k8s.io": ["tokenreviews"]}
HEALTH_URLS = ["/healthz*", "/livez*", "/readyz*"]
#: (level, API group, resource, subresource) of one request kind a detection rule needs.
Need = tuple[str, str, str, str]


def _resources(pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    by_group: dict[str, list[str]] = defaultdict(list)
    for group, name in pairs:
        if name not in by_group[group]:
            by_group[group].append(name)
    return [{"group": group, "resources": sorted(names)} for group, names in sorted(by_group.items())]


def build(needs: Iterable[Need], catch_all: str = "RequestResponse") -> dict[str, Any]:
    """The Policy mapping; ``needs`` are the detection rules' requirements. Raises ValueError for an
    unknown ``catch_all`` level (None would log nothing for unlisted requests)."""
    if catch_all not in LEVELS[1:]:
        raise ValueError(f"the catch-all level must be one of {', '.join(LEVELS[1:])}")
    rules: list[dict[str, Any]] = [
        {"level": "Metadata",
         "resources": [{"group": g, "resources": list(r)} for g, r in CREDENTIAL_RESOURCES.items()]},
        # authenticated writers only: a None rule without user conditions drops anonymous requests too (KH-LOG-005)
        {"level": "None", "userGroups": ["system:authenticated"], "verbs": ["create", "update", "patch"],
         "resources": [{"group": "", "resources": ["events"]}, {"group": "events.k8s.io", "resources": ["events"]}]},
        {"level": "None", "userGroups": ["system:authenticated"], "nonResourceURLs": list(HEALTH_URLS)},
    ]
    floor = LEVELS.index(catch_all)
    by_level: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for level, group, resource, subresource in needs:
        if LEVELS.index(level) > floor and group != "*":
            by_level[level].append((group, f"{resource}/{subresource}" if subresource else resource))
    for level in sorted(by_level, key=LEVELS.index, reverse=True):
        rules.append({"level": level, "resources": _resources(by_level[level])})
    rules.append({"level": catch_all})
    return {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"], "rules": rules}
