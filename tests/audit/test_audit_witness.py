"""The witness (C2SP tlog-witness): cosigns consistent checkpoints, refuses the rest, remembers."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from hub.audit.merkle import consistency_proof, leaf_hash, root
from hub.audit.note import COSIGNATURE, CheckpointText, NoteSignature, Signer, Verifier
from hub.witness import Witness, WitnessState, witness_app

ORIGIN = "lienthong.example.gov.vn/audit/hue-1"
LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(40)]


def checkpoint(log: Signer, size: int, leaves: list[bytes] = LEAVES) -> str:
    """A checkpoint of the first ``size`` leaves, signed by ``log``."""
    text = str(CheckpointText(log.name, size, root(leaves[:size]), ("time 2026-01-01T00:00:00Z",)))
    return text + "\n" + log.sign(text).line


def request(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(item).decode() for item in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


@pytest.fixture
def log() -> Signer:
    return Signer(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture
def cosigner() -> Signer:
    return Signer("thanhtra.example.gov.vn/witness", Ed25519PrivateKey.generate(), COSIGNATURE)


@pytest.fixture
async def client(log: Signer, cosigner: Signer, tmp_path: Path) -> httpx.AsyncClient:
    state = WitnessState(tmp_path / "state")
    app = witness_app(Witness(signer=cosigner, logs=[log.verifier], state=state))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://witness"
    ) as client:
        yield client
    state.close()


async def test_cosigns_a_consistent_checkpoint(
    client: httpx.AsyncClient, log: Signer, cosigner: Signer
) -> None:
    """A first checkpoint, then one consistent with it, each get a verifying cosignature."""
    first = await client.post("/add-checkpoint", content=request(0, [], checkpoint(log, 10)))
    assert first.status_code == 200, first.text
    line = NoteSignature.parse_line(first.text)
    text = checkpoint(log, 10).split("\n\n")[0] + "\n"
    assert cosigner.verifier.verify(text, line)
    assert abs(int.from_bytes(line.signature[:8], "big") - time.time()) < 60
    proof = consistency_proof(10, LEAVES[:25])
    second = await client.post("/add-checkpoint", content=request(10, proof, checkpoint(log, 25)))
    assert second.status_code == 200, second.text
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    served = await client.get(f"/{origin_hash}/checkpoint")
    assert served.status_code == 200
    assert "\n25\n" in served.text
    assert served.text.endswith(second.text)


async def test_stale_old_size_gets_409_with_size(client: httpx.AsyncClient, log: Signer) -> None:
    """An old size other than the one held is a 409 whose text/x.tlog.size body says it."""
    await client.post("/add-checkpoint", content=request(0, [], checkpoint(log, 10)))
    stale = await client.post("/add-checkpoint", content=request(0, [], checkpoint(log, 12)))
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("text/x.tlog.size")
    assert stale.text == "10\n"


async def test_refusals(client: httpx.AsyncClient, log: Signer) -> None:
    """Unknown origin 404, bad signature 403, old above new 400, bad proof and fork 422."""
    stranger = Signer("other.example/log", Ed25519PrivateKey.generate())
    unknown = await client.post("/add-checkpoint", content=request(0, [], checkpoint(stranger, 3)))
    assert unknown.status_code == 404
    impostor = Signer(ORIGIN, Ed25519PrivateKey.generate())
    forged = await client.post("/add-checkpoint", content=request(0, [], checkpoint(impostor, 3)))
    assert forged.status_code == 403
    altered = checkpoint(log, 3).replace("\n3\n", "\n4\n", 1)
    refused = await client.post("/add-checkpoint", content=request(0, [], altered))
    assert refused.status_code == 403
    assert (await client.post("/add-checkpoint", content=b"old 1\n")).status_code == 400
    await client.post("/add-checkpoint", content=request(0, [], checkpoint(log, 10)))
    backwards = await client.post("/add-checkpoint", content=request(10, [], checkpoint(log, 5)))
    assert backwards.status_code == 400
    wrong = consistency_proof(9, LEAVES[:20])
    bad = await client.post("/add-checkpoint", content=request(10, wrong, checkpoint(log, 20)))
    assert bad.status_code == 422
    rewritten = [*LEAVES[:4], leaf_hash(b"rewritten"), *LEAVES[5:]]
    fork = await client.post(
        "/add-checkpoint", content=request(10, [], checkpoint(log, 10, rewritten))
    )
    assert fork.status_code == 422
    longer = consistency_proof(10, rewritten[:20])
    forked = request(10, longer, checkpoint(log, 20, rewritten))
    assert (await client.post("/add-checkpoint", content=forked)).status_code == 422
    proof = consistency_proof(10, LEAVES[:20])
    ok = await client.post("/add-checkpoint", content=request(10, proof, checkpoint(log, 20)))
    assert ok.status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "audit", "witness", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _post(port: int, body: bytes) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.post(f"http://127.0.0.1:{port}/add-checkpoint", content=body, timeout=10)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_state_survives_sigkill(log: Signer, tmp_path: Path) -> None:
    """Killed with SIGKILL right after cosigning, the witness still holds that size."""
    key = tmp_path / "witness.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    port = _free_port()
    config = tmp_path / "witness.toml"
    config.write_text(
        f'name = "thanhtra.example.gov.vn/witness"\nkey = "{key}"\n'
        f'state = "{tmp_path / "state"}"\nport = {port}\nlogs = ["{log.verifier.vkey}"]\n',
        encoding="utf-8",
    )
    server = _serve(config)
    try:
        assert _post(port, request(0, [], checkpoint(log, 10))).status_code == 200
        proof = consistency_proof(10, LEAVES[:30])
        assert _post(port, request(10, proof, checkpoint(log, 30))).status_code == 200
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    server = _serve(config)
    try:
        again = _post(port, request(0, [], checkpoint(log, 35)))
        assert again.status_code == 409
        assert again.text == "30\n"
    finally:
        server.terminate()
        server.wait()


def test_vkey_round_trip(cosigner: Signer) -> None:
    """The witness's vkey names type 0x04 and reads back as the same key."""
    vkey = cosigner.verifier.vkey
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == COSIGNATURE
    assert Verifier.from_vkey(vkey).key_id == cosigner.verifier.key_id


def test_cli_prints_the_witness_vkey(tmp_path: Path) -> None:
    """hub audit witness vkey prints the cosigner vkey of the key file under its name."""
    from typer.testing import CliRunner

    from hub.audit._cli import audit_app

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "witness.pem"
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    name = "thanhtra.example.gov.vn/witness"
    result = CliRunner().invoke(audit_app, ["witness", "vkey", "--key", str(path), "--name", name])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == Signer(name, key, COSIGNATURE).verifier.vkey
