"""What the configuration-file checks share: whether an object is the file type they judge.

A component's configuration file (``model/configfiles.py``) shares its ``kind`` with custom
resources (Kyverno's ``Policy``, OpenShift's ``Config``); the checks of encryption, audit policy,
kubeconfig and Pod Security admission files judge only their own API group and answer
``NOTHING_TO_JUDGE`` for the rest, so a foreign ``Policy`` never counts as a pass.
"""

from __future__ import annotations

from kubeharden.model.configfiles import config_file_type
from kubeharden.model.objects import K8sObject


def judged(obj: K8sObject, file_type: str) -> bool:
    """Whether ``obj`` is a configuration file of ``file_type`` (``ENCRYPTION``, ``AUDIT_POLICY`` …)."""
    return config_file_type(obj.ref.api_version, obj.kind) == file_type
