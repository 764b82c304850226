"""Kubernetes versions: how components report them, and what is known about each release.

Versions are read as the components write them (``gitVersion`` of ``/version``, Node
``status.nodeInfo.kubeletVersion`` / ``kubeProxyVersion``, the tag of a control-plane image):
``v1.28.3``, with pre-release (``v1.29.0-rc.1``) and vendor suffixes (``v1.28.3-eks-4f4795d``,
``v1.27.8-gke.1067004``, ``v1.28.5+k3s1``). Kubernetes versions follow Semantic Versioning
(https://kubernetes.io/releases/version-skew-policy/ and
https://github.com/kubernetes/sig-release/blob/master/release-engineering/versioning.md).

What is known (``kubernetes_versions.json``, built by ``scripts/build_kubernetes_versions.py`` from a
saved copy of the official CVE feed, https://kubernetes.io/docs/reference/issues-security/official-cve-feed/,
and the end-of-life dates of https://kubernetes.io/releases/): for each CVE the affected version
ranges and fixed releases of each component, and for each minor release its end of life. The
file is dated; support is judged on its date, so results do not change from one day to the next
until the data is refreshed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

#: The components whose versions a cluster shows, and the images they run from
#: (registry.k8s.io/kube-apiserver:v1.30.2 …, https://kubernetes.io/releases/download/#container-images).
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
#: Pre-release identifiers of Kubernetes' own builds (alpha, beta, rc); anything else after "-" is a vendor build.
_PRERELEASE = re.compile(r"^-(alpha|beta|rc)\.\d+")


class Version(NamedTuple):
    """A release ``major.minor.patch``; ``text`` as written, ``vendor`` when a distribution built it."""

    major: int
    minor: int
    patch: int
    text: str
    prerelease: bool = False
    vendor: bool = False

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def minor_release(self) -> str:
        return f"{self.major}.{self.minor}"


def parse_version(text: Any) -> Version | None:
    """``"v1.28.3-eks-4f4795d"`` -> Version(1, 28, 3, …, vendor=True); None when it is not a version.

    A pre-release (``-rc.1``) of a patch release comes before it, and is compared as that
    release: a range that contains the release is taken to contain its pre-releases.
    """
    if not isinstance(text, str):
        return None
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    suffix = m.group(4) or ""
    prerelease = bool(_PRERELEASE.match(suffix))
    vendor = bool(suffix and not prerelease) or bool(m.group(5))
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), text.strip(), prerelease, vendor)


def _triple(text: str) -> tuple[int, int, int]:
    major, minor, patch = (int(p) for p in text.split("."))
    return (major, minor, patch)


@dataclass(frozen=True, slots=True)
class Advisory:
    """One CVE of one component: ``affected`` inclusive ranges (first None: every earlier release), ``fixed``."""

    id: str
    summary: str
    issue: str | None
    #: The node operating system it is limited to ("windows"), or None for every node.
    os: str | None
    affected: tuple[tuple[tuple[int, int, int] | None, tuple[int, int, int]], ...]
    fixed: tuple[tuple[int, int, int], ...]

    def affects(self, version: Version) -> bool:
        v = version.release
        return any((first is None or first <= v) and v <= last for first, last in self.affected)

    def fixed_for(self, version: Version) -> str:
        """The release to upgrade ``version`` to: the fix in its own minor release, else the next fixed one.

        ``"v1.28.4"``; ``"v1.31.0 or a later minor release"`` when its minor release got no fix;
        ``""`` when no fixed release is known.
        """
        same = [f for f in self.fixed if f[:2] == version.release[:2] and f > version.release]
        if same:
            return "v" + ".".join(map(str, min(same)))
        later = [f for f in self.fixed if f > version.release]
        if later:
            return "v" + ".".join(map(str, min(later))) + " or a later minor release"
        return ""


class VersionData(NamedTuple):
    """The contents of the data file: its date, advisories per component, end of life per minor release."""

    date: dt.date
    advisories: dict[str, tuple[Advisory, ...]]
    end_of_life: dict[str, dt.date]
    feed: str

    def vulnerabilities(self, component: str, version: Version) -> list[Advisory]:
        """The advisories of ``component`` whose affected ranges contain ``version``."""
        return [a for a in self.advisories.get(component, ()) if a.affects(version)]

    def support_ended(self, version: Version) -> dt.date | None:
        """The end-of-life date of ``version``'s minor release when it is on or before the data's date.

        A minor release older than every one listed is out of support (the date of the oldest
        listed is given as an upper bound); one newer than every one listed is not known: None.
        """
        eol = self.end_of_life.get(version.minor_release)
        if eol is None:
            known = sorted(self.end_of_life, key=lambda m: _triple(m + ".0"))
            if known and (version.major, version.minor) < _triple(known[0] + ".0")[:2]:
                return self.end_of_life[known[0]]
            return None
        return eol if eol <= self.date else None

    def newest_minor(self) -> str:
        return max(self.end_of_life, key=lambda m: _triple(m + ".0"))


@lru_cache(maxsize=1)
def version_data() -> VersionData:
    """The bundled data file, loaded once (it is read-only)."""
    raw = json.loads(Path(__file__).with_name("kubernetes_versions.json").read_text(encoding="utf-8"))
    return data_from(raw)


def data_from(raw: dict[str, Any]) -> VersionData:
    """A VersionData from the data file's JSON (as ``scripts/build_kubernetes_versions.py`` writes it)."""
    advisories: dict[str, list[Advisory]] = {}
    for cve in raw["cves"]:
        for component, entry in cve["components"].items():
            advisories.setdefault(component, []).append(Advisory(
                cve["id"], cve["summary"], cve.get("issue"), cve.get("os"),
                tuple((None if first is None else _triple(first), _triple(last)) for first, last in entry["affected"]),
                tuple(_triple(f) for f in entry["fixed"])))
    return VersionData(dt.date.fromisoformat(raw["date"]), {k: tuple(v) for k, v in advisories.items()},
                       {minor: dt.date.fromisoformat(day) for minor, day in raw["end_of_life"].items()},
                       raw.get("feed") or "")
