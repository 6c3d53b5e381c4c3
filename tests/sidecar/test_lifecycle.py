"""Graceful shutdown, and clients known by their certificates (mutual TLS)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from hub import load_settings
from hub.audit._cli import audit_app
from hub.sidecar import create_app
from hub.sidecar._protocol import SidecarProtocol
from hub.testing import ServedApp
from tests._helpers import population_source
from tests.sidecar.conftest import KEYS, clients, lookup_body, sidecar_settings

LOOKUP = "/v1/sources/population/lookup"


def test_shutdown_finishes_in_flight_calls_and_flushes_the_trail(
    tmp_path, population_mock, population
):
    """A call in flight when the sidecar stops still answers; its entry is durable after."""
    (citizen,) = population.sample()
    population.fault({"kind": "latency", "ms": 800})
    settings = sidecar_settings(tmp_path, population_mock)
    served = ServedApp(create_app(settings)).start()
    answers: list[httpx.Response] = []

    def call() -> None:
        with httpx.Client(base_url=served.url, timeout=20) as http:
            answers.append(
                http.post(
                    LOOKUP,
                    json=lookup_body(citizen),
                    headers={"Authorization": f"Bearer {KEYS['portal-b']}"},
                )
            )

    caller = threading.Thread(target=call)
    caller.start()
    while population.requests() == 0:
        threading.Event().wait(0.02)
    served.stop()
    caller.join(20)
    (answer,) = answers
    assert answer.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.url}/healthz", timeout=2)
    result = CliRunner().invoke(
        audit_app,
        ["verify", "--store", f"sqlite:///{tmp_path / 'audit.db'}", "--json"],
        env={"HUB_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"]
    assert sum(node["entries"] for node in report["nodes"]) == 1
    assert report["nodes"][0]["unsigned"] == 0


def _certificate(
    name: str, key, issuer_name, issuer_key, *, ca: bool = False, ip: str | None = None
):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, certificate, key) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def pki(tmp_path):
    """A CA, a server certificate for 127.0.0.1, a known client and a stranger."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Lien thong test CA", ca_key, None, ca_key, ca=True)
    ca_path, _ = _write(tmp_path / "ca", ca, ca_key)
    made = {"ca": ca_path}
    for name, cn in (
        ("server", "127.0.0.1"),
        ("client", "portal-mtls"),
        ("stranger", "portal-unknown"),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(
            cn, key, ca.subject, ca_key, ip="127.0.0.1" if name == "server" else None
        )
        made[name] = _write(tmp_path / name, certificate, key)
    return made


def test_a_client_certificate_identifies_the_client(tmp_path, population_mock, population, pki):
    """With mutual TLS, a certificate's CN is the client; an unknown CN or none is 401."""
    (citizen,) = population.sample()
    rules = clients() | {
        "portal-mtls": {
            "certificate_cn": "portal-mtls",
            "sources": {"population": {"operations": ["lookup"]}},
        }
    }
    cert, key = pki["server"]
    settings = load_settings(
        None,
        data_dir=str(tmp_path),
        sources={"population": population_source(population_mock)},
        clients=rules,
        sidecar={"tls_cert": str(cert), "tls_key": str(key), "tls_client_ca": str(pki["ca"])},
    )
    options = {
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_ca_certs": str(pki["ca"]),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "http": SidecarProtocol,
    }
    with ServedApp(create_app(settings), **options) as served:
        url = served.url.replace("http://", "https://")

        def post(cert_pair=None, **headers):
            context = ssl.create_default_context(cafile=str(pki["ca"]))
            if cert_pair:
                context.load_cert_chain(*map(str, cert_pair))
            with httpx.Client(base_url=url, verify=context, timeout=20) as http:
                return http.post(LOOKUP, json=lookup_body(citizen), headers=headers)

        assert post(pki["client"]).status_code == 200
        assert post(pki["stranger"]).status_code == 401
        assert post().status_code == 401
        assert post(Authorization=f"Bearer {KEYS['portal-b']}").status_code == 200
