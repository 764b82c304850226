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
from kubeharden.enforce.review_request import BadReview, check_request
from kubeharden.model.findings import Finding, Problem, Severity
from kubeharden.model.objects import K8sObject, Provenance, make_ref
from kubeharden.model.pods import CUSTOM_TEMPLATE_PATHS, POD_SECURITY_ANNOTATION_PREFIXES, builtin_pod_path

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

__all__ = ["BadReview", "AdmissionSettings", "Verdict", "Reviewer", "parse_review", "refusal", "review_all",
           "with_settings"]


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

    ``outcome``: allowed | denied | would-deny (dry-run) | skipped (not judged) | error | malformed (the
    object has values the API server would have refused: the server answers 400 with ``message``).
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
            answer["status"] = {"code": self.code, "reason": _REASONS.get(self.code, "InternalError"),
                                "message": self.message}
        if self.warnings:
            answer["warnings"] = self.warnings
        if self.patch:
            answer["patchType"] = "JSONPatch"
            answer["patch"] = base64.b64encode(orjson.dumps(self.patch)).decode("ascii")
        return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": answer}


#: metav1.StatusReason of a refusal, by code
_REASONS = {400: "BadRequest", 403: "Forbidden", 500: "InternalError"}


def parse_review(body: bytes) -> dict[str, Any]:
    """The ``request`` of an AdmissionReview v1 body, its fields checked (:func:`check_request`). Raises
    BadReview, naming the field, on anything the API server would not send."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadReview(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "AdmissionReview":
        raise BadReview("not an AdmissionReview")
    if doc.get("apiVersion") != API_VERSION:
        raise BadReview(f"apiVersion {str(doc.get('apiVersion'))[:60]!r} is not {API_VERSION} "
                        "(set admissionReviewVersions: [v1] in the webhook configuration)")
    return check_request(doc.get("request"))


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
        change = update_change(request)
        if change == NOTHING:
            # Pod Security Admission: updates that leave what the pod runs as it was are not re-evaluated;
            # a controller scaling a ReplicaSet or removing a finalizer must not be refused.
            if self.settings.mode == "dry-run":
                log.info("review %s: %s %s", uid, kind, UNCHANGED)
            warnings = [_short(f"kubeharden: {UNCHANGED}")] if self.settings.mode == "warn" else []
            return Verdict(uid, True, "skipped", kind, message=UNCHANGED, warnings=warnings)
        assert obj is not None
        try:
            findings, problems = self._evaluate(obj, request)
        except Exception as exc:  # the failure policy decides; the server keeps serving
            log.exception("review %s failed", uid)
            return self._failed(uid, kind, f"{type(exc).__name__}: {exc}")
        invalid = [p for p in problems if p.kind == "invalid-object" and p.level == "error"]
        if invalid:  # the API server decodes and validates the object first: it never sends such a value
            return Verdict(uid, False, "malformed", kind, message=f"request.object: {invalid[0].message}", code=400)
        errors = [p for p in problems if p.kind == "internal"]
        if errors:
            return self._failed(uid, kind, "; ".join(p.message for p in errors))
        if change == ANNOTATIONS:
            findings = self._added(findings, request)
        return self._judge(uid, kind, obj, findings, request)

    def _added(self, findings: list[Finding], request: dict[str, Any]) -> list[Finding]:
        """``findings`` without the failures ``oldObject`` has too: an update that changes only the object's
        annotations is judged by what it adds (a credential in a new annotation, a suppression removed),
        so a controller's bookkeeping annotation on an object admitted before the policy is not refused."""
        try:
            before, _ = self._evaluate(request["oldObject"], request)
        except Exception:  # the old object cannot be judged: every finding of the new one counts
            log.exception("review %s: oldObject could not be evaluated", request.get("uid"))
            return findings
        old = {_identity(f) for f in before if f.status == "fail"}
        return [f for f in findings if f.status != "fail" or _identity(f) not in old]

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

    def _judge(self, uid: str, kind: str, obj: dict[str, Any], findings: list[Finding],
               request: dict[str, Any]) -> Verdict:
        settings = self.settings
        failing = [f for f in findings if f.status == "fail"]
        if settings.mutate and not patchable(request):
            why = EPHEMERAL_ONLY if request.get("subResource") == "ephemeralcontainers" else POD_IMMUTABLE
            log.info("review %s: %s", uid, why)
            return Verdict(uid, True, "allowed", kind, findings=failing,
                           warnings=[_short(f"kubeharden: {why}")] if failing else [])
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
        if settings.mode == "dry-run":  # the server logs the message: the object and what enforce would refuse
            raw_meta = obj.get("metadata")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            name = meta.get("name") or (f"{meta['generateName']}<generated>" if meta.get("generateName") else None)
            where = "/".join(str(x) for x in (request.get("namespace") or meta.get("namespace"), name) if x)
            return Verdict(uid, True, "would-deny", kind, findings=failing,
                           message=f"{where or '(unnamed)'}: " + "; ".join(_line(f) for f in _ordered(blocking)))
        return Verdict(uid, False, "denied", kind, message=refusal(blocking), code=403, findings=failing)


EPHEMERAL_ONLY = ("safe fixes not applied: the ephemeralcontainers subresource keeps only changes to "
                  "ephemeralContainers")
POD_IMMUTABLE = ("safe fixes not applied: an update may not change a Pod's spec beyond images, tolerations and "
                 "deadlines, so the API server would refuse the patched update")


def patchable(request: dict[str, Any]) -> bool:
    """Whether a JSON Patch of the object's securityContext fields can be admitted: on CREATE, and on an UPDATE
    of anything but a Pod. A Pod update may change only container images, ``activeDeadlineSeconds``,
    ``terminationGracePeriodSeconds`` and added tolerations (Kubernetes "Pods", Pod update and replacement;
    ``ValidatePodUpdate``), and the ``ephemeralcontainers`` subresource keeps only changes to
    ``ephemeralContainers``, so a patch there would make the API server refuse the update or drop the fix."""
    if request.get("operation") == "CREATE" and not request.get("subResource"):
        return True
    obj = request.get("object")
    return (request.get("operation") == "UPDATE" and not request.get("subResource")
            and isinstance(obj, dict) and obj.get("kind") != "Pod")


def _pod(obj: Any) -> dict[str, Any] | None:
    """The pod an object holds, with its ``metadata`` and ``spec``: a Pod itself, a built-in workload's pod
    template (model.pods.POD_TEMPLATE_PATHS), another kind's ``spec.template`` or
    ``spec.jobTemplate.spec.template`` (model.pods.CUSTOM_TEMPLATE_PATHS); None when it holds none."""
    if not isinstance(obj, dict):
        return None
    path = builtin_pod_path(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
    for candidate in (path,) if path is not None else CUSTOM_TEMPLATE_PATHS:
        node: Any = obj
        for step in candidate:
            node = node.get(step) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("spec"), dict):
            return node
    return None


def _annotations(holder: dict[str, Any]) -> dict[str, Any]:
    meta = holder.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def _security_annotations(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod's seccomp and AppArmor annotations (model.pods.POD_SECURITY_ANNOTATION_PREFIXES)."""
    return {k: v for k, v in _annotations(pod).items() if str(k).startswith(POD_SECURITY_ANNOTATION_PREFIXES)}


#: What an UPDATE changes (:func:`update_change`): something a pod control reads, only annotations, or nothing.
JUDGED, ANNOTATIONS, NOTHING = "judged", "annotations", "nothing"
UNCHANGED = "update leaves the pod spec and annotations unchanged; not re-evaluated (as Pod Security Admission)"


def update_change(request: dict[str, Any]) -> str:
    """How much of what the controls read an UPDATE changes against ``oldObject``.

    JUDGED: not an UPDATE of the main resource, no pod in the object, no ``oldObject``, or the pod spec (pod
    template spec) or the pod's seccomp or AppArmor annotations changed: judged in full. Pod Security Admission
    re-evaluates a pod update the same way (``isSignificantPodUpdate``, k8s.io/pod-security-admission/admission/
    admission.go: an image or a seccomp annotation changed; "Pod Security Admission",
    https://kubernetes.io/docs/concepts/security/pod-security-admission/). The ephemeralcontainers
    subresource is always judged: it is how containers are added to a running pod.
    ANNOTATIONS: only other annotations of the object or its pod template changed (KH-SEC-003 and the
    suppressions read them): judged by the findings it adds (:meth:`Reviewer._added`).
    NOTHING: not re-evaluated (a ReplicaSet scaled, a finalizer removed, a label set).
    """
    if request.get("operation") != "UPDATE" or (request.get("subResource") or ""):
        return JUDGED
    obj, old_obj = request.get("object"), request.get("oldObject")
    new, old = _pod(obj), _pod(old_obj)
    if new is None or old is None:
        return JUDGED
    if new.get("spec") != old.get("spec") or _security_annotations(new) != _security_annotations(old):
        return JUDGED
    assert isinstance(obj, dict) and isinstance(old_obj, dict)
    if _annotations(obj) != _annotations(old_obj) or _annotations(new) != _annotations(old):
        return ANNOTATIONS
    return NOTHING


def _unchanged_update(request: dict[str, Any]) -> str:
    """Why an UPDATE is not re-evaluated ("" when it is): :func:`update_change` is NOTHING."""
    return UNCHANGED if update_change(request) == NOTHING else ""


def _identity(f: Finding) -> tuple[str, str, str, str]:
    """What makes two findings of one object's two versions the same finding."""
    return f.control.id, f.container or "", f.path or "", f.message


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
