"""What Kubernetes says about the components a node runs: their configuration, flags, files and paths.

Each fact is defined here once; the node source (``sources/node*.py``) and the static-Pod reading
(:mod:`kubeharden.model.staticpods`) build :class:`~kubeharden.model.facts.ComponentFacts` from them.

* Kubelet: :data:`KUBELET_FLAG_FIELDS` maps a command-line flag to the KubeletConfiguration field it
  sets ("Kubelet Configuration (v1beta1)", https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/,
  and the flag list of https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/).
  Flags override the file ("Set Kubelet Parameters Via A Configuration File",
  https://kubernetes.io/docs/tasks/administer-cluster/kubelet-config-file/: *command line flags which target
  the same value as a config file will override that value*). :data:`KUBELET_CONFIG_DEFAULTS` are the
  defaults of the file (``SetDefaults_KubeletConfiguration``, the "Default" of each field in the reference);
  without ``--config`` four flags keep their older, insecure defaults (:data:`KUBELET_FLAG_DEFAULTS`:
  ``--anonymous-auth`` true, ``--authentication-token-webhook`` false, ``--authorization-mode`` AlwaysAllow,
  ``--read-only-port`` 10255; cmd/kubelet/app/options ``applyLegacyDefaults``).
* kube-proxy: :data:`KUBE_PROXY_FLAG_FIELDS` and :data:`KUBE_PROXY_DEFAULTS` ("kube-proxy Configuration
  (v1alpha1)", https://kubernetes.io/docs/reference/config-api/kube-proxy-config.v1alpha1/). With ``--config``
  kube-proxy ignores the flags that the file can set (the ``kube-proxy`` reference: *This parameter is ignored
  if a config file is specified by --config*; kubernetes/kubernetes#107156).
* :data:`FILE_FLAGS`: the flags of each component that name a file, with the file's role
  (:class:`~kubeharden.model.facts.ComponentFacts` ``files``), from each component's command-line reference.
  :data:`CONTENT_FLAGS`: the files whose contents other controls judge (EncryptionConfiguration, audit Policy,
  AdmissionConfiguration, kubeconfig ``Config``), read as objects too.
* Paths kubeadm writes ("Implementation details" of kubeadm,
  https://kubernetes.io/docs/reference/setup-tools/kubeadm/implementation-details/, and "Configuring each kubelet
  in your cluster using kubeadm", https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/kubelet-integration/)
  and those of k3s (https://docs.k3s.io/cli/server, https://docs.k3s.io/installation/configuration): one
  ``k3s server`` process runs every component and passes each its own flags (``--kube-apiserver-arg`` …).
"""

from __future__ import annotations

import re
from typing import Any

#: A KubeletConfiguration / KubeProxyConfiguration field a flag sets: (field path, value type).
#: Types: bool, int, float, str, duration (kept as written: "4h0m0s"), list (comma-separated),
#: map (``k=v,k2=v2``; values true/false become booleans, as for ``--feature-gates``).
FlagField = tuple[tuple[str, ...], str]

KUBELET_FLAG_FIELDS: dict[str, FlagField] = {
    "anonymous-auth": (("authentication", "anonymous", "enabled"), "bool"),
    "authentication-token-webhook": (("authentication", "webhook", "enabled"), "bool"),
    "authentication-token-webhook-cache-ttl": (("authentication", "webhook", "cacheTTL"), "duration"),
    "client-ca-file": (("authentication", "x509", "clientCAFile"), "str"),
    "authorization-mode": (("authorization", "mode"), "str"),
    "read-only-port": (("readOnlyPort",), "int"),
    "port": (("port",), "int"),
    "address": (("address",), "str"),
    "healthz-port": (("healthzPort",), "int"),
    "healthz-bind-address": (("healthzBindAddress",), "str"),
    "streaming-connection-idle-timeout": (("streamingConnectionIdleTimeout",), "duration"),
    "protect-kernel-defaults": (("protectKernelDefaults",), "bool"),
    "make-iptables-util-chains": (("makeIPTablesUtilChains",), "bool"),
    "event-qps": (("eventRecordQPS",), "int"),
    "event-burst": (("eventBurst",), "int"),
    "tls-cert-file": (("tlsCertFile",), "str"),
    "tls-private-key-file": (("tlsPrivateKeyFile",), "str"),
    "tls-cipher-suites": (("tlsCipherSuites",), "list"),
    "tls-min-version": (("tlsMinVersion",), "str"),
    "rotate-certificates": (("rotateCertificates",), "bool"),
    "rotate-server-certificates": (("serverTLSBootstrap",), "bool"),
    "feature-gates": (("featureGates",), "map"),
    "pod-max-pids": (("podPidsLimit",), "int"),
    "pod-manifest-path": (("staticPodPath",), "str"),
    "cgroup-driver": (("cgroupDriver",), "str"),
    "hairpin-mode": (("hairpinMode",), "str"),
    "max-pods": (("maxPods",), "int"),
    "cluster-dns": (("clusterDNS",), "list"),
    "cluster-domain": (("clusterDomain",), "str"),
    "fail-swap-on": (("failSwapOn",), "bool"),
    "seccomp-default": (("seccompDefault",), "bool"),
    "enable-server": (("enableServer",), "bool"),
    "enable-debugging-handlers": (("enableDebuggingHandlers",), "bool"),
    "container-runtime-endpoint": (("containerRuntimeEndpoint",), "str"),
    "resolv-conf": (("resolvConf",), "str"),
    "kube-reserved": (("kubeReserved",), "map"),
    "system-reserved": (("systemReserved",), "map"),
    "volume-plugin-dir": (("volumePluginDir",), "str"),
    "keep-terminated-pod-volumes": (("keepTerminatedPodVolumes",), "bool"),
    "node-status-update-frequency": (("nodeStatusUpdateFrequency",), "duration"),
    "image-gc-high-threshold": (("imageGCHighThresholdPercent",), "int"),
    "image-gc-low-threshold": (("imageGCLowThresholdPercent",), "int"),
    "serialize-image-pulls": (("serializeImagePulls",), "bool"),
    "register-node": (("registerNode",), "bool"),
    # not a KubeletConfiguration field: the kubelet takes it from the command line only
    "hostname-override": (("hostnameOverride",), "str"),
}

#: Defaults of KubeletConfiguration (kubelet.config.k8s.io/v1beta1) for the fields rules judge.
KUBELET_CONFIG_DEFAULTS: dict[str, Any] = {
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True, "cacheTTL": "2m0s"},
                       "x509": {"clientCAFile": ""}},
    "authorization": {"mode": "Webhook"},
    "address": "0.0.0.0",
    "port": 10250,
    "readOnlyPort": 0,
    "healthzPort": 10248,
    "healthzBindAddress": "127.0.0.1",
    "streamingConnectionIdleTimeout": "4h0m0s",
    "protectKernelDefaults": False,
    "makeIPTablesUtilChains": True,
    "eventRecordQPS": 50,
    "eventBurst": 100,
    "tlsCertFile": "",
    "tlsPrivateKeyFile": "",
    "rotateCertificates": False,
    "serverTLSBootstrap": False,
    # RotateKubeletServerCertificate: beta, on by default since 1.12 ("Feature Gates" reference)
    "featureGates": {"RotateKubeletServerCertificate": True},
    "podPidsLimit": -1,
    "staticPodPath": "",
    "cgroupDriver": "cgroupfs",
    "hairpinMode": "promiscuous-bridge",
    "maxPods": 110,
    "failSwapOn": True,
    "seccompDefault": False,
    "enableServer": True,
    "enableDebuggingHandlers": True,
    "hostnameOverride": "",
}

#: KubeletConfiguration fields whose zero value in the file (``""``, ``0``, ``0s``) means "unset": the kubelet's
#: defaulting gives them their default (SetDefaults_KubeletConfiguration compares them with the zero value;
#: kubeadm writes ``streamingConnectionIdleTimeout: 0s``, which runs as 4h). Pointer fields (``eventRecordQPS``,
#: ``podPidsLimit`` …) keep an explicit zero.
KUBELET_ZERO_IS_UNSET: tuple[tuple[str, ...], ...] = (
    ("streamingConnectionIdleTimeout",), ("authentication", "webhook", "cacheTTL"), ("authorization", "mode"),
    ("address",), ("port",), ("healthzBindAddress",), ("hairpinMode",), ("maxPods",), ("cgroupDriver",),
)

#: Defaults that differ when the kubelet runs without ``--config`` (the flags' legacy defaults).
KUBELET_FLAG_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("authentication", "anonymous", "enabled"): True,
    ("authentication", "webhook", "enabled"): False,
    ("authorization", "mode"): "AlwaysAllow",
    ("readOnlyPort",): 10255,
}

KUBE_PROXY_FLAG_FIELDS: dict[str, FlagField] = {
    "metrics-bind-address": (("metricsBindAddress",), "str"),
    "healthz-bind-address": (("healthzBindAddress",), "str"),
    "bind-address": (("bindAddress",), "str"),
    "kubeconfig": (("clientConnection", "kubeconfig"), "str"),
    "proxy-mode": (("mode",), "str"),
    "hostname-override": (("hostnameOverride",), "str"),
    "cluster-cidr": (("clusterCIDR",), "str"),
    "profiling": (("enableProfiling",), "bool"),
    "feature-gates": (("featureGates",), "map"),
}

#: Defaults of KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) for the fields rules judge.
KUBE_PROXY_DEFAULTS: dict[str, Any] = {
    "metricsBindAddress": "127.0.0.1:10249",
    "healthzBindAddress": "0.0.0.0:10256",
    "bindAddress": "0.0.0.0",
    "clientConnection": {"kubeconfig": ""},
    "mode": "",
    "enableProfiling": False,
    "hostnameOverride": "",
}

#: Per component, the flags that name a file and the file's role (ComponentFacts ``files``).
FILE_FLAGS: dict[str, dict[str, str]] = {
    "kube-apiserver": {
        "client-ca-file": "client-ca", "tls-cert-file": "pki-cert", "tls-private-key-file": "pki-key",
        "etcd-cafile": "pki-cert", "etcd-certfile": "pki-cert", "etcd-keyfile": "pki-key",
        "kubelet-client-certificate": "pki-cert", "kubelet-client-key": "pki-key",
        "kubelet-certificate-authority": "pki-cert", "proxy-client-cert-file": "pki-cert",
        "proxy-client-key-file": "pki-key", "requestheader-client-ca-file": "client-ca",
        # --service-account-key-file verifies tokens: a public key (or certificate), public like a certificate
        "service-account-key-file": "pki-cert", "service-account-signing-key-file": "pki-key",
        "encryption-provider-config": "encryption-config", "audit-policy-file": "audit-policy",
        "audit-webhook-config-file": "audit-webhook-config", "admission-control-config-file": "admission-config",
        "authentication-config": "config", "authorization-config": "config",
        "authorization-webhook-config-file": "kubeconfig", "authentication-token-webhook-config-file": "kubeconfig",
        "egress-selector-config-file": "config", "token-auth-file": "config",
    },
    "kube-controller-manager": {
        "kubeconfig": "kubeconfig", "authentication-kubeconfig": "kubeconfig",
        "authorization-kubeconfig": "kubeconfig", "client-ca-file": "client-ca",
        "requestheader-client-ca-file": "client-ca", "root-ca-file": "pki-cert",
        "service-account-private-key-file": "pki-key", "cluster-signing-cert-file": "pki-cert",
        "cluster-signing-key-file": "pki-key", "tls-cert-file": "pki-cert", "tls-private-key-file": "pki-key",
    },
    "kube-scheduler": {
        "kubeconfig": "kubeconfig", "authentication-kubeconfig": "kubeconfig",
        "authorization-kubeconfig": "kubeconfig", "config": "config", "tls-cert-file": "pki-cert",
        "tls-private-key-file": "pki-key",
    },
    "etcd": {
        "cert-file": "pki-cert", "key-file": "pki-key", "trusted-ca-file": "client-ca",
        "peer-cert-file": "pki-cert", "peer-key-file": "pki-key", "peer-trusted-ca-file": "client-ca",
        "data-dir": "data-dir", "config-file": "config",
    },
    "kubelet": {
        "config": "config", "kubeconfig": "kubeconfig", "bootstrap-kubeconfig": "kubeconfig",
        "client-ca-file": "client-ca", "tls-cert-file": "pki-cert", "tls-private-key-file": "pki-key",
    },
    "kube-proxy": {"config": "config", "kubeconfig": "kubeconfig"},
}

#: Files a flag names that are meant to be gone once the node runs: the kubelet uses its bootstrap
#: kubeconfig only to get a client certificate when --kubeconfig does not exist yet, and kubeadm deletes it
#: after the TLS bootstrap ("TLS bootstrapping", kubelet --bootstrap-kubeconfig). Their absence is no blind spot.
OPTIONAL_FILE_FLAGS: frozenset[tuple[str, str]] = frozenset({("kubelet", "bootstrap-kubeconfig")})

#: KubeletConfiguration / KubeProxyConfiguration fields that name a file, with the file's role.
SETTING_FILES: dict[str, dict[tuple[str, ...], str]] = {
    "kubelet": {("authentication", "x509", "clientCAFile"): "client-ca", ("tlsCertFile",): "pki-cert",
                ("tlsPrivateKeyFile",): "pki-key"},
    "kube-proxy": {("clientConnection", "kubeconfig"): "kubeconfig"},
}

#: Roles of files whose contents are Kubernetes-style objects that other controls judge: read them as objects.
CONTENT_ROLES = frozenset({"encryption-config", "audit-policy", "audit-webhook-config", "admission-config",
                           "kubeconfig"})

#: The binaries that run each component (the first word of a process or container command).
BINARIES: dict[str, str] = {name: name for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                                    "etcd", "kubelet", "kube-proxy")}

# -- kubeadm -------------------------------------------------------------------------------------

KUBEADM_MANIFESTS = "/etc/kubernetes/manifests"
KUBEADM_PKI = "/etc/kubernetes/pki"
KUBEADM_KUBECONFIGS = ("/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf",
                       "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/controller-manager.conf",
                       "/etc/kubernetes/scheduler.conf", "/etc/kubernetes/bootstrap-kubelet.conf")
#: systemd unit files of the kubelet and their drop-in folders, in systemd's search order (the first
#: found unit file is used; drop-ins of every folder apply, by file name). systemd.unit(5), "Unit File Load Path".
KUBELET_UNITS = ("/etc/systemd/system/kubelet.service", "/run/systemd/system/kubelet.service",
                 "/usr/local/lib/systemd/system/kubelet.service", "/usr/lib/systemd/system/kubelet.service",
                 "/lib/systemd/system/kubelet.service")
KUBELET_DROPIN_DIRS = ("/etc/systemd/system/kubelet.service.d", "/run/systemd/system/kubelet.service.d",
                       "/usr/local/lib/systemd/system/kubelet.service.d", "/usr/lib/systemd/system/kubelet.service.d",
                       "/lib/systemd/system/kubelet.service.d")

# -- k3s -----------------------------------------------------------------------------------------

K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
K3S_CONFIG_DIR = "/etc/rancher/k3s/config.yaml.d"
K3S_PKI = "/var/lib/rancher/k3s/server/tls"
K3S_MANIFESTS = "/var/lib/rancher/k3s/agent/pod-manifests"
K3S_KUBECONFIGS = ("/etc/rancher/k3s/k3s.yaml", "/var/lib/rancher/k3s/server/cred/admin.kubeconfig",
                   "/var/lib/rancher/k3s/agent/kubelet.kubeconfig", "/var/lib/rancher/k3s/agent/kubeproxy.kubeconfig")
K3S_UNITS = ("/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s-agent.service")
#: k3s flags that carry one component's own flags (``--kube-apiserver-arg=anonymous-auth=false``).
K3S_ARG_FLAGS: dict[str, str] = {
    "kube-apiserver-arg": "kube-apiserver", "kube-controller-manager-arg": "kube-controller-manager",
    "kube-scheduler-arg": "kube-scheduler", "etcd-arg": "etcd", "kubelet-arg": "kubelet",
    "kube-proxy-arg": "kube-proxy",
}
#: k3s's own flags that set a component's flag (k3s "server" and "agent" references, https://docs.k3s.io/cli/server;
#: "Secrets Encryption", https://docs.k3s.io/security/secrets-encryption): k3s flag -> (component, flag, value;
#: None: the k3s flag's own value).
K3S_IMPLIED_FLAGS: dict[str, tuple[str, str, str | None]] = {
    "protect-kernel-defaults": ("kubelet", "protect-kernel-defaults", None),
    "secrets-encryption": ("kube-apiserver", "encryption-provider-config",
                           "/var/lib/rancher/k3s/server/cred/encryption-config.json"),
}
#: k3s's data folder (``--data-dir``/``-d``; https://docs.k3s.io/cli/server); the server's files are in its
#: ``server`` folder, the agent's (kubelet, kube-proxy) in its ``agent`` folder.
K3S_DATA_DIR = "/var/lib/rancher/k3s"
#: The flags k3s itself gives each component, which neither its command line nor its configuration file
#: shows. From k3s's source: pkg/daemons/control/server.go (functions ``apiServer``, ``controllerManager``,
#: ``scheduler``) with the file names of pkg/daemons/control/deps/deps.go (``{server}`` is
#: ``<data-dir>/server``), and pkg/daemons/agent/agent_linux.go (``kubeletArgs``, ``kubeProxyArgs``) with
#: the agent's files of pkg/agent/config/config.go (``{agent}`` is ``<data-dir>/agent``). They lie beneath
#: the user's ``--kube-apiserver-arg`` …: a flag the user gives wins (k3s ``util.GetArgs`` lets the extra
#: arguments replace these). component -> flag -> (value, or the values a release may use, newest first: the
#: first that is a file on the node is taken; a flag of the user's that makes k3s leave this one out, or
#: None). k3s leaves out --anonymous-auth when --authentication-config is given and --authorization-mode
#: when --authorization-config is.
K3S_COMPONENT_FLAGS: dict[str, dict[str, tuple[str | tuple[str, ...], str | None]]] = {
    "kube-apiserver": {
        "anonymous-auth": ("false", "authentication-config"),
        "authorization-mode": ("Node,RBAC", "authorization-config"),
        "enable-admission-plugins": ("NodeRestriction", None),
        "profiling": ("false", None),
        "allow-privileged": ("true", None),
        "tls-cert-file": ("{server}/tls/serving-kube-apiserver.crt", None),
        "tls-private-key-file": ("{server}/tls/serving-kube-apiserver.key", None),
        "client-ca-file": ("{server}/tls/client-ca.crt", None),
        "kubelet-certificate-authority": ("{server}/tls/server-ca.crt", None),
        "kubelet-client-certificate": ("{server}/tls/client-kube-apiserver.crt", None),
        "kubelet-client-key": ("{server}/tls/client-kube-apiserver.key", None),
        "service-account-key-file": ("{server}/tls/service.key", None),
        # service.current.key since k3s added service-account key rotation; service.key before
        "service-account-signing-key-file": (("{server}/tls/service.current.key", "{server}/tls/service.key"), None),
        "requestheader-client-ca-file": ("{server}/tls/request-header-ca.crt", None),
        "proxy-client-cert-file": ("{server}/tls/client-auth-proxy.crt", None),
        "proxy-client-key-file": ("{server}/tls/client-auth-proxy.key", None),
    },
    "kube-controller-manager": {
        "kubeconfig": ("{server}/cred/controller.kubeconfig", None),
        "service-account-private-key-file": (("{server}/tls/service.current.key", "{server}/tls/service.key"), None),
        "root-ca-file": ("{server}/tls/server-ca.crt", None),
        "use-service-account-credentials": ("true", None),
        "profiling": ("false", None),
        "bind-address": ("127.0.0.1", None),
    },
    "kube-scheduler": {
        "kubeconfig": ("{server}/cred/scheduler.kubeconfig", None),
        "profiling": ("false", None),
        "bind-address": ("127.0.0.1", None),
    },
    "kubelet": {
        "anonymous-auth": ("false", None),
        "authentication-token-webhook": ("true", None),
        "authorization-mode": ("Webhook", None),
        "read-only-port": ("0", None),
        "healthz-bind-address": ("127.0.0.1", None),
        "client-ca-file": ("{agent}/client-ca.crt", None),
        "tls-cert-file": ("{agent}/serving-kubelet.crt", None),
        "tls-private-key-file": ("{agent}/serving-kubelet.key", None),
        "kubeconfig": ("{agent}/kubelet.kubeconfig", None),
        "pod-manifest-path": ("{agent}/pod-manifests", None),
    },
    "kube-proxy": {
        "healthz-bind-address": ("127.0.0.1", None),
        "kubeconfig": ("{agent}/kubeproxy.kubeconfig", None),
    },
}
#: How k3s's API server reaches its datastore. Embedded etcd (``--cluster-init``, or a server joining one):
#: over TLS with the client certificate of pkg/etcd/etcd.go (``ETCDServerCA``, ``ClientETCDCert``,
#: ``ClientETCDKey``). Anything else (SQLite by default, or an SQL database through ``--datastore-endpoint``)
#: goes through kine, which the API server reaches on a local unix socket, and no etcd runs ("Cluster
#: Datastore", https://docs.k3s.io/datastore); an ``http(s)://`` ``--datastore-endpoint`` is an external etcd,
#: reached with ``--datastore-cafile``/``-certfile``/``-keyfile``.
K3S_EMBEDDED_ETCD_FLAGS: dict[str, str] = {
    "etcd-servers": "https://127.0.0.1:2379", "etcd-cafile": "{server}/tls/etcd/server-ca.crt",
    "etcd-certfile": "{server}/tls/etcd/client.crt", "etcd-keyfile": "{server}/tls/etcd/client.key",
}
K3S_KINE_SOCKET = "unix://kine.sock"
K3S_DATASTORE_TLS_FLAGS: dict[str, str] = {"datastore-cafile": "etcd-cafile", "datastore-certfile": "etcd-certfile",
                                           "datastore-keyfile": "etcd-keyfile"}
#: What ``k3s server`` runs in its one process (etcd only with ``--cluster-init`` or ``--server``: the default
#: datastore is SQLite; "High Availability Embedded etcd", https://docs.k3s.io/datastore/ha-embedded),
#: and what ``k3s agent`` runs.
K3S_SERVER_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
K3S_AGENT_COMPONENTS = ("kubelet", "kube-proxy")
K3S_ETCD_FLAGS = ("cluster-init", "server")
#: Components k3s stops running with ``--disable-…`` (https://docs.k3s.io/cli/server).
K3S_DISABLE_FLAGS: dict[str, str] = {"disable-apiserver": "kube-apiserver",
                                     "disable-controller-manager": "kube-controller-manager",
                                     "disable-scheduler": "kube-scheduler", "disable-kube-proxy": "kube-proxy",
                                     "disable-etcd": "etcd"}

_IMAGE_VERSION = re.compile(r":v?(\d+\.\d+\.\d+)(?:[-+][0-9A-Za-z.+-]*)?(?:@sha256:[0-9a-f]+)?$")


def version_from_image(image: object) -> str | None:
    """``registry.k8s.io/kube-apiserver:v1.29.3`` → ``"1.29.3"``; ``etcd:3.5.12-0`` → ``"3.5.12"``; None when
    the tag states no version (``latest``, a digest only)."""
    if not isinstance(image, str):
        return None
    m = _IMAGE_VERSION.search(image.strip())
    return m.group(1) if m else None


__all__ = ["BINARIES", "CONTENT_ROLES", "FILE_FLAGS", "K3S_AGENT_COMPONENTS", "K3S_ARG_FLAGS", "K3S_CONFIG",
           "K3S_COMPONENT_FLAGS", "K3S_CONFIG_DIR", "K3S_DATASTORE_TLS_FLAGS", "K3S_DATA_DIR", "K3S_DISABLE_FLAGS",
           "K3S_EMBEDDED_ETCD_FLAGS", "K3S_ETCD_FLAGS", "K3S_IMPLIED_FLAGS", "K3S_KINE_SOCKET",
           "K3S_KUBECONFIGS", "K3S_MANIFESTS", "K3S_PKI", "K3S_SERVER_COMPONENTS", "K3S_UNITS",
           "KUBEADM_KUBECONFIGS", "KUBEADM_MANIFESTS", "KUBEADM_PKI",
           "KUBELET_CONFIG_DEFAULTS", "KUBELET_DROPIN_DIRS", "KUBELET_FLAG_DEFAULTS", "KUBELET_FLAG_FIELDS",
           "KUBELET_ZERO_IS_UNSET", "KUBELET_UNITS", "KUBE_PROXY_DEFAULTS", "KUBE_PROXY_FLAG_FIELDS",
           "SETTING_FILES", "version_from_image"]
