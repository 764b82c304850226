"""Image hygiene (NSA-POD-5): trusted registries, immutable references, pull policy."""

from __future__ import annotations

from typing import NamedTuple
from collections.abc import Iterator

from kubeharden.checks.catalogue import Violation, check
from kubeharden.checks.context import Context
from kubeharden.model.fieldpath import join
from kubeharden.model.pods import ContainerView


class ImageRef(NamedTuple):
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def full_name(self) -> str:
        return f"{self.registry}/{self.repository}"


def parse_image(image: str) -> ImageRef:
    """Split an image reference the way container runtimes resolve it (Docker Hub by default)."""
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


@check("KH-IMG-003")
def trusted_registry(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    allowed = ctx.config.allowed_registries
    if not allowed:
        return
    image, line = c.image, c.line(c.raw, "image")
    if image and not registry_allowed(image, allowed):
        yield Violation(f"image {image!r} comes from {parse_image(image).registry}, which is not an allowed "
                        f"registry ({', '.join(allowed)})", line, path=join(c.path, "image"))
