"""Reports of audit-log alerts: a terminal table, JSON lines for a SIEM, and a JSON summary.

Each writer is ``write(alerts, run, out)``: ``alerts`` streams (consumed once); ``run`` is the
:class:`AuditRun` whose counters are complete once ``alerts`` is exhausted. The rule catalogue
renderings (``kubeharden audit rules``) live here too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubeharden import __version__
from kubeharden.detect.alerts import Alert
from kubeharden.detect.engine import DetectorStats
from kubeharden.detect.policy import Coverage
from kubeharden.detect.rules import MAPPING_KEYS, DetectionRule
from kubeharden.model.findings import Problem, Severity
from kubeharden.model.guide import GUIDE, GUIDE_POINTER, anchor_of, title_of
from kubeharden.report import plain

ALERT_FORMATS = ("table", "jsonl", "json")
STYLE = {Severity.CRITICAL: "bold white on red", Severity.HIGH: "bold red", Severity.MEDIUM: "yellow",
         Severity.LOW: "cyan", Severity.INFO: "dim"}


@dataclass
class AuditRun:
    rules: list[DetectionRule]
    stats: DetectorStats
    problems: list[Problem] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)


def write_jsonl(alerts: Iterable[Alert], run: AuditRun, out: IO[str]) -> None:
    """One ECS-shaped JSON object per alert, flushed as it comes (``--follow`` streams)."""
    for alert in alerts:
        out.write(orjson.dumps(alert.to_siem()).decode())
        out.write("\n")
        out.flush()


def write_json(alerts: Iterable[Alert], run: AuditRun, out: IO[str]) -> None:
    items = [a.to_dict() for a in alerts]
    out.write(orjson.dumps(summary_document(items, run), option=orjson.OPT_INDENT_2).decode())
    out.write("\n")


def summary_document(items: list[dict[str, Any]], run: AuditRun) -> dict[str, Any]:
    by_sev = Counter(a["severity"] for a in items)
    by_rule = Counter(a["rule_id"] for a in items)
    by_user = Counter(a["user"] for a in items if a["user"])
    s = run.stats
    return {
        "tool": {"name": "kubeharden", "version": __version__}, "guide": GUIDE,
        "summary": {
            "events": s.events, "alerts": len(items), "rules": len(run.rules),
            "first_event": _iso(s.first_time), "last_event": _iso(s.last_time),
            "by_severity": {sev.label: by_sev.get(sev.label, 0) for sev in sorted(Severity, reverse=True)},
            "by_rule": dict(by_rule.most_common()),
            "top_users": dict(by_user.most_common(10)),
        },
        "alerts": items,
        "coverage": [c.to_dict() for c in run.coverage],
        "errors": [p.to_dict() for p in run.problems],
    }


def _iso(t: float | None) -> str | None:
    if not t:
        return None
    from datetime import datetime
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def write_table(alerts: Iterable[Alert], run: AuditRun, out: IO[str]) -> None:
    with plain.console(out, 160) as console:
        _alerts_table(alerts, run, console)


def _alerts_table(alerts: Iterable[Alert], run: AuditRun, console: Console) -> None:
    table = Table(show_header=True, box=None, padding=(0, 1), header_style="bold")
    for col in ("time", "sev", "rule", "who", "what"):
        table.add_column(col, no_wrap=col in ("time", "sev", "rule"))
    count = 0
    for a in alerts:
        count += 1
        d = a.to_dict()
        who = Text(str(d["user"] or "-"))
        if d["source_ips"]:
            who.append(f"\n{d['source_ips'][0]}", style="dim")
        what = Text(a.message)
        what.append(f"\n{a.rule.title} · guide {', '.join(a.rule.nsa)} · {', '.join(a.rule.det)} · "
                    f"ATT&CK {', '.join(a.rule.mitre) or '-'}", style="dim")
        what.append(f"\naudit IDs: {', '.join(a.audit_ids[:5])}{' …' if len(a.audit_ids) > 5 else ''}",
                    style="dim")
        table.add_row(d["time"][:19].replace("T", " "), Text(a.severity.label.upper(), style=STYLE[a.severity]),
                      Text(a.rule.id, style="bold"), who, what)
    if count:
        plain.print_table(console, table)
        console.print(Text(GUIDE_POINTER, style="dim"))
    s = run.stats
    console.print(f"\n{s.events} events, {count} alerts, {len(run.rules)} rules"
                  + (f"; by rule: {', '.join(f'{k} {v}' for k, v in sorted(s.by_rule.items()))}" if count else ""))
    _coverage_table(console, run.coverage)
    for p in run.problems:
        console.print(Text(f"{p.level}: {p.where()}: {p.message}", style="red" if p.level == "error" else "yellow"))


def _coverage_table(console: Console, coverage: list[Coverage]) -> None:
    gaps = [c for c in coverage if c.status != "covered"]
    if not coverage:
        return
    console.print(f"\naudit policy: {len(coverage) - len(gaps)} of {len(coverage)} rules fully covered")
    for c in gaps:
        style = "red" if c.status == "blind" else "yellow"
        console.print(Text.assemble((f"  {c.status:7} ", style), (c.rule.id, "bold"), f"  {c.rule.title}: ",
                                    (c.detail, "dim")))


def write_lines(alerts: Iterable[Alert], run: AuditRun, out: IO[str]) -> None:
    """One readable line per alert, printed as it happens (``--follow`` in a terminal)."""
    for a in alerts:
        out.write(f"{a.timestamp()[:19].replace('T', ' ')} {a.severity.label.upper():8} {a.rule.id} "
                  f"{a.message} [{', '.join(a.rule.nsa)}; audit {', '.join(a.audit_ids[:3])}]\n")
        out.flush()


ALERT_WRITERS = {"table": write_table, "jsonl": write_jsonl, "json": write_json}


# -- the rule catalogue ---------------------------------------------------------------------------------------------

def rules_json(rules: list[DetectionRule], out: IO[str]) -> None:
    out.write(orjson.dumps([r.to_dict() for r in rules], option=orjson.OPT_INDENT_2).decode())
    out.write("\n")


def rules_table(rules: list[DetectionRule], out: IO[str]) -> None:
    table = Table(title="kubeharden audit detection rules", title_justify="left")
    for col in ("id", "severity", "kind", "detects", "mitre", "title"):
        table.add_column(col, no_wrap=col != "title")
    for r in rules:
        table.add_row(r.id, r.severity.label, r.kind, ", ".join(r.det), ", ".join(r.mitre), r.title)
    with plain.console(out, 170) as console:
        plain.print_table(console, table)


_MAP_NAMES = {"falco": "Falco k8saudit (rule names)", "sigma": "Sigma (rule IDs)",
              "elastic": "Elastic detection-rules (rule names)"}


def rules_markdown(rules: list[DetectionRule], out: IO[str]) -> None:
    w = out.write
    w("# kubeharden audit detection rules\n\n")
    w("<!-- Generated by `kubeharden audit rules --format markdown`; do not edit by hand. -->\n\n")
    w(f"Detections over Kubernetes audit logs, from §4 of the {GUIDE} requirements (DET-1 … DET-20). "
      "`level` is the least audit level the rule needs to see its events (see `--policy`).\n\n")
    w("| ID | Severity | Kind | Detects | ATT&CK | Title |\n|---|---|---|---|---|---|\n")
    for r in rules:
        w(f"| [{r.id}](#{r.id.lower()}) | {r.severity.label} | {r.kind} | {', '.join(r.det)} | "
          f"{', '.join(r.mitre)} | {r.title} |\n")
    for r in rules:
        req = r.requires
        w(f"\n## {r.id}\n\n**{r.title}** · severity {r.severity.label} · {r.kind} · section *{r.section}*\n\n")
        w(f"{r.description}\n\n**Response:** {r.remediation}\n\n")
        if r.inactive:
            w(f"**Off by default:** {r.inactive} (see `docs/audit.md`).\n\n")
        w("**Guide:** " + "; ".join(f"[{i}](guide.md#{anchor_of(i)}) — {title_of(i)}" for i in r.nsa) + "\n\n")
        if req is not None:
            res = ", ".join(f"{g or 'core'}/{x}{'/' + s if s else ''}" for g, x, s in req.resources) \
                if req.resources else "any"
            w(f"**Audit policy needs:** level {req.level}; verbs {', '.join(req.verbs) if req.verbs else 'any'}; "
              f"resources {res}; stages {', '.join(req.stages)}\n\n")
        rows = [(k, r.mappings[k]) for k in MAPPING_KEYS if r.mappings.get(k)]
        if rows:
            w("| Equivalent in | Rules |\n|---|---|\n")
            for k, v in rows:
                w(f"| {_MAP_NAMES[k]} | {'; '.join(v)} |\n")
            w("\n")


RULE_WRITERS = {"json": rules_json, "table": rules_table, "markdown": rules_markdown}
