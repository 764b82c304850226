"""Vulnerability reports joined to the workloads that run the images (NSA-POD-6).

The guide asks that images be scanned throughout the pipeline and that experts can waive false
positives. kubeharden reads the scanner's reports (sources/vuln_report.py) and reports, per
workload container, the critical and high vulnerabilities of the image it runs, with the fixed
versions, most exposed workloads first (the NetworkPolicy analysis: reachable from the internet,
then from every pod, then restricted). An image is found by the digest the node runs (a Pod's
``status.containerStatuses[].imageID``), else the digest in ``image:``, else its name and tag.
Exceptions with ``vulnerability:`` and ``image:`` waive single vulnerabilities with a reason and
an expiry (docs/supply-chain.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from kubeharden.analysis.external import block_internet_open
from kubeharden.analysis.reachability import Network, Workload
from kubeharden.analysis.selectors import SelectorError, compile_selector
from kubeharden.checks.context import Context
from kubeharden.checks.network import network_of
from kubeharden.checks.registry import check
from kubeharden.config import PER_VULNERABILITY_CONTROL
from kubeharden.model.controls import Violation
from kubeharden.model.findings import Severity
from kubeharden.model.inventory import ContainerImage, Inventory, PodRecord
from kubeharden.model.kinds import DEFAULT_NAMESPACE
from kubeharden.model.objects import K8sObject, as_dict, as_list
from kubeharden.model.supply import RUNNING_IMAGES, VULN_SEVERITIES, VULNERABILITY_REPORT, image_keys

CONTROL = PER_VULNERABILITY_CONTROL
#: The severities reported; lower ones are read but not reported (the guide's "critical" findings).
REPORTED = ("critical", "high")
#: Vulnerabilities named in one finding's message; the rest are counted and left to the report.
LISTED = 10
#: Exposure ranks, most exposed first.
INTERNET, CLUSTER, RESTRICTED = 0, 1, 2


@dataclass(slots=True)
class Report:
    """One report, its reported vulnerabilities sorted most severe first."""

    obj: K8sObject
    serious: list[dict[str, str]]
    #: the image digests the report names
    digests: frozenset[str] = frozenset()
    #: the summary of ``serious`` (counts and the vulnerabilities listed), made once per report
    _summary: str | None = None

    @property
    def file(self) -> str:
        return str(self.obj.origin.file)

    @property
    def critical(self) -> int:
        return sum(1 for v in self.serious if v["severity"] == "critical")

    def summary(self) -> str:
        """The summary of every reported vulnerability (no exception waives one), memoised."""
        if self._summary is None:
            self._summary = summarise(self.serious, self.file)
        return self._summary


def report_index(inventory: Inventory) -> dict[str, Report]:
    """Every report by join key (digests first, then references; model/supply.image_keys)."""
    index: dict[str, Report] = {}
    for obj in inventory.of_kind(VULNERABILITY_REPORT):
        serious = [v for v in as_list(obj.raw.get("vulnerabilities"))
                   if isinstance(v, dict) and v.get("severity") in REPORTED]
        serious.sort(key=lambda v: (VULN_SEVERITIES.index(v["severity"]), v.get("id", ""), v.get("package", "")))
        report = Report(obj, serious, frozenset(str(d).lower() for d in as_list(obj.raw.get("digests"))))
        for digest in as_list(obj.raw.get("digests")):
            index.setdefault(str(digest).lower(), report)
        for reference in as_list(obj.raw.get("references")):
            for key in image_keys(str(reference)):
                index.setdefault(key, report)
    return index


def report_for(c: ContainerImage, index: dict[str, Report]) -> Report | None:
    """The report of the image container ``c`` runs: by the digest the node runs, then the digest of
    ``image:``, then its name and tag, unless the report names digests and none is the container's
    (a report of another build pushed under the same tag)."""
    keys = image_keys(c.image)
    own = ((c.image_id,) if c.image_id else ()) + tuple(k for k in keys if k.startswith("sha256:"))
    for key in own:
        if key in index:
            return index[key]
    for key in keys:
        report = index.get(key)
        if report is not None and not key.startswith("sha256:"):
            return None if own and report.digests and report.digests.isdisjoint(own) else report
    return None


def running_digests(inventory: Inventory) -> tuple[set[int], dict[tuple[int, str, str], set[str]]]:
    """The pod records owned by another record (a Deployment's ReplicaSet and Pods in a snapshot) and, per
    top controller's container (``(id(record), list_name, name)``), the digests its Pods run: from owned Pod
    records' status and from the cluster source's RunningImages objects ("Owners and Dependents")."""
    records = {(p.ref.kind, p.namespace, p.ref.name): p for p in inventory.pods}
    owned: set[int] = set()
    running: dict[tuple[int, str, str], set[str]] = {}

    def top(namespace: str | None, chain: list[tuple[str, str]]) -> PodRecord | None:
        found = None
        seen = 0
        while chain and seen < 16:
            seen += 1
            kind, name = chain[-1]
            record = records.get((kind, namespace, name))
            if record is None:
                break
            found = record
            if record.owner is None:
                break
            chain = [*chain, record.owner]
        return found

    for p in inventory.pods:
        if p.owner is None or (root := top(p.namespace, [p.owner])) is None:
            continue
        owned.add(id(p))
        for c in p.images:
            if c.image_id:
                running.setdefault((id(root), c.list_name, c.name), set()).add(c.image_id)
    for obj in inventory.of_kind(RUNNING_IMAGES):
        chain = [(str(k), str(n)) for k, n in (o for o in as_list(obj.raw.get("owners")) if
                                               isinstance(o, list) and len(o) == 2)]
        root = next((r for k, n in reversed(chain) if (r := records.get((k, obj.namespace, n))) is not None), None)
        if root is None:
            continue
        for entry in as_list(obj.raw.get("running")):
            if isinstance(entry, list) and len(entry) == 3:
                running.setdefault((id(root), str(entry[0]), str(entry[1])), set()).add(str(entry[2]).lower())
    return owned, running


def _worst(c: ContainerImage, digests: set[str], index: dict[str, Report]) -> Report | None:
    """The report of the image ``c`` runs; with the digests its Pods run, the one with the most critical and
    high vulnerabilities among theirs (a digest no report covers leaves it unscanned only when none is)."""
    if not digests:
        return report_for(c, index)
    reports = [r for d in sorted(digests) if (r := report_for(replace(c, image_id=d), index)) is not None]
    if not reports:
        return None
    return max(reports, key=lambda r: (r.critical, len(r.serious)))


def exposure(inventory: Inventory, ctx: Context) -> dict[int, tuple[int, str]]:
    """Each pod record's (rank, why) by ``id(record)``: INTERNET through an ingress route or a
    LoadBalancer/NodePort Service its ingress policies admit the internet to, CLUSTER when no
    policy isolates its ingress, else RESTRICTED."""
    network = network_of(inventory, ctx)
    by_record: dict[int, tuple[int, str]] = {}
    for w in network.workloads:
        if w.record is not None:
            klass = network.classes[w.klass]
            by_record[id(w.record)] = (CLUSTER, "reachable from every pod (no NetworkPolicy isolates its ingress)") \
                if not klass.ingress_isolated else (RESTRICTED, "ingress restricted by NetworkPolicies")
    for found in network.exposures():
        for wi in found.target.members:
            w = network.workloads[wi]
            if w.record is not None:
                by_record[id(w.record)] = (INTERNET, f"reachable from the internet through {found.backend.label} "
                                                     f"on {found.ports}")
    for w, service in _load_balanced(network, inventory):
        by_record[id(w.record)] = (INTERNET, f"reachable from the internet through Service {service}")
    return by_record


def _load_balanced(network: Network, inventory: Inventory) -> Iterator[tuple[Workload, str]]:
    """Workloads a LoadBalancer or NodePort Service selects whose ingress admits internet addresses."""
    for service in inventory.of_kind("Service"):
        spec = as_dict(service.raw.get("spec"))
        if spec.get("type") not in ("LoadBalancer", "NodePort") or not as_dict(spec.get("selector")):
            continue
        try:
            selector = compile_selector({"matchLabels": spec["selector"]}, "spec.selector")
        except SelectorError:
            continue
        namespace = service.namespace or DEFAULT_NAMESPACE
        for w in network.workloads:
            if w.record is None or w.namespace != namespace or not selector.matches(w.labels):
                continue
            klass = network.classes[w.klass]
            if not klass.ingress_isolated or any(block_internet_open(b) for b, _, _ in network.ingress_blocks(w.klass)):
                yield w, f"{namespace}/{service.name} (type {spec['type']})"


@check(CONTROL)
def vulnerable_images(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    index = report_index(inventory)
    if not index:
        return  # no report given: nothing is evaluated (the control counts reports as its units)
    ranks = exposure(inventory, ctx)
    found: list[tuple[tuple[Any, ...], Violation]] = []
    critical = {id(r): r.critical for r in index.values()}
    owned, running = running_digests(inventory)
    for pod in inventory.pods:
        if id(pod) in owned:
            continue  # judged through its controller, with the digests it runs
        rank, why = ranks.get(id(pod), (RESTRICTED, "exposure unknown"))
        for c in pod.images:
            if not c.image:
                continue
            report = _worst(c, running.get((id(pod), c.list_name, c.name), set()), index)
            violation = _judge(pod, c, report, why, ctx) if report is not None else _unscanned(pod, c, len(
                inventory.of_kind(VULNERABILITY_REPORT)))
            if violation is not None:
                found.append(((rank, -critical.get(id(report), 0), str(pod.ref), c.name), violation))
    found.sort(key=lambda pair: pair[0])
    for _, violation in found:
        yield violation


def _unscanned(pod: PodRecord, c: ContainerImage, reports: int) -> Violation:
    return Violation(f"container {c.name}: no vulnerability report covers its image {c.image} ({reports} "
                     "report(s) given): its vulnerabilities are not known", c.line, container=c.name, obj=pod,
                     path=f"{c.path}.image", remediation="Scan the image with your scanner and give its report "
                     "(--vuln-report), as the guide asks for every image throughout the pipeline", fix=False,
                     severity=Severity.MEDIUM)  # unknown, below the known critical and high vulnerabilities


def _judge(pod: PodRecord, c: ContainerImage, report: Report, why: str, ctx: Context) -> Violation | None:
    if not report.serious:
        return None
    rules = [r for r in ctx.config.exceptions if r.per_vulnerability and not r.expired(ctx.today)]
    kept, waived = report.serious, []
    if rules:
        kept = []
        for v in report.serious:
            rule = next((r for r in rules if r.matches_vulnerability(CONTROL, pod.ref.kind, pod.ref.namespace,
                                                                     pod.ref.name, c.name, v["id"], c.image)), None)
            if rule is None:
                kept.append(v)
            else:
                rule.used += 1
                waived.append((v, rule))
    summary = report.summary() if not waived else summarise(kept or [v for v, _ in waived], report.file)
    note = f"; {len(waived)} waived by exceptions" if waived and kept else ""
    message = (f"container {c.name} runs image {c.image} with {summary}{note}; {why}")
    suppression = None
    if not kept:
        first = waived[0][1]
        reasons = sorted({f"exceptions[{r.index}]: {r.reason}" for _, r in waived})
        suppression = {"kind": "exception", "reason": "; ".join(reasons), "exception": first.index,
                       "expires": first.expires.isoformat() if first.expires else None}
    return Violation(message, c.line, container=c.name, obj=pod, path=f"{c.path}.image", fix=False,
                     suppression=suppression,
                     # a critical vulnerability makes a critical finding (--fail-on critical gates on it)
                     severity=Severity.CRITICAL if any(v["severity"] == "critical" for v in kept or
                                                       [w for w, _ in waived]) else Severity.HIGH,
                     remediation=f"Rebuild image {c.image} with the fixed versions (or on a patched base image) and "
                                 "roll it out; waive a false positive with an exception naming the vulnerability "
                                 "and the image, with a reason and an expiry")


def summarise(shown: list[dict[str, str]], file: str) -> str:
    """"1 critical, 2 high vulnerabilities: CVE-… (critical, openssl 3.0.11, fixed in 3.0.13); …" for ``shown``
    (most severe first), the first LISTED named and the rest counted, pointing at the report ``file``."""
    counts = ", ".join(f"{n} {s}" for s in REPORTED if (n := sum(1 for v in shown if v["severity"] == s)))
    listed = "; ".join(_describe(v) for v in shown[:LISTED])
    more = f"; {len(shown) - LISTED} more in {file}" if len(shown) > LISTED else ""
    return f"{counts} vulnerabilities (report {file}): {listed}{more}"


def _describe(v: dict[str, str]) -> str:
    package = f"{v.get('package')} {v.get('installed')}".strip()
    fixed = f"fixed in {v['fixed']}" if v.get("fixed") else "no fixed version yet"
    return f"{v.get('id')} ({v.get('severity')}, {package}, {fixed})"
