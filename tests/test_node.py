"""The node source (node://ROOT, kubeharden node): discovery, effective settings, files (docs/node.md)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from kubeharden.model.commandline import last_wins, parse_flags
from kubeharden.model.components import version_from_image
from kubeharden.model.findings import Problem
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.node import node_input, read
from kubeharden.sources.registry import read_inputs

from node_trees import NODES, hardened_tree, line_of, node_tree, write


def _read(root: Path, node_name: str | None = None) -> tuple[dict[str, dict], list[Problem], list]:
    options = ReadOptions(source_options={"node": {"node_name": node_name}})
    facts: dict[str, dict] = {}
    problems: list[Problem] = []
    objects = []
    for item in read(node_input(str(root)), options):
        if isinstance(item, Problem):
            problems.append(item)
        elif item.kind == "ComponentFacts":
            facts[item.raw["component"]] = item.raw
        else:
            objects.append(item)
    return facts, problems, objects


def _where(raw: dict, path: str) -> str:
    return raw["where"][path][0]


# -- command lines -------------------------------------------------------------------------------


def test_flags_are_read_as_pflag_reads_them():
    flags = parse_flags(["kube-apiserver", "--v", "2", "--profiling", "--anonymous-auth=true", "--anonymous-auth=false",
                         "--", "--not-a-flag"])
    assert [(f.name, f.value) for f in flags] == [("v", "2"), ("profiling", "true"), ("anonymous-auth", "true"),
                                                  ("anonymous-auth", "false")]
    assert last_wins(flags)["anonymous-auth"].value == "false"  # repeated: the last one wins


@pytest.mark.parametrize("image, version", [
    ("registry.k8s.io/kube-apiserver:v1.29.3", "1.29.3"), ("registry.k8s.io/etcd:3.5.12-0", "3.5.12"),
    ("registry.k8s.io/kube-apiserver:latest", None), ("kube-apiserver@sha256:" + "a" * 64, None), (None, None)])
def test_the_version_comes_from_the_image_tag(image, version):
    assert version_from_image(image) == version


# -- discovery -----------------------------------------------------------------------------------


def test_a_default_kubeadm_control_plane_node_is_read_as_kubeadm_writes_it(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane")
    facts, problems, objects = _read(root)
    assert not [p for p in problems if p.level == "error"]
    assert sorted(facts) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"]
    api = facts["kube-apiserver"]
    assert (api["node"], api["version"], api["container"]) == ("cp-1", "1.29.3", "kube-apiserver")
    assert api["flags"]["authorization-mode"] == "Node,RBAC"
    assert "anonymous-auth" not in api["flags"]  # kubeadm leaves it unset (its default is true)
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    assert api["flags"].key_line("authorization-mode") == line_of(manifest, "--authorization-mode=")
    assert _where(api, "flags.authorization-mode") == str(manifest)
    # a file a flag names is the file of the component that names it (--cluster-signing-key-file, --kubeconfig)
    manager = facts["kube-controller-manager"]["files"]
    assert manager["/etc/kubernetes/pki/ca.key"]["role"] == "pki-key"
    assert manager["/etc/kubernetes/controller-manager.conf"]["role"] == "kubeconfig"
    assert facts["kube-scheduler"]["files"]["/etc/kubernetes/scheduler.conf"]["role"] == "kubeconfig"
    assert not {"/etc/kubernetes/pki/ca.key", "/etc/kubernetes/controller-manager.conf",
                "/etc/kubernetes/scheduler.conf"} & set(api["files"])
    assert facts["etcd"]["files"]["/etc/kubernetes/pki/etcd/server.crt"]["role"] == "pki-cert"  # --cert-file
    assert api["files"]["/etc/kubernetes/pki/front-proxy-ca.key"]["role"] == "pki-key"  # named by no flag
    assert api["files"]["/etc/kubernetes/pki"]["role"] == "pki-dir"
    assert api["files"]["/etc/kubernetes/admin.conf"]["role"] == "kubeconfig"
    assert api["files"]["/etc/kubernetes/manifests/kube-apiserver.yaml"]["role"] == "manifest"
    assert facts["etcd"]["files"]["/var/lib/etcd"]["role"] == "data-dir"
    assert facts["etcd"]["version"] == "3.5.12"
    # kubeconfig files that flags name are objects too, for the controls that judge their contents
    assert {(o.kind, Path(o.origin.file).name) for o in objects} >= {("Config", "admin.conf"),
                                                                      ("Config", "controller-manager.conf")}


def test_kubelet_flags_come_from_the_unit_its_drop_ins_and_environment_files(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane")
    defaults = write(root, "/etc/default/kubelet", "# extra\nKUBELET_EXTRA_ARGS=\"--read-only-port=10255 --v=2\"\n")
    kubelet = _read(root)[0]["kubelet"]
    flags = kubelet["flags"]
    assert flags["config"] == "/var/lib/kubelet/config.yaml"  # Environment= of 10-kubeadm.conf
    dropin = root / "etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
    assert _where(kubelet, "flags.config") == str(dropin)
    assert flags.key_line("config") == line_of(dropin, "KUBELET_CONFIG_ARGS=")
    # EnvironmentFile=: kubeadm-flags.env and /etc/default/kubelet, each flag at its line there
    assert flags["container-runtime-endpoint"] == "unix:///var/run/containerd/containerd.sock"
    assert _where(kubelet, "flags.container-runtime-endpoint") == str(root / "var/lib/kubelet/kubeadm-flags.env")
    assert flags["read-only-port"] == "10255"
    # a flag overrides the configuration file: the effective setting is the flag's, at the flag's line
    assert kubelet["settings"]["readOnlyPort"] == 10255
    assert kubelet["settings"].key_line("readOnlyPort") == 2
    assert _where(kubelet, "settings.readOnlyPort") == str(defaults)
    assert kubelet["files"]["/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"]["role"] == "service"
    assert kubelet["files"]["/var/lib/kubelet/config.yaml"]["role"] == "config"


def test_drop_ins_in_etc_hide_the_same_name_elsewhere_and_environment_files_win(tmp_path):
    root = node_tree(tmp_path, "worker")
    write(root, "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
          "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet --anonymous-auth=true\n")
    write(root, "/etc/systemd/system/kubelet.service.d/20-local.conf",
          "[Service]\nEnvironment=\"KUBELET_EXTRA_ARGS=--protect-kernel-defaults=true\"\n")
    kubelet = _read(root)[0]["kubelet"]
    assert "anonymous-auth" not in kubelet["flags"]  # /usr/lib's 10-kubeadm.conf is hidden by /etc's
    # EnvironmentFile= settings override Environment= (systemd.exec): /etc/default/kubelet empties it again
    assert "protect-kernel-defaults" not in kubelet["flags"]
    write(root, "/etc/default/kubelet", "")
    assert _read(root)[0]["kubelet"]["settings"]["protectKernelDefaults"] is True


def test_the_kubelet_config_file_is_the_one_its_config_flag_names(tmp_path):
    root = node_tree(tmp_path, "worker")
    write(root, "/var/lib/kubelet/kubeadm-flags.env", "KUBELET_KUBEADM_ARGS=\"--config=/etc/kubelet/real.yaml\"\n")
    real = write(root, "/etc/kubelet/real.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: "
                 "KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: true\n")
    kubelet = _read(root)[0]["kubelet"]
    settings = kubelet["settings"]
    assert settings["authentication"]["anonymous"]["enabled"] is True
    assert settings["authentication"]["anonymous"].key_line("enabled") == 5
    assert kubelet["file"] == str(real)
    assert _where(kubelet, "settings") == str(real)


def test_effective_kubelet_settings_apply_the_file_defaults_and_go_zero_values(tmp_path):
    settings = _read(node_tree(tmp_path, "kubeadm-control-plane"))[0]["kubelet"]["settings"]
    # KubeletConfiguration v1beta1 defaults; kubeadm's "streamingConnectionIdleTimeout: 0s" runs as 4h
    assert settings["streamingConnectionIdleTimeout"] == "4h0m0s"
    assert settings["readOnlyPort"] == 0
    assert settings["authentication"]["anonymous"]["enabled"] is False
    assert settings["authentication"]["webhook"]["enabled"] is True
    assert settings["authorization"]["mode"] == "Webhook"
    assert settings["eventRecordQPS"] == 50
    assert settings["protectKernelDefaults"] is False
    assert settings["makeIPTablesUtilChains"] is True
    assert settings["podPidsLimit"] == -1
    assert settings["featureGates"]["RotateKubeletServerCertificate"] is True
    assert settings["rotateCertificates"] is True
    assert settings["authentication"]["x509"]["clientCAFile"] == "/etc/kubernetes/pki/ca.crt"


def test_a_kubelet_without_a_config_file_has_the_flags_insecure_defaults(tmp_path):
    root = node_tree(tmp_path, "worker")
    write(root, "/var/lib/kubelet/kubeadm-flags.env", "")
    write(root, "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
          "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet --kubeconfig=/etc/kubernetes/kubelet.conf "
          "--feature-gates=RotateKubeletServerCertificate=false,Foo=true\n")
    settings = _read(root)[0]["kubelet"]["settings"]
    assert settings["authentication"]["anonymous"]["enabled"] is True
    assert settings["authentication"]["webhook"]["enabled"] is False
    assert settings["authorization"]["mode"] == "AlwaysAllow"
    assert settings["readOnlyPort"] == 10255
    assert settings["featureGates"] == {"RotateKubeletServerCertificate": False, "Foo": True}


def test_a_running_process_wins_over_the_static_pod_manifest(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane")
    write(root, "/proc/4711/cmdline", b"kube-apiserver\0--authorization-mode=AlwaysAllow\0"
                                      b"--secure-port=6443\0--anonymous-auth=true\0")
    api = _read(root)[0]["kube-apiserver"]
    assert api["flags"] == {"authorization-mode": "AlwaysAllow", "secure-port": "6443", "anonymous-auth": "true"}
    assert _where(api, "flags.anonymous-auth") == str(root / "proc/4711/cmdline")
    # the same value in the manifest: the finding can point at the manifest's line
    assert _where(api, "flags.secure-port") == str(root / "etc/kubernetes/manifests/kube-apiserver.yaml")
    assert api["version"] == "1.29.3"  # the manifest's image still tells the version


def test_a_worker_runs_the_kubelet_and_kube_proxy_only(tmp_path):
    facts, problems, _ = _read(node_tree(tmp_path, "worker"))
    assert sorted(facts) == ["kube-proxy", "kubelet"]
    proxy = facts["kube-proxy"]
    # kube-proxy with --config ignores the flags the file can set (kube-proxy reference)
    assert proxy["settings"]["metricsBindAddress"] == "0.0.0.0:10249"
    assert proxy["settings"]["hostnameOverride"] == ""
    assert proxy["files"]["/var/lib/kube-proxy/kubeconfig.conf"]["role"] == "kubeconfig"
    assert facts["kubelet"]["node"] == "worker-1"


def test_k3s_one_server_process_carries_every_component(tmp_path):
    root = node_tree(tmp_path, "k3s")
    facts, problems, objects = _read(root, node_name="edge-7")
    assert sorted(facts) == ["kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet"]
    api = facts["kube-apiserver"]
    config = root / "etc/rancher/k3s/config.yaml"
    assert api["node"] == "edge-7"
    assert api["flags"]["anonymous-auth"] == "false"
    assert _where(api, "flags.anonymous-auth") == str(config)
    assert api["flags"].key_line("anonymous-auth") == line_of(config, "kube-apiserver-arg:")
    assert facts["kubelet"]["settings"]["readOnlyPort"] == 0
    assert facts["kubelet"]["settings"]["streamingConnectionIdleTimeout"] == "5m"
    assert any(p.kind == "node-k3s" for p in problems)  # k3s's own flags are judged from its source: said
    assert any(o.kind == "Policy" for o in objects)  # the audit policy a flag names is read as an object
    assert "/var/lib/rancher/k3s/server/tls/server-ca.key" in api["files"]


def test_k3s_with_cluster_init_runs_etcd_and_disabled_components_are_left_out(tmp_path):
    root = node_tree(tmp_path, "k3s")
    write(root, "/proc/812/cmdline", b"/usr/local/bin/k3s\0server\0--cluster-init\0--disable-kube-proxy\0")
    facts = _read(root)[0]
    assert "etcd" in facts and "kube-proxy" not in facts


def test_k3s_own_flags_lie_beneath_the_users_and_name_the_k3s_command_line(tmp_path):
    """k3s gives its components flags of its own (k3s pkg/daemons/control/server.go): judged as set, at the k3s
    command line; a flag the user gives wins, and --authentication-config makes k3s leave --anonymous-auth out."""
    root = node_tree(tmp_path, "k3s")
    write(root, "/etc/rancher/k3s/config.yaml.d/20-mine.yaml",
          'kube-apiserver-arg+:\n  - "profiling=true"\n  - "authentication-config=/etc/rancher/authn.yaml"\n'
          'kube-scheduler-arg:\n  - "bind-address=0.0.0.0"\n')
    facts = _read(root)[0]
    api, manager, scheduler = facts["kube-apiserver"], facts["kube-controller-manager"], facts["kube-scheduler"]
    server = "/var/lib/rancher/k3s/server"
    assert {k: api["flags"][k] for k in ("authorization-mode", "enable-admission-plugins", "kubelet-client-certificate",
                                        "client-ca-file", "etcd-servers")} == {
        "authorization-mode": "Node,RBAC", "enable-admission-plugins": "NodeRestriction",
        "kubelet-client-certificate": f"{server}/tls/client-kube-apiserver.crt",
        "client-ca-file": f"{server}/tls/client-ca.crt", "etcd-servers": "unix://kine.sock"}
    assert _where(api, "flags.authorization-mode") == str(root / "proc/812/cmdline")
    drop_in = root / "etc/rancher/k3s/config.yaml.d/20-mine.yaml"
    assert api["flags"]["profiling"] == "true" and _where(api, "flags.profiling") == str(drop_in)  # the user's wins
    assert "anonymous-auth" in api["flags"]  # the user's own, from config.yaml
    assert scheduler["flags"]["bind-address"] == "0.0.0.0" and scheduler["flags"]["profiling"] == "false"
    assert manager["flags"]["service-account-private-key-file"] == f"{server}/tls/service.current.key"
    assert (manager["flags"]["use-service-account-credentials"], manager["flags"]["root-ca-file"]) == (
        "true", f"{server}/tls/server-ca.crt")
    assert manager["files"][f"{server}/cred/controller.kubeconfig"]["role"] == "kubeconfig"
    # the kubelet (k3s pkg/daemons/agent/agent_linux.go kubeletArgs): its settings, not the flags' legacy defaults
    kubelet = facts["kubelet"]["settings"]
    assert (kubelet["authentication"]["anonymous"]["enabled"], kubelet["authentication"]["webhook"]["enabled"],
            kubelet["authorization"]["mode"], kubelet["tlsCertFile"]) == (
        False, True, "Webhook", "/var/lib/rancher/k3s/agent/serving-kubelet.crt")
    assert facts["kubelet"]["settings"]["streamingConnectionIdleTimeout"] == "5m"  # the user's kubelet-arg

    root = node_tree(tmp_path / "b", "k3s")
    write(root, "/etc/rancher/k3s/config.yaml.d/20-mine.yaml",
          'kube-apiserver-arg+:\n  - "authentication-config=/etc/rancher/authn.yaml"\n')
    (root / "etc/rancher/k3s/config.yaml").write_text(
        (root / "etc/rancher/k3s/config.yaml").read_text().replace('  - "anonymous-auth=false"\n', ""))
    assert "anonymous-auth" not in _read(root)[0]["kube-apiserver"]["flags"]


def test_k3s_datastore_embedded_etcd_external_etcd_and_data_dir(tmp_path):
    root = node_tree(tmp_path, "k3s")
    write(root, "/proc/812/cmdline", b"/usr/local/bin/k3s\0server\0--cluster-init\0--data-dir=/srv/k3s\0")
    api = _read(root)[0]["kube-apiserver"]
    assert {k: api["flags"][k] for k in ("etcd-servers", "etcd-cafile", "etcd-certfile", "etcd-keyfile",
                                        "tls-cert-file")} == {
        "etcd-servers": "https://127.0.0.1:2379", "etcd-cafile": "/srv/k3s/server/tls/etcd/server-ca.crt",
        "etcd-certfile": "/srv/k3s/server/tls/etcd/client.crt", "etcd-keyfile": "/srv/k3s/server/tls/etcd/client.key",
        "tls-cert-file": "/srv/k3s/server/tls/serving-kube-apiserver.crt"}

    root = node_tree(tmp_path / "b", "k3s")
    write(root, "/proc/812/cmdline", b"/usr/local/bin/k3s\0server\0--datastore-endpoint=https://db:2379\0"
          b"--datastore-cafile=/etc/db/ca.crt\0")
    (root / "var/lib/rancher/k3s/server/tls/service.current.key").unlink()  # a release before key rotation
    facts = _read(root)[0]
    api = facts["kube-apiserver"]
    assert (api["flags"]["etcd-servers"], api["flags"]["etcd-cafile"]) == ("https://db:2379", "/etc/db/ca.crt")
    assert "etcd-certfile" not in api["flags"] and "etcd" not in facts
    assert facts["kube-controller-manager"]["flags"]["service-account-private-key-file"] == \
        "/var/lib/rancher/k3s/server/tls/service.key"


# -- files -----------------------------------------------------------------------------------------


def test_file_modes_owners_and_groups_are_those_of_the_real_files(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane", {"/etc/kubernetes/pki/ca.key": 0o600,
                                                          "/etc/kubernetes/admin.conf": 0o640,
                                                          "/var/lib/kubelet/config.yaml": 0o644})
    facts = _read(root)[0]
    key = facts["kube-controller-manager"]["files"]["/etc/kubernetes/pki/ca.key"]
    assert (key["mode"], key["exists"]) == ("0600", True)
    assert key["owner"] == pwd.getpwuid(os.getuid()).pw_name
    assert facts["kube-apiserver"]["files"]["/etc/kubernetes/admin.conf"]["mode"] == "0640"
    assert facts["kubelet"]["files"]["/var/lib/kubelet/config.yaml"]["mode"] == "0644"
    missing = facts["kubelet"]["files"]["/etc/kubernetes/bootstrap-kubelet.conf"]
    assert missing == {"role": "kubeconfig", "exists": False, "optional": True}  # gone after the TLS bootstrap


def test_a_symlink_out_of_the_root_is_refused_and_one_inside_is_followed_inside(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane")
    secret = tmp_path / "outside.key"
    secret.write_text("the scanning host's secret")
    os.symlink("../../../../outside.key", root / "etc/kubernetes/pki/escape.key")
    os.symlink("/etc/kubernetes/pki/ca.key", root / "etc/kubernetes/pki/alias.key")  # absolute: inside the root
    os.chmod(root / "etc/kubernetes/pki/ca.key", 0o600)
    facts, problems, _ = _read(root)
    files = facts["kube-apiserver"]["files"]
    assert files["/etc/kubernetes/pki/escape.key"]["exists"] is False
    assert [p.level for p in problems if p.kind == "node-path" and "escape.key" in (p.file or "")] == ["error"]
    assert files["/etc/kubernetes/pki/alias.key"]["mode"] == "0600"


def test_malformed_and_half_written_files_are_problems_naming_them_and_the_scan_goes_on(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane")
    config = write(root, "/var/lib/kubelet/config.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n"
                   "  anonymous: {enabled: false\n")  # cut off mid-write
    write(root, "/etc/kubernetes/manifests/kube-scheduler.yaml", b"\x00\x01binary")
    facts, problems, _ = _read(root)
    assert any(p.level == "error" and p.file == str(config) for p in problems)
    assert any(p.level == "error" and (p.file or "").endswith("kube-scheduler.yaml") for p in problems)
    assert "kube-apiserver" in facts and "kube-scheduler" not in facts
    # an unreadable configuration is never read as secure: the kubelet keeps the defaults, and the problem says so
    assert facts["kubelet"]["settings"]["authentication"]["anonymous"]["enabled"] is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_reported(tmp_path):
    root = node_tree(tmp_path, "kubeadm-control-plane", {"/etc/kubernetes/manifests/etcd.yaml": 0o000})
    facts, problems, _ = _read(root)
    assert any(p.kind == "read" and (p.file or "").endswith("etcd.yaml") for p in problems)
    assert "etcd" not in facts


def test_a_tree_without_any_component_is_an_input_error(tmp_path):
    (tmp_path / "empty").mkdir()
    facts, problems, _ = _read(tmp_path / "empty")
    assert not facts
    assert [p.kind for p in problems if p.level == "error"] == ["node-empty"]
    assert [p.kind for p in read(node_input(str(tmp_path / "missing")), ReadOptions())] == ["read"]


def test_the_node_source_is_reached_through_the_registry():
    kinds = {item.kind for item in read_inputs([node_input(str(NODES / "worker"))])}
    assert "ComponentFacts" in kinds


def test_a_containerised_process_s_files_are_read_in_its_own_root(tmp_path):
    root = node_tree(tmp_path, "worker")
    # kubeadm runs kube-proxy in a DaemonSet: its --config is a path in its container (/proc/PID/root, proc(5))
    (root / "var/lib/kube-proxy/config.conf").unlink()
    inside = write(root, "/proc/4242/root/var/lib/kube-proxy/config.conf",
                   "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                   "metricsBindAddress: 127.0.0.1:10249\n")
    facts, problems, _ = _read(root)
    proxy = facts["kube-proxy"]
    assert not [p for p in problems if p.level == "error"]
    assert proxy["settings"]["metricsBindAddress"] == "127.0.0.1:10249"
    assert proxy["file"] == str(inside)
    assert proxy["files"]["/var/lib/kube-proxy/config.conf"]["exists"] is True


def test_a_process_root_that_is_a_link_to_the_scanning_host_is_not_followed(tmp_path):
    root = node_tree(tmp_path, "worker")
    (root / "var/lib/kube-proxy/config.conf").unlink()
    os.symlink("/", root / "proc/4242/root")
    facts, problems, _ = _read(root)
    assert any(p.kind == "node-config" for p in problems)  # not found on the node: said, never read from the host


def test_a_process_root_link_to_elsewhere_in_a_copied_tree_is_not_followed(tmp_path):
    root = node_tree(tmp_path, "worker")
    (root / "var/lib/kube-proxy/config.conf").unlink()
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere, "/var/lib/kube-proxy/config.conf", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
          "kind: KubeProxyConfiguration\nmetricsBindAddress: 0.0.0.0:9999\n")
    os.symlink(str(elsewhere), root / "proc/4242/root")
    facts, problems, _ = _read(root)
    assert any(p.kind == "node-config" for p in problems)
    assert facts["kube-proxy"]["settings"]["metricsBindAddress"] == "127.0.0.1:10249"  # the file's default, not 9999


def test_the_sample_node_tree_in_examples_is_read_as_its_readme_says(capsys):
    from kubeharden.cli import main

    sample = Path(__file__).resolve().parents[1] / "examples" / "node"
    assert main(["node", "--root", str(sample), "--no-config", "-f", "json", "--fail-on", "none"]) == 0
    import json

    errors = json.loads(capsys.readouterr().out)["errors"]
    # the sample is a copy of files: no /proc, so kube-proxy (a DaemonSet's Pod) cannot be seen, and it says so
    assert [(e["kind"], e["message"].split(":")[0]) for e in errors] == [
        ("component-unseen", "kube-proxy is not judged")]
    facts = _read(sample)[0]
    assert sorted(facts) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"]


def test_k3s_flags_that_set_a_component_s_flag_are_passed_on(tmp_path):
    facts = _read(node_tree(tmp_path, "k3s"))[0]
    # k3s --protect-kernel-defaults and --secrets-encryption (k3s "server" reference, "Secrets Encryption")
    assert facts["kubelet"]["settings"]["protectKernelDefaults"] is True
    assert facts["kube-apiserver"]["flags"]["encryption-provider-config"] == \
        "/var/lib/rancher/k3s/server/cred/encryption-config.json"


def test_unit_files_are_read_as_systemd_reads_them(tmp_path):
    from kubeharden.sources.node_root import NodeRoot
    from kubeharden.sources.node_systemd import unit_command

    root = tmp_path / "n"
    write(root, "/etc/systemd/system/kubelet.service",
          "[Unit]\nDescription=x\nExecStart=/not/the/service/section\n[Service]\n"
          "Environment=\"A=--a=1 --b=2\" 'B=--c=3'\nEnvironment=D=/etc/k\n"
          "ExecStart=-/usr/bin/kubelet $A \\\n  --conf=${D}/conf.yaml \"--quoted=x y\" $B $UNSET\n")
    command = unit_command(NodeRoot(str(root)), 1 << 20)
    assert [w.text for w in command.words] == ["/usr/bin/kubelet", "--a=1", "--b=2", "--conf=/etc/k/conf.yaml",
                                               "--quoted=x y", "--c=3"]
    # a word from $VAR is where the variable is set (Environment= on line 5); the others where ExecStart= starts
    assert [w.line for w in command.words] == [7, 5, 5, 7, 7, 5]


def test_k3s_configuration_drop_ins_replace_keys_and_append_with_plus(tmp_path):
    root = node_tree(tmp_path, "k3s")
    write(root, "/etc/rancher/k3s/config.yaml.d/10-more.yaml", "kube-apiserver-arg+:\n  - \"profiling=false\"\n"
          "kubelet-arg:\n  - \"read-only-port=10255\"\n")
    facts = _read(root)[0]
    assert facts["kube-apiserver"]["flags"]["anonymous-auth"] == "false"  # appended to, not replaced
    assert facts["kube-apiserver"]["flags"]["profiling"] == "false"
    assert facts["kubelet"]["settings"]["readOnlyPort"] == 10255  # replaced
    assert "streaming-connection-idle-timeout" not in facts["kubelet"]["flags"]


def test_the_hardened_tree_builder_gives_keys_certificates_kubeconfigs_and_manifests_0600(tmp_path):
    facts, problems, _ = _read(hardened_tree(tmp_path))
    assert not [p for p in problems if p.level == "error"]
    files = {path: entry for unit in facts.values() for path, entry in unit["files"].items() if entry.get("exists")}
    assert {files[p]["mode"] for p in files if files[p]["role"] in ("pki-key", "kubeconfig", "manifest", "config",
                                                                     "encryption-config", "audit-policy",
                                                                     "admission-config")} == {"0600"}
    assert files["/etc/kubernetes/pki"]["mode"] == "0755"
    assert files["/var/lib/etcd"]["mode"] == "0700"
    assert files["/etc/kubernetes/pki/ca.crt"]["mode"] == "0600"  # CIS 1.1.20, as KH-FILE-009 asks
    assert facts["kubelet"]["files"]["/var/lib/kubelet/pki/kubelet.key"]["role"] == "pki-key"


def _node_findings(root: Path, profile: str, capsys) -> list[tuple[str, str]]:
    import json

    from kubeharden.cli import main

    main(["node", "--root", str(root), "--profile", profile, "--format", "json", "--fail-on", "none"])
    report = json.loads(capsys.readouterr().out)
    # the fixture has no /proc: kube-proxy (a DaemonSet's Pod) is said to be not judged, never passed
    assert [(e["kind"], e["resource"]["name"]) for e in report["errors"]] == [
        ("component-unseen", "kube-proxy@cp-hardened")]
    return sorted((f["control_id"], f["message"]) for f in report["findings"])


def test_the_hardened_tree_has_no_finding_at_the_default_profile(tmp_path, capsys):
    root = hardened_tree(tmp_path)
    assert _node_findings(root, "default", capsys) == []
    # strict: only what git cannot carry (owners); etcd's data folder belongs to the etcd user (CIS 1.1.12)
    assert [c for c, _ in _node_findings(root, "strict", capsys)] == ["KH-FILE-012", "KH-FILE-012"]
