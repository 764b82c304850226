#!/usr/bin/env python3
"""Build src/kubeharden/model/kubernetes_versions.json: Kubernetes component CVEs and end-of-life dates.

Inputs (saved copies, so the build is offline and reviewable in a diff):

- ``scripts/data/official-cve-feed.json``: the official Kubernetes CVE feed
  (https://kubernetes.io/docs/reference/issues-security/official-cve-feed/index.json, JSON Feed 1.1).
  Each item is one CVE; its ``content_text`` is the body of the kubernetes/kubernetes security issue,
  whose "Affected Versions" and "Fixed Versions" sections list lines such as
  ``- kubelet v1.28.0 - v1.28.3``, ``- kube-apiserver <= v1.27.12``, ``- kubelet v1.13.6`` and
  ``- kubelet v1.28.4``.
- ``scripts/data/kubernetes-releases.json``: the end-of-life date of each minor release
  (https://kubernetes.io/releases/).

Refresh (with network access):

    curl -fsSL https://kubernetes.io/docs/reference/issues-security/official-cve-feed/index.json \\
        -o scripts/data/official-cve-feed.json
    # update scripts/data/kubernetes-releases.json from https://kubernetes.io/releases/
    python3 scripts/build_kubernetes_versions.py

Items whose sections name no component kubeharden judges (kube-apiserver, kube-controller-manager,
kube-scheduler, kubelet, kube-proxy), or whose lines it cannot read, are listed on standard error:
read those advisories and complete the feed copy by hand if they concern these components. An
advisory whose summary names Windows is recorded as affecting Windows nodes only (``os``). The
output's ``date`` is the feed's ``feed_refreshed_at`` day: support is judged on that date.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FEED = ROOT / "scripts" / "data" / "official-cve-feed.json"
RELEASES = ROOT / "scripts" / "data" / "kubernetes-releases.json"
OUTPUT = ROOT / "src" / "kubeharden" / "model" / "kubernetes_versions.json"
#: The components whose versions a cluster shows (Node status.nodeInfo, /version, control-plane images).
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
_VERSION = r"v?(\d+\.\d+\.\d+)"
_COMPONENT = "(" + "|".join(re.escape(c) for c in COMPONENTS) + ")"
_RANGE = re.compile(rf"^[-*]\s*{_COMPONENT}\s+{_VERSION}\s*(?:-|–|to)\s*{_VERSION}\s*$")
_UP_TO = re.compile(rf"^[-*]\s*{_COMPONENT}\s*(<=|<)\s*{_VERSION}\s*$")
_SINGLE = re.compile(rf"^[-*]\s*{_COMPONENT}\s+{_VERSION}\s*$")


def _section(text: str, title: str) -> list[str]:
    """The list lines under the heading ``title`` (any level), up to the next heading."""
    lines, inside = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            inside = stripped.lstrip("#").strip().lower() == title.lower()
            continue
        if inside and stripped.startswith(("-", "*")):
            lines.append(stripped)
    return lines


def _previous(version: str) -> str:
    """The last version before ``version`` (``1.13.0`` -> below it: used for ``< v1.13.0``)."""
    major, minor, patch = (int(p) for p in version.split("."))
    if patch:
        return f"{major}.{minor}.{patch - 1}"
    return f"{major}.{minor - 1}.999" if minor else f"{major - 1}.999.999"


def parse_item(item: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """One feed item -> (the CVE entry, or None when it concerns no judged component; unreadable lines)."""
    text = str(item.get("content_text") or "")
    components: dict[str, dict[str, list[Any]]] = {}
    unread: list[str] = []
    for line in _section(text, "Affected Versions"):
        if m := _RANGE.match(line):
            first, last = m.group(2), m.group(3)
        elif m := _UP_TO.match(line):
            first, last = None, (m.group(3) if m.group(2) == "<=" else _previous(m.group(3)))
        elif m := _SINGLE.match(line):
            first = last = m.group(2)
        else:
            unread.append(line)
            continue
        components.setdefault(m.group(1), {"affected": [], "fixed": []})["affected"].append([first, last])
    for line in _section(text, "Fixed Versions"):
        if (m := _SINGLE.match(line)) and m.group(1) in components:
            components[m.group(1)]["fixed"].append(m.group(2))
        elif not _SINGLE.match(line):
            unread.append(line)
    if not components:
        return None, unread
    summary = str(item.get("summary") or "")
    entry = {"id": item["id"], "summary": summary, "url": item.get("url"),
             "issue": item.get("external_url"), "published": str(item.get("date_published") or "")[:10],
             # the advisories say "on Windows nodes" in their title when only Windows nodes are affected
             "os": "windows" if re.search(r"\bWindows\b", summary) else None,
             "components": components}
    return entry, unread


def build(feed: dict[str, Any], releases: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The data file's content, and what could not be read (for the maintainer)."""
    cves, notes = [], []
    for item in feed.get("items", []):
        entry, unread = parse_item(item)
        if entry is None:
            notes.append(f"{item.get('id')}: no affected version of {', '.join(COMPONENTS)} found; not included")
        else:
            cves.append(entry)
        notes.extend(f"{item.get('id')}: line not read: {line}" for line in unread)
    refreshed = str(feed.get("_kubernetes_io", {}).get("feed_refreshed_at") or "")[:10]
    data = {"date": refreshed, "feed": feed.get("feed_url"), "releases": releases.get("source"),
            "end_of_life": releases["end_of_life"],
            "cves": sorted(cves, key=lambda c: (c["published"], c["id"]))}
    return data, notes


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, default=FEED)
    parser.add_argument("--releases", type=Path, default=RELEASES)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    data, notes = build(json.loads(args.feed.read_text()), json.loads(args.releases.read_text()))
    for note in notes:
        print(f"build_kubernetes_versions: {note}", file=sys.stderr)
    args.output.write_text(render(data))
    print(f"{args.output}: {len(data['cves'])} CVEs, {len(data['end_of_life'])} minor releases, dated {data['date']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
