"""The sidecar against the attacks of a hostile review, each test named after its finding.

The sidecar is served as ``hub serve`` serves it (`server_config`: uvicorn with the
sidecar's protocol, limits and TLS), in front of the mocks over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import re
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub import load_settings
from hub._config import HubSettings
from hub._registry import installed_mocks
from hub._serving import bind
from hub.errors import ConfigError
from hub.sidecar import create_app, hash_key
from hub.sidecar._serve import demo_client, server_config
from hub.testing import LeakCheck, ServedApp
from tests._helpers import MockAdmin, population_source, serve_mock

LOOKUP = "/v1/sources/population/lookup"
KEYS = {
    "portal": "key-review-portal-0123456789abcdef01234567",
    "revoked": "key-review-revoked-0123456789abcdef0123456",
}
PURPOSE = {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37-0001"}
#: The population source's whole deadline: a look-up answers within it or not at all.
DEADLINE = 3.0
#: The header and body read timeouts of the sidecars of the slow-client tests.
READ_TIMEOUT = 2.0


@pytest.fixture(scope="module", autouse=True)
def keys_never_leak(leaks: LeakCheck) -> None:
    """This module's client keys join the values the suite-wide leak check looks for."""
    leaks.add_values(KEYS.values())


def clients() -> dict[str, Any]:
    return {
        "portal": {
            "key_sha256": hash_key(KEYS["portal"]),
            "sources": {"population": {"operations": ["lookup"]}},
        },
        "revoked": {
            "key_sha256": hash_key(KEYS["revoked"]),
            "revoked": True,
            "sources": {"population": {"operations": ["lookup"]}},
        },
    }


def settings_for(
    data_dir: Path,
    sources: dict[str, Any],
    clients: dict[str, Any],
    **sidecar: Any,
) -> HubSettings:
    return load_settings(
        None,
        data_dir=str(data_dir),
        sources=sources,
        clients=clients,
        sidecar={"shutdown_grace": 1, **sidecar},
    )


@contextlib.contextmanager
def serving(settings: HubSettings) -> Iterator[str]:
    """The sidecar as `hub serve` runs it, on a free loopback port; yields its base URL."""
    sock = bind()
    server = uvicorn.Server(server_config(create_app(settings), settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the sidecar did not start"
        thread.join(0.01)
    scheme = "https" if settings.sidecar.tls_cert is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)
        if thread.is_alive():
            # Connections a test holds open on purpose must not stall the next test.
            server.force_exit = True
            thread.join(10)
        sock.close()


def lookup_body(national_id: str) -> dict[str, Any]:
    return {"query": {"national_id": national_id}, "purpose": PURPOSE}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus exposition, None when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == f"{name}{{{wanted}}}":
            return float(value)
    return None


# H2. Mutual TLS: the client is the certificate's one common name, matched exactly.


def _certificate(subject: x509.Name, key: Any, issuer: x509.Name, issuer_key: Any, **kind: Any):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=kind.get("ca", False), path_length=None), True)
    )
    if kind.get("ip"):
        address = x509.IPAddress(ipaddress.ip_address(kind["ip"]))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """A client CA of the test's own, issuing certificates with any subject."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Review test CA")])
        ca = _certificate(self._name, self._key, self._name, self._key, ca=True)
        self.ca = folder / "ca.crt"
        self.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self._issued = 0

    def issue(self, *attributes: tuple[x509.ObjectIdentifier, str], ip: str | None = None):
        """A certificate for this subject (in this order), signed by the CA: its files."""
        self._issued += 1
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
        certificate = _certificate(subject, key, self._name, self._key, ip=ip)
        cert_path = self.folder / f"{self._issued}.crt"
        key_path = self.folder / f"{self._issued}.key"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_sidecar(tmp_path_factory, pki, population_mock) -> Iterator[str]:
    """A sidecar with mutual TLS, whose clients are a portal and an inspector."""
    server_cert, server_key = pki.issue((NameOID.COMMON_NAME, "127.0.0.1"), ip="127.0.0.1")
    lookup = {"population": {"operations": ["lookup"]}}
    settings = settings_for(
        tmp_path_factory.mktemp("mtls"),
        {"population": population_source(population_mock)},
        {
            "portal-mtls": {"certificate_cn": "portal-mtls", "sources": lookup},
            "inspector": {
                "certificate_cn": "hub-inspector",
                "roles": ["inspector"],
                "sources": lookup,
            },
        },
        tls_cert=str(server_cert),
        tls_key=str(server_key),
        tls_client_ca=str(pki.ca),
    )
    with serving(settings) as url:
        yield url


def over_tls(pki: Pki, url: str, certificate: tuple[Path, Path] | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if certificate is not None:
        context.load_cert_chain(*map(str, certificate))
    return httpx.Client(base_url=url, verify=context, timeout=20)


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ([(NameOID.COMMON_NAME, "hub-inspector,CN=portal-stranger")], "unknown_certificate"),
        (
            [
                (NameOID.COMMON_NAME, "portal-stranger"),
                (NameOID.ORGANIZATIONAL_UNIT_NAME, "desk,CN=hub-inspector"),
            ],
            "unknown_certificate",
        ),
        (
            [(NameOID.COMMON_NAME, "portal-stranger"), (NameOID.COMMON_NAME, "hub-inspector")],
            "certificate_name",
        ),
        ([(NameOID.ORGANIZATION_NAME, "Lien thong,CN=hub-inspector")], "certificate_name"),
    ],
    ids=["cn-value-holds-cn", "ou-holds-cn", "two-cns", "no-cn"],
)
def test_h2_a_certificate_cannot_smuggle_another_clients_name(mtls_sidecar, pki, subject, reason):
    """Only a subject with exactly one CN equal to a client's certificate_cn is that client."""
    smuggler = pki.issue(*subject)
    with over_tls(pki, mtls_sidecar, smuggler) as http:
        refused = http.get("/v1/sources")
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    inspector = pki.issue((NameOID.COMMON_NAME, "hub-inspector"))
    with over_tls(pki, mtls_sidecar, inspector) as http:
        assert http.get("/v1/sources").status_code == 200
    with over_tls(pki, mtls_sidecar) as http:
        text = http.get("/metrics").text
    assert metric(text, "hub_auth_failures_total", reason=reason)


# M2. Readiness: one check at a time, shared by every caller; the store probe reads.


@pytest.fixture(scope="module")
def own_population() -> Iterator[MockAdmin]:
    """A population mock of this module's own, so that its request count is ours alone."""
    with serve_mock("population", seed=1, citizens=1_000) as served:
        admin = MockAdmin(served)
        yield admin
        admin.clear()


async def test_m2_concurrent_probes_share_one_health_round(tmp_path, own_population):
    """500 concurrent anonymous probes make one upstream health round, and all say ready."""
    own_population.clear()
    # Each health check takes a while, so that every probe arrives while one is running.
    own_population.fault({"kind": "latency", "ms": 300})
    settings = settings_for(
        tmp_path,
        {"population": population_source(own_population, deadline=DEADLINE)},
        clients(),
        readiness_cache_seconds=60,
    )
    with serving(settings) as url:
        before = own_population.requests()
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
            answers = await asyncio.gather(*(http.get("/readyz") for _ in range(500)))
            listed = await http.get("/v1/sources", headers=bearer("portal"))
        health_rounds = own_population.requests() - before
    statuses = sorted({answer.status_code for answer in answers})
    assert statuses == [200], [a.json() for a in answers if a.status_code != 200][:3]
    assert {answer.json()["sources"]["population"]["status"] for answer in answers} == {"up"}
    assert listed.json()["sources"][0]["health"]["status"] == "up"
    assert health_rounds == 1


def test_m2_the_store_probe_takes_no_write_lock(tmp_path, population_mock):
    """While another connection holds the SQLite write lock, /readyz answers 200 at once."""
    settings = settings_for(
        tmp_path,
        {"population": population_source(population_mock)},
        clients(),
        readiness_cache_seconds=0,
    )
    with serving(settings) as url:
        holder = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            ready = httpx.get(f"{url}/readyz", timeout=10)
            took = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert ready.status_code == 200, ready.text
    assert ready.json()["audit"] == {"status": "up"}
    assert took < 1.0


# M3. Slow clients: read deadlines, a bound on connections, authentication first.


@pytest.fixture(scope="module")
def slow_read_sidecar(tmp_path_factory, population_mock) -> Iterator[str]:
    """A sidecar whose clients get READ_TIMEOUT for a request's headers, and for its body."""
    settings = settings_for(
        tmp_path_factory.mktemp("slow"),
        {"population": population_source(population_mock, deadline=DEADLINE)},
        clients(),
        header_timeout=READ_TIMEOUT,
        body_timeout=READ_TIMEOUT,
    )
    with serving(settings) as url:
        yield url


def request_head(headers: dict[str, str], length: int) -> bytes:
    lines = [
        f"POST {LOOKUP} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


#: What each kind of slow client sends, then never a byte more.
SLOW_CLIENTS: dict[str, Callable[[], bytes]] = {
    "silent": lambda: b"",
    "half a head": lambda: request_head({}, 1000)[:40],
    "anonymous, 15 of 1000 bytes": lambda: request_head({}, 1000) + b'{"query": {"nat',
    "authenticated, 15 of 1000 bytes": lambda: (
        request_head(bearer("portal"), 1000) + b'{"query": {"nat'
    ),
}


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=5)


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection, by ``deadline``."""
    received = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the connection was still open; it had sent {received[:40]!r}")
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_m3_slow_clients_are_cut_off_and_a_lookup_still_answers(
    slow_read_sidecar, population, leaks
):
    """100 slow connections: a look-up answers within its deadline; each slow one is closed."""
    (citizen,) = population.sample()
    opened = time.monotonic()
    held = []
    for index in range(100):
        kind = list(SLOW_CLIENTS)[index % len(SLOW_CLIENTS)]
        sock = connect(slow_read_sidecar)
        sock.sendall(SLOW_CLIENTS[kind]())
        held.append((kind, sock))
    try:
        with httpx.Client(base_url=slow_read_sidecar, timeout=DEADLINE) as http:
            started = time.monotonic()
            answer = http.post(LOOKUP, json=lookup_body(citizen), headers=bearer("portal"))
            took = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert took < DEADLINE
        # Every slow client is answered (or not) and closed within its read timeout.
        deadline = opened + READ_TIMEOUT + 3.0
        replies = {kind: read_until_closed(sock, deadline) for kind, sock in held}
    finally:
        for _, sock in held:
            sock.close()
    for reply in replies.values():
        leaks.add(reply.decode("latin-1"))
    assert replies["silent"] == b""
    assert replies["half a head"].startswith(b"HTTP/1.1 408 ")
    assert replies["anonymous, 15 of 1000 bytes"].startswith(b"HTTP/1.1 401 ")
    assert replies["authenticated, 15 of 1000 bytes"].startswith(b"HTTP/1.1 408 ")


def test_m3_an_anonymous_request_is_401_before_its_body_is_read(slow_read_sidecar, leaks):
    """Without credentials the answer is 401, never 422, and it does not wait for the body."""
    with httpx.Client(base_url=slow_read_sidecar, timeout=10) as http:
        garbage = http.post(
            LOOKUP, content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert garbage.status_code == 401, garbage.text
    leaks.add(garbage.text)
    with contextlib.closing(connect(slow_read_sidecar)) as sock:
        sock.settimeout(READ_TIMEOUT / 2)
        started = time.monotonic()
        sock.sendall(SLOW_CLIENTS["anonymous, 15 of 1000 bytes"]())
        try:
            first = sock.recv(65536)
        except TimeoutError:
            pytest.fail("no answer while the body was still incomplete")
    assert first.startswith(b"HTTP/1.1 401 ")
    assert time.monotonic() - started < READ_TIMEOUT / 2


def test_m3_connections_beyond_the_bound_are_refused(tmp_path, population_mock, population):
    """With max_connections held open, another request is refused with 503 until they close."""
    (citizen,) = population.sample()
    settings = settings_for(
        tmp_path,
        {"population": population_source(population_mock, deadline=DEADLINE)},
        clients(),
        max_connections=10,
    )
    with serving(settings) as url:
        held = [connect(url) for _ in range(10)]
        try:
            with httpx.Client(base_url=url, timeout=DEADLINE) as http:
                refused = http.post(LOOKUP, json=lookup_body(citizen), headers=bearer("portal"))
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=DEADLINE) as http:
            answered = http.post(LOOKUP, json=lookup_body(citizen), headers=bearer("portal"))
    assert refused.status_code == 503
    assert answered.status_code == 200, answered.text


# L1. Metrics: only configured sources become labels.


def test_l1_made_up_source_names_do_not_become_metric_labels(
    tmp_path, population_mock, population, leaks
):
    """Calls to 200 made-up sources are counted under "unknown"; /metrics does not grow."""
    (citizen,) = population.sample()
    settings = settings_for(tmp_path, {"population": population_source(population_mock)}, clients())
    with serving(settings) as url, httpx.Client(base_url=url, timeout=20) as http:
        http.post(LOOKUP, json=lookup_body(citizen), headers=bearer("portal"))
        baseline = len(http.get("/metrics").content)
        for index in range(200):
            made_up = http.post(
                f"/v1/sources/made_up_{index}/lookup",
                json=lookup_body(citizen),
                headers=bearer("portal"),
            )
            assert made_up.status_code == 404
        leaks.add(made_up.text)
        text = http.get("/metrics").text
    assert "made_up_" not in text
    assert metric(text, "hub_calls_total", operation="lookup", outcome="invalid", source="unknown")
    assert len(text.encode()) < baseline * 1.5


# L9. Failed authentications logged and counted; one client per credential; VNeID
# authorization requests bound to each client's redirect URIs.


def test_l9_failed_authentications_are_logged_and_counted(tmp_path, population_mock):
    """Each refused credential is a log line with its reason (never the key) and a count."""
    wrong_key = "key-nobody-has-0123456789abcdef0123456789"
    settings = settings_for(tmp_path, {"population": population_source(population_mock)}, clients())
    lines = LeakCheck()
    with serving(settings) as url, httpx.Client(base_url=url, timeout=20) as http:
        lines.install()
        try:
            for headers in (
                {},
                {"Authorization": "Basic dXNlcjpwYXNz"},
                {"Authorization": f"Bearer {wrong_key}"},
                bearer("revoked"),
            ):
                assert http.get("/v1/sources", headers=headers).status_code == 401
        finally:
            lines.uninstall()
        text = http.get("/metrics").text
    refusals = [json.loads(line) for line in lines.texts if "authentication refused" in line]
    assert [entry["reason"] for entry in refusals] == [
        "missing",
        "malformed",
        "unknown_key",
        "revoked",
    ]
    assert not [line for line in lines.texts if wrong_key in line or KEYS["revoked"] in line]
    for reason in ("missing", "malformed", "unknown_key", "revoked"):
        assert metric(text, "hub_auth_failures_total", reason=reason) == 1.0
    assert metric(text, "hub_auth_failures_total", reason="unknown_certificate") == 0.0


@pytest.mark.parametrize(
    ("credential", "value"),
    [("key_sha256", hash_key(KEYS["portal"])), ("certificate_cn", "portal-ninhbinh")],
    ids=["key_sha256", "certificate_cn"],
)
def test_l9_a_credential_shared_by_two_clients_is_a_configuration_error(
    tmp_path, credential, value
):
    """Two clients with one key (or one certificate name) fail at start, both named."""
    with pytest.raises(ConfigError) as refused:
        load_settings(
            None,
            data_dir=str(tmp_path),
            clients={"portal-hue": {credential: value}, "portal-hanoi": {credential: value}},
        )
    assert re.search(rf"portal-hue\b.*\bportal-hanoi\b.*{credential}", str(refused.value))
    assert value not in str(refused.value)


REGISTERED = "https://dichvucong.example.vn/vneid/callback"
AUTHORIZATION = "/v1/sources/vneid/authorization"


@pytest.fixture(scope="module")
def vneid_mock() -> Iterator[MockAdmin]:
    with ServedApp(installed_mocks()["vneid"].create_app(seed=1, citizens=1_000)) as served:
        yield MockAdmin(served)


def test_l9_an_unregistered_redirect_uri_is_refused(tmp_path, vneid_mock, leaks):
    """A redirect_uri not in the client's vneid rule is 403 naming the field, and never sent."""
    source = installed_mocks()["vneid"].hub_settings(vneid_mock.url)
    config = tmp_path / "hub.toml"
    config.write_text(
        "[sources.vneid]\n"
        + "".join(f"{name} = {json.dumps(value)}\n" for name, value in source.items())
        + "[sidecar]\nshutdown_grace = 1\n"
        + "[clients.portal-hue]\n"
        + f'key_sha256 = "{hash_key(KEYS["portal"])}"\n'
        + "[clients.portal-hue.sources.vneid]\n"
        + 'operations = ["authenticate"]\n'
        + f'redirect_uris = ["{REGISTERED}"]\n',
        encoding="utf-8",
    )
    settings = load_settings(config, data_dir=str(tmp_path))
    with serving(settings) as url, httpx.Client(base_url=url, timeout=20) as http:
        allowed = http.get(
            AUTHORIZATION, params={"redirect_uri": REGISTERED, "level": 2}, headers=bearer("portal")
        )
        before = vneid_mock.requests()
        refused = http.get(
            AUTHORIZATION,
            params={"redirect_uri": "https://attacker.example/vneid/callback", "level": 2},
            headers=bearer("portal"),
        )
        upstream_calls = vneid_mock.requests() - before
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["redirect_uri"] == REGISTERED
    leaks.add(refused.text)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["errors"] == [
        {"field": "redirect_uri", "message": "not a redirect URI registered for this client"}
    ]
    assert "redirect_uri" in problem["detail"]
    assert upstream_calls == 0


def test_l9_the_demo_client_is_bound_to_its_redirect_uris(tmp_path, vneid_mock):
    """`hub serve --mocks`'s demo client may start a VNeID login to its own callbacks only."""
    settings = settings_for(
        tmp_path,
        {"vneid": installed_mocks()["vneid"].hub_settings(vneid_mock.url)},
        {},
    )
    settings, key = demo_client(settings)
    (rule,) = settings.clients["demo-portal"].sources.values()
    headers = {"Authorization": f"Bearer {key}"}
    with serving(settings) as url, httpx.Client(base_url=url, timeout=20) as http:
        answers = [
            http.get(
                AUTHORIZATION, params={"redirect_uri": uri, "level": 2}, headers=headers
            ).status_code
            for uri in rule.redirect_uris
        ]
        elsewhere = http.get(
            AUTHORIZATION,
            params={"redirect_uri": "http://127.0.0.1:9999/elsewhere", "level": 2},
            headers=headers,
        )
    assert answers == [200, 200]
    assert elsewhere.status_code == 403
