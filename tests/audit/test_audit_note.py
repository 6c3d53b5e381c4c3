"""Checkpoints as C2SP signed notes: the spec's example, Go's verifier, the JSON migration."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._checkpoint import checkpoint_from_row, sign_checkpoint
from hub.audit._cli import audit_app
from hub.audit._keys import EntryMac, mac_key, signing_key
from hub.audit._store import StoredCheckpoint, open_store
from hub.audit._trail import _Signed
from hub.audit._tree import TileTree
from hub.audit._verify import verify_trail
from hub.audit.note import (
    COSIGNATURE,
    NoteError,
    Signer,
    Verifier,
    open_note,
    parse_checkpoint_text,
)
from tests.audit.conftest import NODE, make_entry

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYj"
    "OBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
NOTECHECK = Path(__file__).parent / "notecheck" / "main.go"


def test_spec_example_verifies() -> None:
    """The signed-note spec's example note verifies under its example vkey."""
    verifier = Verifier.from_vkey(SPEC_VKEY)
    assert verifier.vkey == SPEC_VKEY
    note, verified = open_note(SPEC_NOTE, [verifier])
    assert note.text == "This is an example message.\n"
    assert [v.name for v, _ in verified] == ["example.com/foo"]
    assert str(note) == SPEC_NOTE


def test_spec_example_altered_is_refused() -> None:
    """An altered text, or a note with no trusted signature, is refused."""
    verifier = Verifier.from_vkey(SPEC_VKEY)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(SPEC_NOTE.replace("example message", "example massage"), [verifier])
    other = Signer("example.com/bar", Ed25519PrivateKey.generate()).verifier
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(SPEC_NOTE, [other])


def test_cosignature_round_trip() -> None:
    """A timestamped cosignature (type 0x04) verifies over the checkpoint text only."""
    witness = Signer("witness.example/w1", Ed25519PrivateKey.generate(), COSIGNATURE)
    text = "example.com/log\n5\n" + "A" * 43 + "=\n"
    line = witness.sign(text, timestamp=1_700_000_000)
    assert witness.verifier.verify(text, line)
    assert not witness.verifier.verify(text.replace("5", "6"), line)
    assert Verifier.from_vkey(witness.verifier.vkey) == witness.verifier


async def _newest_note(settings: AuditSettings, data_dir: Path) -> str:
    store = open_store(settings.store, data_dir=data_dir, timeout=5)
    try:
        async with store.snapshot() as snapshot:
            row = await snapshot.newest_checkpoint(NODE)
    finally:
        await store.aclose()
    assert row is not None
    return row.body.decode()


def _go_env(tmp_path: Path) -> dict[str, str]:
    """Build offline, from the Debian-packaged golang.org/x/mod sources."""
    return {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": "/usr/share/gocode",
        "GOFLAGS": "",
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOCACHE": str(tmp_path / "go-cache"),
    }


async def _signed_note(settings: AuditSettings, data_dir: Path) -> str:
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(7):
        await trail.append(make_entry())
    await trail.aclose()
    return await _newest_note(settings, data_dir)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_go_note_verifies_hub_checkpoint(
    make_settings: Callable[..., AuditSettings], data_dir: Path, tmp_path: Path
) -> None:
    """Go's sumdb/note opens a checkpoint the hub signed, with the vkey the CLI prints."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed (apt-get install golang-go golang-golang-x-mod-dev)")
    if not Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.skip("golang.org/x/mod is not installed (apt-get install golang-golang-x-mod-dev)")
    settings = make_settings(checkpoint_every=3)
    note = asyncio.run(_signed_note(settings, data_dir))
    config = tmp_path / "hub.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\n[audit]\nstore = "{settings.store}"\nnode = "{NODE}"\n',
        encoding="utf-8",
    )
    printed = CliRunner().invoke(
        audit_app, ["public-key", "--config", str(config), "--format", "vkey"]
    )
    assert printed.exit_code == 0, printed.output
    vkey = printed.output.strip()
    assert vkey.startswith(f"lienthong.example.gov.vn/audit/{NODE}+")
    binary = tmp_path / "notecheck"
    env = _go_env(tmp_path)
    subprocess.run(
        [go, "build", "-o", str(binary), str(NOTECHECK)], check=True, env=env, timeout=300
    )
    opened = subprocess.run(
        [str(binary), vkey], input=note.encode(), capture_output=True, check=False, timeout=60
    )
    assert opened.returncode == 0, opened.stderr.decode()
    text = parse_checkpoint_text(opened.stdout.decode())
    assert text.origin == f"lienthong.example.gov.vn/audit/{NODE}"
    assert text.size == 7
    forged = note.replace("\n7\n", "\n8\n")
    refused = subprocess.run(
        [str(binary), vkey], input=forged.encode(), capture_output=True, check=False, timeout=60
    )
    assert refused.returncode == 1


def _legacy_sign(self: AuditTrail, tree: TileTree, signed: _Signed) -> StoredCheckpoint:
    """How writers signed before notes: canonical JSON chained by signature."""
    root = tree.root()
    checkpoint = sign_checkpoint(
        self._key,
        node=self._node,
        size=tree.size,
        root=root,
        time=datetime.now(UTC),
        previous=signed.signature,
        key_id=self._key_id,
    )
    signature = bytes.fromhex(checkpoint.signature)
    body = checkpoint.signed_bytes()
    signed.seq += 1
    signed.size, signed.root, signed.signature = tree.size, root, signature
    signed.link = hashlib.sha256(body).digest()
    signed.time, signed.made = checkpoint.time, time.monotonic()
    self._committed[signed.seq] = dataclasses.replace(signed)
    return StoredCheckpoint(seq=signed.seq, body=body, signature=signature)


async def test_json_checkpoints_then_notes_verify(
    make_settings: Callable[..., AuditSettings],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trail of JSON checkpoints resumes, goes on with notes, and verifies whole."""
    settings = make_settings(checkpoint_every=4)
    with monkeypatch.context() as patch:
        patch.setattr(AuditTrail, "_sign", _legacy_sign)
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        for _ in range(9):
            await trail.append(make_entry())
        await trail.aclose()
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(6):
        await trail.append(make_entry())
    await trail.aclose()
    store = open_store(settings.store, data_dir=data_dir, timeout=5)
    try:
        async with store.snapshot() as snapshot:
            rows = await snapshot.checkpoints(NODE)
        kinds = ["note" if checkpoint_from_row(r.body, r.signature).note else "json" for r in rows]
        assert kinds == ["json", "json", "json", "note", "note"]
        key = signing_key(settings, data_dir=data_dir, create=False).public_key()
        mac = EntryMac(mac_key(settings, data_dir=data_dir, create=False))
        report = await verify_trail(store, [key], strict=True, mac=mac)
    finally:
        await store.aclose()
    assert report.ok, report.problems
    assert report.entries == 15
