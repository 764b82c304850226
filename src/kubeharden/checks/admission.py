"""Image admission (NSA-POD-7): does an admission controller refuse non-compliant images?

The guide asks that images which fail the organisation's policy be blocked at admission. A
namespace with workloads is covered when one of these, in the input (manifests or a cluster),
*enforces* a rule about images for Pods (or the workloads that create them) in it:

* a ValidatingAdmissionPolicy whose validations read ``image`` and a binding with the ``Deny``
  action selecting the namespace (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/);
* a Kyverno ClusterPolicy or Policy with a ``verifyImages`` rule or a ``validate`` rule about
  images, with ``Enforce`` as its failure action (https://kyverno.io/docs/writing-policies/verify-images/,
  https://kyverno.io/docs/writing-policies/validate/; the default action is ``Audit``, which blocks nothing);
* a Sigstore policy-controller ClusterImagePolicy not in ``warn`` mode, for namespaces labelled
  ``policy.sigstore.dev/include: "true"`` (https://docs.sigstore.dev/policy-controller/overview/);
* a Gatekeeper constraint about images (its kind or parameters name images, repositories,
  registries, tags or digests, as ``K8sAllowedRepos``) with ``enforcementAction: deny``
  (the default; https://open-policy-agent.github.io/gatekeeper/website/docs/howto/).

Policies kubeharden does not know (an admission webhook of another engine) are not credited:
the finding says which were found and why they do not count.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from typing import Any

from kubeharden.analysis.selectors import SelectorError, compile_selector
from kubeharden.checks.context import Context
from kubeharden.checks.network import user_namespaces
from kubeharden.checks.registry import check
from kubeharden.model.controls import Violation
from kubeharden.model.inventory import GATEKEEPER_CONSTRAINTS, Inventory
from kubeharden.model.kinds import DEFAULT_NAMESPACE
from kubeharden.model.objects import K8sObject, as_dict, as_list

NAME_LABEL = "kubernetes.io/metadata.name"
SIGSTORE_INCLUDE = "policy.sigstore.dev/include"
#: The resources whose admission decides which images run: Pods and every kind that creates them.
POD_KINDS = {"pods", "pod", "deployments", "deployment", "statefulsets", "statefulset", "daemonsets", "daemonset",
             "replicasets", "replicaset", "jobs", "job", "cronjobs", "cronjob", "replicationcontrollers",
             "replicationcontroller", "*"}
#: An image field in a CEL expression or a JMESPath/Kyverno variable (``c.image``, ``element.image``,
#: ``images.containers``), never ``imagePullPolicy`` nor words that merely contain the letters.
_IMAGE_FIELD = re.compile(r"(?<![A-Za-z0-9_])images?(?![A-Za-z0-9_-])")
#: Words of a Gatekeeper constraint kind or parameter name (CamelCase split) that are about images.
_IMAGE_WORDS = frozenset({"image", "images", "repo", "repos", "repository", "repositories", "registry",
                          "registries", "tag", "tags", "digest", "digests"})
#: Kyverno pattern anchors around a key: ``=(image)``, ``X(image)``, ``^(image)``, ``+(image)``, ``<(image)``.
_ANCHOR = re.compile(r"^[=X^+<]?\((.*)\)$")


def _group(obj: K8sObject) -> str:
    return obj.ref.api_version.rpartition("/")[0]


def _words(name: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", name)}


def _references_image(value: Any, skip: frozenset[str] = frozenset({"message", "messageExpression"})) -> bool:
    """Whether a policy's expressions (CEL, JMESPath variables) or pattern keys read an image field: a key
    ``image`` (Kyverno patterns, anchors stripped) or ``imageReferences``, or a string with ``image`` as a whole
    field name; messages are skipped (they describe, they do not check)."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _IMAGE_FIELD.search(item):
                return True
        elif isinstance(item, dict) and id(item) not in seen:
            seen.add(id(item))
            for k, v in item.items():
                key = str(k)
                if key in skip:
                    continue
                m = _ANCHOR.match(key)
                if (m.group(1) if m else key) in ("image", "imageReferences"):
                    return True
                stack.append(v)
        elif isinstance(item, list) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item)
    return False


def _gatekeeper_about_images(kind: str, parameters: Any) -> bool:
    """A Gatekeeper constraint about images: its kind (K8sAllowedRepos, K8sDisallowedTags, K8sImageDigests)
    or a parameter name (``repos``, ``allowedRegistries``, ``exemptImages``) made of image words."""
    if _words(kind) & _IMAGE_WORDS:
        return True
    return any(_words(str(k)) & _IMAGE_WORDS for k in as_dict(parameters))


def _selects(raw: Any, labels: dict[str, str]) -> bool:
    """A namespaceSelector (missing or ``{}``: every namespace) against a namespace's labels."""
    if not raw:
        return True
    try:
        return compile_selector(raw, "namespaceSelector").matches(labels)
    except SelectorError:
        return False


class Coverage:
    """Which namespaces the input's image admission policies enforce rules in."""

    def __init__(self, inventory: Inventory) -> None:
        self.namespace_labels = {o.name: {**o.labels, NAME_LABEL: o.name} for o in inventory.of_kind("Namespace")}
        #: the labels of each namespace's workloads' pods (a Gatekeeper labelSelector checks only some)
        self.pod_labels: dict[str, list[dict[str, str]]] = {}
        for pod in inventory.pods:
            self.pod_labels.setdefault(pod.namespace or DEFAULT_NAMESPACE, []).append(pod.labels)
        #: (policy label, predicate namespace -> bool)
        self.enforcing: list[tuple[str, Any]] = []
        #: policies about images that block nothing, with why
        self.not_enforcing: list[str] = []
        self._vap(inventory)
        self._kyverno(inventory)
        self._sigstore(inventory)
        self._gatekeeper(inventory)

    def labels(self, namespace: str) -> dict[str, str]:
        return self.namespace_labels.get(namespace, {NAME_LABEL: namespace})

    def covering(self, namespace: str) -> list[str]:
        return [label for label, covers in self.enforcing if covers(namespace)]

    # -- ValidatingAdmissionPolicy ----------------------------------------------------------------

    def _vap(self, inventory: Inventory) -> None:
        policies = {o.name: o for o in inventory.of_kind("ValidatingAdmissionPolicy")
                    if _group(o) == "admissionregistration.k8s.io"}
        for name, policy in policies.items():
            spec = as_dict(policy.raw.get("spec"))
            if not _references_image([as_dict(v).get("expression") for v in as_list(spec.get("validations"))]) \
                    or not _rules_cover_pods(
                    as_dict(spec.get("matchConstraints")).get("resourceRules")):
                continue
            own = as_dict(spec.get("matchConstraints")).get("namespaceSelector")
            bindings = [b for b in inventory.of_kind("ValidatingAdmissionPolicyBinding")
                        if as_dict(b.raw.get("spec")).get("policyName") == name]
            for binding in bindings:
                bspec = as_dict(binding.raw.get("spec"))
                label = f"ValidatingAdmissionPolicy {name} (binding {binding.name})"
                if "Deny" not in [str(a) for a in as_list(bspec.get("validationActions"))]:
                    self.not_enforcing.append(f"{label}: validationActions without Deny")
                    continue
                selector = as_dict(bspec.get("matchResources")).get("namespaceSelector")
                self.enforcing.append((label, lambda ns, s=selector, o=own: _selects(s, self.labels(ns))
                                       and _selects(o, self.labels(ns))))
            if not bindings:
                self.not_enforcing.append(f"ValidatingAdmissionPolicy {name}: no binding, so it is not applied")

    # -- Kyverno ----------------------------------------------------------------------------------

    def _kyverno(self, inventory: Inventory) -> None:
        for policy in inventory.of_kind("ClusterPolicy", "Policy"):
            if _group(policy) != "kyverno.io":
                continue
            spec = as_dict(policy.raw.get("spec"))
            default_action = str(spec.get("validationFailureAction") or "Audit").lower()
            for rule in as_list(spec.get("rules")):
                rule = as_dict(rule)
                label = f"Kyverno {policy.kind} {policy.name} rule {rule.get('name')}"
                validate = as_dict(rule.get("validate"))
                if "verifyImages" in rule:
                    actions = [str(as_dict(v).get("failureAction") or default_action).lower()
                               for v in as_list(rule.get("verifyImages"))]
                elif "validate" in rule and _references_image(validate):
                    actions = [str(validate.get("failureAction") or default_action).lower()]
                else:
                    continue
                if not _kyverno_matches_pods(rule):
                    continue
                # validationFailureActionOverrides (policy) / failureActionOverrides (rule): an action per namespace
                overrides = [as_dict(o) for o in as_list(validate.get("failureActionOverrides"))
                             or as_list(spec.get("validationFailureActionOverrides"))]
                enforced = "enforce" in actions
                if not enforced and not any(str(o.get("action")).lower() == "enforce" for o in overrides):
                    self.not_enforcing.append(f"{label}: failure action Audit, which blocks nothing")
                    continue
                if any(str(o.get("action")).lower() == "audit" for o in overrides):
                    self.not_enforcing.append(f"{label}: failure action Audit in the namespaces its "
                                              "validationFailureActionOverrides name")
                own = policy.namespace if policy.kind == "Policy" else None
                self.enforcing.append((label, lambda ns, r=rule, o=own, e=enforced, ov=overrides: (o is None or ns == o)
                                       and _kyverno_namespace(r, ns, self.labels(ns))
                                       and _kyverno_action(e, ov, ns, self.labels(ns))))

    # -- Sigstore policy-controller ---------------------------------------------------------------

    def _sigstore(self, inventory: Inventory) -> None:
        for policy in inventory.of_kind("ClusterImagePolicy"):
            if _group(policy) != "policy.sigstore.dev":
                continue
            label = f"Sigstore ClusterImagePolicy {policy.name}"
            if str(as_dict(policy.raw.get("spec")).get("mode") or "enforce").lower() == "warn":
                self.not_enforcing.append(f"{label}: mode warn, which blocks nothing")
                continue
            self.enforcing.append((label, lambda ns: self.labels(ns).get(SIGSTORE_INCLUDE) == "true"))

    # -- Gatekeeper -------------------------------------------------------------------------------

    def _gatekeeper(self, inventory: Inventory) -> None:
        for objects in list(inventory.objects.values()):
            for constraint in objects:
                if _group(constraint) != GATEKEEPER_CONSTRAINTS:
                    continue
                spec = as_dict(constraint.raw.get("spec"))
                if not _gatekeeper_about_images(constraint.kind, spec.get("parameters")):
                    continue
                match = as_dict(spec.get("match"))
                kinds = [k for entry in as_list(match.get("kinds")) for k in as_list(as_dict(entry).get("kinds"))]
                if kinds and not {str(k).lower() for k in kinds} & POD_KINDS:
                    continue
                label = f"Gatekeeper {constraint.kind} {constraint.name}"
                action = str(spec.get("enforcementAction") or "deny").lower()
                if action != "deny":
                    self.not_enforcing.append(f"{label}: enforcementAction {action}, which blocks nothing")
                    continue
                selector = match.get("labelSelector")
                if selector:  # only objects with these labels are checked: every workload of the namespace must be
                    self.enforcing.append((label, lambda ns, m=match, s=selector: _gatekeeper_namespace(
                        m, ns, self.labels(ns)) and all(_selects(s, pod) for pod in self.pod_labels.get(ns, [{}]))))
                    continue
                self.enforcing.append((label, lambda ns, m=match: _gatekeeper_namespace(m, ns, self.labels(ns))))


def _rules_cover_pods(rules: Any) -> bool:
    for rule in as_list(rules):
        rule = as_dict(rule)
        # a subresource (pods/binding, pods/*, */scale) is not the resource: creating one is no pod creation
        if {str(r) for r in as_list(rule.get("resources"))} & (POD_KINDS | {"*", "*/*"}) and \
                {"CREATE", "*"} & {str(o) for o in as_list(rule.get("operations"))}:
            return True
    return False


def _kyverno_resources(block: Any) -> list[dict[str, Any]]:
    block = as_dict(block)
    entries = [as_dict(e) for key in ("any", "all") for e in as_list(block.get(key))]
    if "resources" in block:
        entries.append(block)
    return [as_dict(e.get("resources")) for e in entries]


def _kyverno_matches_pods(rule: dict[str, Any]) -> bool:
    return any({str(k).rsplit("/", 1)[-1].lower() for k in as_list(r.get("kinds"))} & POD_KINDS
               for r in _kyverno_resources(rule.get("match")))


def _kyverno_namespace(rule: dict[str, Any], namespace: str, labels: dict[str, str]) -> bool:
    """Whether a Kyverno rule's ``match`` selects resources in ``namespace`` and ``exclude`` does not."""
    def selects(resources: dict[str, Any]) -> bool:
        names = [str(n) for n in as_list(resources.get("namespaces"))]
        if names and not any(fnmatch.fnmatchcase(namespace, n) for n in names):
            return False
        return _selects(resources.get("namespaceSelector"), labels)

    matched = any(selects(r) for r in _kyverno_resources(rule.get("match")))
    excluded = any((r.get("namespaces") or r.get("namespaceSelector")) and selects(r)
                   for r in _kyverno_resources(rule.get("exclude")))
    return matched and not excluded


def _kyverno_action(enforced: bool, overrides: list[dict[str, Any]], namespace: str, labels: dict[str, str]) -> bool:
    """Whether Kyverno enforces in ``namespace``: the first override whose ``namespaces`` (wildcards) or
    ``namespaceSelector`` selects it decides, else the rule's action (kyverno.io, policy settings)."""
    for o in overrides:
        names = [str(n) for n in as_list(o.get("namespaces"))]
        selector = o.get("namespaceSelector")
        if not names and not selector:
            continue
        if names and not any(fnmatch.fnmatchcase(namespace, n) for n in names):
            continue
        if selector and not _selects(selector, labels):
            continue
        return str(o.get("action")).lower() == "enforce"
    return enforced


def _gatekeeper_namespace(match: dict[str, Any], namespace: str, labels: dict[str, str]) -> bool:
    names = [str(n) for n in as_list(match.get("namespaces"))]
    if names and not any(fnmatch.fnmatchcase(namespace, n) for n in names):
        return False
    if any(fnmatch.fnmatchcase(namespace, str(n)) for n in as_list(match.get("excludedNamespaces"))):
        return False
    return _selects(match.get("namespaceSelector"), labels)


@check("KH-IMG-012")
def image_admission(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    coverage = Coverage(inventory)
    with_pods = {p.namespace or DEFAULT_NAMESPACE for p in inventory.pods}
    for unit in user_namespaces(inventory, ctx):
        if unit.name not in with_pods or coverage.covering(unit.name):
            continue
        weak = f"; found but not enforcing: {'; '.join(coverage.not_enforcing)}" if coverage.not_enforcing else ""
        yield Violation(f"namespace {unit.name}: no admission policy in the input enforces a rule about images for "
                        f"its workloads (ValidatingAdmissionPolicy, Kyverno, Sigstore policy-controller or "
                        f"Gatekeeper){weak}", unit.obj.origin.line, obj=unit.obj, path="")
