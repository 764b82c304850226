"""Image references as container runtimes resolve them: registry, repository, tag and digest.

One parser for manifests, audit events and (later) image archives and vulnerability reports
(the reference grammar: https://github.com/distribution/reference; Docker Hub is the default
registry and ``library/`` the default namespace of one-part names, as the runtimes resolve them).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


#: Docker Hub: the default registry, its legacy name, and the namespace of official images
#: (distribution/reference normalize.go: defaultDomain, legacyDefaultDomain, officialRepoPrefix).
DOCKER_HUB = "docker.io"
DOCKER_HUB_LEGACY = "index.docker.io"
OFFICIAL_PREFIX = "library/"


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
    # distribution/reference splitDockerDomain: the first component is a registry when it has a '.' or
    # ':', is localhost, or has an upper-case letter; index.docker.io is docker.io; a Docker Hub
    # repository without a '/' is an official image under library/ (ParseNormalizedNamed).
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, name
    if registry == DOCKER_HUB_LEGACY:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = OFFICIAL_PREFIX + repository
    return ImageRef(registry.lower(), repository, tag or None, digest or None)


def allowed_entry(entry: str) -> str:
    """A ``registries`` entry as :func:`registry_allowed` compares it: trimmed, lower case, without a
    trailing ``/``, ``index.docker.io`` spelled ``docker.io`` ('' for an empty entry)."""
    entry = entry.strip().lower().rstrip("/")
    if entry == DOCKER_HUB_LEGACY or entry.startswith(DOCKER_HUB_LEGACY + "/"):
        entry = DOCKER_HUB + entry[len(DOCKER_HUB_LEGACY):]
    return entry


def registry_allowed(image: str, allowed: tuple[str, ...]) -> bool:
    """True when the image's registry/repository starts with an allowed entry (path-wise)."""
    full = parse_image(image).full_name.lower()
    for entry in map(allowed_entry, allowed):
        if entry and (full == entry or full.startswith(entry + "/")):
            return True
    return False


