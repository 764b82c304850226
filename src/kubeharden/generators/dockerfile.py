"""A Dockerfile snippet that makes an image run as a non-root user the kubelet can verify.

``runAsNonRoot: true`` is enforced by the kubelet from the image's ``USER``: a UID of 0 is refused,
and so is a user *name*, which the kubelet cannot resolve to a UID (Kubernetes API reference,
SecurityContext.runAsNonRoot: "the Kubelet will validate the image at runtime to ensure that it does
not run as UID 0"). The snippet therefore creates a user and group with fixed numeric IDs and ends
with a numeric ``USER UID:GID``, and gives the matching container ``securityContext`` (NSA-POD-2).

Bases: ``debian`` (also Ubuntu; ``groupadd``/``useradd`` from passwd, with ``--no-log-init`` as
Docker's best practices (USER) advise: a large UID otherwise fills /var/log/faillog and lastlog), ``alpine`` (busybox
``addgroup``/``adduser``), ``distroless`` (no shell: only the ``USER`` line; its ``nonroot`` user is
UID 65532, as the distroless images document).
"""

from __future__ import annotations

from typing import Any

BASES = ("debian", "alpine", "distroless")
DISTROLESS_NONROOT = 65532
#: the lowest UID/GID accepted: above every system range (Debian allocates system users below 1000,
#: regular users from 1000; 10000+ avoids colliding with users of the node's /etc/passwd as well)
MIN_ID = 10000


def snippet(base: str, uid: int, gid: int, user: str = "app") -> str:
    """The Dockerfile lines for ``base`` (one of :data:`BASES`); raises ValueError for an unknown base."""
    if base not in BASES:
        raise ValueError(f"unknown base {base!r} (one of {', '.join(BASES)})")
    lines = ["# Run as a non-root user with fixed numeric IDs, so Kubernetes' runAsNonRoot can verify it",
             "# (NSA/CISA Kubernetes Hardening Guidance, non-root containers)."]
    if base == "distroless":
        lines += [f"# distroless images ship the user nonroot, UID {DISTROLESS_NONROOT}; no shell to create one.",
                  f"USER {DISTROLESS_NONROOT}:{DISTROLESS_NONROOT}"]
        return "\n".join(lines) + "\n"
    if base == "debian":
        lines.append(f"RUN groupadd --system --gid {gid} {user} \\\n"
                     f" && useradd --system --no-log-init --uid {uid} --gid {gid} --no-create-home "
                     f"--home-dir /nonexistent --shell /usr/sbin/nologin {user}")
    else:
        lines.append(f"RUN addgroup -S -g {gid} {user} \\\n"
                     f" && adduser -S -D -H -u {uid} -G {user} -h /nonexistent -s /sbin/nologin {user}")
    lines += ["# files the application must write belong to it; everything else stays root-owned and read-only",
              f"# COPY --chown={uid}:{gid} data/ /var/lib/{user}/",
              f"USER {uid}:{gid}"]
    return "\n".join(lines) + "\n"


def security_context(base: str, uid: int, gid: int) -> dict[str, Any]:
    """The container securityContext matching the snippet: the same numeric user and group, non-root."""
    if base == "distroless":
        uid = gid = DISTROLESS_NONROOT
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid}
