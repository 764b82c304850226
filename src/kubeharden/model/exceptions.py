"""An exception: a reviewed, time-limited waiver of one control for matching resources.

Exceptions are written in ``.kubeharden.yaml`` (read by :mod:`kubeharden.config`, docs/config.md)
and applied by the engine; reporters list the expired and unused ones.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class ExceptionRule:
    """A reviewed, time-limited exception: one control for matching resources (and container)."""

    control: str
    reason: str
    kind: str = "*"
    namespace: str = "*"
    name: str = "*"
    container: str | None = None
    #: containers, initContainers or ephemeralContainers; None matches the name in any list
    container_list: str | None = None
    expires: dt.date | None = None
    index: int = 0
    used: int = 0
    #: Per-vulnerability exceptions (KH-IMG-011): the vulnerability ID and the image reference,
    #: globs. A rule with either waives single vulnerabilities, which the control applies itself;
    #: it never suppresses a whole finding (:meth:`matches`).
    vulnerability: str | None = None
    image: str | None = None

    @property
    def per_vulnerability(self) -> bool:
        return self.vulnerability is not None or self.image is not None

    def matches_vulnerability(self, control_id: str, kind: str, namespace: str | None, name: str,
                              container: str | None, vulnerability: str, image: str) -> bool:
        """Whether this per-vulnerability rule waives ``vulnerability`` of ``image`` in the container."""
        if not self.per_vulnerability:
            return False
        if not fnmatch.fnmatchcase(vulnerability, self.vulnerability or "*"):
            return False
        if not fnmatch.fnmatchcase(image, self.image or "*"):
            return False
        return self._matches(control_id, kind, namespace, name, container, None)

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def matches(self, control_id: str, kind: str, namespace: str | None, name: str,
                container: str | None, container_list: str | None = None) -> bool:
        if self.per_vulnerability:
            return False
        return self._matches(control_id, kind, namespace, name, container, container_list)

    def _matches(self, control_id: str, kind: str, namespace: str | None, name: str,
                 container: str | None, container_list: str | None) -> bool:
        if not fnmatch.fnmatchcase(control_id, self.control):
            return False
        if not fnmatch.fnmatchcase(kind, self.kind) or not fnmatch.fnmatchcase(name, self.name):
            return False
        if not fnmatch.fnmatchcase(namespace or "", self.namespace):
            return False
        if self.container is not None and container != self.container:
            return False
        if self.container_list is not None and container_list != self.container_list:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "control": self.control,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "container": self.container,
            "container_list": self.container_list,
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
            "vulnerability": self.vulnerability,
            "image": self.image,
        }
