"""Kubeconfig files (NSA-NET-23, NSA-LOG-12): what a ``kind: Config`` file says.

Every kubeconfig a scan meets is judged, including the audit webhook's ``--audit-webhook-config-file``,
which has the same shape. Source: Kubernetes documentation, "Organizing Cluster Access Using
kubeconfig Files" and the "kubeconfig (v1)" reference (``clusters[].cluster.server``,
``insecure-skip-tls-verify``, ``users[].user.username``/``password``, ``token``, ``client-key-data``,
``exec``, ``auth-provider``); "Auditing", "Webhook backend" (the webhook is a kubeconfig); and
"client-go credential plugins" (``exec`` runs a command on the machine using the file).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeharden.checks.configfiles import file_check
from kubeharden.checks.context import Context
from kubeharden.model.configfiles import KUBECONFIG
from kubeharden.model.controls import NOTHING_TO_JUDGE, Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.objects import K8sObject, as_dict, as_list

#: Fields of ``users[].user`` that hold a credential in the file itself.
EMBEDDED_CREDENTIALS = {"token": "a bearer token", "client-key-data": "a client private key"}
#: Words in an ``exec.env[].name`` that say its value is a credential (``AWS_SECRET_ACCESS_KEY``, ``VAULT_TOKEN``).
SECRET_ENV_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "API_KEY", "APIKEY", "PRIVATE_KEY")


def looks_secret(env_name: str) -> bool:
    """Whether an environment variable's name says it holds a credential."""
    upper = env_name.upper()
    return any(word in upper for word in SECRET_ENV_WORDS)


#: Fields of ``users[].user.auth-provider.config`` that hold tokens (the legacy OIDC and cloud plugins).
AUTH_PROVIDER_TOKENS = ("id-token", "refresh-token", "access-token", "client-secret")


def _named(obj: K8sObject, field: str, inner: str) -> list[tuple[int, str, dict[str, Any]]]:
    """``(index, name, entry[inner])`` of each ``field[]`` entry (``clusters``/``cluster``, ``users``/``user``)."""
    found = []
    for i, item in enumerate(as_list(obj.raw.get(field))):
        item = as_dict(item)
        found.append((i, str(item.get("name") or f"{field}[{i}]"), as_dict(item.get(inner))))
    return found


@file_check("KH-KCFG-001", KUBECONFIG)
def plain_http(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    clusters = _named(obj, "clusters", "cluster")
    if not clusters:
        yield NOTHING_TO_JUDGE  # a kubeconfig with users only (a credentials file) names no server
    for i, name, cluster in clusters:
        server = str(cluster.get("server") or "")
        if not server.lower().startswith("https://"):
            yield Violation(f"cluster {name} server {server or '(unset)'} is not https: credentials and requests "
                            "(audit events, for a webhook) cross the network unencrypted and unauthenticated",
                            obj.line(cluster, "server"), path=join("clusters", i, "cluster", "server"))
        proxy = str(cluster.get("proxy-url") or "")
        if proxy.lower().startswith("http://"):
            # kubeconfig (v1) reference, Cluster.proxy-url: the client reaches the proxy over this URL;
            # with http:// the proxy's credentials and the CONNECT request cross the network in clear
            yield Violation(f"cluster {name} proxy-url {proxy} is plain http: the way to the proxy (and any "
                            "proxy credentials in the URL) is unencrypted", obj.line(cluster, "proxy-url"),
                            path=join("clusters", i, "cluster", "proxy-url"))


@file_check("KH-KCFG-002", KUBECONFIG)
def skip_tls_verify(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    clusters = _named(obj, "clusters", "cluster")
    if not clusters:
        yield NOTHING_TO_JUDGE
    for i, name, cluster in clusters:
        value = cluster.get("insecure-skip-tls-verify")
        if value is True:
            said = "sets insecure-skip-tls-verify: true"
        elif isinstance(value, str) and value:
            # client-go (kubectl) refuses a string here; clients that read any non-empty value as true
            # (the Python client tests its truth) skip verification
            said = f"sets insecure-skip-tls-verify to the string {value!r}, which some clients read as true"
        else:
            continue
        yield Violation(f"cluster {name} {said}: the server's certificate is not checked, so anyone on the path "
                        "can impersonate it and read the credentials sent",
                        obj.line(cluster, "insecure-skip-tls-verify"),
                        path=join("clusters", i, "cluster", "insecure-skip-tls-verify"))


@file_check("KH-KCFG-003", KUBECONFIG)
def basic_auth(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    users = _named(obj, "users", "user")
    if not users:
        yield NOTHING_TO_JUDGE
    for i, name, user in users:
        present = [f for f in ("username", "password") if user.get(f)]
        if present:
            field = "password" if "password" in present else "username"
            yield Violation(f"user {name} authenticates with basic auth ({' and '.join(present)}): static "
                            "passwords were removed from kube-apiserver in 1.19 and never expire",
                            obj.line(user, field), path=join("users", i, "user", field))


@file_check("KH-KCFG-004", KUBECONFIG)
def embedded_credentials(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    users = _named(obj, "users", "user")
    if not users:
        yield NOTHING_TO_JUDGE
    file = obj.origin.named or "this file"
    for i, name, user in users:
        for field, what in EMBEDDED_CREDENTIALS.items():
            if user.get(field):
                yield Violation(f"user {name} has {what} embedded in {file} ({field}): anyone who can read the file "
                                "holds the identity", obj.line(user, field), path=join("users", i, "user", field))
        for e, env in enumerate(as_list(as_dict(user.get("exec")).get("env"))):
            env = as_dict(env)
            if looks_secret(str(env.get("name") or "")) and env.get("value"):
                yield Violation(f"user {name} passes {env.get('name')} to its credential plugin in clear in {file} "
                                "(exec.env): anyone who can read the file holds that secret",
                                obj.line(env, "value") or obj.line(env),
                                path=join("users", i, "user", "exec", "env", e, "value"))
        config = as_dict(as_dict(user.get("auth-provider")).get("config"))
        tokens = [t for t in AUTH_PROVIDER_TOKENS if config.get(t)]
        if tokens:
            yield Violation(f"user {name} has auth-provider credentials embedded in {file} ({', '.join(tokens)})",
                            obj.line(config, tokens[0]),
                            path=join("users", i, "user", "auth-provider", "config", tokens[0]))


@file_check("KH-KCFG-005", KUBECONFIG)
def exec_plugin(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    users = _named(obj, "users", "user")
    if not users:
        yield NOTHING_TO_JUDGE
    file = obj.origin.named or "this file"
    for i, name, user in users:
        exec_ = as_dict(user.get("exec"))
        if exec_:
            command = " ".join(str(x) for x in [exec_.get("command") or "(no command)", *as_list(exec_.get("args"))])
            yield Violation(f"user {name} runs the credential plugin command {command!r} whenever {file} is used: "
                            "whoever can change the file or that program runs code as its user",
                            obj.line(exec_, "command") or obj.line(user, "exec"),
                            path=join("users", i, "user", "exec", "command"))
        provider = as_dict(user.get("auth-provider"))
        if provider:
            yield Violation(f"user {name} uses the auth-provider plugin {provider.get('name')!r}: the in-tree "
                            "auth-provider plugins were removed from client-go in 1.26 (use an exec plugin)",
                            obj.line(user, "auth-provider"), path=join("users", i, "user", "auth-provider"))
