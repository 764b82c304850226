"""Encryption of Secrets at rest (NSA-NET-30, NSA-NET-22): what an EncryptionConfiguration says.

kube-apiserver reads the file ``--encryption-provider-config`` names. Source of every rule here:
Kubernetes documentation, "Encrypting Confidential Data at Rest"
(https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/), "Using a KMS provider for data
encryption" (https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/) and the
"kube-apiserver Encryption Configuration (v1)" reference:

* each ``resources[]`` entry lists resources (``secrets``, ``configmaps``, ``*.apps``; ``*.`` is every
  resource of the core group and ``*.*`` every resource, from Kubernetes 1.27) and ``providers``;
  entries are processed in order and the first entry that matches a resource decides for it;
* the **first** provider of an entry encrypts what is written; ``identity`` writes plain text;
* ``aescbc``, ``aesgcm`` and ``secretbox`` keep their keys in the file itself ("Storing the raw
  encryption key in the EncryptionConfig only moderately improves your security posture");
  ``aesgcm`` "must be rotated every 200,000 writes"; ``kms`` ``apiVersion: v2`` keeps the key
  encryption key in an external KMS; ``kms`` v1 is deprecated since 1.28 and off by default from 1.29;
* key sizes: aescbc and aesgcm take 16, 24 or 32 bytes, secretbox 32 bytes, base64-encoded.

What the API server refuses (KH-ENC-005) follows its own code: ``ValidateEncryptionConfiguration``
in k8s.io/apiserver/pkg/apis/apiserver/validation/validation.go (at least one ``resources`` entry,
each with at least one resource and one provider; one provider per item; keys with a ``name`` and a
base64 ``secret`` of the right size; kms ``name`` and ``endpoint`` required, the endpoint's scheme
only ``unix``, ``apiVersion`` only v1 or v2 (unset is v1), a v2 name without ':' and unique among
the kms names before it, ``cachesize`` not 0) and ``getTransformerOverridesAndKMSPluginProbes`` in
k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go (a resource after an earlier entry's
``*.group`` or ``*.*`` "is masked by earlier rule").
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from kubeharden.checks.configfiles import file_check
from kubeharden.checks.context import Context
from kubeharden.model.configfiles import ENCRYPTION, key_name_problem, kms_name_problem
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.objects import K8sObject, as_dict, as_list

#: Providers an entry may name (EncryptionConfiguration v1 ``ProviderConfiguration``).
PROVIDERS = ("aesgcm", "aescbc", "secretbox", "identity", "kms")
#: Providers whose keys are written in the file, with the key sizes (bytes) the API server accepts.
LOCAL_KEY_SIZES = {"aescbc": (16, 24, 32), "aesgcm": (16, 24, 32), "secretbox": (32,)}
#: What the documentation says of each provider that keeps its key in the file.
LOCAL_KEY_NOTES = {
    "aescbc": "is not recommended: CBC is open to padding-oracle attacks",
    "aesgcm": "must be rotated every 200,000 writes and is not recommended without automated key rotation",
    "secretbox": "is a sound cipher, but its key is as exposed as any other key in the file",
}
#: The kms ``apiVersion`` values the API server accepts (``validateKMSAPIVersion``); unset is defaulted to v1.
KMS_VERSIONS = ("v1", "v2")
#: The only endpoint scheme a kms provider may use (``validateKMSEndpoint``: "only unix is supported").
KMS_SCHEME = "unix"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _entries(obj: K8sObject) -> list[tuple[int, dict[str, Any]]]:
    return [(i, e) for i, e in enumerate(as_list(obj.raw.get("resources"))) if isinstance(e, dict)]


def covers_secrets(resource: Any) -> bool:
    """Whether one ``resources[].resources`` entry matches Secrets: ``secrets`` (``secrets.``), ``*.`` or ``*.*``."""
    return str(resource).strip() in ("secrets", "secrets.", "*.", "*.*")


def secrets_entry(obj: K8sObject) -> tuple[int, dict[str, Any]] | None:
    """The first ``resources[]`` entry matching Secrets, which decides how they are stored, or None."""
    for i, entry in _entries(obj):
        if any(covers_secrets(r) for r in as_list(entry.get("resources"))):
            return i, entry
    return None


def provider_type(provider: Any) -> str | None:
    """The type of one ``providers[]`` item (``aescbc`` …), or None when it names none it knows."""
    names = [k for k in as_dict(provider) if k in PROVIDERS]
    return names[0] if len(names) == 1 else None


def _kms_version(provider: Any) -> str:
    return str(as_dict(as_dict(provider).get("kms")).get("apiVersion") or "v1")


def group_resource(resource: Any) -> tuple[str, str]:
    """``(group, resource)`` of one ``resources[].resources`` entry, as apimachinery's
    ``schema.ParseGroupResource`` splits it at the first '.': ``secrets`` -> ("", "secrets"),
    ``*.`` -> ("", "*"), ``*.apps`` -> ("apps", "*"), ``*.*`` -> ("*", "*")."""
    resource_name, _, group = str(resource).partition(".")
    return group, resource_name


def _said(group: str, resource: str) -> str:
    """A (group, resource) as the API server's messages write it (``grYAMLString``): ``*.`` for every
    core resource, else ``resource.group`` (``secrets`` for the core group)."""
    if group == "" and resource == "*":
        return "*."
    return f"{resource}.{group}" if group else resource

@file_check("KH-ENC-001", ENCRYPTION)
def secrets_not_covered(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if secrets_entry(obj) is None:
        listed = sorted({str(r) for _, e in _entries(obj) for r in as_list(e.get("resources"))})
        yield Violation(f"no resources entry matches Secrets (lists {', '.join(listed) or 'nothing'}): "
                        "the API server stores every Secret in etcd as plain text",
                        obj.line(obj.raw, "resources"), path="resources")


@file_check("KH-ENC-002", ENCRYPTION)
def identity_first(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    found = secrets_entry(obj)
    if found is None:
        yield NOTHING_TO_JUDGE  # KH-ENC-001 says Secrets are not covered at all
        return
    index, entry = found
    providers = as_list(entry.get("providers"))
    if not providers:
        yield Violation(f"resources[{index}] (Secrets) has no providers: the API server refuses the file",
                        obj.line(entry, "resources"), path=join("resources", index, "providers"))
        return
    if provider_type(providers[0]) == "identity":
        later = [t for t in map(provider_type, providers[1:]) if t]
        yield Violation(f"resources[{index}] writes Secrets with the identity provider first, i.e. as plain text"
                        + (f" ({', '.join(later)} only decrypts what was written before)" if later else ""),
                        obj.line(providers[0]), path=join("resources", index, "providers", 0))


@file_check("KH-ENC-003", ENCRYPTION)
def key_in_file(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    writes_secrets = secrets_entry(obj)
    for index, entry in _entries(obj):
        providers = as_list(entry.get("providers"))
        for p, provider in enumerate(providers):
            kind = provider_type(provider)
            if kind not in LOCAL_KEY_SIZES:
                continue
            keys = [str(as_dict(k).get("name")) for k in as_list(as_dict(as_dict(provider).get(kind)).get("keys"))]
            if not keys:
                continue
            role = "encrypts" if p == 0 else "decrypts"
            what = "Secrets" if writes_secrets is not None and writes_secrets[0] == index else \
                ", ".join(map(str, as_list(entry.get("resources"))))
            yield Violation(f"resources[{index}] {role} {what} with {kind} key(s) {', '.join(keys)} written in this "
                            f"file, beside the data they protect on the control-plane host; {kind} "
                            f"{LOCAL_KEY_NOTES[kind]}; prefer a kms provider with apiVersion v2",
                            obj.line(provider), path=join("resources", index, "providers", p, kind))


@file_check("KH-ENC-004", ENCRYPTION)
def kms_v1(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for index, entry in _entries(obj):
        providers = as_list(entry.get("providers"))
        for p, provider in enumerate(providers):
            if provider_type(provider) == "kms" and _kms_version(provider) == "v1":
                kms = as_dict(as_dict(provider).get("kms"))
                unset = " (apiVersion unset means v1)" if not kms.get("apiVersion") else ""
                yield Violation(f"resources[{index}] kms provider {kms.get('name')!r} uses KMS v1{unset}: "
                                "deprecated since Kubernetes 1.28 and disabled by default from 1.29",
                                obj.line(kms, "apiVersion") or obj.line(provider),
                                path=join("resources", index, "providers", p, "kms", "apiVersion"))


@file_check("KH-ENC-005", ENCRYPTION)
def refused(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _entries(obj):
        yield Violation("resources is empty or missing: the file encrypts nothing",
                        obj.line(obj.raw, "resources"), path="resources")
    kms_names: set[str] = set()
    for index, entry in _entries(obj):
        for field in ("resources", "providers"):
            if not as_list(entry.get(field)):
                yield Violation(f"resources[{index}].{field} is empty or missing: at least one is required",
                                obj.line(entry, field) or obj.line(entry), path=join("resources", index, field))
        for p, provider in enumerate(as_list(entry.get("providers"))):
            where = join("resources", index, "providers", p)
            kind = provider_type(provider)
            if kind is None:
                named = ", ".join(map(str, as_dict(provider))) or "nothing"
                yield Violation(f"{where} names {named}: each item names exactly one of {', '.join(PROVIDERS)}",
                                obj.line(provider), path=where)
            elif kind in LOCAL_KEY_SIZES:
                yield from _bad_keys(obj, as_dict(as_dict(provider).get(kind)), kind, join(where, kind))
            elif kind == "kms":
                kms = as_dict(as_dict(provider).get("kms"))
                yield from _bad_kms(obj, provider, kms, join(where, "kms"), kms_names)
                kms_names.add(str(kms.get("name") or ""))
    yield from _masked(obj)


def _bad_kms(obj: K8sObject, provider: Any, kms: dict[str, Any], where: str,
             earlier: set[str]) -> Iterator[Violation]:
    """What ``validateKMSConfiguration`` refuses in one kms provider; ``earlier`` holds the kms names before it."""
    line = obj.line(provider, "kms")
    missing = [f for f in ("name", "endpoint") if not kms.get(f)]
    if missing:
        yield Violation(f"{where} has no {' or '.join(missing)}", line, path=where)
    version = str(kms.get("apiVersion") or "v1")
    if version not in KMS_VERSIONS:
        yield Violation(f"{where}.apiVersion {version!r} is not supported: only v1 and v2 are",
                        obj.line(kms, "apiVersion") or line, path=join(where, "apiVersion"))
    name = str(kms.get("name") or "")
    problem = kms_name_problem(name, version)
    if name and problem:
        yield Violation(f"{where}.name {problem}", obj.line(kms, "name") or line, path=join(where, "name"))
    if name and name in earlier:
        said = "names must be unique" if version != "v1" else \
            "a KMS v1 name must be unique when kube-apiserver runs with --encryption-provider-config-automatic-reload"
        yield Violation(f"{where}.name {name!r} is used by an earlier kms provider: {said}",
                        obj.line(kms, "name") or line, path=join(where, "name"))
    endpoint = str(kms.get("endpoint") or "")
    scheme = _SCHEME.match(endpoint)
    if endpoint and (scheme is None or scheme.group(1).lower() != KMS_SCHEME):
        yield Violation(f"{where}.endpoint {endpoint!r} uses the scheme {scheme.group(1) if scheme else '(none)'!r}: "
                        f"only {KMS_SCHEME} (a local socket, {KMS_SCHEME}:///path) is supported",
                        obj.line(kms, "endpoint") or line, path=join(where, "endpoint"))
    if kms.get("cachesize") == 0:
        yield Violation(f"{where}.cachesize is 0: it must be positive, or negative to disable the cache",
                        obj.line(kms, "cachesize") or line, path=join(where, "cachesize"))


def _masked(obj: K8sObject) -> Iterator[Violation]:
    """Resources an earlier entry's ``*.group`` or ``*.*`` already decides: the API server refuses the
    file ('resource "secrets" is masked by earlier rule "*."'; encryptionconfig/config.go)."""
    decided: set[tuple[str, str]] = set()
    for index, entry in _entries(obj):
        for r, resource in enumerate(as_list(entry.get("resources"))):
            group, name = group_resource(resource)
            mask = next((m for m in ((group, "*"), ("*", "*")) if m in decided), None)
            if mask is not None:
                yield Violation(f"resources[{index}].resources[{r}]: resource {_said(group, name)!r} is masked "
                                f"by earlier rule {_said(*mask)!r}: the API server refuses the file",
                                obj.line(entry, "resources"), path=join("resources", index, "resources", r))
            decided.add((group, name))


def _bad_keys(obj: K8sObject, config: dict[str, Any], kind: str, where: str) -> Iterator[Violation]:
    keys = as_list(config.get("keys"))
    if not keys:
        yield Violation(f"{where} has no keys", obj.line(config) or obj.origin.line, path=join(where, "keys"))
    for k, key in enumerate(keys):
        problem = key_name_problem(str(as_dict(key).get("name") or ""))
        if problem:
            yield Violation(f"{where}.keys[{k}] has no name: {problem}",
                            obj.line(key) or obj.line(config), path=join(where, "keys", k, "name"))
        secret = as_dict(key).get("secret")
        try:
            size = len(base64.b64decode(str(secret or ""), validate=True))
        except (binascii.Error, ValueError):
            size = -1
        if size not in LOCAL_KEY_SIZES[kind]:
            said = "is not base64" if size < 0 else f"decodes to {size} bytes"
            yield Violation(f"{where}.keys[{k}] ({as_dict(key).get('name')}) secret {said}; {kind} needs "
                            f"{' or '.join(map(str, LOCAL_KEY_SIZES[kind]))} bytes, base64-encoded",
                            obj.line(key, "secret"), path=join(where, "keys", k, "secret"))
