"""Admission reviews: one ``admission.k8s.io/v1`` AdmissionReview in, its answer out.

The API server sends an AdmissionReview whose ``request`` holds the object being created or
updated; the webhook answers with the same ``uid``, ``allowed`` and, when it refuses, a
``status`` (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
and #response). Every review gets an :class:`~kubeharden.engine.evaluator.Evaluator` of its own
(``input_kind="admission"``: controls whose ``inputs:`` lack admission, the cross-object ones, are
not run), so no state of one review reaches another, whatever runs concurrently. The
controls, profile, annotations and exceptions are those of ``kubeharden scan`` with the same
configuration.

Modes: ``enforce`` refuses an object with a finding at or above ``fail_on``; ``warn`` admits it
and returns each finding as a warning, which kubectl prints (``Warning: …``); ``dry-run``
admits it silently and only counts and logs what enforce would refuse. With ``mutate`` the
review (for a mutating webhook) returns the safe structured fixes as a JSON Patch.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeharden.analysis.selectors import EVERYTHING, Selector
from kubeharden.config import Config
from kubeharden.engine.evaluator import Evaluator
from kubeharden.enforce.patch import json_patch
from kubeharden.model.findings import Finding, Problem, Severity
from kubeharden.model.objects import K8sObject, Provenance, make_ref

log = logging.getLogger("kubeharden.webhook")

API_VERSION = "admission.k8s.io/v1"
MODES = ("enforce", "warn", "dry-run")
FAILURE_POLICIES = ("Fail", "Ignore")
#: Operations whose object is judged; DELETE and CONNECT carry no new object to harden.
REVIEWED_OPERATIONS = ("CREATE", "UPDATE")
#: Subresources whose request object is the whole pod (``kubectl debug`` adds ephemeral containers
#: through pods/ephemeralcontainers); others (status, scale, binding …) change no pod spec we judge.
REVIEWED_SUBRESOURCES = ("", "ephemeralcontainers")
#: Kubernetes: "Limit warnings to 120 characters if possible"; longer ones may be truncated by clients.
#: https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response
WARNING_LIMIT = 120
MAX_WARNINGS = 20
#: The refusal message lists this many findings; the rest are counted.
MAX_LISTED = 10


class BadReview(ValueError):
    """The body is not an AdmissionReview v1 request; the server answers 400 with this message."""


@dataclass(frozen=True)
class AdmissionSettings:
    """How reviews are judged. ``only``: exact control IDs (None: the profile's controls).

    ``object_selector``: only objects whose labels match are judged (others are admitted as not
    selected); ``exclude_namespaces``: requests in these namespaces are admitted unjudged.
    ``failure_policy``: what an internal error means: ``Fail`` refuses, ``Ignore`` admits with a
    warning (the webhook configuration's ``failurePolicy`` covers the server being unreachable).
    """

    config: Config = field(default_factory=Config)
    mode: str = "enforce"
    #: refuse findings at or above this severity; None refuses nothing (warn and count only)
    fail_on: Severity | None = Severity.HIGH
    mutate: bool = False
    failure_policy: str = "Fail"
    object_selector: Selector = EVERYTHING
    exclude_namespaces: frozenset[str] = frozenset()
    only: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.failure_policy not in FAILURE_POLICIES:
            raise ValueError(f"failure policy {self.failure_policy!r} is not one of {', '.join(FAILURE_POLICIES)}")


@dataclass
class Verdict:
    """What a review decided, for the answer and the metrics.

    ``outcome``: allowed | denied | would-deny (dry-run) | skipped (not judged) | error.
    """

    uid: str
    allowed: bool
    outcome: str
    kind: str = ""
    message: str = ""
    code: int = 200
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    patch: list[dict[str, Any]] | None = None

    def response(self) -> dict[str, Any]:
        """The AdmissionReview v1 answer."""
        answer: dict[str, Any] = {"uid": self.uid, "allowed": self.allowed}
        if not self.allowed:
            answer["status"] = {"code": self.code, "reason": "Forbidden" if self.code == 403 else "InternalError",
                                "message": self.message}
        if self.warnings:
            answer["warnings"] = self.warnings
        if self.patch:
            answer["patchType"] = "JSONPatch"
            answer["patch"] = base64.b64encode(orjson.dumps(self.patch)).decode("ascii")
        return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": answer}


def parse_review(body: bytes) -> dict[str, Any]:
    """The ``request`` of an AdmissionReview v1 body. Raises BadReview on anything else."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadReview(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "AdmissionReview":
        raise BadReview("not an AdmissionReview")
    if doc.get("apiVersion") != API_VERSION:
        raise BadReview(f"apiVersion {str(doc.get('apiVersion'))[:60]!r} is not {API_VERSION} "
                        "(set admissionReviewVersions: [v1] in the webhook configuration)")
    request = doc.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str) or not request["uid"]:
        raise BadReview("request.uid is missing")
    obj = request.get("object")
    if obj is not None and not isinstance(obj, dict):
        raise BadReview("request.object is not an object")
    return request


class Reviewer:
    """Judges admission requests with the catalogue's controls (thread-safe: every review gets an
    evaluator of its own, :meth:`Evaluator.fresh`; nothing shared is written but the exceptions' use counts)."""

    def __init__(self, settings: AdmissionSettings) -> None:
        self.settings = settings
        #: compiled once (ConfigError now, not per review); each review runs a fresh copy of it
        self._template = Evaluator(settings.config, only=settings.only, input_kind="admission")
        #: the controls each review runs
        self.controls = self._template.controls

    def review(self, request: dict[str, Any]) -> Verdict:
        """The verdict on one parsed request (:func:`parse_review`). Never raises."""
        uid = request["uid"]
        obj = request.get("object")
        gvk = request.get("kind")
        kind = str((gvk.get("kind") if isinstance(gvk, dict) else None) or (obj or {}).get("kind") or "")
        skip = self._skipped(request, obj)
        if skip:
            return Verdict(uid, True, "skipped", kind, message=skip)
        unchanged = _unchanged_update(request)
        if unchanged:
            # Pod Security Admission: updates that leave the pod spec (or template) as it was are not
            # re-evaluated; a controller scaling a ReplicaSet or removing a finalizer must not be refused.
            if self.settings.mode == "dry-run":
                log.info("review %s: %s %s", uid, kind, unchanged)
            warnings = [_short(f"kubeharden: {unchanged}")] if self.settings.mode == "warn" else []
            return Verdict(uid, True, "skipped", kind, message=unchanged, warnings=warnings)
        assert obj is not None
        try:
            findings, problems = self._evaluate(obj, request)
        except Exception as exc:  # the failure policy decides; the server keeps serving
            log.exception("review %s failed", uid)
            return self._failed(uid, kind, f"{type(exc).__name__}: {exc}")
        errors = [p for p in problems if p.kind == "internal"]
        if errors:
            return self._failed(uid, kind, "; ".join(p.message for p in errors))
        return self._judge(uid, kind, obj, findings)

    def _skipped(self, request: dict[str, Any], obj: Any) -> str:
        """Why the request is admitted without judging it ("" when it is judged)."""
        if request.get("operation") not in REVIEWED_OPERATIONS:
            return f"operation {request.get('operation')} is not reviewed"
        if (request.get("subResource") or "") not in REVIEWED_SUBRESOURCES:
            return f"subresource {request.get('subResource')} is not reviewed"
        if not isinstance(obj, dict):
            return "the request has no object"
        namespace = str(request.get("namespace") or "")
        if namespace in self.settings.exclude_namespaces:
            return f"namespace {namespace} is excluded"
        labels = (obj.get("metadata") or {}).get("labels") if isinstance(obj.get("metadata"), dict) else None
        if not self.settings.object_selector.matches(labels if isinstance(labels, dict) else {}):
            return "the object selector does not select it"
        return ""

    def _evaluate(self, obj: dict[str, Any], request: dict[str, Any]) -> tuple[list[Finding], list[Problem]]:
        evaluator = self._template.fresh()
        item = K8sObject(obj, make_ref(obj, str(request.get("namespace") or "") or None),
                         Provenance(None, None, source="admission"))
        findings = list(evaluator.run([item]))
        return findings, evaluator.result.problems

    def _failed(self, uid: str, kind: str, why: str) -> Verdict:
        message = f"kubeharden could not review this object ({why})"
        if self.settings.failure_policy == "Ignore":
            return Verdict(uid, True, "error", kind, warnings=[_short(message + "; admitted (failure policy Ignore)")])
        return Verdict(uid, False, "error", kind, message=message + "; refused (failure policy Fail)", code=500)

    def _judge(self, uid: str, kind: str, obj: dict[str, Any], findings: list[Finding]) -> Verdict:
        settings = self.settings
        failing = [f for f in findings if f.status == "fail"]
        if settings.mutate:
            fixes = [f.fix for f in failing if f.fix is not None and f.fix.safe]
            ops, skipped = json_patch(obj, fixes)
            for fix, why in skipped:
                log.info("review %s: fix %s %s left out: %s", uid, fix.op, fix.path, why)
            fixed = {f.fix.path for f in failing if f.fix is not None and f.fix.safe} - {x.path for x, _ in skipped}
            warnings = [_short(f"kubeharden set {path}") for path in sorted(fixed)][:MAX_WARNINGS]
            return Verdict(uid, True, "allowed", kind, warnings=warnings, findings=failing, patch=ops or None)
        blocking = [f for f in failing if settings.fail_on is not None and f.severity >= settings.fail_on]
        if settings.mode == "warn":
            # what enforce would refuse, most severe first (as refusal() orders it); --fail-on none warns of all
            warned = failing if settings.fail_on is None else blocking
            warnings = [_short(_line(f)) for f in _ordered(warned)][:MAX_WARNINGS]
            return Verdict(uid, True, "allowed", kind, warnings=warnings, findings=failing)
        if not blocking:
            return Verdict(uid, True, "allowed", kind, findings=failing)
        if settings.mode == "dry-run":
            log.info("review %s: enforce would refuse %s: %s", uid, kind, "; ".join(_line(f) for f in blocking))
            return Verdict(uid, True, "would-deny", kind, findings=failing)
        return Verdict(uid, False, "denied", kind, message=refusal(blocking), code=403, findings=failing)


def _pod_spec(obj: Any) -> Any:
    """The pod spec an object holds (a Pod's spec, a workload's template spec); None when it has none."""
    if not isinstance(obj, dict):
        return None
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        job = spec.get("jobTemplate")
        spec = job.get("spec") if isinstance(job, dict) else None
        if not isinstance(spec, dict):
            return None
    template = spec.get("template")
    return template.get("spec") if isinstance(template, dict) else None


def _unchanged_update(request: dict[str, Any]) -> str:
    """Why an UPDATE is not re-evaluated ("" when it is): its pod spec or pod template spec equals
    ``oldObject``'s (Pod Security Admission does the same). The ephemeralcontainers subresource is
    always judged: it is how containers are added to a running pod."""
    if request.get("operation") != "UPDATE" or (request.get("subResource") or ""):
        return ""
    new, old = _pod_spec(request.get("object")), _pod_spec(request.get("oldObject"))
    if new is None or old is None or new != old:
        return ""
    return "update leaves the pod spec unchanged; not re-evaluated (as Pod Security Admission)"


def _line(f: Finding) -> str:
    where = f" container {f.container}" if f.container else ""
    return f"{f.control.id}{where}: {f.message}"


def _short(text: str) -> str:
    """One line of at most WARNING_LIMIT characters (warnings are printed one per line by kubectl)."""
    text = " ".join(text.split())
    return text if len(text) <= WARNING_LIMIT else text[:WARNING_LIMIT - 1] + "…"


def _ordered(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by control and container."""
    return sorted(findings, key=lambda f: (-f.severity, f.control.id, f.container or ""))


def refusal(blocking: list[Finding]) -> str:
    """The refusal message: each finding with its field, why (guide IDs) and the fix, most severe first."""
    ordered = _ordered(blocking)
    lines = [f"kubeharden refused {ordered[0].resource}: {len(ordered)} finding(s) at or above the threshold"]
    for f in ordered[:MAX_LISTED]:
        field_text = f" at {f.path}" if f.path else ""
        where = f"container {f.container}: " if f.container else ""
        what = " ".join(f.message.split())
        lines.append(f"[{f.control.id} {f.severity.label}] {where}{what}{field_text} "
                     f"(guide {', '.join(f.control.nsa)}). "
                     f"Fix: {' '.join(f.remediation.split())}")
    if len(ordered) > MAX_LISTED:
        lines.append(f"… and {len(ordered) - MAX_LISTED} more (kubeharden scan shows all)")
    return "\n".join(lines)


def with_settings(settings: AdmissionSettings, **changes: Any) -> AdmissionSettings:
    """``settings`` with some fields changed (for the mutating endpoint of one server)."""
    return dataclasses.replace(settings, **changes)


def review_all(reviewer: Reviewer, requests: Iterable[dict[str, Any]],
               run: Callable[[Callable[[dict[str, Any]], Verdict], Iterable[dict[str, Any]]], Iterable[Verdict]] = map
               ) -> list[dict[str, Any]]:
    """The answers to ``requests`` in order; ``run`` maps the review over them (``map``, or a thread pool's)."""
    return [v.response() for v in run(reviewer.review, requests)]
