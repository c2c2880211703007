"""Secured local Apache Kafka: a CA and certificates for the run, SCRAM users, and the broker
properties for ``sasl_ssl`` (SASL/SCRAM-SHA-512 over TLS) and ``mtls`` (mutual TLS).

Why here and not with keytool: brokers read PEM key and trust stores directly
(``ssl.keystore.type=PEM``), librdkafka reads PEM files, and Python's ``cryptography`` makes
them, so no JKS step and no second tool. Every secret (the CA's and clients' private keys,
the super user's password) is a file of mode 0600 under ``<data dir>/security``; a kept data
directory reuses them (the SCRAM credentials were written into its metadata at format time).

Identities (``ssl.principal.mapping.rules`` turns ``CN=name`` into ``User:name``):

- ``User:admin``: the one super user handed to people (its password for sasl_ssl, its client
  certificate for mtls);
- ``User:broker``: the nodes themselves (their certificate on the controller and, for mtls,
  the inter-broker listener); also a super user, since brokers must act on the cluster;
- everyone else gets only what an ACL grants (``allow.everyone.if.no.acl.found=false``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Security = Literal["plaintext", "sasl_ssl", "mtls"]
SECURITY_MODES: tuple[str, ...] = ("plaintext", "sasl_ssl", "mtls")
SUPER_USER = "admin"
BROKER_USER = "broker"
MECHANISM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def _write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never briefly world-readable)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    # PKCS#8: the only unencrypted PEM key form Kafka's PEM keystore reads
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and key (PEM files) that signs the broker's and clients' certificates."""

    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory: Path, name: str = "ner-stage local CA") -> CertificateAuthority:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        directory.mkdir(parents=True, exist_ok=True)
        key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        ca = cls(directory / "ca.pem", directory / "ca.key")
        ca.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_secret(ca.key_path, _key_pem(key))
        return ca

    def issue(self, directory: Path, name: str, *, server: bool = False, valid_days: float = 30,
              expired: bool = False) -> tuple[Path, Path]:
        """A certificate ``CN=name`` and its key, as ``<name>.pem`` and ``<name>.key`` (0600).

        ``server`` adds the 127.0.0.1/localhost names a client checks; ``expired`` makes one
        whose validity ended yesterday (tests of a refused client)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
        key = _key()
        now = dt.datetime.now(dt.UTC)
        start, end = ((now - dt.timedelta(days=2), now - dt.timedelta(days=1)) if expired
                      else (now - dt.timedelta(minutes=5), now + dt.timedelta(days=valid_days)))
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(ca_cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_secret(key_path, _key_pem(key))
        return cert_path, key_path


@dataclass(frozen=True)
class SecurityMaterial:
    """Everything a secured cluster and its super user need, as files under ``directory``."""

    mode: Security
    directory: Path
    ca: CertificateAuthority
    broker_cert: Path
    broker_key: Path
    admin_cert: Path
    admin_key: Path
    password_path: Path

    @property
    def admin_password(self) -> str:
        return self.password_path.read_text().strip()

    @classmethod
    def prepare(cls, mode: Security, data_dir: Path) -> SecurityMaterial:
        """Reuse the material of a kept data directory, else make it (CA, certificates, password)."""
        directory = data_dir / "security"
        ca = CertificateAuthority(directory / "ca.pem", directory / "ca.key")
        material = cls(mode, directory, ca, directory / f"{BROKER_USER}.pem", directory / f"{BROKER_USER}.key",
                       directory / f"{SUPER_USER}.pem", directory / f"{SUPER_USER}.key",
                       directory / f"{SUPER_USER}.password")
        if all(p.is_file() for p in (ca.cert_path, ca.key_path, material.broker_cert, material.broker_key,
                                     material.admin_cert, material.admin_key, material.password_path)):
            return material
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        ca = CertificateAuthority.create(directory)
        ca.issue(directory, BROKER_USER, server=True)
        ca.issue(directory, SUPER_USER)
        _write_secret(material.password_path, secrets.token_urlsafe(24).encode())
        return material

    # -- broker side -----------------------------------------------------------------------

    @property
    def listener(self) -> str:
        """The name (and protocol) of the client listener."""
        return "SASL_SSL" if self.mode == "sasl_ssl" else "SSL"

    def server_properties(self) -> dict[str, object]:
        """Listener, TLS, SASL and authorizer settings, merged over the plaintext ones."""
        tls = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": self._keystore(),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": self.ca.cert_path,
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
            "ssl.endpoint.identification.algorithm": "https",
        }
        settings: dict[str, object] = {
            "listener.security.protocol.map": f"{self.listener}:{self.listener},CONTROLLER:SSL",
            "inter.broker.listener.name": self.listener,
            "authorizer.class.name": AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{SUPER_USER};User:{BROKER_USER}",
            **tls,
            # the controller listener: mutual TLS with the brokers' own certificate, so only nodes talk to it
            "listener.name.controller.ssl.client.auth": "required",
        }
        if self.mode == "sasl_ssl":
            login = "org.apache.kafka.common.security.scram.ScramLoginModule required"
            settings.update({
                "sasl.enabled.mechanisms": MECHANISM,
                "sasl.mechanism.inter.broker.protocol": MECHANISM,
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                    f'{login} username="{SUPER_USER}" password="{self.admin_password}";',
            })
        else:
            settings["listener.name.ssl.ssl.client.auth"] = "required"
        return settings

    def _keystore(self) -> Path:
        """Kafka's PEM keystore file: the broker's key, then its certificate (0600)."""
        path = self.directory / f"{BROKER_USER}.keystore.pem"
        if not path.is_file():
            _write_secret(path, self.broker_key.read_bytes() + self.broker_cert.read_bytes())
        return path

    def format_args(self) -> list[str]:
        """``StorageTool format`` arguments writing the super user's SCRAM credential (sasl_ssl)."""
        if self.mode != "sasl_ssl":
            return []
        return ["--add-scram", f"{MECHANISM}=[name={SUPER_USER},password={self.admin_password}]"]

    # -- client side -----------------------------------------------------------------------

    def client_settings(self) -> dict[str, str]:
        """The super user's client settings, named like the worker's settings (``security_protocol`` ...)."""
        out = {"security_protocol": self.listener, "ssl_ca_location": str(self.ca.cert_path)}
        if self.mode == "sasl_ssl":
            out.update(sasl_mechanism=MECHANISM, sasl_username=SUPER_USER, sasl_password=self.admin_password)
        else:
            out.update(ssl_certificate_location=str(self.admin_cert), ssl_key_location=str(self.admin_key))
        return out

    def client_config(self) -> dict[str, str]:
        """The same as a librdkafka dict (the launcher's own admin client, tests' clients)."""
        return {key.replace("_", "."): value for key, value in self.client_settings().items()}
