"""The declarative rule language used by simple catalogue entries.

A rule names fields and what is wrong with their values; the engine below applies it
with Kubernetes' inheritance rules, so catalogue authors never re-implement them::

    rule:
      container_field: privileged       # effective container securityContext field
      forbid: [true]                    # these values fail; unset passes
      message: "securityContext.privileged is {value} ({where})"

    rule:
      container_field: readOnlyRootFilesystem
      expect: true                      # only this value passes; unset fails
      message_unset: "readOnlyRootFilesystem is not set (defaults to false)"

    rule:
      pod_fields: [hostPID, hostIPC]    # fields of the pod spec
      forbid: [true]

``linux_only: true`` skips Windows pods (``spec.os.name: windows``), where the
Linux security settings have no effect.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator

from kubeharden.checks.catalogue import Control, Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.pods import ContainerView, PodView

_WHERE = {"container": "set on the container", "pod": "inherited from the pod securityContext",
          "unset": "not set"}


def _fields(rule: dict[str, Any], single: str, plural: str) -> list[str]:
    if single in rule:
        return [rule[single]]
    return list(rule.get(plural) or [])


def _judge(rule: dict[str, Any], value: Any, is_set: bool) -> str | None:
    """Which message key applies, or None when the value passes."""
    if "expect" in rule:
        if not is_set:
            return "message_unset"
        return None if value == rule["expect"] else "message"
    forbid = rule.get("forbid") or []
    if is_set and value in forbid:
        return "message"
    return None


def _render(rule: dict[str, Any], key: str, **values: Any) -> str:
    template = rule.get(key) or rule.get("message") or "{field} is {value}"
    return template.format(**values)


def run_container_rule(control: Control, c: ContainerView) -> Iterator[Violation]:
    rule = control.rule
    if rule.get("linux_only") and c.pod.is_windows:
        return
    for name in _fields(rule, "container_field", "container_fields"):
        setting = c.effective(name)
        is_set = setting.level != "unset"
        key = _judge(rule, setting.value, is_set)
        if key is None:
            continue
        line = c.line(setting.holder, setting.key) if is_set else c.line(c.sc or None, None)
        # The field where it is set (the pod's, when inherited), else where it belongs: the container's.
        base = c.pod.spec_path if setting.level == "pod" else c.path
        yield Violation(
            _render(rule, key, field=name, value=_show(setting.value), where=_WHERE[setting.level],
                    container=c.name),
            line=line, path=join(base, "securityContext", name),
        )


def run_pod_rule(control: Control, pod: PodView) -> Iterator[Violation]:
    rule = control.rule
    if rule.get("linux_only") and pod.is_windows:
        return
    for name in _fields(rule, "pod_field", "pod_fields"):
        holder: Any = pod.spec
        parts = name.split(".")
        for part in parts[:-1]:
            holder = holder.get(part) if isinstance(holder, dict) else None
        holder = holder if isinstance(holder, dict) else {}
        last = parts[-1]
        is_set = holder.get(last) is not None
        value = holder.get(last)
        key = _judge(rule, value, is_set)
        if key is None:
            continue
        yield Violation(_render(rule, key, field=name, value=_show(value), where=""),
                        line=pod.line(holder, last) if is_set else pod.line(),
                        path=join(pod.spec_path, *parts))


def _show(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
