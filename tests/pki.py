"""A throwaway certificate authority for TLS tests and benchmarks (loopback only).

Makes a CA, a server certificate for 127.0.0.1 and a client certificate (the API server's side
of the audit webhook), plus a second, unrelated CA and client to prove verification refuses it.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn: str, key, issuer: x509.Name, issuer_key, ca: bool, ip: str | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(hours=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, stem: str, cert: x509.Certificate, key) -> tuple[str, str]:
    crt, k = folder / f"{stem}.crt", folder / f"{stem}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return str(crt), str(k)


def make_pki(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for prefix in ("", "rogue_"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(f"{prefix}test-ca", ca_key, _name(f"{prefix}test-ca"), ca_key, True)
        out[f"{prefix}ca"], _ = _write(folder, f"{prefix}ca", ca, ca_key)
        ck = ec.generate_private_key(ec.SECP256R1())
        out[f"{prefix}client"], out[f"{prefix}client_key"] = _write(
            folder, f"{prefix}client", _cert("kube-apiserver", ck, ca.subject, ca_key, False), ck)
        if not prefix:
            sk = ec.generate_private_key(ec.SECP256R1())
            out["server"], out["server_key"] = _write(
                folder, "server", _cert("kubeharden-audit", sk, ca.subject, ca_key, False, "127.0.0.1"), sk)
    return out
