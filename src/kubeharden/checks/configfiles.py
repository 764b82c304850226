"""What the configuration-file checks share: whether an object is the file type they judge.

A component's configuration file (``model/configfiles.py``) shares its ``kind`` with custom
resources (Kyverno's ``Policy``, OpenShift's ``Config``); the checks of encryption, audit policy,
kubeconfig and Pod Security admission files judge only their own API group and answer
``NOTHING_TO_JUDGE`` for the rest, so a foreign ``Policy`` never counts as a pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from kubeharden.checks.context import Context
from kubeharden.checks.registry import CheckFn, check
from kubeharden.model.configfiles import config_file_type
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.objects import K8sObject


def judged(obj: K8sObject, file_type: str) -> bool:
    """Whether ``obj`` is a configuration file of ``file_type`` (``ENCRYPTION``, ``AUDIT_POLICY`` …)."""
    return config_file_type(obj.ref.api_version, obj.kind) == file_type


def file_check(control_id: str, file_type: str) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn(obj, ctx)`` as the logic of ``control_id`` for configuration files of ``file_type``;
    every other object (a custom resource of the same kind) yields ``NOTHING_TO_JUDGE`` without calling it."""
    def register(fn: CheckFn) -> CheckFn:
        @functools.wraps(fn)
        def run(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
            if not judged(obj, file_type):
                yield NOTHING_TO_JUDGE
                return
            yield from fn(obj, ctx)

        check(control_id)(run)
        return fn

    return register
