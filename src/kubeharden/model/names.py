"""Object names as the API server validates them, and text made safe for one-line comments.

Source: Kubernetes documentation, "Object Names and IDs" (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/)
and apimachinery's ``k8s.io/apimachinery/pkg/util/validation`` (``IsDNS1123Label``, ``IsDNS1123Subdomain``):

* a DNS-1123 label (Namespace names): at most 63 characters, lower-case alphanumerics or '-',
  starting and ending with an alphanumeric;
* a DNS-1123 subdomain (most other object names, API group names): at most 253 characters, labels
  as above joined by '.'.
"""

from __future__ import annotations

import re

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
LABEL_MAX = 63
SUBDOMAIN_MAX = 253
#: C0 and C1 control characters and DEL: what a comment line must not carry (a newline ends it).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def dns1123_label_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS-1123 label (``IsDNS1123Label``), or None when it is one."""
    if len(name) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters"
    if not _DNS1123_LABEL.match(name):
        return "must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric"
    return None


def dns1123_subdomain_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS-1123 subdomain (``IsDNS1123Subdomain``), or None when it is one."""
    if len(name) > SUBDOMAIN_MAX:
        return f"must be no more than {SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.match(name):
        return ("must consist of lower case alphanumeric characters, '-' or '.', and start and end with an "
                "alphanumeric")
    return None


def one_line(text: str) -> str:
    """``text`` with every control character (newline, carriage return, escape …) written as ``\\xNN``,
    so it stays inside the one comment line it is put in."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
