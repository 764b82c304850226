"""The connection to a live cluster: the official ``kubernetes`` client, configured as kubectl is.

Configuration (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/):
``--kubeconfig FILE``, else ``$KUBECONFIG``, else ``~/.kube/config``, with ``--context`` or the
file's current context; credential plugins (``users[].user.exec``,
https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins)
run as the client runs them. Without a kubeconfig, inside a Pod, the in-cluster configuration is
used (the ServiceAccount token and CA mounted at ``/var/run/secrets/kubernetes.io/serviceaccount``,
``KUBERNETES_SERVICE_HOST``/``_PORT``; "Accessing the Kubernetes API from a Pod").

Only GET requests are made; bodies are decoded with orjson (a list of 100,000 objects is decoded
in one pass, without building the client's model classes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

#: The environment variable that names kubeconfig files (kubectl's own rule: the first that exists
#: is not merged here; the client loads the first file of the list).
KUBECONFIG_ENV = "KUBECONFIG"
#: kubectl's default kubeconfig file.
DEFAULT_KUBECONFIG = "~/.kube/config"
#: Set in every container by the kubelet ("Accessing the Kubernetes API from a Pod").
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
#: Seconds to connect and to wait for each answer.
TIMEOUT = (10, 60)


class ClusterError(Exception):
    """The cluster cannot be reached or configured (no kubeconfig, unknown context, TLS, refused)."""


class ApiError(Exception):
    """The API server answered a request with an error status (403, 404, 410 …)."""

    def __init__(self, status: int, reason: str, path: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.path = status, reason, path


@dataclass(slots=True)
class Connection:
    """A configured client: ``context`` is the kubeconfig context (None in-cluster), ``server`` its URL."""

    api: Any  # kubernetes.client.ApiClient
    context: str | None
    server: str

    def get(self, path: str, query: list[tuple[str, Any]] | None = None, accept: str = "application/json") -> Any:
        """GET ``path`` (``/api/v1/pods``) and the decoded JSON answer.

        Raises ApiError for an error status (its ``reason`` is the Status message the server sent)
        and ClusterError when no answer came (connection refused, TLS, timeout, credential plugin).
        """
        try:
            method, url, headers, _body, _post = self.api.param_serialize(
                "GET", path, query_params=query or [], header_params={"Accept": accept},
                auth_settings=["BearerToken"])
            response = self.api.call_api(method, url, header_params=headers, _request_timeout=TIMEOUT)
            response.read()
        except Exception as exc:  # urllib3, ssl, exec plugins: all say "no answer"
            raise ClusterError(f"{self.server}: no answer to GET {path}: {_short(exc)}") from exc
        if response.status >= 400:
            raise ApiError(response.status, _status_message(response.data), path)
        try:
            return orjson.loads(response.data)
        except orjson.JSONDecodeError as exc:
            raise ApiError(response.status, f"the answer is not JSON ({exc})", path) from exc

    def close(self) -> None:
        try:
            self.api.close()
        except Exception:
            pass


def connect(kubeconfig: str | None = None, context: str | None = None, pool: int = 8) -> Connection:
    """A Connection configured from ``kubeconfig``/``context`` (kubectl's rules, see the module).

    ``pool``: connections kept open (the number of concurrent requests). Raises ClusterError when
    no configuration is found or it is unusable (unknown context, missing file, bad certificate).
    """
    from kubernetes import client, config  # imported only when a cluster is scanned

    configuration = client.Configuration()
    # read $KUBECONFIG now (the client reads it once, when it is imported); several files are merged
    kubeconfig = kubeconfig or os.environ.get(KUBECONFIG_ENV) or DEFAULT_KUBECONFIG
    in_cluster = (context is None and kubeconfig == DEFAULT_KUBECONFIG and bool(os.environ.get(IN_CLUSTER_ENV))
                  and not os.path.exists(os.path.expanduser(DEFAULT_KUBECONFIG)))
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            name = None
        else:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration,
                                    persist_config=False)
            name = context or _current_context(kubeconfig)
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise ClusterError(f"cannot configure the cluster client from {kubeconfig}: {_short(exc)}") from exc
    except Exception as exc:  # an exec credential plugin that fails, a malformed file
        raise ClusterError(f"cannot configure the cluster client: {_short(exc)}") from exc
    configuration.connection_pool_maxsize = max(1, pool)
    configuration.retries = 1
    return Connection(client.ApiClient(configuration), name, configuration.host)


def _current_context(kubeconfig: str) -> str | None:
    from kubernetes import config

    try:
        _contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:
        return None
    return active.get("name") if isinstance(active, dict) else None


def _status_message(data: bytes | None) -> str:
    """The ``message`` of a ``Status`` answer (meta/v1 Status), else the start of the body."""
    try:
        body = orjson.loads(data or b"")
    except orjson.JSONDecodeError:
        return (data or b"").decode("utf-8", "replace")[:200].strip() or "(no message)"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return "(no message)"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
