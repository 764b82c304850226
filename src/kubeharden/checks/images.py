"""Image hygiene (NSA-POD-5): trusted registries, immutable references, pull policy."""

from __future__ import annotations

from collections.abc import Iterator

from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.controls import Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.images import parse_image, registry_allowed
from kubeharden.model.pods import ContainerView


def _image(c: ContainerView) -> tuple[str, int | None]:
    return c.image, c.line(c.raw, "image")


@check("KH-IMG-001")
def mutable_tag(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    image, line = _image(c)
    path = join(c.path, "image")
    if not image:
        yield Violation("no image is set", c.line(), path=path)
        return
    ref = parse_image(image)
    if ref.digest:
        return
    if ref.tag is None:
        yield Violation(f"image {image!r} has no tag: it means :latest, which changes under you", line, path=path)
    elif ref.tag == "latest":
        yield Violation(f"image {image!r} uses the :latest tag, which changes under you", line, path=path)


@check("KH-IMG-002")
def digest_pinning(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    # Whether it runs is decided once, by the engine (strict profile, require_digest, or selected).
    image, line = _image(c)
    if image and parse_image(image).digest is None:
        yield Violation(f"image {image!r} is not pinned by digest (@sha256:…): a tag can be moved to "
                        "other content", line, path=join(c.path, "image"))


@check("KH-IMG-003")
def trusted_registry(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    allowed = ctx.config.allowed_registries
    if not allowed:
        return
    image, line = _image(c)
    if image and not registry_allowed(image, allowed):
        yield Violation(f"image {image!r} comes from {parse_image(image).registry}, which is not an allowed "
                        f"registry ({', '.join(allowed)})", line, path=join(c.path, "image"))


@check("KH-IMG-004")
def pull_policy(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    image, line = _image(c)
    if not image:
        return
    ref = parse_image(image)
    if ref.digest:
        return
    policy = c.raw.get("imagePullPolicy")
    path = join(c.path, "imagePullPolicy")
    if policy is None:
        if ref.tag in (None, "latest"):
            return  # Kubernetes defaults to Always for these
        yield Violation(f"imagePullPolicy is not set and defaults to IfNotPresent for the tag {ref.tag!r}: a "
                        "node may run a stale or planted image under that tag", line, path=path)
    elif policy != "Always":
        yield Violation(f"imagePullPolicy is {policy} for a tag reference: a node may run a stale or planted "
                        "image under that tag", c.line(c.raw, "imagePullPolicy"), path=path)
