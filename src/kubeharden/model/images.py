"""Image references as container runtimes resolve them: registry, repository, tag and digest.

One parser for manifests, audit events and (later) image archives and vulnerability reports
(the reference grammar: https://github.com/distribution/reference; Docker Hub is the default
registry and ``library/`` the default namespace of one-part names, as the runtimes resolve them).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


class ImageRef(NamedTuple):
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def full_name(self) -> str:
        return f"{self.registry}/{self.repository}"


@lru_cache(maxsize=4096)
def parse_image(image: str) -> ImageRef:
    """Split an image reference the way container runtimes resolve it (Docker Hub by default).

    Memoised (a pure function of the text, with an immutable answer, bounded): a scan or a webhook
    meets the same few images again and again, and every message about a container reads its image."""
    rest, _, digest = image.partition("@")
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1:]
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = "docker.io", name
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageRef(registry.lower(), repository, tag or None, digest or None)


def registry_allowed(image: str, allowed: tuple[str, ...]) -> bool:
    """True when the image's registry/repository starts with an allowed entry (path-wise)."""
    full = parse_image(image).full_name.lower()
    for entry in allowed:
        entry = entry.strip().lower().rstrip("/")
        if entry and (full == entry or full.startswith(entry + "/")):
            return True
    return False
