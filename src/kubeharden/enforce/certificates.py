"""Generated certificates: the webhook's CA and serving certificate (``webhook manifests --certificates
generated``), and a test CA with server and client certificates for ``audit serve``'s mutual TLS
(``generate audit-webhook-config --test-ca DIR``).

The API server verifies a webhook's certificate against the configuration's ``caBundle`` and the
Service's DNS name (``NAME.NAMESPACE.svc``), and the audit webhook's against the kubeconfig's
``certificate-authority`` and the host of its ``server`` URL, so server certificates carry those names
(or IP addresses) as subject alternative names. Needs the ``cryptography`` package (``pip install
'kubeharden[webhook]'``). Keys are ECDSA P-256, signatures SHA-256.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Any


class MissingCryptography(RuntimeError):
    """``cryptography`` is not installed."""


@dataclass(frozen=True, slots=True)
class MutualTLS:
    """A CA and the two certificates of a mutual-TLS link, PEM: the server's and the client's, with keys."""

    ca: bytes
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes


def generate(dns_names: list[str], days: int = 365) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate, server private key), all PEM.

    Raises MissingCryptography when the package is not installed.
    """
    x = _crypto("or use --certificates cert-manager")
    ca, ca_key = _ca(x, "kubeharden-webhook-ca", days)
    cert, key = _leaf(x, ca, ca_key, dns_names[0], dns_names, server=True, days=days)
    return _pem(x, ca), _pem(x, cert), _pem(x, key)


def generate_mutual(server_names: list[str], days: int = 365) -> MutualTLS:
    """A new CA, a server certificate for ``server_names`` (host names or IP addresses) and a client
    certificate (``CN=kube-apiserver``, client authentication), all signed by that CA; its key is not
    kept, so no one can sign more with it. Raises MissingCryptography when the package is not installed."""
    x = _crypto("or make the certificates with openssl (docs/audit.md)")
    ca, ca_key = _ca(x, "kubeharden-audit-test-ca", days)
    server, server_key = _leaf(x, ca, ca_key, server_names[0], server_names, server=True, days=days)
    client, client_key = _leaf(x, ca, ca_key, "kube-apiserver", [], server=False, days=days)
    return MutualTLS(_pem(x, ca), _pem(x, server), _pem(x, server_key), _pem(x, client), _pem(x, client_key))


def _crypto(instead: str) -> Any:
    try:
        import cryptography.hazmat.primitives.asymmetric.ec
        import cryptography.hazmat.primitives.hashes
        import cryptography.hazmat.primitives.serialization
        import cryptography.x509
        import cryptography.x509.oid
    except ImportError:
        raise MissingCryptography("generating certificates needs the cryptography package "
                                  f"(pip install 'kubeharden[webhook]'), {instead}") from None
    return cryptography


def _ca(x: Any, name: str, days: int) -> tuple[Any, Any]:
    now = datetime.datetime.now(datetime.UTC)
    key = x.hazmat.primitives.asymmetric.ec.generate_private_key(x.hazmat.primitives.asymmetric.ec.SECP256R1())
    subject = x.x509.Name([x.x509.NameAttribute(x.x509.oid.NameOID.COMMON_NAME, name)])
    cert = (x.x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x.x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x.x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x.x509.KeyUsage(digital_signature=False, content_commitment=False,
                                           key_encipherment=False, data_encipherment=False, key_agreement=False,
                                           key_cert_sign=True, crl_sign=True, encipher_only=False,
                                           decipher_only=False), critical=True)
            .sign(key, x.hazmat.primitives.hashes.SHA256()))
    return cert, key


def _leaf(x: Any, ca: Any, ca_key: Any, common_name: str, names: list[str], server: bool,
          days: int) -> tuple[Any, Any]:
    """A certificate signed by ``ca``: for TLS servers (``names`` as subject alternative names) or clients."""
    now = datetime.datetime.now(datetime.UTC)
    oid = x.x509.oid
    key = x.hazmat.primitives.asymmetric.ec.generate_private_key(x.hazmat.primitives.asymmetric.ec.SECP256R1())
    builder = (x.x509.CertificateBuilder()
               .subject_name(x.x509.Name([x.x509.NameAttribute(oid.NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x.x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x.x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x.x509.ExtendedKeyUsage([oid.ExtendedKeyUsageOID.SERVER_AUTH if server
                                                       else oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if names:
        builder = builder.add_extension(x.x509.SubjectAlternativeName([_san(x, n) for n in names]), critical=False)
    return builder.sign(ca_key, x.hazmat.primitives.hashes.SHA256()), key


def _san(x: Any, name: str) -> Any:
    try:
        return x.x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x.x509.DNSName(name)


def _pem(x: Any, item: Any) -> bytes:
    s = x.hazmat.primitives.serialization
    if hasattr(item, "private_bytes"):
        return bytes(item.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    return bytes(item.public_bytes(s.Encoding.PEM))
