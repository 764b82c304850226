"""What the build made (NSA-POD-1, NSA-POD-5): Dockerfiles and saved image configurations.

Controls on ``Dockerfile`` objects (sources/dockerfile.py) judge the final stage for the user
and every stage for its base image and remote sources; controls on ``ImageConfig`` objects
(sources/image_archive.py) judge what the image really carries. KH-IMG-010 joins both to the
workloads that run the image and set no ``runAsUser`` (the image's user applies then:
Kubernetes API reference, SecurityContext ``runAsUser``: "Defaults to user specified in image
metadata if unspecified").
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.checks.secrets import NOT_SECRET_NAME, SECRET_NAME, judge
from kubeharden.model.controls import Violation
from kubeharden.model.images import parse_image, registry_allowed
from kubeharden.model.inventory import ContainerImage, Inventory, PodRecord
from kubeharden.model.objects import K8sObject, as_list
from kubeharden.model.supply import DOCKERFILE, IMAGE_CONFIG, image_keys, root_user_reason, runs_as
from kubeharden.sources.dockerfile import declared, split_flags, substitute

_GIT_COMMIT = re.compile(r"^[0-9a-f]{40}$")


# -- Dockerfile stages ---------------------------------------------------------------------------

def stages(obj: K8sObject) -> list[dict[str, Any]]:
    return [s for s in as_list(obj.raw.get("stages")) if isinstance(s, dict)]


@dataclass(frozen=True, slots=True)
class ImageUser:
    """The user an image runs as, and where that was read (``file:line``, or the archive)."""

    user: str | None  # None: inherited from a base image kubeharden did not read
    where: str
    line: int | None
    base: str = ""  # the external base image the user is inherited from, when ``user`` is None

    def root_reason(self) -> str | None:
        """Why the image runs as root, or None (also None when the user is not known)."""
        if self.user is None:
            return None
        if "$" in self.user:
            return None
        return root_user_reason(self.user)


def dockerfile_user(obj: K8sObject) -> ImageUser:
    """The user of the image the Dockerfile ``obj`` builds: the last ``USER`` of its final stage,
    else of the stage it is built ``FROM``, and so on (a stage starts from its base's config);
    ``scratch`` has no user, which is root."""
    by_name = {s.get("name"): s for s in stages(obj) if s.get("name")}
    stage = stages(obj)[-1]
    seen: set[int] = set()
    while id(stage) not in seen:
        seen.add(id(stage))
        users = [i for i in as_list(stage.get("instructions")) if i.get("instruction") == "USER"]
        if users:
            last = users[-1]
            return ImageUser(substitute(str(last.get("value", "")).strip(), stage.get("variables") or {}),
                             f"{obj.origin.file}:{last.get('line')}", last.get("line"))
        if stage.get("scratch"):
            return ImageUser("", f"{obj.origin.file}:{stage.get('base_line')}", stage.get("base_line"))
        parent = by_name.get(str(stage.get("base", "")).lower()) if stage.get("from_stage") else None
        if parent is None:
            return ImageUser(None, f"{obj.origin.file}:{stage.get('base_line')}", stage.get("base_line"),
                             str(stage.get("base", "")))
        stage = parent
    return ImageUser(None, str(obj.origin.file), None)


@check("KH-IMG-005")
def image_runs_as_root(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == IMAGE_CONFIG:
        reason = root_user_reason(str(obj.raw.get("user") or ""))
        if reason:
            yield Violation(f"image {obj.name} {runs_as(str(obj.raw.get('user') or ''))}: {reason} (config.User of "
                            "its configuration)", None)
        return
    user = dockerfile_user(obj)
    if user.user is None:
        yield Violation(f"the final stage sets no USER: the image runs as whatever user the base image {user.base} "
                        "sets, root unless it sets another; kubeharden does not read the base image", user.line)
    elif "$" in user.user:
        yield Violation(f"USER {user.user} is only known at build time (a build argument): the image's user "
                        "cannot be judged here; give USER a literal non-root UID", user.line)
    elif reason := user.root_reason():
        yield Violation(f"the image {runs_as(user.user)}: {reason} (the final stage's USER)", user.line)


def _external_bases(obj: K8sObject) -> Iterator[dict[str, Any]]:
    for stage in stages(obj):
        if not stage.get("from_stage") and not stage.get("scratch"):
            yield stage


def _stage_name(stage: dict[str, Any]) -> str:
    name = f" {stage['name']!r}" if stage.get("name") else ""
    return f"stage {stage.get('index', 0) + 1}{name}"


@check("KH-IMG-006")
def base_image_not_pinned(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for stage in _external_bases(obj):
        base = str(stage.get("base", ""))
        where = _stage_name(stage)
        if "$" in base:
            yield Violation(f"{where}: FROM {base} is only known at build time (a build argument without a "
                            "default): its base image cannot be judged; pin it by digest", stage.get("base_line"))
            continue
        ref = parse_image(base)
        if ref.digest:
            continue
        tag = "no tag, which means :latest" if ref.tag is None else \
            "the :latest tag" if ref.tag == "latest" else f"the tag {ref.tag!r}"
        yield Violation(f"{where}: base image {base} uses {tag} and no digest: the next build may start from "
                        "other content than the one reviewed", stage.get("base_line"))


@check("KH-IMG-007")
def base_image_registry(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    allowed = ctx.config.allowed_registries
    if not allowed:
        return
    for stage in _external_bases(obj):
        base = str(stage.get("base", ""))
        if "$" in base or registry_allowed(base, allowed):
            continue
        yield Violation(f"{_stage_name(stage)}: base image {base} comes from {parse_image(base).full_name}, which "
                        f"is not an allowed registry ({', '.join(allowed)})", stage.get("base_line"))


def remote_source_problem(source: str, checksum: str) -> str | None:
    """Why an ``ADD`` source is an unverified remote download, or None (a local path, or verified).

    Dockerfile reference, ADD: HTTP(S) sources are verified only with ``--checksum=sha256:…``; a
    Git source (``https://…/repo.git#ref``, ``git@…``) names its content only by a full commit.
    """
    lower = source.lower()
    is_git = lower.startswith("git@") or lower.startswith("git://") or \
        (lower.startswith(("http://", "https://")) and (".git#" in lower or lower.endswith(".git")))
    if is_git:
        ref = source.partition("#")[2].split(":", 1)[0]
        if _GIT_COMMIT.match(ref.lower()) or checksum:
            return None
        what = f"the ref {ref!r}" if ref else "no ref (the default branch)"
        return f"Git source {source} is fetched at {what}, which can move; name a full commit"
    if lower.startswith(("http://", "https://", "ftp://")):
        if checksum:
            return None
        scheme = " over plain HTTP" if lower.startswith("http://") else ""
        return f"remote file {source} is downloaded{scheme} without --checksum: its content is not verified"
    return None


@check("KH-IMG-008")
def add_remote_source(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for stage in stages(obj):
        for instruction in as_list(stage.get("instructions")):
            if instruction.get("instruction") != "ADD":
                continue
            flags, words = split_flags(str(instruction.get("value", "")))
            for source in _add_sources(words):
                why = remote_source_problem(source, flags.get("checksum", ""))
                if why:
                    yield Violation(f"{_stage_name(stage)}: ADD {why}", instruction.get("line"))


def _add_sources(words: list[str]) -> list[str]:
    """The sources of ``ADD src… dest`` (the JSON form ``["src", "dest"]`` too)."""
    text = " ".join(words).strip()
    if text.startswith("["):
        import json

        try:
            items = json.loads(text)
        except ValueError:
            return []
        return [str(i) for i in items[:-1]] if isinstance(items, list) else []
    return words[:-1]


@check("KH-IMG-009")
def image_env_credentials(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == IMAGE_CONFIG:
        for name, value in (e for e in as_list(obj.raw.get("env")) if isinstance(e, list) and len(e) == 2):
            if why := judge(str(name), value):
                yield Violation(f"image {obj.name}: config.Env {name}: {why}; every container of the image "
                                "gets it and anyone who pulls the image can read it", None)
        return
    for stage in stages(obj):
        for instruction in as_list(stage.get("instructions")):
            kind = instruction.get("instruction")
            if kind not in ("ENV", "ARG"):
                continue
            for name, value in declared(str(instruction.get("value", "")), keep_bare=kind == "ARG").items():
                why = judge(name, value) if value else None
                if why:
                    yield Violation(f"{_stage_name(stage)}: {kind} {name}: {why}; it is stored in the image "
                                    "(config or history) for anyone who pulls it", instruction.get("line"))
                elif kind == "ARG" and not value and SECRET_NAME.search(name) and not NOT_SECRET_NAME.search(name):
                    yield Violation(f"{_stage_name(stage)}: build argument {name} is named as a credential: values "
                                    "given with --build-arg are kept in the image history; use a secret mount "
                                    "(RUN --mount=type=secret)", instruction.get("line"))


_ESCALATE = re.compile(r"(?:^|[\s;&|(])(sudo|doas|su)(?=\s)")


@check("KH-IMG-013")
def root_after_user_switch(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    """RUN instructions of the final stage that become root again after its last non-root USER:
    the image's own user can then become root inside the container (sudo, doas, su)."""
    final = stages(obj)[-1]
    instructions = [i for i in as_list(final.get("instructions")) if isinstance(i, dict)]
    users = [n for n, i in enumerate(instructions) if i.get("instruction") == "USER"]
    if not users:
        return
    last = instructions[users[-1]]
    user = substitute(str(last.get("value", "")).strip(), final.get("variables") or {})
    if "$" in user or root_user_reason(user):
        return  # a root final user is KH-IMG-005's finding
    for instruction in instructions[users[-1] + 1:]:
        if instruction.get("instruction") != "RUN":
            continue
        match = _ESCALATE.search(str(instruction.get("value", "")))
        if match:
            yield Violation(f"RUN uses {match.group(1)} after the final USER {user}: that user can become root "
                            "inside the container, so the non-root USER protects nothing", instruction.get("line"))


# -- the image's user, joined to workloads ----------------------------------------------------------

def image_users(inventory: Inventory, ctx: Context) -> dict[str, ImageUser]:
    """The user of each image the input describes, by join key (model/supply.image_keys): image
    configurations by their references and digest; Dockerfiles by ``dockerfiles:`` of
    .kubeharden.yaml, else by the name of the Dockerfile's folder (or ``NAME.Dockerfile``)."""
    users: dict[str, ImageUser] = {}
    for obj in inventory.of_kind(IMAGE_CONFIG):
        user = ImageUser(str(obj.raw.get("user") or ""), f"image archive {obj.origin.file}", None)
        for key in [str(d).lower() for d in (obj.raw.get("digest"), obj.raw.get("config_digest")) if d] + \
                [k for reference in as_list(obj.raw.get("references")) for k in image_keys(str(reference))]:
            users.setdefault(key, user)
    return users


def dockerfile_for(image: str, dockerfiles: list[K8sObject], configured: dict[str, str]) -> K8sObject | None:
    """The Dockerfile that builds ``image``: the one ``configured`` maps its repository to (globs),
    else the only one whose folder (or ``NAME.Dockerfile`` prefix) is named like the last part of
    the image's repository; None when there is none or more than one."""
    ref = parse_image(image)
    for pattern, path in configured.items():
        if fnmatch.fnmatchcase(ref.full_name, pattern) or fnmatch.fnmatchcase(ref.repository, pattern):
            wanted = os.path.normpath(path)
            return next((d for d in dockerfiles if os.path.normpath(str(d.origin.file)) == wanted), None)
    last = ref.repository.rsplit("/", 1)[-1].lower()
    found = [d for d in dockerfiles if _built_name(str(d.origin.file)) == last]
    return found[0] if len(found) == 1 else None


def _built_name(path: str) -> str:
    base = os.path.basename(path)
    lower = base.lower()
    if lower in ("dockerfile", "containerfile"):
        return os.path.basename(os.path.dirname(os.path.abspath(path))).lower()
    return lower.rsplit(".", 1)[0]


@check("KH-IMG-010")
def workload_runs_image_root(inventory: Inventory, ctx: Context) -> Iterator[Violation]:
    users = image_users(inventory, ctx)
    dockerfiles = inventory.of_kind(DOCKERFILE)
    if not users and not dockerfiles:
        return
    for pod in inventory.pods:
        for c in pod.images:
            if c.run_as_user is not None or c.run_as_non_root is True or not c.image:
                continue  # the pod decides the user; runAsNonRoot makes the kubelet refuse a root image
            user = _user_of(c, users, dockerfiles, ctx)
            if user is None or (reason := user.root_reason()) is None:
                continue
            yield _root_violation(pod, c, user, reason)


def _user_of(c: ContainerImage, users: dict[str, ImageUser], dockerfiles: list[K8sObject],
             ctx: Context) -> ImageUser | None:
    for key in ((c.image_id,) if c.image_id else ()) + image_keys(c.image):
        if key in users:
            return users[key]
    built = dockerfile_for(c.image, dockerfiles, ctx.config.dockerfiles)
    return dockerfile_user(built) if built is not None else None


def _root_violation(pod: PodRecord, c: ContainerImage, user: ImageUser, reason: str) -> Violation:
    return Violation(f"container {c.name} {runs_as(user.user)} because the pod sets no runAsUser, so the user of image "
                     f"{c.image} applies ({user.where}): {reason}", c.line, container=c.name, obj=pod,
                     path=f"{c.path}.securityContext.runAsUser")
