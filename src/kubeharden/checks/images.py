"""Image hygiene (NSA-POD-5): trusted registries. Immutable references and pull policy (KH-IMG-001, -002,
-004) are rule data in ``catalogue/controls``; image references are parsed by :mod:`kubeharden.model.images`."""

from __future__ import annotations

from collections.abc import Iterator

from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.controls import Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.images import parse_image, registry_allowed
from kubeharden.model.pods import ContainerView




@check("KH-IMG-003")
def trusted_registry(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    allowed = ctx.config.allowed_registries
    if not allowed:
        return
    image, line = c.image, c.line(c.raw, "image")
    if image and not registry_allowed(image, allowed):
        yield Violation(f"image {image!r} comes from {parse_image(image).registry}, which is not an allowed "
                        f"registry ({', '.join(allowed)})", line, path=join(c.path, "image"))
