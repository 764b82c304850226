"""KH-IMG-003: Docker Hub names normalised as distribution/reference's ParseNormalizedNamed does, in the
one parser (model/images.py) and its CEL twin, which agree image by image."""

from __future__ import annotations

import pytest
from test_export_cel_cases import c, pod, verdicts

from kubeharden.config import parse_config
from kubeharden.model.images import parse_image, registry_allowed

HUB = parse_config({"profile": "default", "registries": ["docker.io/library", "index.docker.io/bitnami"]})


@pytest.mark.parametrize(("image", "full"), [
    ("nginx:1", "docker.io/library/nginx"),
    ("docker.io/nginx:1", "docker.io/library/nginx"),
    ("index.docker.io/library/nginx:1", "docker.io/library/nginx"),
    ("index.docker.io/nginx", "docker.io/library/nginx"),
    ("bitnami/redis:7", "docker.io/bitnami/redis"),
    ("docker.io/bitnami/redis@sha256:" + "a" * 64, "docker.io/bitnami/redis"),
    ("localhost/app", "localhost/app"),
    ("Registry/app", "Registry/app".lower()),  # upper case: a registry, as splitDockerDomain reads it
    ("quay.io/nginx", "quay.io/nginx"),  # library/ is Docker Hub's alone
])
def test_parse_image_normalises_docker_hub_names(image, full):
    assert parse_image(image).full_name.lower() == full


IMAGES = [("nginx:1", False), ("docker.io/nginx:1", False), ("index.docker.io/library/nginx:1", False),
          ("docker.io/library/nginx@sha256:" + "b" * 64, False), ("bitnami/redis:7", False),
          ("docker.io/bitnami/redis:7", False), ("index.docker.io/bitnami/redis:7", False),
          ("evil/nginx:1", True), ("docker.io/evil/nginx:1", True), ("quay.io/library/nginx:1", True),
          ("docker.io.evil.com/library/nginx:1", True)]


@pytest.mark.parametrize(("image", "bad"), IMAGES, ids=[i for i, _ in IMAGES])
def test_scanner_and_policy_agree_on_docker_hub_spellings(image, bad):
    assert registry_allowed(image, HUB.allowed_registries) is not bad
    assert verdicts("KH-IMG-003", pod({"containers": [c(image=image)]}), HUB) == (bad, bad)
