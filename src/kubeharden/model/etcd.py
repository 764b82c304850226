"""What etcd holds for Kubernetes, and the objects ``kubeharden etcd check`` judges.

Kubernetes facts, each in one place here:

* The API server keeps every object under ``--etcd-prefix`` (default ``/registry``); a Secret lives at
  ``<prefix>/secrets/<namespace>/<name>`` (kube-apiserver reference, ``--etcd-prefix``; the storage
  layout of ``k8s.io/apiserver/pkg/registry/generic/registry``).
* A value the API server encrypted starts with ``k8s:enc:<provider>:<version>:<key or plugin name>:``
  ("Encrypting Confidential Data at Rest", https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/:
  "the stored value should be prefixed with ``k8s:enc:aescbc:v1:``"; the transformers of
  ``k8s.io/apiserver/pkg/storage/value/encrypt``: ``aescbc``, ``aesgcm``, ``secretbox``, ``kms`` v1 and v2).
  The ``identity`` provider writes no prefix: its values are the object as it is.
* Unencrypted, a built-in object is stored as protobuf behind the magic ``k8s\\x00`` ("Kubernetes
  Protobuf encoding", https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding), or
  as JSON (``{``) when the API server runs with ``--storage-media-type=application/json``.

The etcd source (``sources/etcd.py``) turns what it reads into objects of the group ``kubeharden.io``
(never sent anywhere); their ``raw`` shapes:

* ``StoredSecret``: ``{"metadata": {"name", "namespace"}, "etcd": {"endpoint": URL, "key": "/registry/…"},
  "storage": {"encrypted": bool, "provider": "aescbc" | … | None, "version": "v1" | None,
  "keyName": str | None, "encoding": "protobuf" | "json" | "unknown" | None}}``.
* ``EtcdEndpoint``: ``{"metadata": {"name": "host:port"}, "endpoint": URL, "scheme": "https" | "http",
  "withoutClientCertificate": PROBE, "plainHTTP": PROBE}`` where PROBE is
  ``{"accepted": True | False | None, "detail": str}`` (None: the probe could not tell, said in ``detail``).
"""

from __future__ import annotations

from typing import Any

from kubeharden.model.supply import API_VERSION

STORED_SECRET = "StoredSecret"
ETCD_ENDPOINT = "EtcdEndpoint"
ETCD_KINDS = frozenset({STORED_SECRET, ETCD_ENDPOINT})
#: kube-apiserver ``--etcd-prefix`` default.
DEFAULT_PREFIX = "/registry"
#: The prefix of every value an encrypting provider wrote.
ENCRYPTED_PREFIX = b"k8s:enc:"
#: The first bytes of an object stored as Kubernetes protobuf.
PROTOBUF_MAGIC = b"k8s\x00"
#: How many bytes of a value are kept to judge it: the prefix with the longest key name the
#: EncryptionConfiguration allows is far shorter; nothing past it (the ciphertext, or the Secret's
#: data when stored in plain text) is kept.
PREFIX_BYTES = 320

#: Provider -> what "Encrypting Confidential Data at Rest" (its table of providers) says about its
#: strength and where its key lives; ``kms`` is keyed with its version.
PROVIDER_NOTES: dict[str, str] = {
    "aescbc": "AES-CBC is rated weak by the Kubernetes documentation (CBC is open to padding-oracle attacks) "
              "and its key is stored in the EncryptionConfiguration file on every control-plane host",
    "aesgcm": "AES-GCM must have its key rotated every 200,000 writes (the Kubernetes documentation recommends "
              "it only with automated rotation) and its key is stored in the EncryptionConfiguration file on "
              "every control-plane host",
    "secretbox": "its key is stored in the EncryptionConfiguration file on every control-plane host, where "
                 "anyone who can read that file or a backup of it can decrypt every Secret",
    "kms:v1": "KMS v1 is deprecated since Kubernetes 1.28 and disabled by default since 1.29",
}
#: The provider the guide and the Kubernetes documentation recommend: the key stays in an external KMS.
RECOMMENDED = "kms:v2"


def secrets_prefix(prefix: str = DEFAULT_PREFIX) -> str:
    """The etcd key prefix of Secrets under the API server's ``--etcd-prefix`` (``/registry/secrets/``)."""
    return prefix.rstrip("/") + "/secrets/"


def secret_name(key: str, prefix: str = DEFAULT_PREFIX) -> tuple[str, str] | None:
    """``(namespace, name)`` of the Secret stored at etcd ``key``, or None for a key of another shape."""
    start = secrets_prefix(prefix)
    if not key.startswith(start):
        return None
    namespace, _, name = key[len(start):].partition("/")
    if not namespace or not name or "/" in name:
        return None
    return namespace, name


def stored_format(value: bytes) -> dict[str, Any]:
    """How a stored value is written, from its first bytes (at least :data:`PREFIX_BYTES` or all of it).

    Returns the ``storage`` mapping of a ``StoredSecret``: encrypted values give ``provider``,
    ``version`` and ``keyName`` (the key name of aescbc, aesgcm and secretbox, the plugin name of
    kms) and no ``encoding``; plain values give ``encoding``. A prefix that starts ``k8s:enc:`` but
    cannot be split into its three fields gives ``provider`` None. Key names are read up to the
    next ``:``, which ends them in the prefix the API server writes.
    """
    if not value.startswith(ENCRYPTED_PREFIX):
        if value.startswith(PROTOBUF_MAGIC):
            encoding = "protobuf"
        elif value.lstrip()[:1] == b"{":
            encoding = "json"
        else:
            encoding = "unknown"
        return {"encrypted": False, "provider": None, "version": None, "keyName": None, "encoding": encoding}
    parts = value[len(ENCRYPTED_PREFIX):].split(b":", 3)
    if len(parts) < 4 or not all(parts[:3]):
        return {"encrypted": True, "provider": None, "version": None, "keyName": None, "encoding": None}
    provider, version, key = (p.decode("utf-8", "replace") for p in parts[:3])
    return {"encrypted": True, "provider": provider, "version": version, "keyName": key, "encoding": None}


def provider_label(storage: dict[str, Any]) -> str:
    """``aescbc`` or ``kms:v2``: how PROVIDER_NOTES and RECOMMENDED name the provider of ``storage``."""
    provider = str(storage.get("provider") or "unknown")
    return f"{provider}:{storage.get('version')}" if provider == "kms" else provider


def stored_secret(namespace: str, name: str, endpoint: str, key: str, storage: dict[str, Any]) -> dict[str, Any]:
    """The ``raw`` of one ``StoredSecret``."""
    return {"apiVersion": API_VERSION, "kind": STORED_SECRET, "metadata": {"name": name, "namespace": namespace},
            "etcd": {"endpoint": endpoint, "key": key}, "storage": storage}


def etcd_endpoint(name: str, endpoint: str, scheme: str, without_certificate: dict[str, Any],
                  plain_http: dict[str, Any]) -> dict[str, Any]:
    """The ``raw`` of one ``EtcdEndpoint``."""
    return {"apiVersion": API_VERSION, "kind": ETCD_ENDPOINT, "metadata": {"name": name}, "endpoint": endpoint,
            "scheme": scheme, "withoutClientCertificate": without_certificate, "plainHTTP": plain_http}


__all__ = ["DEFAULT_PREFIX", "ENCRYPTED_PREFIX", "ETCD_ENDPOINT", "ETCD_KINDS", "PREFIX_BYTES", "PROTOBUF_MAGIC",
           "PROVIDER_NOTES", "RECOMMENDED", "STORED_SECRET", "etcd_endpoint", "provider_label", "secret_name",
           "secrets_prefix", "stored_format", "stored_secret"]
