"""The node source: a node's (or a copied node tree's) components as ``ComponentFacts`` objects.

``node://ROOT`` (``kubeharden node --root ROOT``) reads, below ROOT (docs/node.md):

* running processes (``/proc/*/cmdline``): a component's process wins over its static Pod manifest;
* static Pod manifests in the kubelet's ``staticPodPath`` (default /etc/kubernetes/manifests), read with
  :func:`kubeharden.model.staticpods.static_pod_facts`, the reading every other input shares;
* the kubelet's command line from its systemd unit, drop-ins and environment files
  (:mod:`.node_systemd`), and the configuration file it really uses (its ``--config``), merged into the
  effective settings (:mod:`.node_settings`); kube-proxy likewise;
* k3s: one ``k3s server`` (or ``agent``) process, unit or /etc/rancher/k3s/config.yaml carrying each
  component's flags (``--kube-apiserver-arg`` …);
* the files the flags name, kubeconfigs, the PKI folder, with mode, owner and group (:mod:`.node_root`).

Files whose contents other controls judge (EncryptionConfiguration, audit Policy, AdmissionConfiguration,
kubeconfigs) are also yielded as objects, with their file and lines. Whatever cannot be read is a
Problem naming the file; the scan goes on, and nothing unread counts as a pass.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from kubeharden.model.cluster import CONTROL_PLANE_COMPONENTS
from kubeharden.model.commandline import last_wins, parse_flags
from kubeharden.model.components import (
    CONTENT_ROLES,
    FILE_FLAGS,
    OPTIONAL_FILE_FLAGS,
    K3S_AGENT_COMPONENTS,
    K3S_ARG_FLAGS,
    K3S_CONFIG,
    K3S_COMPONENT_FLAGS,
    K3S_CONFIG_DIR,
    K3S_DATA_DIR,
    K3S_DATASTORE_TLS_FLAGS,
    K3S_DISABLE_FLAGS,
    K3S_EMBEDDED_ETCD_FLAGS,
    K3S_ETCD_FLAGS,
    K3S_IMPLIED_FLAGS,
    K3S_KINE_SOCKET,
    K3S_KUBECONFIGS,
    K3S_MANIFESTS,
    K3S_PKI,
    K3S_SERVER_COMPONENTS,
    K3S_UNITS,
    KUBE_PROXY_DEFAULTS,
    KUBE_PROXY_FLAG_FIELDS,
    KUBEADM_KUBECONFIGS,
    KUBEADM_MANIFESTS,
    KUBEADM_PKI,
    KUBELET_CONFIG_DEFAULTS,
    KUBELET_FLAG_DEFAULTS,
    KUBELET_FLAG_FIELDS,
    KUBELET_ZERO_IS_UNSET,
    SETTING_FILES,
)
from kubeharden.model.facts import COMPONENTS, ComponentFacts
from kubeharden.model.factsobjects import FACTS_API_VERSION, FACTS_KIND, facts_name, facts_raw, unseen_component
from kubeharden.model.fieldpath import join
from kubeharden.model.findings import Problem
from kubeharden.model.lines import LineMap
from kubeharden.model.objects import K8sObject, Provenance, ResourceRef, as_dict
from kubeharden.model.staticpods import FactsUnit, static_pod_facts
from kubeharden.sources.files import MANIFEST_SUFFIXES, ReadOptions, decode_text, parse_bytes
from kubeharden.sources.node_processes import K3S, Process, component_processes
from kubeharden.sources.node_root import NodeRoot
from kubeharden.sources.node_settings import Where, Written, effective
from kubeharden.sources.node_systemd import Word, unit_command
from kubeharden.sources.yamlload import load_documents

SOURCE = "node"
SCHEME = "node://"
Item = K8sObject | Problem


def claims(path: str) -> bool:
    """``node://ROOT`` inputs (what ``kubeharden node --root ROOT`` reads)."""
    return path.startswith(SCHEME)


def node_input(root: str) -> str:
    """The input that stands for the node tree at ``root``."""
    return SCHEME + root


def read(path: str, options: ReadOptions) -> Iterator[Item]:
    """The ``ComponentFacts`` objects of the node at ``node://ROOT`` and the objects of the configuration
    files they name; Problems for everything that cannot be read. ``options.source_options["node"]`` may
    give ``{"node_name": N}`` (else ROOT/etc/hostname, else the scanning host's name when ROOT is /)."""
    root = NodeRoot(path[len(SCHEME):] or "/")
    if not os.path.isdir(root.root):
        yield Problem("error", "read", "no such folder: the node's root (--root) must be a folder", file=root.root)
        return
    settings = as_dict(options.source_options.get(SOURCE))
    node = str(settings.get("node_name") or hostname(root))
    yield from NodeScan(root, node, options.max_file_bytes).items()


def hostname(root: NodeRoot) -> str:
    """The node's name: ROOT/etc/hostname, else (ROOT is /) this host's name, else ``unknown-node``."""
    data = root.read("/etc/hostname", 4096)
    if isinstance(data, bytes) and data.strip():
        return data.decode("utf-8", "replace").split()[0]
    return socket.gethostname() if root.root == "/" else "unknown-node"


@dataclass(slots=True)
class Component:
    """One component being read: its flags (last wins) and where they came from."""

    name: str
    flags: dict[str, Written]
    file: str | None
    first_line: int | None = 1
    version: str | None = None
    container: str | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    where: Where = field(default_factory=dict)
    #: the filesystem its paths are in: a process's own root (/proc/PID/root, a container's files), else the node's
    fs: NodeRoot | None = None


class NodeScan:
    """One reading of a node tree (see the module docstring)."""

    def __init__(self, root: NodeRoot, node: str, max_bytes: int) -> None:
        self.root, self.node, self.max_bytes = root, node, max_bytes
        self.problems: list[Problem] = []
        self.objects: list[K8sObject] = []
        self._contents: set[str] = set()

    def items(self) -> Iterator[Item]:
        processes = component_processes(self.root)
        found: dict[str, Component] = {}
        k3s = self._k3s(processes)
        for component in k3s:
            found[component.name] = component
        kubelet = found.get("kubelet") or self._kubelet(processes)
        manifests_dir = KUBEADM_MANIFESTS
        pending: list[tuple[Component, LineMap | None, Where, str | None]] = []
        if kubelet is not None:
            found["kubelet"] = kubelet
            config, config_file = self._config_file(kubelet)
            settings, where = effective(config, config_file, kubelet.flags, KUBELET_FLAG_FIELDS,
                                        KUBELET_CONFIG_DEFAULTS, flag_defaults=KUBELET_FLAG_DEFAULTS,
                                        flags_file=kubelet.file, first_line=kubelet.first_line,
                                        zero_is_unset=KUBELET_ZERO_IS_UNSET)
            manifests_dir = str(settings.get("staticPodPath") or (K3S_MANIFESTS if k3s else KUBEADM_MANIFESTS))
            pending.append((kubelet, settings, where, config_file))
        pods = self._static_pods(manifests_dir)
        for name in CONTROL_PLANE_COMPONENTS:
            process = next((p for p in processes if p.component == name), None)
            plane = found.get(name) or self._control_plane(name, process, pods.get(name))
            if plane is not None:
                found[name] = plane
                pending.append((plane, None, {}, None))
        proxy: Component | None = found.get("kube-proxy") or self._from_process(
            next((p for p in processes if p.component == "kube-proxy"), None))
        if proxy is None and not k3s and not self.root.listdir("/proc"):
            # kube-proxy runs as a DaemonSet's Pod: only the node's processes show it, and this tree has none
            self.problems.append(unseen_component(
                "kube-proxy", self.node, "kube-proxy is not judged: it usually runs as a DaemonSet's Pod, which "
                "only the node's processes show, and this node tree has no /proc (mount the host's /proc "
                "read-only, docs/deploy-node.md)", file=self.root.root))
        if proxy is not None:
            found["kube-proxy"] = proxy
            config, config_file = self._config_file(proxy)
            settings, where = effective(config, config_file, proxy.flags, KUBE_PROXY_FLAG_FIELDS,
                                        KUBE_PROXY_DEFAULTS, flags_override=False, flags_file=proxy.file,
                                        first_line=proxy.first_line)
            pending.append((proxy, settings, where, config_file))
        self._shared_files(found, k3s != [])
        units = [self._unit(*entry) for entry in pending]
        if not units:
            self.problems.append(Problem(
                "error", "node-empty", "no Kubernetes component found on this node: no kubelet unit or process, "
                f"no static Pod manifest in {manifests_dir}, no k3s; is --root the node's root folder?",
                file=self.root.root))
        yield from self.problems
        yield from self.objects
        for unit in sorted(units, key=lambda u: COMPONENTS.index(u.facts.component)):
            yield self._object(unit)

    # -- components ---------------------------------------------------------------------------

    def _from_process(self, process: Process | None) -> Component | None:
        if process is None:
            return None
        return Component(process.component, _written(process.words), process.words[0].file, 1,
                         fs=self.root.process_root(process.pid))

    def _kubelet(self, processes: list[Process]) -> Component | None:
        """The kubelet from its process, else from its systemd unit."""
        process = self._from_process(next((p for p in processes if p.component == "kubelet"), None))
        if process is not None:
            return process
        command = unit_command(self.root, self.max_bytes)
        if command is None:
            return None
        self.problems.extend(command.problems)
        unit = Component("kubelet", _written(command.words), self.root.display(command.files[0]), 1)
        for path in command.files:
            unit.files[path] = self._stat(path, "service")
        return unit

    def _control_plane(self, name: str, process: Process | None, pod: FactsUnit | None) -> Component | None:
        """A control-plane component from its process (which wins) and its static Pod manifest (its version,
        container, and the manifest line of each flag the process runs with the same value)."""
        if process is None and pod is None:
            return None
        if process is None:
            assert pod is not None
            facts = pod.facts
            lines = facts.flags.lines if isinstance(facts.flags, LineMap) else {}
            flags = {k: Written(str(v), facts.file, lines.get(k)) for k, v in facts.flags.items()}
            component = Component(name, flags, facts.file, facts.first_line, facts.version, pod.container)
        else:
            component = Component(name, _written(process.words), process.words[0].file, 1,
                                  fs=self.root.process_root(process.pid))
            if pod is not None:
                component.version, component.container = pod.facts.version, pod.container
                lines = pod.facts.flags.lines if isinstance(pod.facts.flags, LineMap) else {}
                for key, written in component.flags.items():
                    if str(pod.facts.flags.get(key)) == written.value:
                        component.flags[key] = Written(written.value, pod.facts.file, lines.get(key))
        if pod is not None and pod.facts.file is not None:
            component.files[self._node_path_of(pod.facts.file)] = self._stat(self._node_path_of(pod.facts.file),
                                                                             "manifest")
        return component

    def _static_pods(self, folder: str) -> dict[str, FactsUnit]:
        """The control-plane static Pods of the kubelet's manifest folder, by component."""
        out: dict[str, FactsUnit] = {}
        for name in self.root.listdir(folder):
            path = f"{folder.rstrip('/')}/{name}"
            if name.startswith(".") or not name.lower().endswith(MANIFEST_SUFFIXES) or self.root.is_dir(path):
                continue
            data = self.root.read(path, self.max_bytes)
            if isinstance(data, Problem):
                self.problems.append(data)
                continue
            for item in parse_bytes(data, self.root.display(path), source=SOURCE):
                if isinstance(item, Problem):
                    self.problems.append(item)
                    continue
                unit = static_pod_facts(item.raw, item.origin.line, self.root.display(path), self.node)
                if unit is not None:
                    out.setdefault(unit.facts.component, unit)
        return out

    def _k3s(self, processes: list[Process]) -> list[Component]:
        """The components one k3s process (or unit) runs, each with the flags k3s passes it
        (``--kube-apiserver-arg=NAME=VALUE`` …, from /etc/rancher/k3s/config.yaml then the command line)."""
        process = next((p for p in processes if p.component == K3S), None)
        words = process.words if process is not None else None
        if words is None:
            command = unit_command(self.root, self.max_bytes, K3S_UNITS, ())
            if command is not None:
                self.problems.extend(command.problems)
                words = command.words
        if not words:
            return []
        role = words[1].text if len(words) > 1 else "server"
        given = self._k3s_config() + [(f.name, f.value, words[f.position]) for f in parse_flags(w.text for w in words)]
        names = set(K3S_SERVER_COMPONENTS if role == "server" else K3S_AGENT_COMPONENTS)
        if role == "server" and any(name in K3S_ETCD_FLAGS for name, _, _ in given):
            names.add("etcd")
        names -= {K3S_DISABLE_FLAGS[name] for name, value, _ in given
                  if name in K3S_DISABLE_FLAGS and value != "false"}
        components = {name: Component(name, {}, words[0].file, words[0].line) for name in names}
        for name, value, word in given:
            target = components.get(K3S_ARG_FLAGS.get(name, ""))
            if target is not None:
                flag, _, flag_value = value.lstrip("-").partition("=")
                target.flags[flag] = Written(flag_value or "true", word.file, word.line)
            implied = K3S_IMPLIED_FLAGS.get(name)
            if implied is not None and implied[0] in components and value != "false":
                components[implied[0]].flags[implied[1]] = Written(implied[2] or value, word.file, word.line)
        self._k3s_own_flags(components, given, words[0])
        self.problems.append(Problem(
            "note", "node-k3s", "k3s gives each component flags of its own, which neither its command "
            "line nor its configuration shows; they are judged as k3s's source sets them in current releases "
            "(K3S_COMPONENT_FLAGS, docs/node.md), beneath the flags given here", file=words[0].file))
        return [components[name] for name in COMPONENTS if name in components]

    def _k3s_own_flags(self, components: dict[str, Component], given: list[tuple[str, str, Word]],
                       command: Word) -> None:
        """Add the flags k3s gives its components itself (:data:`K3S_COMPONENT_FLAGS`) and the API server's
        datastore flags (embedded etcd, an external etcd, or kine's local socket) where the flags ``given``
        (the user's, from the configuration then the command line) did not set them: a flag set wins. Each
        added flag points at the k3s command line (``command``); a datastore flag at the user's own."""
        last = {name: (value, word) for name, value, word in given}
        data_dir = (last.get("data-dir") or last.get("d") or (K3S_DATA_DIR, command))[0]
        server, agent = f"{data_dir.rstrip('/')}/server", f"{data_dir.rstrip('/')}/agent"
        api = components.get("kube-apiserver")
        if api is not None:
            endpoint, at = last.get("datastore-endpoint", ("", command))
            if "etcd" in components:
                datastore = {flag: Written(value.format(server=server), command.file, command.line)
                             for flag, value in K3S_EMBEDDED_ETCD_FLAGS.items()}
            elif endpoint.lower().startswith(("http://", "https://")):  # an external etcd
                datastore = {"etcd-servers": Written(endpoint, at.file, at.line)}
                datastore.update({flag: Written(last[k3s_flag][0], last[k3s_flag][1].file, last[k3s_flag][1].line)
                                  for k3s_flag, flag in K3S_DATASTORE_TLS_FLAGS.items() if k3s_flag in last})
            else:  # SQLite or an SQL database, through kine
                datastore = {"etcd-servers": Written(K3S_KINE_SOCKET, at.file, at.line)}
            for flag, written in datastore.items():
                api.flags.setdefault(flag, written)
        for name, own in K3S_COMPONENT_FLAGS.items():
            target = components.get(name)
            if target is None:
                continue
            for flag, (value, unless) in own.items():
                if flag not in target.flags and (unless is None or unless not in target.flags):
                    target.flags[flag] = Written(self._k3s_value(value, server, agent), command.file, command.line)

    def _k3s_value(self, value: str | tuple[str, ...], server: str, agent: str) -> str:
        """A value of :data:`K3S_COMPONENT_FLAGS` with ``{server}`` and ``{agent}`` filled in; of alternatives (a
        file whose name changed between k3s releases) the first that is a file on this node, else the newest."""
        options = [v.format(server=server, agent=agent) for v in ((value,) if isinstance(value, str) else value)]
        return next((v for v in options if self.root.exists(v)), options[0])

    def _k3s_config(self) -> list[tuple[str, str, Word]]:
        """Flags of /etc/rancher/k3s/config.yaml, then of each config.yaml.d/*.yaml in name order: a key per
        flag, a list for repeated ones; a later file replaces a key, ``key+`` appends to it (k3s,
        "Configuration File", https://docs.k3s.io/installation/configuration#configuration-file)."""
        paths = [K3S_CONFIG] if self.root.exists(K3S_CONFIG) else []
        paths += [f"{K3S_CONFIG_DIR}/{name}" for name in self.root.listdir(K3S_CONFIG_DIR)
                  if name.endswith((".yaml", ".yml"))]
        merged: dict[str, list[tuple[str, str, Word]]] = {}
        for path in paths:
            data = self._yaml(path)
            display = self.root.display(path)
            for key, value in (data or {}).items():
                line = data.key_line(key) if isinstance(data, LineMap) else None
                name = str(key).removesuffix("+")
                entries = [(name, str(e).lower() if isinstance(e, bool) else str(e), Word(str(e), display, line))
                           for e in (value if isinstance(value, list) else [value])]
                merged[name] = merged.get(name, []) + entries if str(key).endswith("+") else entries
        return [entry for entries in merged.values() for entry in entries]

    # -- files ----------------------------------------------------------------------------------

    def _config_file(self, component: Component) -> tuple[LineMap | None, str | None]:
        """The configuration file the component's ``--config`` names, loaded, and its host path."""
        written = component.flags.get("config")
        if written is None:
            return None, None
        fs = component.fs or self.root
        component.files[written.value] = self._stat(written.value, "config", fs)
        display = fs.display(written.value)
        if not component.files[written.value].get("exists"):
            self.problems.append(Problem("error", "node-config", f"{component.name} --config names "
                                         f"{written.value}, which is not on this node: its settings are unknown "
                                         "(judged as the file's defaults)", file=written.file, line=written.line))
            self._unseen(component.name, written)
            return _empty(), display
        data = self._yaml(written.value, fs)  # unreadable: a Problem, and the file's defaults (never the flags')
        if not isinstance(data, LineMap):
            self._unseen(component.name, written)
        return (data if isinstance(data, LineMap) else _empty()), display

    def _unseen(self, component: str, written: Written) -> None:
        """Its settings could not be read: the controls judging it must not pass on the defaults alone."""
        self.problems.append(unseen_component(
            component, self.node, f"{component}: its configuration file {written.value} could not be read, so "
            "controls that found nothing wrong in its flags and the file's defaults are not assessable",
            file=written.file, line=written.line))

    def _yaml(self, node_path: str, fs: NodeRoot | None = None) -> dict[str, Any] | None:
        """The mapping of a YAML file (first document), or None with a Problem naming the file."""
        fs = fs or self.root
        display = fs.display(node_path)
        data = fs.read(node_path, self.max_bytes)
        text = decode_text(data, display) if isinstance(data, bytes) else data
        if isinstance(text, Problem):
            self.problems.append(text)
            return None
        for doc in load_documents(text):
            if doc.error is not None:
                self.problems.append(Problem("error", "parse", doc.error.message, file=display,
                                             line=doc.error.line or doc.line))
                return None
            if doc.data is None:
                continue
            if not isinstance(doc.data, dict):
                self.problems.append(Problem("error", "parse", "not a YAML mapping", file=display, line=doc.line))
                return None
            return doc.data
        return None

    def _stat(self, node_path: str, role: str, fs: NodeRoot | None = None) -> dict[str, Any]:
        """The mode, owner and group of a file (:meth:`NodeRoot.file_facts`) in ``fs`` (the node's by default);
        a file whose contents other controls judge is also read as objects, once."""
        fs = fs or self.root
        facts, problem = fs.file_facts(node_path, role)
        if problem is not None:
            self.problems.append(problem)
        elif facts.get("exists") and role in CONTENT_ROLES and node_path not in self._contents:
            self._contents.add(node_path)
            data = fs.read(node_path, self.max_bytes)
            items = [data] if isinstance(data, Problem) else parse_bytes(data, fs.display(node_path),
                                                                          source=SOURCE)
            for item in items:
                if isinstance(item, Problem):
                    self.problems.append(item)
                else:  # messages name the file's node path; findings point at the host's (origin.file)
                    self.objects.append(replace(item, origin=replace(item.origin, node_path=node_path)))
        return facts

    def _node_path_of(self, display: str) -> str:
        if self.root.root == "/":
            return display
        return "/" + os.path.relpath(display, self.root.root)

    def _shared_files(self, found: dict[str, Component], k3s: bool) -> None:
        """The PKI folder (every certificate and key) and the kubeconfig files at their usual places. A file
        that a component's flag names is that component's (its facts list it with the flag's role, e.g.
        controller-manager.conf is kube-controller-manager's through --kubeconfig); any other goes to the
        kubelet when its path says so, else to kube-apiserver (else the kubelet)."""
        owner = found.get("kube-apiserver") or found.get("kubelet")
        if owner is None:
            return
        named = _named_files(found.values())
        pki = K3S_PKI if k3s else KUBEADM_PKI
        if self.root.is_dir(pki):
            owner.files[pki] = self._stat(pki, "pki-dir")
            for path in self._walk(pki):
                role = "pki-key" if path.endswith(".key") else "pki-cert" if path.endswith((".crt", ".pem")) else ""
                if role and path not in named:
                    owner.files[path] = self._stat(path, role)
        for path in K3S_KUBECONFIGS if k3s else KUBEADM_KUBECONFIGS:
            target = found.get("kubelet") if "kubelet" in path else owner
            if target is not None and path not in named and path not in target.files and self.root.exists(path):
                target.files[path] = self._stat(path, "kubeconfig")

    def _walk(self, folder: str, depth: int = 0) -> list[str]:
        out: list[str] = []
        for name in self.root.listdir(folder):
            path = f"{folder}/{name}"
            if self.root.is_dir(path):
                if depth < 4:
                    out.extend(self._walk(path, depth + 1))
            else:
                out.append(path)
        return out

    # -- facts ----------------------------------------------------------------------------------

    def _unit(self, component: Component, settings: LineMap | None, where: Where,
              config_file: str | None) -> FactsUnit:
        """The facts of one component: its flags (with lines), settings, and every file a flag or setting names."""
        flags = LineMap({k: w.value for k, w in component.flags.items()})
        flags.line = component.first_line
        flags.lines = {k: w.line or component.first_line or 1 for k, w in component.flags.items()}
        all_where: Where = {"flags": (component.file, None), **where}
        for key, written in component.flags.items():
            all_where[join("flags", key)] = (written.file, None)
            role = FILE_FLAGS.get(component.name, {}).get(key)
            if role and written.value.startswith("/") and written.value not in component.files:
                component.files[written.value] = self._stat(written.value, role, component.fs)
                if (component.name, key) in OPTIONAL_FILE_FLAGS and not component.files[written.value].get("exists"):
                    component.files[written.value] = {**component.files[written.value], "optional": True}
        if settings is None:
            settings = flags
            all_where["settings"] = (component.file, None)
            all_where.update({join("settings", k): v for k, v in all_where.items() if k.startswith("flags.")})
        for steps, role in SETTING_FILES.get(component.name, {}).items():
            value = _dig(settings, steps)
            if isinstance(value, str) and value.startswith("/") and value not in component.files:
                component.files[value] = self._stat(value, role, component.fs)
        fs = component.fs or self.root
        for node_path in component.files:
            all_where[join("files", node_path)] = (fs.display(node_path), None)
        facts = ComponentFacts(component=component.name, node=self.node, settings=settings, flags=flags,
                               files=dict(component.files), version=component.version,
                               file=config_file or component.file, first_line=component.first_line)
        return FactsUnit(facts, all_where, component.container)

    def _object(self, unit: FactsUnit) -> K8sObject:
        facts = unit.facts
        ref = ResourceRef(FACTS_API_VERSION, FACTS_KIND, None, facts_name(facts.component, facts.node))
        return K8sObject(raw=facts_raw(unit), ref=ref, origin=Provenance(facts.file, facts.first_line, SOURCE))


def _written(words: list[Word]) -> dict[str, Written]:
    """The flags of a command line by name (the last of a repeated flag wins), each with its file and line."""
    return {name: Written(flag.value, words[flag.position].file, words[flag.position].line or 1)
            for name, flag in last_wins(parse_flags(w.text for w in words)).items()}


def _named_files(components: Iterable[Component]) -> set[str]:
    """The node paths that some component's file flag (:data:`FILE_FLAGS`) names: :meth:`NodeScan._unit`
    gives each to the component that names it."""
    return {written.value for c in components for key, written in c.flags.items()
            if key in FILE_FLAGS.get(c.name, {})}


def _empty() -> LineMap:
    empty = LineMap()
    empty.line = 1
    return empty


def _dig(mapping: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        mapping = mapping.get(key) if isinstance(mapping, dict) else None
    return mapping
