"""Certificates and kubeconfigs for the local cluster, made afresh at every ``cluster up``.

Three authorities, as kubeadm has them: one for Kubernetes, one for etcd, one for the
aggregation layer's front proxy. Every key is ECDSA P-256 and every leaf certificate
names its usages; client certificates carry the identity RBAC and the Node authorizer
check (CN = user, O = group).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import yaml

VALID = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Leaf:
    name: str
    authority: str
    common_name: str
    organization: str | None = None
    server: bool = False
    client: bool = True
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()


@dataclass
class Authority:
    name: str
    key: object = field(repr=False)
    cert: object = field(repr=False)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | None = None):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name(attributes + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject, issuer, public_key):
    from cryptography import x509

    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID))


def _write(directory: Path, name: str, key, cert) -> None:
    from cryptography.hazmat.primitives import serialization

    key_path = directory / f"{name}.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    if cert is not None:
        (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def authority(directory: Path, name: str, common_name: str) -> Authority:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _key()
    subject = _name(common_name)
    cert = (_builder(subject, subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    _write(directory, name, key, cert)
    return Authority(name, key, cert)


def leaf(directory: Path, spec: Leaf, ca: Authority) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _key()
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if spec.server else []) + \
             ([ExtendedKeyUsageOID.CLIENT_AUTH] if spec.client else [])
    builder = (_builder(_name(spec.common_name, spec.organization), ca.cert.subject, key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                            crl_sign=False, content_commitment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
    names = [x509.DNSName(d) for d in spec.dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in spec.ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    _write(directory, spec.name, key, builder.sign(ca.key, hashes.SHA256()))


def signing_key(directory: Path, name: str) -> None:
    """A key pair without a certificate (service-account tokens): ``name.key`` and ``name.pub``."""
    from cryptography.hazmat.primitives import serialization

    key = _key()
    _write(directory, name, key, None)
    (directory / f"{name}.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def make_all(directory: Path, authorities: dict[str, str], leaves: list[Leaf]) -> None:
    """Every authority (name -> common name), then every leaf signed by its authority."""
    directory.mkdir(parents=True, exist_ok=True)
    made = {name: authority(directory, name, cn) for name, cn in authorities.items()}
    for spec in leaves:
        leaf(directory, spec, made[spec.authority])


def kubeconfig(path: Path, server: str, ca: Path, user: str, cert: Path | None = None, key: Path | None = None,
               token: str | None = None, namespace: str | None = None) -> Path:
    """A kubeconfig with the credentials embedded (a client certificate, or a token)."""
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    credentials = {"token": token} if token else {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    context = {"cluster": "mlopsbench-local", "user": user} | ({"namespace": namespace} if namespace else {})
    document = {"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "mlopsbench-local",
                              "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
                "users": [{"name": user, "user": credentials}],
                "contexts": [{"name": "mlopsbench-local", "context": context}],
                "current-context": "mlopsbench-local"}
    path.parent.mkdir(parents=True, exist_ok=True)   # a further node's conf/ is made here first
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
