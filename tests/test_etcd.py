"""kubeharden etcd check against a real etcd (Debian etcd-server; .ci/run installs it).

Secrets are written in the API server's storage format: plain ones as Kubernetes protobuf
(``k8s\\x00`` + runtime.Unknown wrapping a v1.Secret; one as JSON, what ``--storage-media-type=
application/json`` stores), encrypted ones as the aescbc provider writes them
(``k8s:enc:aescbc:v1:<key name>:`` + a 16-byte IV + AES-CBC of the protobuf with PKCS#7 padding;
"Encrypting Confidential Data at Rest" and k8s.io/apiserver/pkg/storage/value/encrypt/aes).
"""

from __future__ import annotations

import base64
import json
import os
import socket

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from etcd_server import Server, binary
from pki import make_pki

from kubeharden.cli import main
from kubeharden.model.etcd import secret_name, stored_format
from kubeharden.sources.etcd import EtcdOptions, input_for
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.registry import read_inputs

PASSWORD = b"s3cr3t-Pa55w0rd-never-printed"


# -- Kubernetes' storage format, written from its definitions ------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def protobuf_secret(namespace: str, name: str, data: dict[str, bytes]) -> bytes:
    """What the API server stores for a v1 Secret: ``k8s\\x00`` + runtime.Unknown{typeMeta=1 {apiVersion=1,
    kind=2}, raw=2 (v1.Secret{metadata=1 {name=1, namespace=3}, data=2 map entries {key=1, value=2},
    type=3}), contentEncoding=3, contentType=4} (k8s.io/api/core/v1/generated.proto, apimachinery
    runtime/generated.proto)."""
    meta = _field(1, name.encode()) + _field(3, namespace.encode())
    secret = _field(1, meta) + b"".join(_field(2, _field(1, k.encode()) + _field(2, v)) for k, v in data.items())
    secret += _field(3, b"Opaque")
    unknown = _field(1, _field(1, b"v1") + _field(2, b"Secret")) + _field(2, secret)
    return b"k8s\x00" + unknown


def aescbc(key_name: str, key: bytes, plaintext: bytes) -> bytes:
    """The aescbc provider's value: prefix, then IV and AES-256-CBC ciphertext with PKCS#7 padding."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return f"k8s:enc:aescbc:v1:{key_name}:".encode() + iv + encryptor.update(padded) + encryptor.finalize()


def aescbc_decrypt(key: bytes, value: bytes) -> bytes:
    body = value.split(b":", 5)[5]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(body[:16])).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(body[16:]) + decryptor.finalize()) + unpadder.finalize()


def test_the_aescbc_fixture_round_trips():
    key = os.urandom(32)
    plain = protobuf_secret("shop", "db", {"password": PASSWORD})
    value = aescbc("key1", key, plain)
    assert value.startswith(b"k8s:enc:aescbc:v1:key1:") and (len(value) - len(b"k8s:enc:aescbc:v1:key1:")) % 16 == 0
    assert aescbc_decrypt(key, value) == plain


# -- reading the prefix --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (b"k8s:enc:aescbc:v1:key1:\x00\x01", ("aescbc", "v1", "key1")),
    (b"k8s:enc:aesgcm:v1:rotated-2024:\xff", ("aesgcm", "v1", "rotated-2024")),
    (b"k8s:enc:secretbox:v1:sb:" + os.urandom(40), ("secretbox", "v1", "sb")),
    (b"k8s:enc:kms:v1:legacy-kms:\x00\x20", ("kms", "v1", "legacy-kms")),
    (b"k8s:enc:kms:v2:vault:\x0a\x10", ("kms", "v2", "vault")),
])
def test_encrypted_values_name_provider_version_and_key(value, expected):
    storage = stored_format(value)
    assert storage["encrypted"] is True
    assert (storage["provider"], storage["version"], storage["keyName"]) == expected


def test_plain_values_are_recognised_by_their_encoding():
    assert stored_format(protobuf_secret("a", "b", {}))["encoding"] == "protobuf"
    assert stored_format(b'{"kind":"Secret"}')["encoding"] == "json"
    assert stored_format(b"\x00garbage") == {"encrypted": False, "provider": None, "version": None,
                                             "keyName": None, "encoding": "unknown"}
    # an identity-looking prefix that is not k8s:enc: is plain text
    assert stored_format(b"k8s:encx")["encrypted"] is False


def test_a_broken_encryption_prefix_is_encrypted_with_an_unknown_provider():
    assert stored_format(b"k8s:enc:aescbc")["provider"] is None
    assert stored_format(b"k8s:enc:::key:")["provider"] is None


def test_secret_names_come_from_the_key_under_the_prefix():
    assert secret_name("/registry/secrets/shop/db") == ("shop", "db")
    assert secret_name("/other/secrets/shop/db", "/other/") == ("shop", "db")
    assert secret_name("/registry/secrets/shop") is None
    assert secret_name("/registry/secrets/shop/db/extra") is None
    assert secret_name("/registry/configmaps/shop/db") is None


# -- a real etcd ---------------------------------------------------------------------------------

def _need_etcd() -> None:
    if binary() is None:
        message = "etcd is not installed (Debian package etcd-server; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # in CI the real server is required, never skipped
        pytest.skip(message)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("etcd-pki"))


KEY1 = os.urandom(32)
KEY2 = os.urandom(32)


@pytest.fixture(scope="module")
def etcd(pki):
    """etcd with TLS and --client-cert-auth, holding Secrets in every shape the test asserts."""
    _need_etcd()
    server = Server(pki)
    put = server.put
    put(b"/registry/secrets/shop/db-plain", protobuf_secret("shop", "db-plain", {"password": PASSWORD}))
    put(b"/registry/secrets/shop/json-plain", json.dumps(
        {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "json-plain", "namespace": "shop"},
         "data": {"password": base64.b64encode(PASSWORD).decode()}}).encode())
    put(b"/registry/secrets/shop/db-aescbc",
        aescbc("key1", KEY1, protobuf_secret("shop", "db-aescbc", {"password": PASSWORD})))
    for n in range(5):  # more than one page of keys and of values (EtcdOptions page=2, value_page=3 below)
        put(f"/registry/secrets/team-{n}/token".encode(),
            aescbc("key2", KEY2, protobuf_secret(f"team-{n}", "token", {"token": PASSWORD})))
    put(b"/registry/secrets/kube-system/kms-v2", b"k8s:enc:kms:v2:vault:" + os.urandom(64))
    # neighbours that are no Secrets: never listed
    put(b"/registry/configmaps/shop/settings", protobuf_secret("shop", "settings", {}))
    put(b"/registry/secretsX/shop/nope", b"plain")
    yield server
    server.stop()


def _args(server, pki, *extra: str, cert: bool = True) -> list[str]:
    argv = ["etcd", "check", "--no-config", "--endpoints", server.endpoint, "--cacert", pki["ca"]]
    if cert:
        argv += ["--cert", pki["client"], "--key", pki["client_key"]]
    return [*argv, "--timeout", "5", *extra]


def _run(capsys, argv: list[str]) -> tuple[int, dict, str]:
    try:
        code = main([*argv, "-f", "json"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def _failed(report: dict, control: str) -> list[dict]:
    return [f for f in report["findings"] if f["control_id"] == control and f["status"] == "fail"]


def test_plain_text_secrets_are_found_and_named(etcd, pki, capsys):
    code, report, err = _run(capsys, _args(etcd, pki))
    assert code == 1
    assert report["errors"] == []
    plain = _failed(report, "KH-ETCD-007")
    assert sorted((f["resource"]["namespace"], f["resource"]["name"]) for f in plain) == [
        ("shop", "db-plain"), ("shop", "json-plain")]
    by_name = {f["resource"]["name"]: f for f in plain}
    assert "protobuf" in by_name["db-plain"]["message"] and "JSON" in by_name["json-plain"]["message"]
    assert by_name["db-plain"]["file"] == f"{etcd.endpoint} /registry/secrets/shop/db-plain"
    assert by_name["db-plain"]["nsa"] == ["NSA-NET-30", "NSA-NET-22"]
    assert by_name["db-plain"]["remediation"]
    # what the Secret holds never reaches the report or the terminal
    assert PASSWORD.decode() not in json.dumps(report) and PASSWORD.decode() not in err
    assert base64.b64encode(PASSWORD).decode() not in json.dumps(report)
    assert "Secrets under /registry/secrets/: 9 (" in err and "2 plain text" in err


def test_encrypted_secrets_name_their_provider_and_key(etcd, pki, capsys):
    _, report, err = _run(capsys, _args(etcd, pki))
    local = {(f["resource"]["namespace"], f["resource"]["name"]): f["message"] for f in _failed(report, "KH-ETCD-008")}
    assert set(local) == {("shop", "db-aescbc"), *((f"team-{n}", "token") for n in range(5))}
    assert "aescbc provider (v1) with key 'key1'" in local[("shop", "db-aescbc")]
    assert "padding-oracle" in local[("shop", "db-aescbc")]
    assert "key 'key2'" in local[("team-0", "token")]
    # KMS v2 passes both encryption controls, and the plain ones are not counted as encrypted
    names = {f["resource"]["name"] for f in report["findings"]}
    assert "kms-v2" not in names
    assert "1 aescbc key 'key1', 5 aescbc key 'key2', 1 kms:v2 key 'vault', 2 plain text" in err
    assert report["summary"]["not_assessable"] == []


def test_the_endpoint_requiring_certificates_passes_both_probes(etcd, pki, capsys):
    _, report, _ = _run(capsys, _args(etcd, pki))
    assert _failed(report, "KH-ETCD-009") == [] and _failed(report, "KH-ETCD-010") == []
    kinds = report["summary"]["kinds"]
    assert kinds.get("EtcdEndpoint") == 1 and kinds.get("StoredSecret") == 9


def test_keys_and_values_are_read_page_by_page(etcd, pki):
    options = ReadOptions(source_options={"etcd": EtcdOptions(pki["ca"], pki["client"], pki["client_key"],
                                                              timeout=5, page=2, value_page=3)})
    items = list(read_inputs([input_for([etcd.endpoint])], options))
    secrets = [i for i in items if getattr(i, "kind", None) == "StoredSecret"]
    assert len(secrets) == 9 and not [i for i in items if getattr(i, "level", None) == "error"]
    assert {s.raw["storage"]["keyName"] for s in secrets if s.raw["storage"]["encrypted"]} == {"key1", "key2", "vault"}


def test_without_the_client_certificate_nothing_is_passed(etcd, pki, capsys):
    code, report, _ = _run(capsys, _args(etcd, pki, cert=False))
    assert code == 3
    assert [f for f in report["findings"] if f["status"] == "fail"] == []
    [error] = [e for e in report["errors"] if "secrets" in e["message"]]
    assert etcd.endpoint in error["message"] and error["file"] == etcd.endpoint
    assert {c["control_id"] for c in report["summary"]["not_assessable"]} == {"KH-ETCD-007", "KH-ETCD-008"}


def test_a_certificate_from_another_ca_is_refused_and_said(etcd, pki, capsys):
    argv = _args(etcd, pki, cert=False) + ["--cert", pki["rogue_client"], "--key", pki["rogue_client_key"]]
    code, report, _ = _run(capsys, argv)
    assert code == 3
    assert any(etcd.endpoint in e["message"] for e in report["errors"])


def test_an_endpoint_nobody_listens_on_is_an_input_problem(pki, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["etcd", "check", "--no-config", "--endpoints", f"https://127.0.0.1:{port}", "--cacert", pki["ca"],
            "--cert", pki["client"], "--key", pki["client_key"], "--timeout", "2"]
    code, report, _ = _run(capsys, argv)
    assert code == 3
    assert all(f"127.0.0.1:{port}" in e["message"] for e in report["errors"]) and len(report["errors"]) >= 2
    assert {c["control_id"] for c in report["summary"]["not_assessable"]} == {
        "KH-ETCD-007", "KH-ETCD-008", "KH-ETCD-009", "KH-ETCD-010"}


def test_a_broken_encryption_prefix_is_tallied_as_such_not_as_an_unknown_key_none():
    """``k8s:enc:`` followed by no provider:version:key: (a value cut short, or written by something else)."""
    from collections import Counter

    from kubeharden.commands.etcd import _tallied
    from kubeharden.model.etcd import API_VERSION, STORED_SECRET, stored_secret
    from kubeharden.model.objects import K8sObject, Provenance, ResourceRef

    def stored(name: str, value: bytes) -> K8sObject:
        raw = stored_secret("shop", name, "https://e:2379", f"/registry/secrets/shop/{name}", stored_format(value))
        return K8sObject(raw=raw, ref=ResourceRef(API_VERSION, STORED_SECRET, "shop", name),
                         origin=Provenance("https://e:2379", None, "etcd"))

    items = [stored("cut", b"k8s:enc:aescbc"), stored("good", b"k8s:enc:aescbc:v1:key1:\x00\x01"),
             stored("plain", b"k8s\x00\x0a\x0c\x0a\x02v1")]
    tally: Counter[str] = Counter()
    assert list(_tallied(iter(items), tally)) == items
    assert dict(tally) == {"encrypted, with a k8s:enc: prefix that names no provider, version and key": 1,
                           "aescbc key 'key1'": 1, "plain text": 1}


def test_etcd_without_client_certificate_auth_is_found(pki, capsys):
    _need_etcd()
    server = Server(pki, client_cert_auth=False)
    try:
        server.put(b"/registry/secrets/shop/db", aescbc("key1", KEY1, protobuf_secret("shop", "db", {})))
        code, report, _ = _run(capsys, _args(server, pki, cert=False))
    finally:
        server.stop()
    assert code == 1
    [finding] = _failed(report, "KH-ETCD-009")
    assert finding["severity"] == "critical" and "no certificate" in finding["message"]
    assert finding["resource"]["name"] == server.endpoint.split("//")[1]
    assert _failed(report, "KH-ETCD-010") == []


def test_etcd_over_plain_http_is_found(pki, capsys):
    _need_etcd()
    server = Server(pki, plain_http=True)
    try:
        server.put(b"/registry/secrets/shop/db", b"k8s:enc:kms:v2:vault:" + os.urandom(32))
        code, report, _ = _run(capsys, ["etcd", "check", "--no-config", "--endpoints", server.endpoint,
                                        "--timeout", "5"])
    finally:
        server.stop()
    assert code == 1 and report["errors"] == []
    assert len(_failed(report, "KH-ETCD-010")) == 1 and len(_failed(report, "KH-ETCD-009")) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--endpoints", "https://127.0.0.1:2379", "--cert", "c.crt"], "--cert and --key go together"),
    (["--endpoints", "https://127.0.0.1:2379", "--cacert", "/nonexistent/ca.crt"], "not a readable file"),
    (["--endpoints", " , "], "names no URL"),
])
def test_bad_command_lines_are_usage_errors(argv, message, capsys):
    code = main(["etcd", "check", "--no-config", *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_a_malformed_endpoint_is_an_input_problem(capsys):
    code, report, _ = _run(capsys, ["etcd", "check", "--no-config", "--endpoints", "ftp://x:1"])
    assert code == 3 and "not an https:// or http:// URL" in report["errors"][0]["message"]


def test_etcd_inputs_without_etcd_check_are_refused_not_read(capsys):
    code = main(["scan", "--no-config", "-f", "json", "etcd://https://127.0.0.1:2379"])
    out = json.loads(capsys.readouterr().out)
    assert code == 3 and "kubeharden etcd check" in out["errors"][0]["message"]


# -- the probes' judgement of an answer ------------------------------------------------------------

@pytest.mark.parametrize(("answer", "accepted"), [
    (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}', True),
    (b"HTTP/1.1 401 Unauthorized\r\n\r\n{}", True),  # transport let it in; etcd's own auth refused the request
    (b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n", False),
    (b'HTTP/1.1 200 OK\r\n\r\n{"status":"ok"}', False),  # something else listens there
    (b"\x15\x03\x01\x00\x02\x02\x0a", False),  # a TLS alert
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n17\r\n{\"etcdserver\":\"3.4.23\"}\r\n0\r\n\r\n", True),
])
def test_what_counts_as_an_answer(answer, accepted):
    from kubeharden.sources.etcd_probe import _verdict

    assert _verdict(answer, "probe")["accepted"] is accepted


def test_an_endpoint_that_never_answers_is_not_assessable(pki, capsys):
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accepts connections and says nothing
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        code, report, _ = _run(capsys, ["etcd", "check", "--no-config", "--endpoints", f"https://127.0.0.1:{port}",
                                        "--cacert", pki["ca"], "--cert", pki["client"], "--key", pki["client_key"],
                                        "--timeout", "1"])
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()
    assert code == 3 and [f for f in report["findings"] if f["status"] == "fail"] == []
    assert any("no answer within 1 s" in e["message"] for e in report["errors"])
    assert {c["control_id"] for c in report["summary"]["not_assessable"]} == {
        "KH-ETCD-007", "KH-ETCD-008", "KH-ETCD-009", "KH-ETCD-010"}


def test_a_prefix_without_secrets_is_nothing_checked_not_a_pass(etcd, pki, capsys):
    code, report, _ = _run(capsys, _args(etcd, pki, "--prefix", "/registry-other"))
    assert code == 3
    assert any("etcd holds no key under /registry-other" in e["message"] for e in report["errors"])
    assert {c["control_id"] for c in report["summary"]["not_assessable"]} == {"KH-ETCD-007", "KH-ETCD-008"}


def test_exceptions_of_the_configuration_apply(etcd, pki, capsys, tmp_path):
    config = tmp_path / "kh.yaml"
    config.write_text("exceptions:\n  - control: KH-ETCD-007\n    kind: StoredSecret\n    namespace: shop\n"
                      "    name: json-plain\n    reason: written by a legacy tool, rotated and rewritten in TICKET-9\n")
    argv = [a for a in _args(etcd, pki) if a != "--no-config"] + ["--config", str(config)]
    _, report, _ = _run(capsys, argv)
    status = {f["resource"]["name"]: f["status"] for f in report["findings"] if f["control_id"] == "KH-ETCD-007"}
    assert status == {"db-plain": "fail", "json-plain": "suppressed"}


def test_a_member_that_fails_is_said_while_another_answers(etcd, pki, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = _args(etcd, pki)
    argv[argv.index("--endpoints") + 1] = f"https://127.0.0.1:{port},{etcd.endpoint}"
    code, report, _ = _run(capsys, argv)
    assert code == 1  # findings outrank the unreadable member
    assert len(_failed(report, "KH-ETCD-007")) == 2
    # the closed member's probes could not tell, so the probe controls are not assessable; the Secrets were read
    assert {c["control_id"] for c in report["summary"]["not_assessable"]} == {"KH-ETCD-009", "KH-ETCD-010"}
    secrets_errors = [e for e in report["errors"] if "Secrets under" in e["message"]]
    assert [e["file"] for e in secrets_errors] == [f"https://127.0.0.1:{port}"]
    assert etcd.endpoint in secrets_errors[0]["message"]
    assert report["summary"]["kinds"]["EtcdEndpoint"] == 2


def test_a_folder_given_as_a_certificate_is_refused_before_connecting(tmp_path, capsys):
    from kubeharden.cli import main as cli_main

    key = tmp_path / "client.key"
    key.write_text("not a key")
    code = cli_main(["etcd", "check", "--endpoints", "https://127.0.0.1:1", "--cacert", str(tmp_path),
                     "--cert", str(key), "--key", str(key)])
    assert code == 2 and "--cacert" in capsys.readouterr().err
