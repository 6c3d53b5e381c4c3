"""A trail with witnesses: cosignatures kept, and a store cut back or rewritten is caught."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from hub._config import AuditSettings
from hub.audit import AuditTrail, _witnessing
from hub.audit._checkpoint import origin_of, sign_note_checkpoint
from hub.audit._cli import audit_app
from hub.audit._keys import signing_key
from hub.audit._store import open_store
from hub.audit._witnessing import store_consistency_proof
from hub.audit.merkle import consistency_proof, leaf_hash, root, verify_consistency
from hub.audit.note import COSIGNATURE, ED25519, Signer, Verifier
from hub.witness import Witness, WitnessState, witness_app
from tests._helpers import audit_keys, audit_keys_toml
from tests.audit.conftest import NODE, make_entry

runner = CliRunner()
WITNESS = "thanhtra.example.gov.vn/witness"


class RunningWitness:
    """A witness served by uvicorn in a thread."""

    def __init__(self, url: str, vkey: str, server: uvicorn.Server) -> None:
        self.url, self.vkey, self.server = url, vkey, server


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[RunningWitness]:
    keys = audit_keys(tmp_path)
    log_key = signing_key(
        AuditSettings(node=NODE, **keys), data_dir=tmp_path, create=False
    ).public_key()
    origin = origin_of(AuditSettings().origin_prefix, NODE)
    cosigner = Signer(WITNESS, Ed25519PrivateKey.generate(), COSIGNATURE)
    state = WitnessState(tmp_path / "witness-state")
    app = witness_app(
        Witness(signer=cosigner, logs=[Verifier(origin, ED25519, log_key)], state=state)
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield RunningWitness(f"http://127.0.0.1:{port}", cosigner.verifier.vkey, server)
    server.should_exit = True
    thread.join(10)
    state.close()


def _settings(make_settings: Callable[..., AuditSettings], tmp_path: Path, w: RunningWitness):
    return make_settings(
        checkpoint_every=5,
        witnesses={"w1": {"url": w.url, "public_key": w.vkey}},
        **audit_keys(tmp_path),
    )


def _url(settings: AuditSettings) -> str:
    """The store's address, which settings hold as a secret."""
    assert settings.store is not None
    return settings.store.get_secret_value()


def _config(tmp_path: Path, data_dir: Path, settings: AuditSettings, w: RunningWitness) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        f'data_dir = "{data_dir}"\n[audit]\nstore = "{_url(settings)}"\nnode = "{NODE}"\n'
        f"{audit_keys_toml(tmp_path)}"
        f'[audit.witnesses.w1]\nurl = "{w.url}"\npublic_key = "{w.vkey}"\n',
        encoding="utf-8",
    )
    return path


async def _fill(settings: AuditSettings, data_dir: Path, count: int) -> AuditTrail:
    """Append ``count`` entries, sign them all, and wait until the witness cosigned."""
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    ids = [await trail.append(make_entry()) for _ in range(count)]
    await trail.proof(ids[-1])
    for _ in range(400):
        if trail.witnessed_size() == trail._signed.size:
            break
        await asyncio.sleep(0.05)
    return trail


def _sql(url: str, *statements: str) -> None:
    """Drop the append-only triggers, as an attacker would, and run the statements."""
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)
        conn.close()
        return
    with psycopg.connect(url, autocommit=True) as pg:
        for table in ("audit_entries", "audit_checkpoints", "audit_cosignatures"):
            pg.execute(f"DROP TRIGGER audit_{table.removeprefix('audit_')}_append_only ON {table}")
        for statement in statements:
            pg.execute(statement)


def verify(config: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(audit_app, ["verify", "--config", str(config), *extra])
    return result.exit_code, result.output


def test_truncation_behind_the_witness_is_caught(
    make_settings: Callable[..., AuditSettings],
    data_dir: Path,
    tmp_path: Path,
    witness: RunningWitness,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Newest entries, checkpoints, cosignatures and state deleted: --witnessed names it."""
    settings = _settings(make_settings, tmp_path, witness)

    async def fill() -> tuple[int | None, list[tuple[int, str, str]]]:
        trail = await _fill(settings, data_dir, 23)
        size = trail.witnessed_size()
        lag = trail.witness_lag()
        assert [(item.witness, item.cosigned_size, item.lag) for item in lag] == [("w1", 23, 0.0)]
        await trail.aclose()
        store = open_store(settings.store, data_dir=data_dir, timeout=5)
        try:
            async with store.snapshot() as snapshot:
                return size, await snapshot.cosignatures(NODE)
        finally:
            await store.aclose()

    size, cosignatures = asyncio.run(fill())
    assert size == 23
    assert [witness_name for _, witness_name, _ in cosignatures] == ["w1"] * len(cosignatures)
    assert cosignatures[-1][2].startswith(f"\u2014 {WITNESS} ")
    config = _config(tmp_path, data_dir, settings, witness)
    code, output = verify(config, "--witnessed")
    assert code == 0, output
    assert "witnessed size 23" in output

    _sql(
        _url(settings),
        f"DELETE FROM audit_entries WHERE node = '{NODE}' AND idx >= 15",
        f"DELETE FROM audit_checkpoints WHERE node = '{NODE}' AND seq >= 3",
        f"DELETE FROM audit_cosignatures WHERE node = '{NODE}' AND seq >= 3",
    )
    for state in (data_dir / "audit-state").iterdir():
        state.unlink()
    code, output = verify(config)
    assert code == 0, output  # the store alone looks whole
    code, output = verify(config, "--witnessed")
    assert code == 1, output
    assert (
        f"node {NODE}: witness w1 cosigned 23 entries but the store holds 15: the trail was"
        " cut back (first index at fault: 15)"
    ) in " ".join(output.split())

    async def restart() -> None:
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        ids = [await trail.append(make_entry()) for _ in range(3)]
        await trail.proof(ids[-1])
        for _ in range(200):
            if "tamper alarm" in caplog.text:
                break
            await asyncio.sleep(0.05)
        await trail.aclose()

    with caplog.at_level(logging.ERROR, logger="hub.audit"):
        asyncio.run(restart())
    alarms = [
        record.__dict__
        for record in caplog.records
        if record.getMessage() == "audit tamper alarm: a witness refused this trail's history"
    ]
    assert alarms, caplog.text
    assert {key: alarms[0][key] for key in ("node", "witness", "witnessed_size", "size")} == {
        "node": NODE,
        "witness": "w1",
        "witnessed_size": 23,
        "size": 15,
    }


def test_rewrite_behind_the_witness_is_caught_and_refused(
    make_settings: Callable[..., AuditSettings],
    data_dir: Path,
    tmp_path: Path,
    witness: RunningWitness,
) -> None:
    """A rewritten entry is named by --witnessed, and the witness refuses the rewritten tree."""
    settings = _settings(make_settings, tmp_path, witness)

    async def fill() -> None:
        trail = await _fill(settings, data_dir, 10)
        assert trail.witnessed_size() == 10
        await trail.aclose()

    asyncio.run(fill())
    _sql(
        _url(settings),
        f"DELETE FROM audit_cosignatures WHERE node = '{NODE}' AND seq >= 1",
        f"DELETE FROM audit_checkpoints WHERE node = '{NODE}' AND seq >= 1",
        f"UPDATE audit_entries SET body = replace(body, '\"cb.0042\"', '\"cb.9999\"')"
        f" WHERE node = '{NODE}' AND idx = 7",
    )
    config = _config(tmp_path, data_dir, settings, witness)
    code, output = verify(config, "--witnessed")
    assert code == 1, output
    flat = " ".join(output.split())
    assert (
        f"node {NODE}: the store does not reproduce the root witness w1 cosigned at size 10:"
        " entries from index 5 to 9 were rewritten (first index at fault: 5"
    ) in flat

    async def submit_rewritten() -> list[int]:
        """Sign the rewritten tree as a writer would, and offer it to the witness."""
        key = signing_key(settings, data_dir=data_dir, create=False)
        origin = origin_of(settings.origin_prefix, NODE)
        store = open_store(settings.store, data_dir=data_dir, timeout=5)
        statuses = []
        try:
            async with store.snapshot() as snapshot:
                leaves = [leaf_hash(body) for _, body in await snapshot.bodies(NODE, 0, 10)]
                proof = await store_consistency_proof(snapshot, NODE, 5, 10)
            async with httpx.AsyncClient() as client:
                for old, lines in ((10, []), (5, proof)):
                    _, body, _ = sign_note_checkpoint(
                        key,
                        origin=origin,
                        node=NODE,
                        size=10,
                        root=root(leaves),
                        time=datetime.now(UTC),
                        previous=None,
                    )
                    head = f"old {old}\n" + "".join(
                        base64.b64encode(item).decode() + "\n" for item in lines
                    )
                    answer = await client.post(
                        f"{witness.url}/add-checkpoint", content=(head + "\n").encode() + body
                    )
                    statuses.append(answer.status_code)
        finally:
            await store.aclose()
        return statuses

    assert asyncio.run(submit_rewritten()) == [422, 409]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_consistency_proof_from_tiles_matches_the_leaves(
    make_settings: Callable[..., AuditSettings], data_dir: Path
) -> None:
    """Proofs built from tile hashes equal RFC 9162 proofs over every leaf, across tiles."""
    trail = await AuditTrail.open(make_settings(), data_dir=data_dir)
    await asyncio.gather(*(trail.append(make_entry()) for _ in range(700)))
    await trail.aclose()
    store = open_store(make_settings().store, data_dir=data_dir, timeout=5)
    try:
        async with store.snapshot() as snapshot:
            leaves = [leaf_hash(body) for _, body in await snapshot.bodies(NODE, 0, 700)]
            for old, new in [(1, 700), (255, 256), (256, 700), (257, 513), (300, 699), (512, 700)]:
                proof = await store_consistency_proof(snapshot, NODE, old, new)
                assert proof == consistency_proof(old, leaves[:new]), (old, new)
                assert verify_consistency(old, new, proof, root(leaves[:old]), root(leaves[:new]))
    finally:
        await store.aclose()


async def test_the_final_checkpoint_of_a_stop_is_cosigned_before_the_trail_closes(
    make_settings: Callable[..., AuditSettings],
    data_dir: Path,
    tmp_path: Path,
    witness: RunningWitness,
) -> None:
    """Entries signed only by the final checkpoint are witnessed now, not at the next start."""
    settings = make_settings(
        checkpoint_every=1000,
        checkpoint_seconds=3600,
        witnesses={"w1": {"url": witness.url, "public_key": witness.vkey}},
        **audit_keys(tmp_path),
    )
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(3):
        await trail.append(make_entry())
    await trail.aclose()
    store = open_store(settings.store, data_dir=data_dir, timeout=5)
    try:
        async with store.snapshot() as snapshot:
            cosigned = await snapshot.cosignatures(NODE)
            newest = await snapshot.newest_checkpoint(NODE)
    finally:
        await store.aclose()
    assert newest is not None
    assert [(seq, name) for seq, name, _ in cosigned] == [(newest.seq, "w1")]


@pytest.mark.parametrize("down", ["refusing", "silent"])
async def test_a_stop_waits_for_a_witness_that_is_down_only_a_bounded_time(
    make_settings: Callable[..., AuditSettings],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    down: str,
) -> None:
    """A refusing witness does not delay a stop; a silent one, FINAL_COSIGN_SECONDS at most."""
    monkeypatch.setattr(_witnessing, "FINAL_COSIGN_SECONDS", 1.0)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        if down == "silent":
            listening.listen()  # accepts, and never answers
        port = listening.getsockname()[1]
        if down == "refusing":
            listening.close()
        vkey = Signer(WITNESS, Ed25519PrivateKey.generate(), COSIGNATURE).verifier.vkey
        settings = make_settings(
            checkpoint_every=1000,
            checkpoint_seconds=3600,
            witnesses={"w1": {"url": f"http://127.0.0.1:{port}", "public_key": vkey}},
        )
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        await trail.append(make_entry())
        started = time.monotonic()
        await trail.aclose()
        took = time.monotonic() - started
    if down == "silent":
        assert 1.0 <= took < 3.0
    else:
        assert took < 1.0


async def test_unreachable_witness_raises_a_lag_alarm(
    make_settings: Callable[..., AuditSettings],
    data_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A checkpoint no witness cosigns within witness_max_lag is an alarm; look-ups go on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    vkey = Signer(WITNESS, Ed25519PrivateKey.generate(), COSIGNATURE).verifier.vkey
    settings = make_settings(
        checkpoint_every=2,
        witnesses={"w1": {"url": f"http://127.0.0.1:{closed}", "public_key": vkey}},
        witness_max_lag=0.2,
    )
    with caplog.at_level(logging.ERROR, logger="hub.audit"):
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        for _ in range(4):
            await trail.append(make_entry())
        for _ in range(100):
            if "not cosigned in time" in caplog.text:
                break
            await asyncio.sleep(0.05)
        [lag] = trail.witness_lag()
        assert trail.witnessed_size() is None
        await trail.aclose()
    assert (lag.witness, lag.cosigned_size, lag.signed_size) == ("w1", None, 4)
    assert lag.lag >= 0.2
    alarms = [r.__dict__ for r in caplog.records if "not cosigned in time" in r.getMessage()]
    assert alarms, caplog.text
    assert (alarms[0]["node"], alarms[0]["witness"]) == (NODE, "w1")
