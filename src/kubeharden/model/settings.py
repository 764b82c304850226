"""How Kubernetes components read the values of their settings, each rule defined once.

Node and control-plane controls (``scope: facts``, docs/rule-language.md) judge flags as the
component parses them, not as text: ``--anonymous-auth=False`` is false, ``--audit-log-maxage=030``
is 30, ``--streaming-connection-idle-timeout=0s`` is no timeout. The components parse their
command lines with spf13/pflag, which reads each typed flag with Go's ``strconv`` and ``time``
packages; the functions below follow those packages. Every function returns None for a value it
cannot read, which the rule language treats as absent (a malformed value makes the component
refuse to start, so it has no effect to judge).

* :func:`go_bool`: Go ``strconv.ParseBool`` ("1", "t", "T", "TRUE", "true", "True", and the same
  for false).
* :func:`go_int`: Go ``strconv.Atoi`` (pflag ``IntVar``): an optional sign and decimal digits.
* :func:`go_duration_seconds`: Go ``time.ParseDuration`` (pflag ``DurationVar``; KubeletConfiguration
  ``metav1.Duration`` fields such as ``streamingConnectionIdleTimeout``), in seconds.
* :func:`kubernetes_minor`: the minor version of a Kubernetes release ("v1.29.3" → 29), for rules that
  depend on when a flag was added or removed (Kubernetes "Version Skew Policy": versions are
  ``x.y.z``, x major, y minor).
* :func:`file_mode` and :func:`mode_exceeds`: a file's permission bits, and whether they allow more
  than a limit ("600 or more restrictive": every bit set must be allowed by the limit, as CIS and
  the STIG judge it, so 0400 passes a 0600 rule and 0610 fails it although 0610 < 0644).
* :data:`STRONG_TLS_CIPHER_SUITES`: the cipher suites with forward secrecy and authenticated
  encryption, by the names ``--tls-cipher-suites`` and ``tlsCipherSuites`` take (Kubernetes
  component references: "Comma-separated list of cipher suites for the server ... Preferred values"
  and the Go ``crypto/tls`` names they list). TLS 1.3 suites are listed too: Go does not let them be
  configured, but naming them is harmless.
"""

from __future__ import annotations

import re
from typing import Any

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT = re.compile(r"[+-]?[0-9]+")
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_VERSION = re.compile(r"v?([0-9]+)\.([0-9]+)(?:[.+-].*)?")
_MODE = re.compile(r"0?[0-7]{3,4}|0o[0-7]{3,4}")

#: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305, and the TLS 1.3 suites (all AEAD). Go crypto/tls
#: names; the ``_SHA256``-suffixed ChaCha20 names are the aliases Go accepts for the same suites.
STRONG_TLS_CIPHER_SUITES = frozenset({
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
})


def go_bool(value: Any) -> bool | None:
    """``value`` (a flag's text) as Go's strconv.ParseBool reads it, else None."""
    text = value if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def go_int(value: Any) -> int | None:
    """An integer setting: a YAML integer, or a flag's text as strconv.Atoi reads it; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def go_duration_seconds(value: Any) -> float | None:
    """A duration (``"4h0m0s"``, ``"5m"``, ``"0"``) in seconds as time.ParseDuration reads it; else None.

    Go accepts "0" without a unit, an optional sign, and a sequence of decimal numbers each with a
    unit (ns, us/µs, ms, s, m, h). A bare YAML number is not a duration (metav1.Duration refuses it).
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(text):
        part = _DURATION_PART.match(text, pos)
        if part is None or part.group(1) in ("", "."):
            return None
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        pos = part.end()
    return sign * total if text else None


def kubernetes_minor(value: Any) -> int | None:
    """The minor version of Kubernetes release ``value`` ("1.29.3", "v1.19.0-rc.1" → 29, 19) when the major
    version is 1, else None (an unknown version: rules that depend on it do not apply)."""
    match = _VERSION.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if match is None or match.group(1) != "1":
        return None
    return int(match.group(2))


def file_mode(value: Any) -> int | None:
    """A file's permission bits from their octal text (``"0600"``, ``"600"``, ``"0o600"``) or an int; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value & 0o7777
    if isinstance(value, str) and _MODE.fullmatch(value.strip()):
        return int(value.strip().removeprefix("0o"), 8)
    return None


def mode_exceeds(mode: Any, limit: Any) -> bool:
    """Whether permission bits ``mode`` allow anything ``limit`` does not (both as :func:`file_mode` reads
    them); False when either cannot be read. 0400 does not exceed 0600; 0610 and 0700 do."""
    have, allowed = file_mode(mode), file_mode(limit)
    return have is not None and allowed is not None and bool(have & ~allowed)


__all__ = ["STRONG_TLS_CIPHER_SUITES", "file_mode", "go_bool", "go_duration_seconds", "go_int",
           "kubernetes_minor", "mode_exceeds"]
