"""Field paths: where a value sits inside an object, written as Kubernetes writes them.

The notation is the one of the API server's validation errors (k8s.io/apimachinery
``pkg/util/validation/field``, ``Path.String``): child fields joined with ``.``, list
indexes and map keys in brackets::

    spec.template.spec.containers[0].securityContext.privileged
    metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]

The empty string is the object as a whole.
"""

from __future__ import annotations

import re

#: A key that can be written as a plain ``.field`` step (API field names are identifiers).
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def join(base: str, *steps: str | int) -> str:
    """``base`` extended by ``steps``: a str is a field (``.name``), an int a list index (``[i]``).

    A str that is not a plain field name (a label or annotation key such as
    ``app.kubernetes.io/name``) is written as a map key in brackets, as Kubernetes does.
    ``join("spec", "containers", 0, "image") == "spec.containers[0].image"``.
    """
    out = base
    for step in steps:
        if isinstance(step, str) and _PLAIN_KEY.match(step):
            out = f"{out}.{step}" if out else step
        else:
            out = f"{out}[{step}]"
    return out


def relative_to(path: str, base: str) -> str | None:
    """The part of ``path`` below ``base`` (``""`` when equal), or None when ``path`` is elsewhere."""
    if path == base:
        return ""
    if not base:
        return path
    if path.startswith(base) and path[len(base)] in ".[":
        return path[len(base):].removeprefix(".")
    return None


_STEP = re.compile(r"\.?([^.\[\]]+)|\[([^\]]*)\]")


def split(path: str) -> list[str | int]:
    """The steps of a path written by :func:`join`: fields and map keys as str, list indexes as int.

    ``split("spec.containers[0].securityContext") == ["spec", "containers", 0, "securityContext"]``.
    A bracketed step of digits is an index. Raises ValueError on text that is not such a path.
    """
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None or (pos == 0 and path.startswith(".")):
            raise ValueError(f"not a field path: {path!r} (at {pos})")
        field, bracket = match.groups()
        if field is not None:
            steps.append(field)
        elif bracket.isdigit():
            steps.append(int(bracket))
        elif bracket:
            steps.append(bracket)
        else:
            raise ValueError(f"not a field path: {path!r} (empty brackets at {pos})")
        pos = match.end()
    return steps
