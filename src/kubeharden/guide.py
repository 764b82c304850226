"""The requirement IDs of the NSA/CISA Kubernetes Hardening Guidance v1.2, as kubeharden cites them.

IDs and short titles follow ``shared/spec/nsa-guide.md`` (a paraphrase of the guide). Every control
names the IDs it implements; reports group findings by the guide section of those IDs.
"""

from __future__ import annotations

GUIDE = "NSA/CISA Kubernetes Hardening Guidance v1.2"

#: ID -> (section, short title)
REQUIREMENTS: dict[str, tuple[str, str]] = {
    'NSA-POD-1': ('Pod security', 'Build images so the application runs as a non-root user with a non-root group; do this at build time rather than relying only on the runtime override'),
    'NSA-POD-2': ('Pod security', 'At deploy time, force non-root execution with securityContext (runAsUser ≠ 0)'),
    'NSA-POD-3': ('Pod security', 'Consider rootless container engines'),
    'NSA-POD-4': ('Pod security', 'Use an immutable (read-only) container root filesystem'),
    'NSA-POD-5': ('Pod security', 'Build on images from trusted repositories'),
    'NSA-POD-6': ('Pod security', 'Scan images throughout the build workflow for outdated libraries, known CVEs and misconfigurations (insecure ports, permissions)'),
    'NSA-POD-7': ('Pod security', 'Put an admission controller or webhook in front of deployments so non-compliant images are blocked'),
    'NSA-POD-8': ('Pod security', 'Enforce a minimum pod security baseline across the cluster'),
    'NSA-POD-9': ('Pod security', 'No privileged containers'),
    'NSA-POD-10': ('Pod security', 'Do not share host PID or IPC namespaces'),
    'NSA-POD-11': ('Pod security', 'Do not use the host network'),
    'NSA-POD-12': ('Pod security', 'Restrict host filesystem access'),
    'NSA-POD-13': ('Pod security', 'Disallow privilege escalation; this is needed for non-root enforcement to be effective'),
    'NSA-POD-14': ('Pod security', 'Drop all Linux capabilities (example PSP: requiredDropCapabilities: [ALL])'),
    'NSA-POD-15': ('Pod security', 'Only allow the volume types configMap, emptyDir, projected, secret, downwardAPI and persistentVolumeClaim'),
    'NSA-POD-16': ('Pod security', 'Add SELinux labelling where the environment supports it'),
    'NSA-POD-17': ('Pod security', 'Constrain containers with AppArmor where possible (the example default is runtime/default)'),
    'NSA-POD-18': ('Pod security', 'Apply a seccomp profile'),
    'NSA-POD-19': ('Pod security', 'With several PSPs, the *least restrictive* authorised policy wins'),
    'NSA-POD-20': ('Pod security', 'Admission-time enforcement (PSP or PSA) does not affect Pods already running'),
    'NSA-POD-21': ('Pod security', 'Do not mount the service-account token in Pods that do not need API access'),
    'NSA-POD-22': ('Pod security', 'Limit what Pod identities can do through RBAC'),
    'NSA-POD-23': ('Pod security', 'Harden the container environment'),
    'NSA-POD-24': ('Pod security', 'Test applications after applying non-root or read-only settings, because both change runtime behaviour'),
    'NSA-NET-1': ('Namespaces', 'Split cluster resources by team or application using namespaces'),
    'NSA-NET-2': ('Namespaces', 'Do not put user Pods in kube-system or kube-public, which are reserved for cluster services'),
    'NSA-NET-3': ('Namespaces', 'Avoid namespace names starting with kube-'),
    'NSA-NET-4': ('Network policies', 'Use a CNI plugin that supports the NetworkPolicy API'),
    'NSA-NET-5': ('Network policies', 'Write policies that select Pods with podSelector and/or namespaceSelector'),
    'NSA-NET-6': ('Network policies', 'In every namespace, a default policy selects all Pods and denies all ingress and egress'),
    'NSA-NET-7': ('Network policies', 'After default-deny, kube-system still needs to reach the other control-plane pieces and the nodes'),
    'NSA-NET-8': ('Network policies', 'ipBlock may be used for external IPs, but CNI, cloud or service implementations can change processing order and rewrite addresses'),
    'NSA-NET-9': ('Network policies', "Services exposed outside the cluster (NodePort, LoadBalancer) should carry TLS. NodePort opens a port on the cluster's public IP"),
    'NSA-NET-10': ('Resource policies', 'Have a LimitRange in each namespace, setting per-container/Pod default, min and max compute'),
    'NSA-NET-11': ('Resource policies', 'Have a ResourceQuota in each namespace capping total CPU and memory requests and limits'),
    'NSA-NET-12': ('Resource policies', 'Cap the number of processes per Pod (pod PID limit, configured on the kubelet)'),
    'NSA-NET-13': ('Resource policies', 'Reserve PIDs on each node for the OS and Kubernetes daemons (node PID limits via kubelet), so kubelet and kube-proxy keep running under PID exhaustion'),
    'NSA-NET-14': ('Resource policies', 'Eviction policies can terminate misbehaving Pods, but they are evaluated periodically and do not enforce a hard limit'),
    'NSA-NET-15': ('Control-plane hardening', 'Protect the API server with a firewall that admits only expected traffic'),
    'NSA-NET-16': ('Control-plane hardening', 'Disable the insecure HTTP API port: --insecure-port=0. Port 8080 skips authentication and authorisation'),
    'NSA-NET-17': ('Control-plane hardening', 'Use TLS for all control-plane component traffic and authenticated, encrypted connections'),
    'NSA-NET-18': ('Control-plane hardening', 'kube-scheduler and controller-manager should be reachable only from inside the control plane'),
    'NSA-NET-19': ('Control-plane hardening', 'v1.2 summary: consider a separate network for control-plane components versus nodes'),
    'NSA-NET-20': ('etcd', 'Reach etcd only through the API server, where authentication and RBAC apply'),
    'NSA-NET-21': ('etcd', 'Use HTTPS/TLS between the API server and etcd'),
    'NSA-NET-22': ('etcd', 'etcd data must be encrypted at rest (Secrets)'),
    'NSA-NET-23': ('Kubeconfig files', 'Kubeconfig files hold cluster, user and credential data'),
    'NSA-NET-24': ('Worker-node segmentation', 'Separate worker nodes from network segments that need no contact with them or with Kubernetes services (e.g'),
    'NSA-NET-25': ('Worker-node segmentation', 'Worker nodes should expose only the kubelet API (10250) and NodePorts (30000–32767) inbound'),
    'NSA-NET-26': ('Encryption in transit', 'Encrypt all cluster traffic (components, nodes, control plane) with TLS 1.2 or 1.3. Certificates can be distributed at install or with TLS bootstrapping'),
    'NSA-NET-27': ('Secrets', 'Keep credentials and sensitive data in Secrets, not in YAML/config files, container images or environment variables'),
    'NSA-NET-28': ('Secrets', 'Restrict who can read Secrets with RBAC'),
    'NSA-NET-29': ('Secrets', 'Secrets are only base64-encoded by default'),
    'NSA-NET-30': ('Secrets', 'Turn on encryption at rest with --encryption-provider-config'),
    'NSA-NET-31': ('Sensitive cloud infrastructure', 'Stop Pods reaching cloud instance-metadata services (non-routable address, can hand out short-lived credentials)'),
    'NSA-AUTH-1': ('Authentication and authorization', 'Kubernetes has no built-in user authentication; set up at least one method (client certificates, bearer tokens, authentication plugins/OIDC, or other protocols)'),
    'NSA-AUTH-2': ('Authentication and authorization', 'Do not use weak methods such as static password files'),
    'NSA-AUTH-3': ('Authentication and authorization', 'Service-account bearer tokens are mounted in Pods and can be used from outside the cluster if leaked'),
    'NSA-AUTH-4': ('Authentication and authorization', 'Turn off anonymous requests: --anonymous-auth=false on the API server'),
    'NSA-AUTH-5': ('Authentication and authorization', 'If anonymous stays enabled with RBAC, system:anonymous and system:unauthenticated should have no grants'),
    'NSA-AUTH-6': ('Authentication and authorization', 'Kubelet authentication and authorization: anonymous off, client-certificate authentication, Webhook authorization'),
    'NSA-RBAC-1': ('Authentication and authorization', 'RBAC must be on (default since 1.6)'),
    'NSA-RBAC-2': ('Authentication and authorization', 'Never leave AlwaysAllow in the authorization modes; it switches authorisation off'),
    'NSA-RBAC-3': ('Authentication and authorization', 'Least privilege for users, groups and service accounts'),
    'NSA-RBAC-4': ('Authentication and authorization', 'Prefer namespace scope: a Role with a RoleBinding, or a ClusterRole bound by a RoleBinding'),
    'NSA-RBAC-5': ('Authentication and authorization', "Each namespace's service accounts get only the actions they need"),
    'NSA-RBAC-6': ('Authentication and authorization', 'Creating or updating Roles needs either the same permissions or explicit escalate on roles/clusterroles'),
    'NSA-RBAC-7': ('Authentication and authorization', 'v1.1+/v1.2: more role separation'),
    'NSA-RBAC-8': ('Authentication and authorization', 'Audit RBAC configuration periodically and whenever system administrators change'),
    'NSA-RBAC-9': ('Authentication and authorization', "A binding's referenced role cannot be changed; delete and recreate the binding"),
    'NSA-LOG-1': ('Audit logging and threat detection', 'Set up logging, monitoring and alerting; Kubernetes offers only audit logs and basic CPU/memory data, with no native in-depth monitoring or alerting'),
    'NSA-LOG-2': ('Audit logging and threat detection', 'Log at every layer: host, application, container, container engine, image registry, API server and cloud'),
    'NSA-LOG-3': ('Audit logging and threat detection', 'Things to monitor/log'),
    'NSA-LOG-4': ('Audit logging and threat detection', 'When a Pod is created or updated, record a baseline: network communications, response times, requests, resource consumption and other metrics'),
    'NSA-LOG-5': ('Audit logging and threat detection', 'Even with anonymous access off, still log actions by anonymous accounts'),
    'NSA-LOG-6': ('Audit logging and threat detection', 'Review internal and external traffic logs to confirm connection restrictions work, and tighten external access that is no longer needed'),
    'NSA-LOG-7': ('Audit logging and threat detection', 'Stream logs to an external service so they are available outside the cluster, reviewed near real time, and protected from deletion'),
    'NSA-LOG-8': ('Audit logging and threat detection', 'Enable API-server auditing; it is off by default and logs nothing without a policy'),
    'NSA-LOG-9': ('Audit logging and threat detection', 'Audit levels'),
    'NSA-LOG-10': ('Audit logging and threat detection', 'Log backend settings: --audit-log-path is the minimum; --audit-log-maxage (example 1825 days), plus maxbackup/maxsize per organisational policy'),
    'NSA-LOG-11': ('Audit logging and threat detection', 'If the apiserver runs as a static Pod, mount the policy file (read-only) and the log file (read-write) as hostPath volumes so audit records survive'),
    'NSA-LOG-12': ('Audit logging and threat detection', 'Send audit events to the SIEM with the webhook backend: --audit-webhook-config-file, plus backoff, mode (batch, blocking, blocking-strict) and batch tuning'),
    'NSA-LOG-13': ('Audit logging and threat detection', 'Native node logs are lost when a container, Pod or node dies'),
    'NSA-LOG-14': ('Audit logging and threat detection', 'The kubelet stores and rotates container logs by size, age and capacity'),
    'NSA-LOG-15': ('Audit logging and threat detection', 'Seccomp audit mode: use a logging profile (e.g'),
    'NSA-LOG-16': ('Audit logging and threat detection', 'Syslog/journald: kubelet and runtime log to journald by default'),
    'NSA-LOG-17': ('Audit logging and threat detection', 'Connect Kubernetes to a SIEM. Pods are ephemeral, so correlate by pod and namespace identity, not by IP. Make sure logging covers what incident response will need'),
    'NSA-LOG-18': ('Audit logging and threat detection', 'Alerting (see §4 for the full list)'),
    'NSA-LOG-19': ('Audit logging and threat detection', 'Consider a service mesh for mTLS between services, traffic logs, metrics and failover'),
    'NSA-LOG-20': ('Audit logging and threat detection', 'Fault tolerance: if storage fills, allow the oldest logs to be overwritten if absolutely necessary'),
    'NSA-LOG-21': ('Audit logging and threat detection', 'Tools: extra audit backends, SIEM integration, Prometheus/Grafana/ELK, RBAC risk scanners, and integration with existing IDS so suspicious containers can be killed and restarted from a clean image'),
    'NSA-UPG-1': ('Upgrading and application security', 'Apply security patches and updates promptly across Kubernetes, hypervisors, virtualisation software, plugins, host OS, applications and anything else in the environment'),
    'NSA-UPG-2': ('Upgrading and application security', 'Follow the CIS Kubernetes Benchmark and CIS benchmarks for other components; re-check against current consensus periodically'),
    'NSA-UPG-3': ('Upgrading and application security', 'Run vulnerability scans and penetration tests periodically to find insecure configuration and zero-days; fix findings quickly'),
    'NSA-UPG-4': ('Upgrading and application security', 'Remove components (and deployment-pipeline tools) that are no longer needed'),
    'NSA-UPG-5': ('Upgrading and application security', 'Managed Kubernetes can automate platform patching, but containerised applications still need patching by the customer'),
}


def section_of(nsa_id: str) -> str:
    """The guide section of a requirement ID ("Other" for unknown IDs)."""
    entry = REQUIREMENTS.get(nsa_id)
    return entry[0] if entry else "Other"


def title_of(nsa_id: str) -> str:
    entry = REQUIREMENTS.get(nsa_id)
    return entry[1] if entry else nsa_id
