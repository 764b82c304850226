"""KH-IMG-012: which admission policies enforce image rules in which namespaces.

Policies written from each engine's documentation: ValidatingAdmissionPolicy
(https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/), Kyverno
(https://kyverno.io/docs/writing-policies/verify-images/), Sigstore policy-controller
(https://docs.sigstore.dev/policy-controller/overview/), Gatekeeper
(https://open-policy-agent.github.io/gatekeeper/website/docs/howto/).
"""

from __future__ import annotations

import textwrap

import pytest
from conftest import scan

WORKLOADS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: apps, policy.sigstore.dev/include: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab, labels: {tier: experiments}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec: {containers: [{name: web, image: registry.example.com/web:1.0}]}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: lab}
spec: {containers: [{name: probe, image: registry.example.com/probe:1.0}]}
---
"""

VAP = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: registry}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  validations:
    - expression: "object.spec.containers.all(c, c.image.startsWith('registry.example.com/'))"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: registry}
spec:
  policyName: registry
  validationActions: ACTIONS
  matchResources:
    namespaceSelector: {matchLabels: {tier: apps}}
"""

KYVERNO = """\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: signed}
spec:
  validationFailureAction: ACTION
  rules:
    - name: check
      match:
        any:
          - resources: {kinds: [Pod], namespaces: [NAMESPACES]}
      verifyImages:
        - imageReferences: ["registry.example.com/*"]
"""

GATEKEEPER = """\
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: repos}
spec:
  enforcementAction: ACTION
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    excludedNamespaces: [lab]
  parameters:
    repos: ["registry.example.com/"]
"""

SIGSTORE = """\
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  mode: MODE
  images: [{glob: "registry.example.com/**"}]
"""


def uncovered(policies: str) -> list[str]:
    findings, result = scan(textwrap.dedent(WORKLOADS + policies), only=["KH-IMG-012"])
    assert not [p for p in result.problems if p.level == "error"], result.problems
    return [f.message.split(":", 1)[0] for f in findings]


def test_no_policy_every_namespace_with_workloads():
    assert uncovered("") == ["namespace lab", "namespace shop"]


@pytest.mark.parametrize("actions, expected", [("[Deny]", ["namespace lab"]), ("[Warn, Audit]", ["namespace lab",
                                                                                                "namespace shop"])])
def test_validating_admission_policy_needs_deny_and_selects_namespaces(actions, expected):
    assert uncovered(VAP.replace("ACTIONS", actions)) == expected


def test_policy_without_binding_or_not_about_images_does_not_count():
    no_binding = VAP.split("---")[0]
    assert uncovered(no_binding) == ["namespace lab", "namespace shop"]
    other = VAP.replace("c.image.startsWith('registry.example.com/')", "has(c.resources)").replace("ACTIONS", "[Deny]")
    assert uncovered(other) == ["namespace lab", "namespace shop"]


@pytest.mark.parametrize("action, namespaces, expected", [
    ("Enforce", "shop", ["namespace lab"]),
    ("Enforce", '"*"', []),
    ("Audit", '"*"', ["namespace lab", "namespace shop"]),
])
def test_kyverno_verify_images(action, namespaces, expected):
    assert uncovered(KYVERNO.replace("ACTION", action).replace("NAMESPACES", namespaces)) == expected


def test_kyverno_audit_is_named_in_the_finding():
    findings, _ = scan(textwrap.dedent(WORKLOADS + KYVERNO.replace("ACTION", "Audit").replace("NAMESPACES", "shop")),
                       only=["KH-IMG-012"])
    assert "Kyverno ClusterPolicy signed rule check: failure action Audit" in findings[0].message


@pytest.mark.parametrize("action, expected", [("deny", ["namespace lab"]), ("dryrun", ["namespace lab",
                                                                                        "namespace shop"])])
def test_gatekeeper_constraint(action, expected):
    assert uncovered(GATEKEEPER.replace("ACTION", action)) == expected


@pytest.mark.parametrize("mode, expected", [("enforce", ["namespace lab"]), ("warn", ["namespace lab",
                                                                                      "namespace shop"])])
def test_sigstore_policy_covers_opted_in_namespaces(mode, expected):
    assert uncovered(SIGSTORE.replace("MODE", mode)) == expected


def test_namespaces_without_workloads_are_not_reported():
    findings, _ = scan("apiVersion: v1\nkind: Namespace\nmetadata: {name: empty}\n", only=["KH-IMG-012"])
    assert findings == []


def test_policies_whose_words_only_contain_image_words_do_not_count():
    # Kyverno "require labels" (kyverno.io sample policy): a label "stage" ("tag" inside) on Pods;
    # Gatekeeper K8sRequiredLabels (gatekeeper-library): a parameter "message" naming a "report"
    labels = """\
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata: {name: require-labels}
        spec:
          validationFailureAction: Enforce
          rules:
            - name: check-stage
              match: {any: [{resources: {kinds: [Pod]}}]}
              validate:
                message: "label 'stage' is required, see the report"
                pattern: {metadata: {labels: {stage: "?*", repository-owner: "?*"}}}
        ---
        apiVersion: constraints.gatekeeper.sh/v1beta1
        kind: K8sRequiredLabels
        metadata: {name: owner}
        spec:
          match: {kinds: [{apiGroups: [""], kinds: [Pod]}]}
          parameters: {message: "pods need a stage label for the report", labels: [{key: stage}]}
        """
    assert uncovered(textwrap.dedent(labels)) == ["namespace lab", "namespace shop"]


def test_a_pattern_on_the_image_field_counts():
    registries = """\
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata: {name: restrict-registries}
        spec:
          validationFailureAction: Enforce
          rules:
            - name: registries
              match: {any: [{resources: {kinds: [Pod]}}]}
              validate:
                message: "unknown registry"
                pattern: {spec: {containers: [{image: "registry.example.com/*"}]}}
        """
    assert uncovered(textwrap.dedent(registries)) == []


def test_kyverno_audit_override_for_a_namespace_does_not_enforce_there():
    # validationFailureActionOverrides: "Audit" for the namespaces named (kyverno.io, policy settings)
    policy = KYVERNO.replace("ACTION", "Enforce").replace("NAMESPACES", '"*"').replace(
        "  rules:", "  validationFailureActionOverrides: [{action: Audit, namespaces: [lab]}]\n  rules:")
    assert uncovered(policy) == ["namespace lab"]


def test_vap_about_image_pull_policy_or_subresources_only_does_not_count():
    pull = VAP.replace("c.image.startsWith('registry.example.com/')", "c.imagePullPolicy == 'Always'")
    assert uncovered(pull.replace("ACTIONS", "[Deny]")) == ["namespace lab", "namespace shop"]
    # pods/ephemeralcontainers (UPDATE) and pods/exec are subresources: a Pod's CREATE is not admitted by them
    eph = VAP.replace("operations: [CREATE], resources: [pods]", "operations: [CREATE, UPDATE], "
                      "resources: [pods/ephemeralcontainers, pods/exec]")
    assert uncovered(eph.replace("ACTIONS", "[Deny]")) == ["namespace lab", "namespace shop"]


def test_gatekeeper_label_selector_covers_only_the_workloads_it_selects():
    # match.labelSelector: only objects with these labels are checked (Gatekeeper "The match field")
    selected = GATEKEEPER.replace("ACTION", "deny").replace(
        "    excludedNamespaces: [lab]", "    excludedNamespaces: [lab]\n    labelSelector: {matchLabels: {checked: 'yes'}}")
    assert uncovered(selected) == ["namespace lab", "namespace shop"]
