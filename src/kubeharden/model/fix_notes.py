"""What to test after a fix that can change how a workload runs, by the field the fix writes.

Each note says what the change does at run time (from the Kubernetes API reference of the field)
and what to try before shipping it. Keyed by the last field name of the fix's path.
"""

from __future__ import annotations

from kubeharden.model.fieldpath import split

NOTES: dict[str, str] = {
    "readOnlyRootFilesystem": "the container can write only to its volumes: run it and exercise every feature "
                              "that writes files (caches, PID files, uploads, temp files); each path it writes "
                              "needs a volume",
    "runAsNonRoot": "the kubelet refuses to start the container when its image runs as UID 0 or names its "
                    "user by a non-numeric name (SecurityContext.runAsNonRoot): start it, and set runAsUser or "
                    "give the image a numeric USER (kubeharden generate dockerfile-user)",
    "runAsUser": "the process runs under this UID: files the image or its volumes give to another user may no "
                 "longer be readable or writable; start it and exercise its writes",
    "runAsGroup": "the process's primary group becomes this GID: files readable or writable only by the root "
                  "group (GID 0) in the image or its volumes are no longer; exercise its reads and writes",
    "fsGroup": "the kubelet gives the pod's volumes to this group: processes relying on group 0 access to "
               "them lose it",
    "supplementalGroups": "the processes leave the root group: files shared through group 0 are no longer "
                          "reachable",
    "sysctls": "the kernel parameter keeps the node's value: tune it on the node if the workload needs it",
    "hostProcess": "the container runs inside a Windows container, not as a process on the node: node "
                   "management agents stop working",
    "allowPrivilegeEscalation": "no_new_privs is set: setuid and file-capability binaries (sudo, su, some ping "
                                "builds) stop gaining privileges; exercise what calls them",
    "drop": "the container loses the runtime's default capabilities (CHOWN, SETUID, NET_RAW …): an image that "
            "starts as root and changes owner or user at start-up fails; add back only what it needs",
    "seccompProfile": "the runtime's default seccomp profile blocks rarely used system calls (e.g. unshare, "
                      "keyctl, ptrace): exercise the application; a denied call fails with EPERM",
    "appArmorProfile": "the runtime's default AppArmor profile applies, and a node without AppArmor refuses "
                       "the pod: check every node pool has AppArmor enabled",
    "privileged": "the container loses access to the node's devices and every capability: agents that load "
                  "kernel modules or manage devices stop working; grant the one capability they need instead",
    "hostPID": "the pod no longer sees the node's processes: monitoring or debugging agents that read them lose "
               "that view",
    "hostIPC": "the pod no longer shares the node's IPC namespace: software using host shared memory breaks",
    "hostNetwork": "the pod gets its own network namespace and address: clients of node ports and anything "
                   "that bound to the node's interfaces must go through a Service",
    "readOnly": "the host path becomes read-only for the container: anything it wrote there fails",
    "hostPort": "the node port goes away: clients must reach the pod through a Service",
    "add": "the removed capabilities are no longer granted: exercise the features that needed them",
    "procMount": "the runtime masks /proc again: tools that read the masked paths get errors",
    "automountServiceAccountToken": "the pod gets no API token: an application or sidecar that calls the "
                                    "Kubernetes API fails with 401; mount a projected token for it alone",
    "requests": "the scheduler reserves these amounts: a node without room leaves the pod Pending; adjust the "
                "sizes to what the workload uses",
    "cpu": "the container is throttled at this CPU limit: check latency under load",
    "memory": "the container is OOM-killed above this memory limit: check its peak memory use",
    "imagePullPolicy": "every container start asks the registry: it must be reachable, with credentials, from "
                       "every node; images loaded into the nodes (kind load, air-gapped imports, pre-pulled "
                       "images the IfNotPresent or Never policy ran) stop starting",
    "externalIPs": "traffic sent to the external IPs no longer reaches the Service: move clients to a "
                   "LoadBalancer or Ingress first",
}


def what_to_test(path: str) -> str:
    """The note for a fix writing ``path`` (a field path), or a general one."""
    try:
        steps = [s for s in split(path) if isinstance(s, str)]
    except ValueError:
        steps = []
    for step in reversed(steps):
        if step in NOTES:
            return NOTES[step]
        if step.startswith("pod-security.kubernetes.io/"):
            return ("the namespace now refuses pods that break this Pod Security level: run kubectl label "
                    "--dry-run=server on the namespace first, which lists the pods that would be refused")
    return "run the workload and check it still does its job"
