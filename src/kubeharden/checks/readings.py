"""Readings: what a rule may judge a value as (``as:`` in docs/rule-language.md) instead of as written.

Each reading is a Kubernetes fact about how a field's value is read, defined once here or where it
is cited (capability names: :mod:`kubeharden.model.facts`; image references: :mod:`.images`). A
reading returns None where the value has no such part (an image without a tag, a list field that is
not a list), which the rule language then treats as absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeharden.model.images import parse_image
from kubeharden.model.facts import capability_name
from kubeharden.model.pods import apparmor_type
from kubeharden.model.settings import file_mode, go_bool, go_duration_seconds, go_int, kubernetes_minor


def _capability_names(value: Any) -> list[str] | None:
    """A capability list as the runtime reads its names (``cap_sys_admin`` -> ``SYS_ADMIN``); None for a
    value that is not a list (the API server refuses it: Capabilities.add/drop are lists)."""
    return [capability_name(x) for x in value] if isinstance(value, list) else None


def _trimmed_strings(value: Any) -> list[str] | None:
    """A list with each entry as a string without surrounding spaces, as Kubernetes reads CIDR lists
    (``loadBalancerSourceRanges``: k8s.io/cloud-provider service helpers trim each entry); None for a
    value that is not a list."""
    return [str(x).strip() for x in value] if isinstance(value, list) else None


def _comma_separated(value: Any) -> list[str] | None:
    """A list written as one comma-separated string (annotations such as
    ``service.beta.kubernetes.io/load-balancer-source-ranges``): its entries, trimmed, empty ones left out."""
    if value is None or isinstance(value, (list, dict)):
        return None
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _keys(value: Any) -> list[str] | None:
    """The keys of a mapping (annotations, labels) as a list of strings; None for any other value."""
    return [str(k) for k in value] if isinstance(value, dict) else None


def _apparmor_annotation(value: Any) -> str | None:
    """A beta AppArmor annotation's value as the appArmorProfile type it stands for; None when unset."""
    return None if value is None else apparmor_type(value)


def image_reference(value: Any) -> str | None:
    """A container's ``image`` when it names one (a non-empty string), else None."""
    return value if isinstance(value, str) and value else None


def _image_part(part: str) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        image = image_reference(value)
        return None if image is None else getattr(parse_image(image), part)

    return read


def _boolean(value: Any) -> bool | None:
    """A boolean setting as the component reads it: a YAML boolean of a configuration file, or a flag's
    text as Go's strconv.ParseBool reads it (``--anonymous-auth=False``); None for anything else."""
    return value if isinstance(value, bool) else go_bool(value)


#: Readings a rule may judge a value as (``as: image-tag``) instead of as written; each is a Kubernetes
#: fact defined once elsewhere (capability names: model/facts.py; image references: checks/images.py).
#: A reading returns None where the value has no such part (an image without a tag), which then counts
#: as absent. A reading must never raise, whatever the value's type (tests/test_rule_readings.py): the
#: engine judges a rule's value before its guards (rules.py) and would otherwise report an error for a
#: unit the guards exclude.
READINGS: dict[str, Callable[[Any], Any]] = {
    "capability-names": _capability_names,
    "trimmed-strings": _trimmed_strings,
    "comma-separated": _comma_separated,
    "keys": _keys,
    "apparmor-annotation": _apparmor_annotation,
    "image-reference": image_reference,
    "image-tag": _image_part("tag"),
    "image-digest": _image_part("digest"),
    "boolean": _boolean,
    "integer": go_int,
    "duration-seconds": go_duration_seconds,
    "kubernetes-minor": kubernetes_minor,
    "file-mode": file_mode,
}

#: Readings of node components' settings (flags and configuration files, ``scope: facts``): what
#: admission never sees, so the policy export has no CEL for them.
SETTINGS_READINGS = frozenset({"boolean", "integer", "duration-seconds", "kubernetes-minor", "file-mode"})
