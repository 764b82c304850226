"""The requirements of the NSA/CISA Kubernetes Hardening Guidance v1.2, as kubeharden cites them.

The IDs (``NSA-POD-9`` …) and their order follow kubeharden's specification of the guide
(``nsa-guide.md``); titles and texts are kubeharden's own summary of what the guide asks, not the
guide's wording. Every control of the catalogue and every audit rule names the IDs it implements;
``kubeharden guide`` (and the generated ``docs/guide.md``) shows, per ID, what implements it or why
nothing can. Reports link each ID to its entry in ``docs/guide.md`` (:func:`requirement_url`).

A requirement that nothing implements carries ``gap`` (one of :data:`GAP_KINDS`) and ``reason``; one
that is checked only in part keeps a ``reason`` saying what is left unchecked.
"""

from __future__ import annotations

from typing import NamedTuple

GUIDE = "NSA/CISA Kubernetes Hardening Guidance v1.2"

#: Where the generated guide page is published; reports link requirement IDs to its anchors.
GUIDE_DOC_URL = "https://github.com/kubeharden/kubeharden/blob/main/docs/guide.md"

#: The line that closes human-readable reports: where a cited requirement ID is explained.
GUIDE_POINTER = f"guide IDs explained: kubeharden guide ID, or {GUIDE_DOC_URL}"

#: Why a requirement has no control or audit rule.
MANUAL = "not automatable"      # organisational advice or a statement of fact: a person has to judge it
NODE = "outside kubeharden's inputs"  # node files, firewalls, runtime state: neither manifests nor audit logs
PENDING = "not checked yet"     # could be checked from kubeharden's inputs; no control exists yet
GAP_KINDS = (MANUAL, NODE, PENDING)


class Requirement(NamedTuple):
    """One requirement of the guide: ID, section, short title, our summary, and the gap if any."""

    id: str
    section: str
    title: str
    text: str
    gap: str = ""     # why nothing implements it (when nothing does): one of GAP_KINDS
    reason: str = ""  # what is not checked, and why


_POD, _NS, _NP, _RES = "Pod security", "Namespaces", "Network policies", "Resource policies"
_CP, _ETCD, _KC, _WN = "Control-plane hardening", "etcd", "Kubeconfig files", "Worker-node segmentation"
_TLS, _SEC, _CLOUD = "Encryption in transit", "Secrets", "Sensitive cloud infrastructure"
_AUTH, _LOG = "Authentication and authorization", "Audit logging and threat detection"
_UPG = "Upgrading and application security"

_KUBELET = "needs the kubelet configuration file or flags of every node"
#: What node controls (scope: facts, judged by ``kubeharden node``) leave unchecked on any control plane.
_MANAGED = ("managed control planes (EKS, GKE, AKS) do not show their components' flags, so there the node "
            "controls are not assessable")

_ENTRIES = [
    Requirement("NSA-POD-1", _POD, "Images run as a non-root user",
                "Build container images so that the application runs under a non-root user and group (the "
                "Dockerfile's USER), instead of relying only on a runtime override."),
    Requirement("NSA-POD-2", _POD, "Containers run as non-root",
                "At deploy time, make every container run as a non-root user: runAsNonRoot or a runAsUser other "
                "than 0, and no group 0 in runAsGroup, fsGroup or supplementalGroups."),
    Requirement("NSA-POD-3", _POD, "Consider rootless container engines",
                "Consider a container engine that itself runs without root, or user namespaces, so that a "
                "breakout does not land as root on the node.",
                NODE, "depends on how the container runtime runs on each node"),
    Requirement("NSA-POD-4", _POD, "Read-only root filesystem",
                "Give containers an immutable root filesystem (readOnlyRootFilesystem) and mount a volume such "
                "as emptyDir only where the application must write."),
    Requirement("NSA-POD-5", _POD, "Images from trusted registries",
                "Use images only from registries and repositories you trust, pinned so that the image cannot "
                "change underneath you."),
    Requirement("NSA-POD-6", _POD, "Scan images for vulnerabilities",
                "Scan images for known vulnerabilities, outdated libraries and misconfiguration throughout the "
                "build pipeline, with a way for experts to dismiss false positives."),
    Requirement("NSA-POD-7", _POD, "Admission control blocks non-compliant images",
                "Put an admission controller or webhook in front of the API server that rejects images which "
                "fail the organisation's policy."),
    Requirement("NSA-POD-8", _POD, "Enforce a pod security baseline",
                "Enforce a minimum pod security level across the cluster, today with Pod Security Admission "
                "(baseline or restricted, set per namespace by labels); PodSecurityPolicy is gone since "
                "Kubernetes 1.25."),
    Requirement("NSA-POD-9", _POD, "No privileged containers",
                "Do not run privileged containers: they have every capability and the node's devices."),
    Requirement("NSA-POD-10", _POD, "No host PID or IPC namespace",
                "Do not let pods share the node's process (hostPID) or inter-process communication (hostIPC) "
                "namespaces."),
    Requirement("NSA-POD-11", _POD, "No host network",
                "Do not let pods use the node's network namespace (hostNetwork)."),
    Requirement("NSA-POD-12", _POD, "Restrict host filesystem access",
                "Keep pods away from the node's filesystem: no hostPath volumes, or only an allowed list of "
                "paths mounted read-only."),
    Requirement("NSA-POD-13", _POD, "No privilege escalation",
                "Set allowPrivilegeEscalation to false, otherwise a process can regain privileges (setuid) and "
                "running as non-root means little."),
    Requirement("NSA-POD-14", _POD, "Drop all capabilities",
                "Drop every Linux capability and add back only what the application demonstrably needs."),
    Requirement("NSA-POD-15", _POD, "Only safe volume types",
                "Allow only the volume types configMap, emptyDir, projected, secret, downwardAPI and "
                "persistentVolumeClaim."),
    Requirement("NSA-POD-16", _POD, "SELinux labels",
                "Where the nodes run SELinux, give containers SELinux options that confine them."),
    Requirement("NSA-POD-17", _POD, "AppArmor profiles",
                "Where the nodes support AppArmor, run containers under a profile (the runtime default or a "
                "local one), never unconfined."),
    Requirement("NSA-POD-18", _POD, "Seccomp profiles",
                "Restrict system calls with a seccomp profile (RuntimeDefault or a Localhost profile); learn "
                "the calls an application needs before tightening."),
    Requirement("NSA-POD-19", _POD, "Overlapping pod security policies",
                "When several pod security policies apply, the least restrictive one allowed wins: review which "
                "policy each identity can use.",
                PENDING, "PodSecurityPolicy was removed in Kubernetes 1.25; the Pod Security Admission "
                "equivalent (namespace labels weaker than the cluster default) needs the cluster's "
                "AdmissionConfiguration, which manifests rarely include"),
    Requirement("NSA-POD-20", _POD, "Admission does not reach running pods",
                "Enforcement at admission does not change pods that already run; check running pods against the "
                "same rules.",
                MANUAL, "a statement about admission control; kubeharden applies the same controls to whatever "
                "manifests it is given, including ones exported from a running cluster"),
    Requirement("NSA-POD-21", _POD, "No service-account token where unneeded",
                "Do not mount the service-account token into pods that never call the Kubernetes API "
                "(automountServiceAccountToken: false)."),
    Requirement("NSA-POD-22", _POD, "Least privilege for pod identities",
                "Limit with RBAC what the service accounts used by pods may do."),
    Requirement("NSA-POD-23", _POD, "Harden the container environment",
                "Consider stronger isolation for risky workloads: sandboxed runtimes (gVisor, Kata Containers "
                "via a RuntimeClass), kernel features such as seccomp, or hypervisor-backed containers."),
    Requirement("NSA-POD-24", _POD, "Test after hardening",
                "Test applications after making them non-root or read-only, because both change how they run.",
                MANUAL, "testing the application is a human task"),
    Requirement("NSA-NET-1", _NS, "Separate workloads by namespace",
                "Give each team or application its own namespace, the scope for RBAC, network policies and "
                "quotas."),
    Requirement("NSA-NET-2", _NS, "No user pods in system namespaces",
                "Keep user workloads out of kube-system and kube-public, which belong to cluster components."),
    Requirement("NSA-NET-3", _NS, "No kube- prefix for user namespaces",
                "Do not give your own namespaces names that start with kube-, the prefix reserved for Kubernetes.",
                PENDING, "could be read from Namespace objects in manifests; no control exists yet"),
    Requirement("NSA-NET-4", _NP, "A CNI plugin that enforces NetworkPolicy",
                "Run a network plugin that implements the NetworkPolicy API; otherwise policies are accepted "
                "and silently ignored.",
                NODE, "which network plugin runs is a property of the cluster; manifests of applications do not "
                "show it"),
    Requirement("NSA-NET-5", _NP, "Policies select pods deliberately",
                "Write network policies whose podSelector and namespaceSelector pick the intended pods."),
    Requirement("NSA-NET-6", _NP, "Default deny in every namespace",
                "In every namespace, have a policy that selects all pods and denies all ingress and egress, then "
                "open the flows the application needs with further policies."),
    Requirement("NSA-NET-7", _NP, "kube-system keeps its flows",
                "After denying by default, kube-system still needs to reach the control plane, DNS and the "
                "nodes; limit its internet access with policies too."),
    Requirement("NSA-NET-8", _NP, "ipBlock is not exact",
                "ipBlock rules may name external addresses, but network plugins, clouds and Services can rewrite "
                "addresses, so such rules may not match what you expect.",
                PENDING, "could be reported from NetworkPolicy objects in manifests; no control exists yet"),
    Requirement("NSA-NET-9", _NP, "Externally exposed Services use TLS",
                "Services reachable from outside the cluster (NodePort, LoadBalancer, external IPs) should "
                "terminate TLS; a NodePort opens a port on every node."),
    Requirement("NSA-NET-10", _RES, "A LimitRange per namespace",
                "Give every namespace a LimitRange with default, minimum and maximum CPU and memory per "
                "container or pod."),
    Requirement("NSA-NET-11", _RES, "A ResourceQuota per namespace",
                "Give every namespace a ResourceQuota capping the total CPU and memory requests and limits."),
    Requirement("NSA-NET-12", _RES, "Limit processes per pod",
                "Cap the number of processes a pod may start (the kubelet's podPidsLimit)."),
    Requirement("NSA-NET-13", _RES, "Reserve process IDs for the node",
                "Reserve process IDs for the operating system and the Kubernetes daemons (systemReserved, "
                "kubeReserved), so the node survives a pod exhausting them."),
    Requirement("NSA-NET-14", _RES, "Eviction is not a hard limit",
                "Eviction policies can remove misbehaving pods, but they run periodically and are no substitute "
                "for hard limits.",
                NODE, _KUBELET),
    Requirement("NSA-NET-15", _CP, "Firewall the API server",
                "Admit only expected traffic to the API server; do not expose it to the internet or to untrusted "
                "networks.",
                NODE, "the cluster's network and firewall configuration"),
    Requirement("NSA-NET-16", _CP, "No insecure API port",
                "Disable the API server's unauthenticated HTTP port (removed in Kubernetes 1.20; on older "
                "versions --insecure-port=0).",
                reason=_MANAGED),
    Requirement("NSA-NET-17", _CP, "TLS between control-plane components",
                "Encrypt and authenticate all traffic between control-plane components with TLS.",
                reason=_MANAGED),
    Requirement("NSA-NET-18", _CP, "Scheduler and controller manager stay local",
                "Make kube-scheduler and kube-controller-manager reachable only from inside the control plane "
                "(bind to 127.0.0.1 or firewall ports 10259 and 10257).",
                reason="the firewall alternative (ports 10257 and 10259 closed to other hosts) is not checked; "
                + _MANAGED),
    Requirement("NSA-NET-19", _CP, "Separate control-plane network",
                "Consider a network for the control plane that is separate from the nodes' network.",
                MANUAL, "a network design decision"),
    Requirement("NSA-NET-20", _ETCD, "etcd only through the API server",
                "Let only the API servers talk to etcd (ports 2379-2380), behind a firewall, so every access "
                "passes authentication and RBAC.",
                reason="the firewall rules around etcd (ports 2379-2380) are not checked"),
    Requirement("NSA-NET-21", _ETCD, "Mutual TLS to etcd with its own CA",
                "Use mutual TLS between the API server and etcd, and a certificate authority for etcd that is "
                "separate from the cluster's.",
                reason="whether etcd's CA is separate from the cluster CA is not judged (it needs two components' "
                "facts); " + _MANAGED),
    Requirement("NSA-NET-22", _ETCD, "Encrypt etcd data at rest",
                "Encrypt the data etcd stores, Secrets first (see NSA-NET-30).",
                reason="the node controls judge that encryption is configured; the "
                "EncryptionConfiguration's providers and keys are judged as a file; " + _MANAGED),
    Requirement("NSA-NET-23", _KC, "Protect kubeconfig files",
                "Kubeconfig files hold credentials: keep them readable only by their owner and protect them "
                "from change.",
                reason="kubeconfig files on workstations ($HOME/.kube/config) are not checked; those on nodes are"),
    Requirement("NSA-NET-24", _WN, "Segment worker nodes",
                "Keep worker nodes in network segments of their own, away from systems that have no business "
                "with them, and separate external-facing nodes from internal ones.",
                MANUAL, "a network design decision"),
    Requirement("NSA-NET-25", _WN, "Workers expose only kubelet and NodePorts",
                "Allow inbound traffic to worker nodes only on the kubelet port (10250) and the NodePort range "
                "(30000-32767).",
                reason="the nodes' firewall rules are not checked; the kubelet's read-only port and kube-proxy's "
                "metrics address are"),
    Requirement("NSA-NET-26", _TLS, "TLS 1.2 or later everywhere",
                "Encrypt all traffic in the cluster with TLS 1.2 or 1.3, with certificates issued at "
                "installation or by TLS bootstrapping.",
                reason="certificates' validity and the TLS of applications' own traffic are not checked; "
                + _MANAGED),
    Requirement("NSA-NET-27", _SEC, "Credentials only in Secrets",
                "Keep passwords, tokens and keys in Secrets, not in manifests, ConfigMaps, images or plain "
                "environment values."),
    Requirement("NSA-NET-28", _SEC, "Restrict who reads Secrets",
                "Grant read access to Secrets with RBAC only to the identities that need it."),
    Requirement("NSA-NET-29", _SEC, "Secrets are only encoded",
                "Remember that Secrets are base64-encoded, not encrypted, unless encryption at rest is on.",
                MANUAL, "a statement of fact; it motivates NSA-NET-30"),
    Requirement("NSA-NET-30", _SEC, "Encryption at rest for Secrets",
                "Turn on encryption at rest (--encryption-provider-config), preferably with a KMS provider, "
                "never with identity as the first provider, and rewrite existing Secrets afterwards.",
                reason="the node controls judge that --encryption-provider-config is set; "
                "the EncryptionConfiguration's providers and keys are judged as a file; " + _MANAGED),
    Requirement("NSA-NET-31", _CLOUD, "Block the cloud metadata service",
                "Stop pods from reaching the cloud provider's instance-metadata address, which can hand out "
                "credentials; use network policies and the provider's own settings."),
    Requirement("NSA-AUTH-1", _AUTH, "Configure user authentication",
                "Kubernetes does not manage users: configure at least one authentication method (client "
                "certificates, OIDC, webhook tokens).",
                reason="which authentication methods besides client certificates "
                "are configured (OIDC, webhook) is not judged; " + _MANAGED),
    Requirement("NSA-AUTH-2", _AUTH, "No weak authentication",
                "Do not use weak methods such as static password or token files.",
                reason=_MANAGED),
    Requirement("NSA-AUTH-3", _AUTH, "Protect service-account tokens",
                "Service-account tokens work from outside the cluster when leaked: restrict with RBAC who can "
                "read or create them."),
    Requirement("NSA-AUTH-4", _AUTH, "No anonymous requests",
                "Turn anonymous requests off on the API server (--anonymous-auth=false).",
                reason=_MANAGED + "; anonymous requests that succeed are also detected in audit logs"),
    Requirement("NSA-AUTH-5", _AUTH, "Nothing granted to anonymous users",
                "If anonymous requests stay on, grant nothing to system:anonymous or system:unauthenticated."),
    Requirement("NSA-AUTH-6", _AUTH, "Kubelet authentication and authorization",
                "Secure the kubelet API: anonymous requests off, client certificates for authentication, Webhook "
                "for authorization."),
    Requirement("NSA-RBAC-1", _AUTH, "RBAC is on",
                "Run the API server with the RBAC authorizer (--authorization-mode includes RBAC).",
                reason=_MANAGED),
    Requirement("NSA-RBAC-2", _AUTH, "Never AlwaysAllow",
                "Never include AlwaysAllow in the authorization modes: it turns authorization off.",
                reason=_MANAGED),
    Requirement("NSA-RBAC-3", _AUTH, "Least privilege",
                "Give users, groups and service accounts only the permissions they need; RBAC can only add "
                "permissions, never deny."),
    Requirement("NSA-RBAC-4", _AUTH, "Prefer namespace scope",
                "Grant within a namespace (RoleBinding) where possible and keep ClusterRoleBindings for needs "
                "that truly span the cluster."),
    Requirement("NSA-RBAC-5", _AUTH, "Service accounts get only what they need",
                "Give each namespace's service accounts only the actions their workloads need; leave the default "
                "service account without grants."),
    Requirement("NSA-RBAC-6", _AUTH, "Guard escalate and bind",
                "Creating roles needs the permissions granted or the escalate verb; treat escalate and bind as "
                "privileged."),
    Requirement("NSA-RBAC-7", _AUTH, "Separate roles",
                "Keep administration separate from infrastructure management, and keep the access of different "
                "user groups from overlapping.",
                MANUAL, "which roles count as administration or infrastructure, and which groups may overlap, "
                "is an organisational decision; kubeharden rbac shows each subject's effective permissions to "
                "review"),
    Requirement("NSA-RBAC-8", _AUTH, "Review RBAC regularly",
                "Audit the RBAC configuration periodically and whenever administrators change."),
    Requirement("NSA-RBAC-9", _AUTH, "A binding's role cannot change",
                "The role a binding refers to (roleRef) cannot be changed: delete the binding and create it "
                "again.",
                MANUAL, "a statement of fact about the API"),
    Requirement("NSA-LOG-1", _LOG, "Logging, monitoring and alerting",
                "Set up logging, monitoring and alerting: Kubernetes itself offers audit logs and basic resource "
                "metrics only.",
                MANUAL, "choosing and running a monitoring stack is an operational task; kubeharden audit "
                "provides the alerting on audit logs"),
    Requirement("NSA-LOG-2", _LOG, "Log every layer",
                "Collect logs from every layer (host, application, container, container engine, registry, API "
                "server, cloud) and correlate them in one place.",
                MANUAL, "covers systems outside Kubernetes"),
    Requirement("NSA-LOG-3", _LOG, "What to log",
                "Log API requests, deployments, scaling, resource use, system calls, permission changes, network "
                "traffic, volume mounts, image and container changes, privilege changes and scheduled jobs."),
    Requirement("NSA-LOG-4", _LOG, "Baseline new pods",
                "Record a baseline of each new or changed pod's behaviour and compare later activity against it."),
    Requirement("NSA-LOG-5", _LOG, "Log anonymous actions",
                "Keep logging actions by anonymous accounts, even with anonymous access turned off."),
    Requirement("NSA-LOG-6", _LOG, "Review traffic logs",
                "Review internal and external traffic logs to confirm that connection restrictions work, and "
                "remove external access that is no longer needed.",
                MANUAL, "needs network flow logs from the network plugin and a person's review"),
    Requirement("NSA-LOG-7", _LOG, "Ship logs off the cluster",
                "Stream logs to a service outside the cluster, encrypted in transit and protected from deletion "
                "(append-only access for the forwarder).",
                NODE, "the log forwarder's configuration and the external store's access policy; deleting "
                "events is detected in audit logs"),
    Requirement("NSA-LOG-8", _LOG, "Turn API-server auditing on",
                "Enable API-server auditing with a policy file: it is off by default, and without a policy "
                "nothing is logged.",
                reason="the node controls judge that a policy and a log are configured; "
                "kubeharden audit scan --policy checks a given policy file against the detection rules; "
                + _MANAGED),
    Requirement("NSA-LOG-9", _LOG, "Audit levels that fit",
                "Choose audit levels deliberately: Secrets at Metadata only, so their contents never reach the "
                "log, and the requests the detections need at Request or RequestResponse.",
                NODE, "which policy file the API server uses is known on its node only (kubeharden node); every "
                "audit policy file scanned is judged (docs/control-plane-config.md)"),
    Requirement("NSA-LOG-10", _LOG, "Audit log backend settings",
                "Write audit logs to a path with retention settings (maximum age, backups, size) that follow "
                "the organisation's policy.",
                reason=_MANAGED),
    Requirement("NSA-LOG-11", _LOG, "Keep audit files outside the API server's container",
                "When the API server runs as a static pod, mount the policy read-only and the log directory "
                "writable from the host, so records survive restarts.",
                PENDING, "readable from the kube-apiserver static-pod manifest when that is scanned, but no "
                "control reads it yet"),
    Requirement("NSA-LOG-12", _LOG, "Audit webhook to the SIEM",
                "Send audit events to the SIEM with the webhook backend, over HTTPS and with tuned batching and "
                "backoff.",
                PENDING, "kube-apiserver's --audit-webhook-* flags are not judged yet; kubeharden generate "
                "audit-webhook-config writes an HTTPS configuration"),
    Requirement("NSA-LOG-13", _LOG, "Collect container logs centrally",
                "Node-local logs disappear with the container, pod or node: run a node-level agent or sidecars "
                "that ship them.",
                PENDING, "could be read from the log agent's DaemonSet in manifests; no control exists yet"),
    Requirement("NSA-LOG-14", _LOG, "Kubelet log rotation",
                "The kubelet rotates container logs by size and count; set these to keep what you need.",
                NODE, _KUBELET),
    Requirement("NSA-LOG-15", _LOG, "Seccomp audit mode",
                "Use a logging seccomp profile to learn which system calls an application makes, then enforce "
                "a profile that allows only those.",
                NODE, "the seccomp profiles on the nodes and the kernel's audit records"),
    Requirement("NSA-LOG-16", _LOG, "Forward journald and syslog",
                "The kubelet and the container runtime log to journald; forward those logs to a central "
                "collector.",
                NODE, "the nodes' syslog or journald configuration"),
    Requirement("NSA-LOG-17", _LOG, "Connect to a SIEM",
                "Feed Kubernetes logs to a SIEM and correlate by pod and namespace, not by IP address, because "
                "pods come and go.",
                MANUAL, "running a SIEM is an operational task; kubeharden audit writes ECS-shaped JSON lines "
                "for one"),
    Requirement("NSA-LOG-18", _LOG, "Alert on suspicious activity",
                "Alert on the activity the guide lists (privileged pods, exec, Secret access, RBAC changes and "
                "more) and consider automatic responses."),
    Requirement("NSA-LOG-19", _LOG, "Consider a service mesh",
                "A service mesh can add mutual TLS between services, traffic logs, metrics and failover.",
                MANUAL, "an architecture choice"),
    Requirement("NSA-LOG-20", _LOG, "Fault-tolerant logging",
                "Buffer logs locally while the collector is unreachable, and let the oldest logs be overwritten "
                "only when storage is full.",
                NODE, "the log forwarder's buffering configuration; node pressure is detected in audit logs"),
    Requirement("NSA-LOG-21", _LOG, "Tools for detection",
                "Use tools for audit collection, SIEM integration, metrics, RBAC review and intrusion "
                "detection that can stop suspicious containers.",
                MANUAL, "a choice of tools"),
    Requirement("NSA-UPG-1", _UPG, "Patch promptly",
                "Apply security updates promptly to Kubernetes, the nodes' operating systems, runtimes, plugins "
                "and applications.",
                "", "Kubernetes' own components are compared with the official CVE feed and upstream support "
                "(API server from a snapshot, kubelet and kube-proxy from Nodes, control-plane images); the nodes' "
                "operating systems, container runtimes, plugins and application images are not"),
    Requirement("NSA-UPG-2", _UPG, "Follow the CIS benchmarks",
                "Follow the CIS Kubernetes Benchmark and the benchmarks of the other components, and revisit "
                "them periodically.",
                MANUAL, "kubeharden maps its controls to CIS IDs; following the benchmark as a whole covers "
                "node checks outside its inputs"),
    Requirement("NSA-UPG-3", _UPG, "Scan and test regularly",
                "Run vulnerability scans and penetration tests periodically and fix what they find quickly.",
                MANUAL, "a recurring practice"),
    Requirement("NSA-UPG-4", _UPG, "Remove what is unused",
                "Remove components and pipeline tools that are no longer needed.",
                MANUAL, "whether a component is still needed is a human judgement"),
    Requirement("NSA-UPG-5", _UPG, "Managed clusters still need application patching",
                "A managed Kubernetes service may patch the platform, but the applications remain yours to "
                "patch.",
                MANUAL, "a statement about shared responsibility"),
]


_DET = "Threat detection (the guide's detection table)"
_DETECTIONS = [
    Requirement("DET-1", _DET, "Unknown or look-alike workloads deployed",
                "An attacker starts their own Pod or controller, perhaps with an image named like a trusted one; watch workload creation for unapproved images, changed digests and near-miss names."),
    Requirement("DET-2", _DET, "Privileged or root pods started",
                "A Pod or workload is written with privileges: privileged mode, root user, host namespaces or added capabilities."),
    Requirement("DET-3", _DET, "Malicious images pushed or tags moved",
                "A bad image enters the organisation's registry, or a tag is re-pointed to a new digest; this shows in registry logs rather than the API server's.",
                NODE, "the registry's own logs, which are not Kubernetes audit events"),
    Requirement("DET-4", _DET, "Unusual API calls from inside a pod",
                "Commands run in a container lead to API requests from its ServiceAccount that it has not made before: discovery, escalation, lateral movement."),
    Requirement("DET-5", _DET, "Pod creation from a pod or node address",
                "A request to create a Pod comes from a Pod or node IP under an identity that does not normally do so, a sign of breakout."),
    Requirement("DET-6", _DET, "Permission probing",
                "Repeated requests that are refused (401/403) show an intruder probing what an account may do."),
    Requirement("DET-7", _DET, "Cryptojacking",
                "A sudden, sustained rise in CPU use by workloads points at cryptomining; metrics show it, and pods without limits make it cheaper."),
    Requirement("DET-8", _DET, "Anonymous access",
                "Requests by the anonymous user or unauthenticated group that succeed on anything beyond health and version endpoints."),
    Requirement("DET-9", _DET, "Host mounts added",
                "A Pod or workload is written with a hostPath volume, especially of the node's root, configuration or runtime socket."),
    Requirement("DET-10", _DET, "Scheduled jobs created or changed",
                "CronJobs written to run code repeatedly, more suspicious with unapproved images, system namespaces or very frequent schedules."),
    Requirement("DET-11", _DET, "Privilege changes",
                "Roles, ClusterRoles and their bindings created, changed or deleted, above all grants of cluster-admin or to broad groups."),
    Requirement("DET-12", _DET, "securityContext changes",
                "A Pod's or workload's securityContext is changed after creation, loosening its restrictions."),
    Requirement("DET-13", _DET, "Admission configuration changed",
                "Writes to admission webhooks, admission policies or the Pod Security labels of namespaces, which can switch enforcement off."),
    Requirement("DET-14", _DET, "Infrastructure health",
                "Disks filling on nodes or on the logging volume, and an external logging service going offline, which blinds detection."),
    Requirement("DET-15", _DET, "Unusual user behaviour",
                "A user acting at unusual times or from unusual networks, above all with privileged verbs."),
    Requirement("DET-16", _DET, "Deviations from the normal baseline",
                "Large departures from each workload's usual request rates, errors, peers and resource use, and unusual system calls."),
    Requirement("DET-17", _DET, "Access to sensitive resources",
                "Reads of Secrets (especially in kube-system), node proxy, exec and attach, and ServiceAccount token requests."),
    Requirement("DET-18", _DET, "Interactive access to containers",
                "kubectl exec, attach and port-forward into running containers, which production workloads rarely need."),
    Requirement("DET-19", _DET, "Image and container changes",
                "A workload's image changed outside the usual pipeline identity, or files written in containers meant to be read-only."),
    Requirement("DET-20", _DET, "Scaling and deployments",
                "Workloads scaled or re-deployed: informational on its own, but part of the baseline that makes "
                "other deviations visible."),
]

#: ID -> requirement, in the guide's order; the detection IDs (DET-*) that audit rules cite come last.
REQUIREMENTS: dict[str, Requirement] = {r.id: r for r in (*_ENTRIES, *_DETECTIONS)}


def section_of(nsa_id: str) -> str:
    """The guide section of a requirement ID ("Other" for unknown IDs)."""
    entry = REQUIREMENTS.get(nsa_id)
    return entry.section if entry else "Other"


def title_of(nsa_id: str) -> str:
    """The short title of a requirement ID (the ID itself when unknown)."""
    entry = REQUIREMENTS.get(nsa_id)
    return entry.title if entry else nsa_id


def anchor_of(nsa_id: str) -> str:
    """The anchor of a requirement in docs/guide.md (its heading is the ID: ``NSA-POD-9`` -> ``nsa-pod-9``)."""
    return nsa_id.lower()


def requirement_url(nsa_id: str) -> str:
    """The web address of a requirement's entry in docs/guide.md."""
    return f"{GUIDE_DOC_URL}#{anchor_of(nsa_id)}"
