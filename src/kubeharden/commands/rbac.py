"""``kubeharden rbac who-can | can | paths``: questions about RBAC, answered from manifests.

Inputs are read like ``scan`` (files, directories, ``-``) into the same inventory the
controls see (:func:`kubeharden.engine.evaluator.build_inventory`). Table and JSON everywhere; the
escalation graph also as Graphviz DOT and Mermaid.
"""

from __future__ import annotations

import argparse
import difflib
import json
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubeharden.analysis.rbac import Grant, RbacModel, model_for, parse_subject
from kubeharden.analysis.rbac_paths import GOALS, Path, PathFinder, describe_node, grant_dict
from kubeharden.analysis.rbac_resources import KNOWN_GROUPS
from kubeharden.commands.common import add_input_options, fail, open_inputs, output_stream, unwritable_output
from kubeharden.commands.emit import report_problems
from kubeharden.commands.empty_input import Counted, check_read, nothing_checked
from kubeharden.commands.helptext import examples
from kubeharden.engine.evaluator import build_inventory
from kubeharden.exitcodes import INPUT_ERRORS, OK, USAGE
from kubeharden.report.plain import print_table, trimmed
from kubeharden.report.table import columns_from_env, console_for
from kubeharden.model.apiresources import RESOURCES, SHORT_NAMES, resolve_resource
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rbac", help="who can do what, and the privilege-escalation paths",
                       description="Answer RBAC questions from manifests: who-can, can, paths.",
                       **examples("kubeharden rbac who-can get secrets -n shop k8s/",
                                  "kubeharden rbac can serviceaccount:shop:api k8s/",
                                  "kubeharden rbac paths --to cluster-admin k8s/"))
    rsub = p.add_subparsers(dest="rbac_command", metavar="QUESTION", required=True,
                                help="the question to answer (each has its own --help):")

    w = rsub.add_parser("who-can", help="every subject that can VERB RESOURCE, with the granting binding and rule",
                        description="Every subject (user, group, service account) whose RoleBindings and "
                                    "ClusterRoleBindings in the input allow the request VERB RESOURCE, with the "
                                    "binding and rule that grant it. Aggregated ClusterRoles, wildcards and the "
                                    "built-in roles are taken into account.",
                        **examples("kubeharden rbac who-can get secrets -n shop k8s/",
                                   "kubeharden rbac who-can create pods/exec -n shop k8s/",
                                   "kubeharden rbac who-can get /metrics --url k8s/"))
    w.add_argument("verb", metavar="VERB",
                   help="the request's verb as RBAC rules name it: get, list, watch, create, update, patch, "
                        "delete, deletecollection, or escalate, bind, impersonate, use, approve; for a URL (--url) "
                        "get, post, put, delete (kubernetes.io/docs/reference/access-authn-authz/authorization/)")
    w.add_argument("resource", metavar="RESOURCE",
                   help="plural resource name (pods, secrets), optionally with its API group (deployments.apps) "
                        "and /subresource (pods/exec); with --url a path such as /healthz")
    w.add_argument("-n", "--namespace",
                   help="namespace of the request (default: a cluster-wide request), and of objects without "
                        "metadata.namespace, as kubectl apply -n (default: default)")
    w.add_argument("--subresource", default="", help="subresource, e.g. exec, token, proxy")
    w.add_argument("--name", help="name of the object the request names")
    w.add_argument("--url", action="store_true", help="RESOURCE is a non-resource URL (/healthz, /metrics)")
    _common(w, ("table", "json"), namespace_option=False)
    w.set_defaults(func=run_who_can)

    c = rsub.add_parser("can", help="everything a subject can do (serviceaccount:NS:NAME, user:NAME, group:NAME)",
                        description="Everything SUBJECT may do according to the RBAC objects in the input, rule by "
                                    "rule, with the binding that grants it and where it applies.",
                        **examples("kubeharden rbac can serviceaccount:shop:api k8s/",
                                   "kubeharden rbac can group:system:authenticated -f json k8s/",
                                   "kubeharden rbac can user:alice@example.com k8s/"))
    c.add_argument("subject", metavar="SUBJECT",
                   help="serviceaccount:NAMESPACE:NAME (or sa:NAMESPACE:NAME), user:NAME, group:NAME, or a "
                        "username such as system:serviceaccount:NAMESPACE:NAME")
    _common(c, ("table", "json"))
    c.set_defaults(func=run_can)

    pa = rsub.add_parser("paths", help="privilege-escalation paths to cluster-admin or to all Secrets",
                         description="Privilege-escalation paths: chains of permissions (create pods, read "
                                     "Secrets holding tokens, bind, escalate, impersonate …) by which a subject "
                                     "or workload reaches cluster-admin or every Secret.",
                         **examples("kubeharden rbac paths k8s/",
                                    "kubeharden rbac paths --to secrets --from serviceaccount:shop:api k8s/",
                                    "kubeharden rbac paths -f mermaid -o paths.md k8s/"))
    pa.add_argument("--to", choices=sorted(GOALS), action="append", help="goal (repeatable; default both)")
    pa.add_argument("--from", dest="start", metavar="SUBJECT",
                    help="only paths starting at this subject (or workload:KIND/NAMESPACE/NAME)")
    pa.add_argument("--all", action="store_true", help="include Kubernetes' own system identities")
    _common(pa, ("table", "json", "dot", "mermaid"))
    pa.set_defaults(func=run_paths)


def _common(p: argparse.ArgumentParser, formats: tuple[str, ...], namespace_option: bool = True) -> None:
    add_input_options(p, namespace_option)
    p.add_argument("-f", "--format", choices=formats, default="table", help="output format")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")


#: How each question is asked, for the hint to pipe a rendered chart into it.
_ASKED = {"who-can": "rbac who-can VERB RESOURCE", "can": "rbac can SUBJECT", "paths": "rbac paths"}


def _load(args: argparse.Namespace) -> tuple[RbacModel, list[Problem]]:
    stream = Counted(open_inputs(args))
    inventory, problems = build_inventory(stream)
    command = _ASKED[args.rbac_command]
    if not check_read(args.paths, stream, problems, command, args.allow_empty) \
            and not inventory.of_kind("RoleBinding", "ClusterRoleBinding"):
        problems.append(nothing_checked(
            args.paths, problems, command, args.allow_empty, what="no RBAC binding was read",
            why=f"{stream.objects} object(s) read, no RoleBinding or ClusterRoleBinding among them, so the "
                "answer would come from Kubernetes' built-in bindings alone"))
    return model_for(inventory), problems


def _finish(problems: list[Problem]) -> int:
    report_problems(problems)
    return INPUT_ERRORS if any(p.level == "error" for p in problems) else OK


def _console(out: IO[str]) -> _Printer:
    """Prints tables whose cells wrap (subjects, verbs and resources are never cut short), as wide as
    the terminal, else ``COLUMNS``, else 160 columns."""
    return _Printer(console_for(out, None if out.isatty() else (columns_from_env() or 160)))


class _Printer:
    def __init__(self, console: Console) -> None:
        self.console = console

    def print(self, table: Table) -> None:
        print_table(self.console, table)  # wraps between words; too narrow for the table: one record per row


def _split_resource(text: str, subresource: str) -> tuple[str, str, str]:
    """``deployments.apps/scale`` -> (group, resource, subresource), names resolved as kubectl resolves
    them (``secret``, ``deploy``, ``po`` -> secrets, apps/deployments, pods). Raises ValueError with a
    suggestion for a name no built-in resource has in a built-in group (a custom resource's name in its
    own group is taken as written)."""
    resource, _, sub = text.partition("/")
    resource, _, group = resource.partition(".")
    if resource == "*" or (group and group not in KNOWN_GROUPS):
        return group, resource, subresource or sub
    found = resolve_resource(resource, group if group else None)
    if found is None and group and (elsewhere := resolve_resource(resource)) is not None:
        raise ValueError(f"no resource {resource!r} in API group {group}: {elsewhere[1]} is in the "
                         f"{elsewhere[0] or 'core'} API group")
    if found is None:
        names = sorted({n for (_, n) in RESOURCES} | set(SHORT_NAMES))
        near = difflib.get_close_matches(resource.lower(), names, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        where = f" in API group {group}" if group else ""
        raise ValueError(f"no built-in resource {resource!r}{where}{hint} (a custom resource needs its group: "
                         "NAME.GROUP)")
    return found[0], found[1], subresource or sub


# -- who-can -----------------------------------------------------------------------------------


def run_who_can(args: argparse.Namespace) -> int:
    if (why := unwritable_output(args.output)) is not None:
        fail(why)
        return USAGE
    if not args.url:
        try:
            group, resource, sub = _split_resource(args.resource, args.subresource)
        except ValueError as exc:
            fail(str(exc))
            return USAGE
    model, problems = _load(args)
    if args.url:
        grants = [g for g in model.grants if g.namespace is None and g.rule.allows_url(args.verb, args.resource)]
        asked = f"{args.verb} {args.resource}"
    else:
        grants = model.who_can(args.verb, group, resource, sub, args.namespace, args.name)
        asked = f"{args.verb} {resource}{'/' + sub if sub else ''}{' (' + group + ')' if group else ''}" \
                f"{' named ' + args.name if args.name else ''} " \
                f"{'in namespace ' + args.namespace if args.namespace else 'cluster-wide'}"
    grants.sort(key=lambda g: (g.subject, g.binding.name))
    with output_stream(args.output) as raw, trimmed(raw) as out:  # no trailing padding in files
        if args.format == "json":
            out.write(json.dumps({"question": asked, "subjects": [_grant_json(g) for g in grants]}, indent=2) + "\n")
        else:
            table = Table(title=f"who can {asked}", show_lines=False)
            for col in ("subject", "scope", "binding -> role", "rule", "where"):
                table.add_column(col)
            for g in grants:
                _row(table, g.subject.key, g.scope, g.via(), g.rule.describe(), _where(g))
            if not grants:
                _row(table, "(nobody in the scanned bindings)", "", "", "", "")
            _console(out).print(table)
    return _finish(problems)


def _grant_json(g: Grant) -> dict[str, Any]:
    return {"subject": g.subject.key, "kind": g.subject.kind, **grant_dict(g)}


def _where(g: Grant) -> str:
    if g.role.obj.origin.file and g.rule.line:
        return f"{g.role.obj.origin.file}:{g.rule.line}"
    return g.role.obj.origin.file or ("built-in" if g.role.builtin else "")


# -- can ---------------------------------------------------------------------------------------


def run_can(args: argparse.Namespace) -> int:
    if (why := unwritable_output(args.output)) is not None:
        fail(why)
        return USAGE
    try:
        subject = parse_subject(args.subject)
    except ValueError as exc:
        fail(str(exc))
        return USAGE
    model, problems = _load(args)
    grants = sorted(model.grants_of(subject), key=lambda g: (g.namespace or "", g.rule.describe()))
    unassessed = model.unassessed_of(subject)
    with output_stream(args.output) as raw, trimmed(raw) as out:  # no trailing padding in files
        if args.format == "json":
            out.write(json.dumps({"subject": subject.key, "groups": list(subject.groups()),
                                  "rules": [_grant_json(g) for g in grants],
                                  "not_assessed": [{"binding": f"{b.kind}/{_ns_prefix(b)}{b.name}", "role": name,
                                                    "scope": scope, "file": b.origin.file, "line": b.origin.line}
                                                   for b, name, scope in unassessed]}, indent=2) + "\n")
        else:
            table = Table(title=f"what {subject.key} can do (with groups {', '.join(subject.groups()) or 'none'})")
            for col in ("scope", "verbs", "resources", "api groups / urls", "names", "via"):
                table.add_column(col)
            for g in grants:
                r = g.rule
                _row(table, g.scope, ",".join(sorted(r.verbs)),
                              ",".join(sorted(r.resources)) or "-",
                              ",".join(sorted("core" if x == "" else x for x in r.api_groups))
                              or ",".join(sorted(r.non_resource_urls)),
                              ",".join(sorted(r.resource_names)) or "*", g.via())
            for b, name, scope in unassessed:
                _row(table, scope, f"holds {name} ({NOT_CARRIED})", "", "", "", f"{b.kind}/{_ns_prefix(b)}{b.name}")
            if not grants and not unassessed:
                _row(table, "(nothing)", "", "", "", "", "")
            _console(out).print(table)
    return _finish(problems)


#: What ``rbac can`` says of a default role whose rules kubeharden does not carry.
NOT_CARRIED = "rules not carried by kubeharden: not assessed"


def _ns_prefix(obj: K8sObject) -> str:
    return f"{obj.namespace}/" if obj.namespace else ""


# -- paths -------------------------------------------------------------------------------------


def run_paths(args: argparse.Namespace) -> int:
    if (why := unwritable_output(args.output)) is not None:
        fail(why)
        return USAGE
    start = None
    if args.start and args.start.startswith("workload:"):
        start = args.start  # workload:KIND/NAMESPACE/NAME, as the paths output names it
    elif args.start:
        try:
            start = parse_subject(args.start).key
        except ValueError as exc:
            fail(str(exc))
            return USAGE
    model, problems = _load(args)
    finder = PathFinder(model)
    if start is not None:
        unknown = _unknown_start(model, start)
        if unknown:
            fail(f"note: {unknown}")
    goals = [GOALS[g] for g in (args.to or ("cluster-admin", "secrets"))]
    paths = finder.paths(goals, start)
    if not args.all and start is None:  # system identities only when a binding of the input names them
        chosen = {subject.key for subject in model.input_subjects()}
        paths = [p for p in paths if not _system(p.start) or p.start in chosen]
    writer = {"table": _paths_table, "json": _paths_json, "dot": _paths_dot, "mermaid": _paths_mermaid}[args.format]
    with output_stream(args.output) as raw, trimmed(raw) as out:  # no trailing padding in files
        writer(paths, out)
    return _finish(problems)


def _unknown_start(model: RbacModel, start: str) -> str | None:
    """Why ``--from`` names nothing the input knows (so "no path" would say little), or None."""
    if start.startswith("workload:"):
        workloads = sorted(f"workload:{pod.ref}" for pod in model.inventory.pods)
        if start in workloads:
            return None
        near = difflib.get_close_matches(start, workloads, n=2)
        return (f"{start} is not a workload of the input" + (f"; did you mean {', '.join(near)}?" if near else
                                                              " (workload:KIND/NAMESPACE/NAME, as paths prints it)"))
    if any(s.key == start for s in model.subjects()):
        return None
    if start.startswith("serviceaccount:") and any(
            start == f"serviceaccount:{ns}:{name}" for ns, names in model.service_accounts().items() for name in names):
        return f"{start} is bound by no RoleBinding or ClusterRoleBinding of the input: it has only what its groups " \
               "and every authenticated user are granted"
    if start.startswith("serviceaccount:"):
        known = sorted(f"serviceaccount:{ns}:{name}"
                       for ns, names in model.service_accounts().items() for name in names)
        near = difflib.get_close_matches(start, known, n=2)
        return f"{start} is no ServiceAccount of the input and no binding names it" + \
            (f"; did you mean {', '.join(near)}?" if near else "")
    return f"{start} is named by no RoleBinding or ClusterRoleBinding of the input: it has only what its groups " \
           "and every authenticated user are granted"


def _system(key: str) -> bool:
    return key.startswith(("user:system:", "group:system:", "serviceaccount:kube-system:"))


def _paths_table(paths: list[Path], out: IO[str]) -> None:
    table = Table(title="privilege-escalation paths (shortest first)", show_lines=True)
    for col in ("#", "from", "to", "hops", "path"):
        table.add_column(col)
    for i, p in enumerate(paths, 1):
        lines = []
        for action, dst, grants in p.hops():
            via = f"  via {grants[0].via()} ({grants[0].rule.describe()})" if grants else ""
            lines.append(f"-> {describe_node(dst)}: {action}{via}")
        _row(table, str(i), p.start, describe_node(p.goal), str(len(p)), "\n".join(lines))
    if not paths:
        _row(table, "", "(no path found)", "", "", "")
    _console(out).print(table)


def _paths_json(paths: list[Path], out: IO[str]) -> None:
    out.write(json.dumps({"paths": [p.to_dict() for p in paths]}, indent=2) + "\n")


def _edges(paths: list[Path]) -> list[tuple[str, str, str]]:
    seen: dict[tuple[str, str], str] = {}
    for p in paths:
        for step in p.steps:
            seen.setdefault((step.src, step.dst), step.action)
    return [(a, b, label) for (a, b), label in seen.items()]


def _paths_dot(paths: list[Path], out: IO[str]) -> None:
    out.write("digraph rbac_paths {\n  rankdir=LR;\n  node [shape=box, fontname=Helvetica];\n")
    nodes = sorted({n for a, b, _ in _edges(paths) for n in (a, b)})
    for n in nodes:
        shape = ", shape=doubleoctagon, color=red" if n.startswith("goal:") else ""
        out.write(f"  {_q(n)} [label={_q(describe_node(n))}{shape}];\n")
    for a, b, label in _edges(paths):
        out.write(f"  {_q(a)} -> {_q(b)} [label={_q(_short(label))}];\n")
    out.write("}\n")


def _paths_mermaid(paths: list[Path], out: IO[str]) -> None:
    ids: dict[str, str] = {}
    out.write("flowchart LR\n")
    for a, b, label in _edges(paths):
        for n in (a, b):
            if n not in ids:
                ids[n] = f"n{len(ids)}"
                out.write(f'  {ids[n]}["{_mermaid_text(describe_node(n))}"]\n')
        out.write(f'  {ids[a]} -->|"{_mermaid_text(_short(label))}"| {ids[b]}\n')


def _row(table: Table, *cells: str) -> None:
    """Cells are data, never rich markup ("[core]" must stay visible)."""
    table.add_row(*(escape(c) for c in cells))


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _short(label: str, limit: int = 60) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
