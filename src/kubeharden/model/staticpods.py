"""Control-plane static Pods read as :class:`~kubeharden.model.facts.ComponentFacts`: one reading for
every place they turn up (a node's /etc/kubernetes/manifests, a manifest in a repository, a mirror Pod
of a live cluster or a snapshot), so the facts controls judge their flags wherever they are.

The kubelet runs each manifest of its ``staticPodPath`` as a Pod ("Create static Pods",
https://kubernetes.io/docs/tasks/configure-pod-container/static-pod/); kubeadm writes the control
plane's there, with the component's flags as the container's ``command`` (kubeadm "Implementation
details", "Generate static Pod manifest for control plane components").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeharden.model.cluster import control_plane_component
from kubeharden.model.commandline import last_wins, parse_flags
from kubeharden.model.components import version_from_image
from kubeharden.model.facts import ComponentFacts
from kubeharden.model.fieldpath import join
from kubeharden.model.lines import LineMap, line_of
from kubeharden.model.objects import as_dict, as_list

#: The node of a static Pod manifest that says none (a manifest in a repository).
UNKNOWN_NODE = "unknown-node"


@dataclass(frozen=True, slots=True)
class FactsUnit:
    """Facts and where each part of them was written.

    ``where`` maps a path of :meth:`ComponentFacts.view` (``flags.anonymous-auth``, ``settings``, a
    prefix of the paths below it) to ``(file, field path)``: the file the value was read from (None: the
    object's own file) and its field path in that file's object (None: the facts path itself). The
    longest prefix of a finding's path decides (:func:`locate`). ``container`` is the static Pod's
    container that runs the component, else None.
    """

    facts: ComponentFacts
    where: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    container: str | None = None


def locate(where: dict[str, tuple[str | None, str | None]], path: str) -> tuple[str | None, str | None]:
    """``(file, field path)`` of the facts path ``path`` by the longest prefix in ``where`` (see :class:`FactsUnit`)."""
    best = ""
    for prefix in where:
        if len(prefix) > len(best) and (path == prefix or path.startswith((prefix + ".", prefix + "["))):
            best = prefix
    return where.get(best, (None, None)) if best else (None, None)


def _item_line(container: dict[str, Any], key: str, index: int) -> int | None:
    """The line of entry ``index`` of the block list ``container[key]`` (one entry per line, as kubeadm
    writes commands), never past the next key of the container; the list's own line otherwise."""
    items = container.get(key)
    start = line_of(items)
    if start is None:
        return line_of(container, key)
    guess = start + index
    later = [n for k, n in (container.lines.items() if isinstance(container, LineMap) else ()) if n > start]
    return guess if not later or guess < min(later) else start


def static_pod_facts(raw: dict[str, Any], first_line: int | None = None, file: str | None = None,
                     node: str | None = None) -> FactsUnit | None:
    """The facts of the control-plane component a static (or mirror) Pod runs, or None for any other Pod.

    ``flags`` are its container's ``command`` and ``args`` (pflag: the last of a repeated flag wins), each
    keyed with the line where it is written; ``settings`` are the flags (these components are configured
    by flags); ``version`` comes from the image tag; ``node`` is ``spec.nodeName``, else ``node``, else
    :data:`UNKNOWN_NODE`. ``files`` stay empty: a manifest cannot show the files' modes (the node source
    adds them).
    """
    component = control_plane_component(raw)
    if component is None:
        return None
    spec = as_dict(raw.get("spec"))
    containers = [as_dict(c) for c in as_list(spec.get("containers"))]
    if not containers:
        return None
    index = next((n for n, c in enumerate(containers)
                  if str((as_list(c.get("command")) or [""])[0]).rsplit("/", 1)[-1] == component), 0)
    container = containers[index]
    base = join("spec", "containers", index)
    words: list[tuple[Any, str, int]] = [(w, "command", n) for n, w in enumerate(as_list(container.get("command")))]
    words += [(w, "args", n) for n, w in enumerate(as_list(container.get("args")))]
    flags = LineMap()
    flags.line = line_of(container, "command") or line_of(container, "args") or line_of(container)
    lines: dict[str, int] = {}
    where: dict[str, tuple[str | None, str | None]] = {
        "flags": (None, join(base, "command")), "settings": (None, join(base, "command"))}
    for flag in last_wins(parse_flags([w for w, _, _ in words])).values():
        _, key, n = words[flag.position]
        flags[flag.name] = flag.value
        lines[flag.name] = _item_line(container, key, n) or flags.line or 0
        where[join("flags", flag.name)] = where[join("settings", flag.name)] = (None, join(base, key, n))
    flags.lines = lines
    name = str(container.get("name") or component)
    facts = ComponentFacts(component=component, node=str(spec.get("nodeName") or node or UNKNOWN_NODE),
                           settings=flags, flags=flags, version=version_from_image(container.get("image")),
                           file=file, first_line=flags.line or first_line)
    return FactsUnit(facts, where, name)
