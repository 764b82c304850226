"""etcd, read for real (NSA-NET-20, -21, -22, -30): how each Secret is stored, and who etcd lets in.

Judges the objects of the etcd source (``sources/etcd.py``, shapes in ``model/etcd.py``):
``StoredSecret`` (one per Secret key under ``<--etcd-prefix>/secrets/``) and ``EtcdEndpoint`` (one per
endpoint probed). A probe that could not tell is nothing to judge here: the source reports it as an
input problem, so the control is not assessable rather than passed.

Kubernetes sources: "Encrypting Confidential Data at Rest"
(https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/: providers, their strength, the
``k8s:enc:`` prefix) and "Operating etcd clusters for Kubernetes"
(https://kubernetes.io/docs/tasks/administer-cluster/configure-upgrade-etcd/#securing-etcd-clusters:
``--client-cert-auth``, ``--trusted-ca-file``, HTTPS between the API server and etcd).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.etcd import PROVIDER_NOTES, RECOMMENDED, provider_label
from kubeharden.model.objects import K8sObject


def _storage(obj: K8sObject) -> dict[str, Any]:
    storage = obj.raw.get("storage")
    return storage if isinstance(storage, dict) else {}


def _where(obj: K8sObject) -> str:
    etcd = obj.raw.get("etcd")
    return f"etcd key {etcd.get('key')}" if isinstance(etcd, dict) else "etcd"


@check("KH-ETCD-007")
def secret_stored_in_plain_text(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    storage = _storage(obj)
    if storage.get("encrypted") is not False:
        return
    encoding = storage.get("encoding")
    how = {"protobuf": "as Kubernetes protobuf (k8s\\x00)", "json": "as JSON"}.get(
        str(encoding), "in a format kubeharden does not know")
    yield Violation(f"Secret {obj.namespace}/{obj.name} is stored in plain text {how}: its {_where(obj)} has no "
                    "k8s:enc: prefix, so anyone who can read etcd, its data directory or a backup reads the Secret "
                    "(the identity provider, or no --encryption-provider-config)")


@check("KH-ETCD-008")
def secret_encrypted_with_local_key(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    storage = _storage(obj)
    if storage.get("encrypted") is not True:
        return
    label = provider_label(storage)
    if label == RECOMMENDED:
        return
    name = storage.get("keyName")
    secret = f"Secret {obj.namespace}/{obj.name}"
    if storage.get("provider") is None:
        yield Violation(f"{secret} starts with k8s:enc: but not with the k8s:enc:<provider>:<version>:<name>: "
                        "prefix the API server writes, so its provider is unknown")
        return
    note = PROVIDER_NOTES.get(label)
    what = "plugin" if storage.get("provider") == "kms" else "key"
    used = f"the {storage.get('provider')} provider ({storage.get('version')}) with {what} {name!r}"
    if note is None:
        yield Violation(f"{secret} is encrypted by {used}, a provider the Kubernetes documentation does not "
                        "list; its strength cannot be judged")
        return
    yield Violation(f"{secret} is encrypted by {used}: {note}")


def _probe(obj: K8sObject, field: str) -> dict[str, Any]:
    probe = obj.raw.get(field)
    return probe if isinstance(probe, dict) else {}


@check("KH-ETCD-009")
def accepts_clients_without_certificate(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    probe = _probe(obj, "withoutClientCertificate")
    accepted = probe.get("accepted")
    if accepted is None:
        yield NOTHING_TO_JUDGE  # the source said why, as an input problem
    elif accepted:
        yield Violation(f"etcd at {obj.raw.get('endpoint')} answered a client that sent no certificate "
                        f"({probe.get('detail')}): anyone who reaches the port can read and write every "
                        "object of the cluster, Secrets included")


@check("KH-ETCD-010")
def serves_plain_http(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    probe = _probe(obj, "plainHTTP")
    accepted = probe.get("accepted")
    if accepted is None:
        yield NOTHING_TO_JUDGE
    elif accepted:
        yield Violation(f"etcd at {obj.raw.get('endpoint')} answered over plain HTTP ({probe.get('detail')}): "
                        "what the API server stores, Secrets included, crosses the network unencrypted and "
                        "unauthenticated")
