"""Component facts as objects of the input stream, so every source, the engine and snapshots carry them.

A node source yields one ``ComponentFacts`` object (``kubeharden.io/v1``, never sent anywhere) per
component it finds; a control-plane static Pod in any other input (a manifest, a mirror Pod of a live
cluster) is read into the same facts (:func:`kubeharden.model.staticpods.static_pod_facts`). Shape::

    apiVersion: kubeharden.io/v1
    kind: ComponentFacts
    metadata: {name: kubelet@node-1}
    component: kubelet
    node: node-1
    version: "1.29.3" | null
    settings: {...}            # ComponentFacts.settings
    flags: {...}
    files: {/var/lib/kubelet/config.yaml: {mode: "0600", owner: root, group: root, role: config, exists: true}}
    file: /var/lib/kubelet/config.yaml
    firstLine: 1
    container: kube-apiserver | null       # a static Pod's container
    where: {flags: [FILE, null], settings.readOnlyPort: [FILE, null]}   # FactsUnit.where
"""

from __future__ import annotations

from typing import Any

from kubeharden.model.facts import ComponentFacts
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject, ResourceRef, as_dict
from kubeharden.model.staticpods import FactsUnit, static_pod_facts

FACTS_API_VERSION = "kubeharden.io/v1"
FACTS_KIND = "ComponentFacts"


#: The Problem kind a node source gives for a component whose settings it could not see (kube-proxy's
#: configuration inside its container, a tree without /proc): that component's facts controls are not
#: assessable when they found nothing, never a pass. The problem's ``resource`` names the component's facts.
COMPONENT_UNSEEN = "component-unseen"


def unseen_component(component: str, node: str, message: str, file: str | None = None,
                     line: int | None = None) -> Problem:
    """The :data:`COMPONENT_UNSEEN` problem for ``component`` on ``node``."""
    return Problem("warning", COMPONENT_UNSEEN, message, file=file, line=line,
                   resource=ResourceRef(FACTS_API_VERSION, FACTS_KIND, None, facts_name(component, node)))


def facts_name(component: str, node: str) -> str:
    """The object name of a component's facts: ``kubelet@node-1`` (what findings and exceptions name)."""
    return f"{component}@{node}"


def facts_raw(unit: FactsUnit) -> dict[str, Any]:
    """The ``ComponentFacts`` object of ``unit`` (shape in the module docstring); settings and flags keep
    their key lines."""
    facts = unit.facts
    return {"apiVersion": FACTS_API_VERSION, "kind": FACTS_KIND,
            "metadata": {"name": facts_name(facts.component, facts.node)},
            "component": facts.component, "node": facts.node, "version": facts.version,
            "settings": facts.settings, "flags": facts.flags, "files": facts.files, "file": facts.file,
            "firstLine": facts.first_line, "container": unit.container,
            "where": {k: [file, path] for k, (file, path) in unit.where.items()}}


def is_facts_object(obj: K8sObject) -> bool:
    return obj.kind == FACTS_KIND and obj.ref.api_version == FACTS_API_VERSION


def facts_unit(obj: K8sObject) -> FactsUnit | None:
    """The component facts an object carries: a ``ComponentFacts`` object, or a control-plane static
    (or mirror) Pod; None for every other object."""
    if obj.kind == "Pod":
        return static_pod_facts(obj.raw, obj.origin.line, obj.origin.file)
    if not is_facts_object(obj):
        return None
    raw = obj.raw
    component, node = raw.get("component"), raw.get("node")
    if not isinstance(component, str) or not isinstance(node, str):
        return None
    where: dict[str, tuple[str | None, str | None]] = {}
    for key, value in as_dict(raw.get("where")).items():
        if isinstance(value, list) and len(value) == 2:
            where[str(key)] = (value[0] if isinstance(value[0], str) else None,
                               value[1] if isinstance(value[1], str) else None)
    files = {str(k): as_dict(v) for k, v in as_dict(raw.get("files")).items()}
    version, file, first = raw.get("version"), raw.get("file"), raw.get("firstLine")
    container = raw.get("container")
    facts = ComponentFacts(component=component, node=node, settings=as_dict(raw.get("settings")),
                           flags=as_dict(raw.get("flags")), files=files,
                           version=version if isinstance(version, str) else None,
                           file=file if isinstance(file, str) else None,
                           first_line=first if isinstance(first, int) else obj.origin.line)
    return FactsUnit(facts, where, container if isinstance(container, str) else None)
