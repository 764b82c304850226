"""What a live cluster shows about nodes, admission and its network plugin (NSA-UPG-1, NSA-POD-7, NSA-NET-4).

Each control judges the ``ClusterInfo`` object of the cluster source (:mod:`kubeharden.sources.cluster_info`)
with the cluster's own objects; the Kubernetes facts (skew policy, providers, network plugins) are in
:mod:`kubeharden.model.cluster`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.cluster import INFO_KIND, NETWORK_PLUGINS, kubelet_max_lag, minor_version
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.inventory import Inventory
from kubeharden.model.objects import K8sObject, as_dict, as_list

#: Node fields read for the version skew (Node v1, NodeSystemInfo; kubeProxyVersion may be empty since 1.31).
NODE_COMPONENTS = (("kubelet", "kubeletVersion"), ("kube-proxy", "kubeProxyVersion"))


def _infos(inventory: Inventory) -> list[K8sObject]:
    return [o for o in inventory.of_kind(INFO_KIND) if o.ref.api_version == "kubeharden.io/v1"]


def api_server_version(info: K8sObject) -> str | None:
    """The API server's ``gitVersion`` a ClusterInfo holds, or None when it is unknown."""
    version = as_dict(as_dict(info.raw.get("cluster")).get("version")).get("gitVersion")
    return version if isinstance(version, str) and minor_version(version) else None


@check("KH-CLU-001")
def version_skew(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Each Node's kubelet and kube-proxy against the API server (model.cluster: the skew policy).

    Without Nodes there is no skew to judge: not applicable, never a pass."""
    if _infos(inventory) and not inventory.of_kind("Node"):
        yield NOTHING_TO_JUDGE
        return
    for info in _infos(inventory):
        server = api_server_version(info)
        if server is None:
            yield Violation("the API server's version is unknown (GET /version failed), so no node's version skew "
                            "could be judged", info.origin.line, obj=info, fix=False,
                            remediation="Allow GET /version (system:public-info-viewer allows it by default) and "
                                        "scan again")
            continue
        major, minor = minor_version(server) or (0, 0)
        for node in inventory.of_kind("Node"):
            node_info = as_dict(as_dict(node.raw.get("status")).get("nodeInfo"))
            for component, key in NODE_COMPONENTS:
                text = node_info.get(key)
                found = minor_version(text)
                if found is None:
                    continue
                path = join("status", "nodeInfo", key)
                runtime = node_info.get("containerRuntimeVersion")
                also = f"; container runtime {runtime}" if isinstance(runtime, str) and runtime else ""
                if found[0] != major or found[1] > minor:
                    yield Violation(f"{component} {text} on Node {node.name} is newer than the API server {server} "
                                    f"(a {component} must never be newer than kube-apiserver){also}",
                                    node.line(node_info, key), obj=node, path=path)
                elif minor - found[1] > (lag := kubelet_max_lag(found[1])):
                    yield Violation(f"{component} {text} on Node {node.name} is {minor - found[1]} minor versions "
                                    f"older than the API server {server}; at most {lag} are supported for a "
                                    f"{component} 1.{found[1]}{also}",
                                    node.line(node_info, key), obj=node, path=path)


def _covers_pods(rule: dict[str, Any]) -> bool:
    """Whether an admission rule (RuleWithOperations / NamedRuleWithOperations) matches CREATE of pods.

    ``pods``, ``*`` and ``*/*`` match the pods resource; a subresource (``pods/binding``, ``pods/*``,
    ``*/scale``) does not: creating a Pod is not a request to any subresource."""
    groups = as_list(rule.get("apiGroups"))
    resources = as_list(rule.get("resources"))
    operations = as_list(rule.get("operations"))
    return (("" in groups or "*" in groups) and any(r in ("pods", "*", "*/*") for r in resources)
            and any(o in ("CREATE", "*") for o in operations))


def _pod_webhooks(inventory: Inventory) -> list[str]:
    """The webhooks that match CREATE of pods and enforce: ``failurePolicy: Ignore`` lets a Pod through
    whenever the webhook cannot answer, so such a webhook does not count (the default is Fail)."""
    out = []
    for config in inventory.of_kind("ValidatingWebhookConfiguration"):
        for hook in as_list(config.raw.get("webhooks")):
            hook = as_dict(hook)
            if str(hook.get("failurePolicy") or "Fail") == "Ignore":
                continue
            if any(_covers_pods(as_dict(r)) for r in as_list(hook.get("rules"))):
                out.append(f"ValidatingWebhookConfiguration {config.name} (webhook {hook.get('name')})")
    return out


def _pod_policies(inventory: Inventory) -> list[str]:
    bindings = [as_dict(b.raw.get("spec")) for b in inventory.of_kind("ValidatingAdmissionPolicyBinding")]
    denying = {b.get("policyName") for b in bindings if "Deny" in as_list(b.get("validationActions"))}
    out = []
    for policy in inventory.of_kind("ValidatingAdmissionPolicy"):
        rules = as_list(as_dict(as_dict(policy.raw.get("spec")).get("matchConstraints")).get("resourceRules"))
        if policy.name in denying and any(_covers_pods(as_dict(r)) for r in rules):
            out.append(f"ValidatingAdmissionPolicy {policy.name}")
    return out


def _image_policy_plugin(info: K8sObject) -> bool | None:
    """Whether the API server enables ImagePolicyWebhook; None when its flags are not visible."""
    servers = as_list(as_dict(info.raw.get("controlPlane")).get("kube-apiserver"))
    if not servers:
        return None
    plugins = str(as_dict(as_dict(servers[0]).get("flags")).get("enable-admission-plugins") or "")
    return "ImagePolicyWebhook" in plugins.split(",")


@check("KH-CLU-002")
def pod_admission(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """Is any admission control (webhook, ValidatingAdmissionPolicy, ImagePolicyWebhook) in front of Pod creation?"""
    for info in _infos(inventory):
        if _pod_webhooks(inventory) or _pod_policies(inventory) or _image_policy_plugin(info):
            continue
        flags = _image_policy_plugin(info)
        unseen = "" if flags is not None else (" (the API server's flags are not visible, so the ImagePolicyWebhook "
                                               "plugin could not be looked for)")
        webhooks = len(inventory.of_kind("ValidatingWebhookConfiguration"))
        yield Violation(f"no validating webhook and no denying ValidatingAdmissionPolicy matches CREATE of pods "
                        f"({webhooks} ValidatingWebhookConfiguration(s) read, none for pods){unseen}: nothing but Pod "
                        "Security Admission judges what is deployed", info.origin.line, obj=info, fix=False)


@check("KH-CLU-003")
def network_plugin(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    """The network plugin, recognised by its DaemonSet (model.cluster.NETWORK_PLUGINS), must enforce NetworkPolicy."""
    daemonsets = {p.ref.name: p for p in inventory.pods if p.ref.kind == "DaemonSet"}
    found = {name: NETWORK_PLUGINS[name] for name in sorted(daemonsets) if name in NETWORK_PLUGINS}
    for info in _infos(inventory):
        if any(p.enforces for p in found.values()):
            continue
        if not found:
            scope = as_dict(info.raw.get("scope"))
            limited = [*as_list(scope.get("namespaces")), *(f"not {n}" for n in as_list(scope.get("excluded")))]
            where = f", listed in namespaces {', '.join(map(str, limited))} only" if limited else ""
            yield Violation(f"no DaemonSet of a known network plugin was found ({len(daemonsets)} DaemonSet(s) read"
                            f"{where}); whether NetworkPolicies are enforced cannot be confirmed", info.origin.line,
                            obj=info, fix=False)
            continue
        for name, plugin in found.items():
            record = daemonsets[name]
            verdict = "does not enforce NetworkPolicy" if plugin.enforces is False else \
                "may not enforce NetworkPolicy"
            yield Violation(f"the network plugin {plugin.name} (DaemonSet {record.namespace}/{name}) {verdict}: "
                            f"{plugin.note}", record.spec_line, obj=record, fix=False)
