"""``kubeharden generate audit-policy``: the audit Policy for ``--audit-policy-file`` (NSA-LOG-8, NSA-LOG-9).

The guide's appendix policy, corrected, with the requests kubeharden's detection rules need
(``generators/audit_policy.py`` says what each rule of the policy is for). The detection needs come
from the rule pack through :func:`kubeharden.detect.policy_controls.detection_needs`, the same
requirements ``kubeharden audit scan --policy`` and control KH-LOG-003 judge a policy by.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from kubeharden.commands.emit import write_output
from kubeharden.commands.helptext import examples
from kubeharden.detect.policy_controls import detection_needs
from kubeharden.generators.audit_policy import LEVELS, Need, build

HEADER = """\
# Audit policy for kube-apiserver, written by kubeharden (NSA-LOG-8, NSA-LOG-9).
# Rules are matched in order; the first match sets the level. Secrets, ConfigMaps and tokens are kept at
# Metadata so their values never reach the log. Use it with:
#   --audit-policy-file=/etc/kubernetes/audit-policy.yaml
#   --audit-log-path=/var/log/kubernetes/audit/audit.log --audit-log-maxage=30 --audit-log-maxbackup=10
#   --audit-log-maxsize=100        (and mount both paths into the kube-apiserver static Pod, NSA-LOG-11)
# Check it against the detection rules with: kubeharden audit scan --policy audit-policy.yaml
"""


def register(gen: argparse._SubParsersAction) -> None:
    p = gen.add_parser("audit-policy", help="audit Policy for kube-apiserver: credentials at Metadata, detection "
                                            "coverage, catch-all",
                       description="Write the audit Policy for --audit-policy-file: the guide's policy, corrected, "
                                   "plus what kubeharden's detection rules need (NSA-LOG-8, NSA-LOG-9).",
                       **examples("kubeharden generate audit-policy -o /etc/kubernetes/audit-policy.yaml",
                                  "kubeharden generate audit-policy --catch-all Metadata"))
    p.add_argument("--catch-all", choices=LEVELS[1:], default="RequestResponse",
                   help="level of the last rule, for every request no other rule names (default %(default)s, the "
                        "guide's; Metadata logs far less, and the rules the detections need are then added)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def needs() -> list[Need]:
    """(level, group, resource, subresource) of every request a detection rule needs logged."""
    rules, _ = detection_needs()
    return [(r.requires.level, g, res, sub) for r in rules if r.requires and r.requires.resources
            for g, res, sub in r.requires.resources]


def run(args: argparse.Namespace) -> int:
    doc = build(needs(), args.catch_all)
    _, left_out = detection_needs()
    note = ""
    if left_out:
        note = ("# Left blind on purpose (they need the bodies of Secrets or ConfigMaps): "
                f"{', '.join(left_out)}\n")
    text = HEADER + note + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    status = write_output(args.output, lambda out: out.write(text), [])
    if args.output and status == 0:
        print(f"wrote {args.output}", file=sys.stderr)
    return status
