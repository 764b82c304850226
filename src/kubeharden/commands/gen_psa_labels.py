"""``kubeharden generate psa-labels PATH…``: Pod Security Admission labels per namespace (NSA-POD-8).

Each workload of the input is judged by the Pod Security Standards evaluation the scan uses
(``checks/pss.py``); ``generators/psa_labels.py`` turns the verdicts into labels at the strictest level
each namespace's pods meet today, written as Namespace manifests or ``kubectl label`` lines.

Names the API server would refuse (a Namespace name that is not a DNS-1123 label, a workload name
that is not a DNS-1123 subdomain: "Object Names and IDs") are refused here too, as input problems
naming the file, so no such name reaches the output. A workload without ``metadata.namespace`` is
placed where ``kubectl apply`` would place it: in the first ``-n`` (even a system namespace named
with ``-n``), else in ``default``; one the reader left without a namespace is said and left out.
"""

from __future__ import annotations

import argparse
import re

from kubeharden.checks.pss import evaluate
from kubeharden.commands.common import add_config_options, add_input_options, fail, open_inputs
from kubeharden.commands.emit import add_generator_options, report_problems, settings, write_output
from kubeharden.commands.empty_input import Counted, check_read
from kubeharden.commands.helptext import examples
from kubeharden.engine.evaluator import type_checked
from kubeharden.exitcodes import INPUT_ERRORS, USAGE
from kubeharden.generators.psa_labels import PodLevel, kubectl_lines, manifests, plan
from kubeharden.model.findings import Problem
from kubeharden.model.names import dns1123_label_problem, dns1123_subdomain_problem, one_line
from kubeharden.model.objects import K8sObject
from kubeharden.model.pods import pod_view

#: ``latest`` or a Kubernetes minor version (``v1.30``), as the ``-version`` labels take them.
_VERSION = re.compile(r"^(latest|v1\.\d+)$")


def _version(text: str) -> str:
    if not _VERSION.match(text):
        raise argparse.ArgumentTypeError("latest or a Kubernetes minor version such as v1.30")
    return text


def register(gen: argparse._SubParsersAction) -> None:
    p = gen.add_parser("psa-labels", help="Pod Security Admission labels per namespace, at the strictest level "
                                          "its pods meet today",
                       description="For each namespace of the input (its Namespace objects and the namespaces its "
                                   "workloads use), write the pod-security.kubernetes.io labels: enforce at the "
                                   "strictest Pod Security Standards level all its pods meet, audit and warn at "
                                   "restricted, and which pods hold it back.",
                       **examples("kubeharden generate psa-labels k8s/ -o namespaces.yaml",
                                  "kubeharden generate psa-labels k8s/ --format kubectl",
                                  "helm template shop ./chart | kubeharden generate psa-labels -n shop -"))
    add_input_options(p, namespace_option=False)
    add_config_options(p, profile=False)
    add_generator_options(p)
    p.add_argument("--format", choices=("manifest", "kubectl"), default="manifest",
                   help="Namespace manifests (kubectl apply -f) or kubectl label lines (default %(default)s)")
    p.add_argument("--version", dest="pss_version", type=_version, default="latest", metavar="VERSION",
                   help="the -version labels: latest or a pinned minor version such as v1.30 (default %(default)s)")
    p.set_defaults(func=run)


def _describe(obj: K8sObject) -> str:
    ns = f"{obj.namespace}/" if obj.namespace else ""
    where = f" ({obj.origin.file}:{obj.origin.line})" if obj.origin.file and obj.origin.line else ""
    return f"{obj.kind}/{ns}{obj.name}{where}"


def _bad_name(item: K8sObject) -> Problem | None:
    """The input problem of an object whose name or namespace the API server refuses, or None."""
    checks = [("namespace", item.namespace, dns1123_label_problem)] if item.namespace is not None else []
    checks.append(("name", item.name,
                   dns1123_label_problem if item.kind == "Namespace" else dns1123_subdomain_problem))
    for field, value, problem_of in checks:
        why = problem_of(str(value))
        if why:
            return Problem("error", "invalid-object",
                           f"{item.kind} {field} {one_line(repr(str(value)))} is refused by the API server: it {why} "
                           "(Kubernetes \"Object Names and IDs\"); left out of the labels",
                           item.origin.file, item.origin.line)
    return None


def collect(items: list[K8sObject | Problem]) -> tuple[dict[str, dict[str, str] | None], list[tuple[str, PodLevel]],
                                                      list[Problem]]:
    """The input's Namespace objects (name -> labels), each workload's namespace and verdict, and the
    problems of objects left out (a name the API server refuses, a workload without a namespace)."""
    namespaces: dict[str, dict[str, str] | None] = {}
    pods: list[tuple[str, PodLevel]] = []
    problems: list[Problem] = []
    for item in items:
        if not isinstance(item, K8sObject):
            continue
        is_namespace = item.kind == "Namespace" and item.ref.api_version == "v1"
        pod = None if is_namespace else pod_view(item)
        if not is_namespace and (pod is None or not pod.containers):
            continue
        bad = _bad_name(item)
        if bad is not None:
            problems.append(bad)
            continue
        if is_namespace:
            namespaces[item.name] = item.labels
            continue
        if item.namespace is None:
            problems.append(Problem("warning", "skipped", f"{one_line(_describe(item))} has no metadata.namespace: "
                                    "left out; name the namespace it is applied to with -n",
                                    item.origin.file, item.origin.line))
            continue
        assert pod is not None  # a workload: checked above
        result = evaluate(pod)
        reasons = result.baseline if result.level == "privileged" else result.restricted
        pods.append((item.namespace, PodLevel(_describe(item), result.level, tuple(reasons))))
    return namespaces, pods, problems


def run(args: argparse.Namespace) -> int:
    cfg = settings(args)
    if cfg is None:
        return USAGE
    stream = Counted(open_inputs(args))
    items = list(type_checked(stream))
    problems = [i for i in items if isinstance(i, Problem)]
    empty = check_read(args.paths, stream, problems, "generate psa-labels", args.allow_empty)
    report_problems(problems)
    if empty is not None and empty.level == "error":
        return INPUT_ERRORS
    namespaces, pods, left_out = collect(items)
    report_problems(left_out)
    problems += left_out
    plans = [p for p in plan(namespaces, pods, args.namespace or ())
             if args.namespace or p.name not in cfg.system_namespaces]
    if not plans:
        fail("no namespace in the input besides system namespaces; name one with -n")
        return USAGE
    render = kubectl_lines if args.format == "kubectl" else manifests
    text = render(plans, args.pss_version)
    return write_output(args.output, lambda out: out.write(text), problems)
