"""Configuration files of Kubernetes components that look like objects but are not API objects.

kube-apiserver and the kubelet read files written in the API's ``apiVersion``/``kind`` shape that
no API server stores: they have no ``metadata.name`` (a kubeconfig has no ``metadata`` at all), so
kubeharden names them by the file they are in. Each (API group, kind) below is one such file type,
as the Kubernetes documentation defines it:

* ``EncryptionConfiguration`` (``apiserver.config.k8s.io/v1``; before Kubernetes 1.13 ``kind:
  EncryptionConfig``, ``apiVersion: v1``): "Encrypting Confidential Data at Rest" and the
  "kube-apiserver Encryption Configuration (v1)" reference; read from ``--encryption-provider-config``.
* ``Policy`` (``audit.k8s.io/v1``): "Auditing" and the "kube-apiserver Audit Configuration (v1)"
  reference; read from ``--audit-policy-file``.
* ``Config`` (``v1``): a kubeconfig file, "Organizing Cluster Access Using kubeconfig Files" and
  the "kubeconfig (v1)" reference; the audit webhook's ``--audit-webhook-config-file`` has this shape.
* ``AdmissionConfiguration`` (``apiserver.config.k8s.io/v1``, formerly ``apiserver.k8s.io/v1alpha1``):
  ``--admission-control-config-file``; its ``PodSecurity`` plugin's ``PodSecurityConfiguration``
  (``pod-security.admission.config.k8s.io/v1``) may sit inside it or in a file of its own
  ("Enforce Pod Security Standards by Configuring the Built-in Admission Controller").
* ``KubeletConfiguration`` and ``KubeProxyConfiguration``: the kubelet's ``--config`` and
  kube-proxy's ``--config`` files.
"""

from __future__ import annotations

import posixpath

#: (API group, kind) of every configuration-file type: "" is the core group of ``apiVersion: v1``.
CONFIG_FILE_KINDS: frozenset[tuple[str, str]] = frozenset({
    ("apiserver.config.k8s.io", "EncryptionConfiguration"),
    ("", "EncryptionConfig"),
    ("audit.k8s.io", "Policy"),
    ("", "Config"),
    ("apiserver.config.k8s.io", "AdmissionConfiguration"),
    ("apiserver.k8s.io", "AdmissionConfiguration"),
    ("pod-security.admission.config.k8s.io", "PodSecurityConfiguration"),
    ("kubelet.config.k8s.io", "KubeletConfiguration"),
    ("kubeproxy.config.k8s.io", "KubeProxyConfiguration"),
})

#: What each configuration-file type is, for checks that judge one of them (the value names it).
ENCRYPTION = "encryption"
AUDIT_POLICY = "audit-policy"
KUBECONFIG = "kubeconfig"
ADMISSION = "admission"
POD_SECURITY = "pod-security"
_ROLES = {
    ("apiserver.config.k8s.io", "EncryptionConfiguration"): ENCRYPTION, ("", "EncryptionConfig"): ENCRYPTION,
    ("audit.k8s.io", "Policy"): AUDIT_POLICY, ("", "Config"): KUBECONFIG,
    ("apiserver.config.k8s.io", "AdmissionConfiguration"): ADMISSION,
    ("apiserver.k8s.io", "AdmissionConfiguration"): ADMISSION,
    ("pod-security.admission.config.k8s.io", "PodSecurityConfiguration"): POD_SECURITY,
}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def is_config_file(api_version: str, kind: str) -> bool:
    """Whether ``apiVersion``/``kind`` is a component's configuration file (:data:`CONFIG_FILE_KINDS`)."""
    return (_group(str(api_version)), str(kind)) in CONFIG_FILE_KINDS


def config_file_type(api_version: str, kind: str) -> str | None:
    """What the file is (:data:`ENCRYPTION`, :data:`AUDIT_POLICY`, :data:`KUBECONFIG`, :data:`ADMISSION`,
    :data:`POD_SECURITY`), or None for any other ``apiVersion``/``kind`` (a Kyverno ``Policy`` is not an
    audit policy; an OpenShift ``Config`` is not a kubeconfig)."""
    return _ROLES.get((_group(str(api_version)), str(kind)))


def config_file_name(file: str | None) -> str:
    """The name a configuration file without ``metadata.name`` goes by: the file as the input named
    it (``/etc/kubernetes/enc/enc.yaml``), ``<stdin>`` for standard input, ``<unnamed>`` without one."""
    if not file:
        return "<unnamed>"
    if file == "-":
        return "<stdin>"
    return posixpath.normpath(file) if "/" in file else file


def kms_name_problem(name: str, api_version: str = "v2") -> str | None:
    """Why the API server refuses ``name`` for a kms provider of ``api_version`` (``v1`` or ``v2``), or None.

    Source: ``validateKMSConfigName`` in k8s.io/apiserver/pkg/apis/apiserver/validation/validation.go:
    the name is mandatory, and a KMS v2 name must not contain ':' (uniqueness is judged over the file).
    """
    if not name:
        return "name is a mandatory field for a kms provider"
    if api_version != "v1" and ":" in name:
        return f"{name!r} contains ':', which a KMS v2 provider name must not"
    return None


def key_name_problem(name: str) -> str | None:
    """Why the API server refuses ``name`` for a key of aescbc, aesgcm or secretbox, or None
    (``validateKey``: "name is a mandatory field for a key")."""
    return None if name else "name is a mandatory field for a key"
