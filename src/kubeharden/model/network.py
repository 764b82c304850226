"""Network vocabulary shared by the settings and the network analyses: IP networks and
where ingress controllers run (the ``ingress_controllers:`` and ``node_networks:`` settings of
``.kubeharden.yaml``, used by :mod:`kubeharden.analysis.ingress_exposure` and
:mod:`kubeharden.analysis.reachability`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class IngressController:
    """Where an ingress controller's pods run: namespace, labels, and the class it serves."""

    namespace: str
    labels: tuple[tuple[str, str], ...]
    ingress_class: str | None = None
    workload: str | None = None  # the name of the proxy's Deployment, when the implementation fixes it

    @property
    def name(self) -> str:
        return self.workload or dict(self.labels).get("app.kubernetes.io/name") or self.ingress_class or \
            self.namespace
