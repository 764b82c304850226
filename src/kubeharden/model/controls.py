r"""The control record: what the catalogue says of one control, and what a check reports.

:class:`Control` is loaded from ``catalogue/controls/*.yaml`` by :mod:`kubeharden.catalogue.loader`;
checks (:mod:`kubeharden.checks`) yield :class:`Violation`\ s that the engine turns into findings
(:mod:`kubeharden.model.findings`). The vocabulary (scopes, profiles, inputs, statuses, mapping
keys) is defined here once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from kubeharden.model.fieldpath import join
from kubeharden.model.findings import Fix, Severity
from kubeharden.model.guide import GUIDE_DOC_URL, section_of

#: Keys of a control's ``mappings``: the CIS Kubernetes Benchmark (v1.9, and v1.10), the DISA Kubernetes STIG
#: (V-IDs), the Pod Security Standards, the peer tools, and MITRE ATT&CK (docs/mappings.md).
MAPPING_KEYS = ("cis", "cis-1.10", "stig", "pss", "kubescape", "checkov", "trivy", "polaris", "kube-score",
                "kubeaudit", "kubesec", "mitre")
#: How a mapped peer ID relates to the control (docs/mappings.md): the same rule, or an overlapping one.
RELATIONS = ("equivalent", "related")
#: The relation of IDs listed without one (the shape before relations existed); tests reject it.
UNREVIEWED = "unreviewed"
SCOPES = ("container", "pod", "object", "inventory", "facts")
#: Profiles, each running the controls of the one before it and more. ``minimal`` was called
#: ``baseline``, which is also a Pod Security Standards level that means something else.
PROFILES = ("minimal", "default", "strict")
#: Former profile names -> current ones; they keep working with a deprecation note.
PROFILE_ALIASES = {"baseline": "minimal"}
#: Every name ``--profile`` and ``profile:`` accept.
PROFILE_NAMES = (*PROFILES, *PROFILE_ALIASES)
STATUSES = ("stable", "preview", "deprecated")
#: docs/controls.md on the web, beside docs/guide.md; each control has a section whose anchor is its ID.
CONTROLS_DOC_URL = GUIDE_DOC_URL.rsplit("/", 1)[0] + "/controls.md"
#: Where objects can come from, as far as a control is concerned: manifests (files, stdin), a live
#: cluster, node files, one admission request (a single object, without the rest of the cluster), and
#: etcd read directly (``kubeharden etcd check``: stored Secrets and the endpoints' probes).
INPUTS = ("manifest", "cluster", "node", "admission", "etcd")
#: The inputs a control can see when its entry does not say: a pod or object control judges one
#: object, which every input but node files carries; a cross-object (inventory) control needs the
#: other objects too, which one admission request does not hold.
DEFAULT_INPUTS = {"container": ("manifest", "cluster", "admission"), "pod": ("manifest", "cluster", "admission"),
                  "object": ("manifest", "cluster", "admission"), "inventory": ("manifest", "cluster"),
                  "facts": ("node",)}
#: What a catalogue example is (``examples: input:``), with the language its text is shown in: a
#: manifest (the default), a Dockerfile, an OCI image configuration (read as a saved image whose
#: reference is EXAMPLE_IMAGE), a vulnerability report, or one component's facts on a node (``facts``: the
#: mapping a facts rule reads, ComponentFacts.view(), in YAML); ``examples: with:`` gives manifests
#: scanned beside every example of the control (the workloads a report is joined to); ``etcd``: the objects
#: the etcd source makes (model/etcd.py), written as YAML and judged as the ``etcd`` input.
EXAMPLE_INPUTS = {"manifest": "yaml", "dockerfile": "dockerfile", "image-config": "json", "vuln-report": "json",
                  "facts": "yaml", "etcd": "yaml"}
#: The reference of the saved image an ``image-config`` example is read as.
EXAMPLE_IMAGE = "registry.example.com/web:1.0"
#: Settings a control can name (its catalogue ``requires_config:`` or ``enabled_by_config:``): the
#: file's key -> the Config attribute.
REQUIRABLE_SETTINGS = {"registries": "allowed_registries", "require_digest": "require_digest"}


class Violation(NamedTuple):
    """What a check reports; the engine turns it into a Finding with the control's metadata.

    ``path``: the field path of the offending or missing field from the object's root
    (:func:`kubeharden.model.fieldpath.join`); None lets the engine use the container's or the
    object's path. ``fix``: None applies the control's catalogue ``fix:`` (if any) at the
    violation; a :class:`~kubeharden.model.findings.Fix` replaces it; False says this violation has no
    mechanical fix although the control's others do.
    """

    message: str
    line: int | None = None
    container: str | None = None
    remediation: str | None = None
    obj: Any = None  # the K8sObject at fault, for inventory-scope checks
    path: str | None = None
    fix: Fix | bool | None = None
    #: How the check itself suppressed the finding (finer exceptions than the engine's, such as one
    #: per vulnerability: ``{"kind": "exception", "reason", "exception", "expires"}``), else None.
    suppression: dict[str, Any] | None = None
    #: This finding's severity when it differs from the control's (a critical vulnerability), else None;
    #: ``severity:`` of the configuration still overrides it.
    severity: Severity | None = None


#: What a container- or object-scope check yields, alone, for a unit that holds nothing it can judge
#: (a container that runs no Kubernetes component, a Node whose status states no version): the unit
#: is not counted as evaluated, so a control that judged nothing is not-applicable, never a pass.
NOTHING_TO_JUDGE = Violation("nothing to judge")


@dataclass(frozen=True, slots=True)
class FixTemplate:
    """A control's structured fix (``fix:`` in the catalogue), resolved against each violation.

    ``field`` is relative to the violation's unit: the container (container-scope controls and
    violations naming a container) or the pod spec (pod scope); without ``field`` the fix
    applies at the violation's own path.
    """

    op: str
    value: Any = None
    safe: bool = False
    field: str = ""
    #: The name of the evidence rule (:data:`FIX_EVIDENCE`) that decides per container whether the fix is
    #: safe there; "" when ``safe`` alone decides.
    evidence: str = ""
    #: Why the fix is safe or not when no evidence rule decides (Fix.because).
    because: str = ""

    def resolve(self, path: str, unit_path: str) -> Fix:
        """The fix for a violation at ``path`` found in the unit (container or pod spec) at ``unit_path``."""
        target = join(unit_path, *self.field.split(".")) if self.field else path
        return Fix(self.op, target, self.value, self.safe, self.because)


#: Evidence rules a catalogue ``fix:`` may name (``evidence:``): each makes the fix safe where the input shows
#: it cannot break the workload (kubeharden.checks.fix_evidence holds the logic; docs/fix.md). The container
#: rules are applied by the engine; ``service-account-unbound`` by the check itself (it reads the inventory).
FIX_EVIDENCE = {
    "non-root": "the container runs as a non-root user (runAsNonRoot: true, or a non-zero runAsUser) and listens on "
                "no port below 1024 (containerPort or a probe's port) unless it adds NET_BIND_SERVICE",
    "non-root-unprivileged": "the container runs as a non-root user, is not privileged, adds no capability and "
                             "listens on no port below 1024 (containerPort or a probe's port)",
    "service-account-unbound": "the input holds the ServiceAccount and every binding of its cluster (a complete "
                               "live-cluster listing or its snapshot), none grants the account anything and "
                               "nothing in the pod reads the token",
}


@dataclass(frozen=True, slots=True)
class Control:
    """One control of the catalogue: metadata, lifecycle (slug, since, status, former IDs) and its rule."""

    id: str
    title: str
    severity: Severity
    nsa: tuple[str, ...]
    description: str
    remediation: str
    scope: str
    profile: str
    kinds: tuple[str, ...] = ()
    mappings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: (mapping key, ((peer ID, relation), ...)) in the order of ``mappings``
    relations: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    rule: Any = None  # a declarative rule (dict) when the logic is simple
    example_fail: str = ""
    example_pass: str = ""
    config_note: str = ""
    #: A setting of .kubeharden.yaml the control compares with; it cannot run while that setting is empty.
    requires_config: str = ""
    #: A boolean setting of .kubeharden.yaml that, when given, turns the control on or off whatever the profile.
    enabled_by_config: str = ""
    #: A human name beside the stable ID (``privileged-container``), accepted wherever an ID is.
    slug: str = ""
    #: The kubeharden version that introduced the control.
    since: str = ""
    #: stable, preview (its verdicts may still change) or deprecated (to be removed).
    status: str = "stable"
    #: IDs the control had before a rename; naming them still works, with a deprecation note.
    formerly: tuple[str, ...] = ()
    #: Further failing examples (``examples: fail:`` may be a list); tests run every one.
    more_fail_examples: tuple[str, ...] = ()
    #: The inputs that can show what the control needs (INPUTS); on others it is not assessable.
    inputs: tuple[str, ...] = ("manifest", "cluster", "admission")
    fix: FixTemplate | None = None
    #: What the examples are (EXAMPLE_INPUTS) and the manifests scanned beside each of them.
    example_input: str = "manifest"
    example_with: str = ""
    #: Kinds the control reads besides ``kinds`` (a cross-object control); when a cluster refuses
    #: to list one of them, the control is not assessable.
    reads: tuple[str, ...] = ()

    def needs_kind(self, kind: str, pod_kinds: frozenset[str] | set[str]) -> bool:
        """Whether the control reads objects of ``kind``: its ``kinds``/``reads``, or, for a container
        or pod control (or a cross-object one over workloads, without ``kinds``), any of ``pod_kinds``."""
        if kind in self.kinds or kind in self.reads:
            return True
        judges_pods = self.scope in ("container", "pod") or (self.scope == "inventory" and not self.kinds)
        return judges_pods and kind in pod_kinds

    @property
    def fail_examples(self) -> tuple[str, ...]:
        return (self.example_fail, *self.more_fail_examples)

    @property
    def anchor(self) -> str:
        """The anchor of the control's section in docs/controls.md (``kh-pod-004``)."""
        return self.id.lower()

    @property
    def doc_url(self) -> str:
        """The web address of the control's section in docs/controls.md."""
        return f"{CONTROLS_DOC_URL}#{self.anchor}"

    @property
    def section(self) -> str:
        return section_of(self.nsa[0]) if self.nsa else "Other"

    def mappings_dict(self) -> dict[str, list[str]]:
        found = dict(self.mappings)
        return {key: list(found.get(key, ())) for key in MAPPING_KEYS}

    def mapping_tuples(self) -> dict[str, tuple[str, ...]]:
        """:meth:`mappings_dict` with tuples: a fresh dict whose values the control's findings share."""
        return dict(_mapping_tuples(self.mappings))

    def mapping_relations_dict(self) -> dict[str, dict[str, str]]:
        """``{mapping key: {peer ID: "equivalent" | "related"}}``, every key present."""
        found = dict(self.relations)
        return {key: dict(found.get(key, ())) for key in MAPPING_KEYS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "since": self.since,
            "status": self.status,
            "formerly": list(self.formerly),
            "title": self.title,
            "severity": self.severity.label,
            "nsa": list(self.nsa),
            "section": self.section,
            "scope": self.scope,
            "profile": self.profile,
            "description": self.description,
            "remediation": self.remediation,
            "mappings": self.mappings_dict(),
            "mapping_relations": self.mapping_relations_dict(),
            "examples": {"fail": self.example_fail, "pass": self.example_pass, "input": self.example_input,
                         "with": self.example_with or None},
            "inputs": list(self.inputs),
            "fix": None if self.fix is None else {"op": self.fix.op, "field": self.fix.field or None,
                                                  "value": self.fix.value, "safe": self.fix.safe,
                                                  "evidence": self.fix.evidence or None},
        }


def not_assessable_reason(control: Control, input_kind: str) -> str:
    """Why ``control`` was not assessable from an input of ``input_kind``: it needs another kind of input
    (``needs node input``), or its input was of the right kind but what it judges could not be read or seen
    (an etcd that refused the client, a file a scanner Pod does not mount), as the input problems say."""
    if input_kind not in control.inputs:
        return f"needs {' or '.join(control.inputs)} input"
    return "what it judges could not be read or seen: see the input problems and notes"


def not_assessable_groups(controls: Iterable[Control], input_kind: str) -> dict[str, list[str]]:
    """The IDs of not-assessable ``controls`` grouped by why (:func:`not_assessable_reason`):
    ``{"needs node input": ["KH-CP-001", …]}``, groups and IDs in the order of ``controls``."""
    groups: dict[str, list[str]] = {}
    for control in controls:
        groups.setdefault(not_assessable_reason(control, input_kind), []).append(control.id)
    return groups


@lru_cache(maxsize=512)
def _mapping_tuples(mappings: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, tuple[str, ...]]:
    """Every key of MAPPING_KEYS with the peer IDs of ``mappings`` (built once per control)."""
    found = dict(mappings)
    return {key: tuple(found.get(key, ())) for key in MAPPING_KEYS}
