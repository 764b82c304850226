"""The EncryptionConfiguration of the guide's appendices H and I (NSA-NET-30), corrected.

Source: Kubernetes documentation, "Encrypting Confidential Data at Rest" and "Using a KMS provider
for data encryption". Secrets are encrypted by the chosen provider, which comes first; ``identity``
comes last so that Secrets written before encryption was turned on stay readable until they are
rewritten. The guide's KMS example used KMS v1 and a two-slash socket URL (``unix://tmp/…``):
this one writes ``apiVersion: v2`` and demands an absolute ``unix:///`` path.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from kubeharden.model.configfiles import key_name_problem, kms_name_problem

#: Providers this generator writes: kms (v2) and the two local-key providers the documentation does
#: not restrict to an automated rotation scheme (aesgcm "must be rotated every 200,000 writes").
PROVIDERS = ("kms", "aescbc", "secretbox")
#: Key size in bytes: the documentation's "32-byte random key" for aescbc; secretbox takes 32 only.
KEY_BYTES = 32
KMS_SOCKET_PREFIX = "unix:///"


def new_key() -> str:
    """A fresh random key: 32 bytes from the operating system's CSPRNG (``secrets``), base64-encoded."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def kms_endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not a KMS plugin socket the API server can use, or None."""
    if not endpoint.startswith(KMS_SOCKET_PREFIX) or len(endpoint) == len(KMS_SOCKET_PREFIX):
        return (f"{endpoint!r} is not a unix socket with an absolute path: write it as "
                f"{KMS_SOCKET_PREFIX}path/to/plugin.sock (three slashes)")
    return None


def build(provider: str, key: str | None = None, key_name: str = "key1", kms_name: str = "",
          kms_endpoint: str = "", kms_timeout: str = "3s", resources: tuple[str, ...] = ("secrets",)) -> dict[str, Any]:
    """The EncryptionConfiguration mapping; ``key`` (base64) is required for aescbc and secretbox,
    ``kms_name`` and ``kms_endpoint`` for kms. Raises ValueError for a provider or value it cannot use,
    and for names the API server refuses (``model/configfiles.py``: a KMS v2 name with ':', an empty name)."""
    if provider == "kms":
        problem = kms_endpoint_problem(kms_endpoint) or kms_name_problem(kms_name, "v2")
        if problem:
            raise ValueError(f"--kms-name/--kms-endpoint: {problem} (the API server would refuse the file)")
        first: dict[str, Any] = {"kms": {"apiVersion": "v2", "name": kms_name, "endpoint": kms_endpoint,
                                         "timeout": kms_timeout}}
    elif provider in PROVIDERS:
        if not key:
            raise ValueError(f"{provider} needs a key")
        problem = key_name_problem(key_name)
        if problem:
            raise ValueError(f"--key-name: {problem} (the API server would refuse the file)")
        first = {provider: {"keys": [{"name": key_name, "secret": key}]}}
    else:
        raise ValueError(f"unknown provider {provider!r} (one of {', '.join(PROVIDERS)})")
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": list(resources), "providers": [first, {"identity": {}}]}],
    }
