"""Tampering with the store directly is caught and named by ``hub audit verify``.

The attacker here has the database file (or a database login): they drop the
append-only triggers first, then edit rows. They do not have the signing key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._cli import audit_app
from hub.audit._entry import canonical_entry, record_bytes
from hub.audit.merkle import leaf_hash
from tests._helpers import audit_keys
from tests.audit.conftest import NODE, make_entry, public_key_file

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


async def make_trail(settings: AuditSettings, data_dir: Path, count: int = 40) -> None:
    """A closed trail of ``count`` entries, signed every 10."""
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(count):
        await trail.append(make_entry())
    await trail.aclose()


@pytest.fixture
async def sqlite_trail(tmp_path: Path, data_dir: Path) -> tuple[Path, Path, Path]:
    """(database, config file, public key) of a trail of 40 entries with 4 checkpoints."""
    db = tmp_path / "audit.db"
    settings = AuditSettings(
        store=f"sqlite:///{db}", node=NODE, checkpoint_every=10, checkpoint_seconds=3600
    )
    await make_trail(settings, data_dir)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\n[audit]\nstore = "sqlite:///{db}"\nnode = "{NODE}"\n',
        encoding="utf-8",
    )
    return db, config, public_key_file(data_dir, settings)


def tamper(db: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    """Drop the triggers, as an attacker would, then run the statements."""
    conn = sqlite3.connect(db, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement, params if "?" in statement else ())
    conn.close()


def verify(config: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(audit_app, ["verify", "--config", str(config), *extra])
    return result.exit_code, result.output


def forged(index: int, **fields: object) -> tuple[bytes, str]:
    """A well-formed record at ``index`` and its leaf hash: a forgery with no signing key."""
    body = record_bytes(canonical_entry(make_entry(**fields)), index)
    return leaf_hash(body), body.decode()


def test_untouched_trail_verifies(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """An untouched trail: exit 0 and a summary of nodes, entries and checkpoints."""
    _, config, public = sqlite_trail
    code, output = verify(config, "--public-key", str(public))
    assert code == 0, output
    assert "1 nodes, 40 entries, 4 checkpoints" in output
    assert "verified" in output
    code, output = verify(config)
    assert code == 0, output


def test_changed_field(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """An entry edited in place is named as changed, and its checkpoint fails."""
    db, config, public = sqlite_trail
    tamper(
        db,
        'UPDATE audit_entries SET body = replace(body, \'"officer":"cb.0042"\','
        ' \'"officer":"cb.9999"\') WHERE idx = 5',
    )
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert f"entry {NODE}~5 changed after it was written" in output
    assert "checkpoint #0" in output
    assert "does not hold" in output


def test_changed_field_with_rewritten_hash(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """Rewriting the stored hash too still fails the signed root, naming the range."""
    db, config, public = sqlite_trail
    leaf, body = forged(25, officer="cb.9999")
    tamper(db, "UPDATE audit_entries SET body = ?, leaf = ? WHERE idx = 25", params=(body, leaf))
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert "changed after it was written" not in output
    assert f"checkpoint #2 ({NODE}" not in output
    assert "checkpoint #2" in output
    assert f"entries {NODE}~20 to {NODE}~29 differ from what was signed" in output


def test_deleted_row(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """A deleted entry is named as removed."""
    db, config, public = sqlite_trail
    tamper(db, "DELETE FROM audit_entries WHERE idx = 7")
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert f"entry {NODE}~7 removed" in output


def test_deleted_row_and_renumbered(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """Deleting and closing the gap by renumbering is named too."""
    db, config, public = sqlite_trail
    tamper(
        db,
        "DELETE FROM audit_entries WHERE idx = 7",
        "UPDATE audit_entries SET idx = idx + 1000 WHERE idx > 7",
        "UPDATE audit_entries SET idx = idx - 1001 WHERE idx > 1000",
    )
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert f"entry {NODE}~7 removed" in output
    assert "positions 7 to 38" in output
    assert "removed before them" in output


def test_swapped_rows(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """Two entries that changed places are named as swapped."""
    db, config, public = sqlite_trail
    tamper(
        db,
        "UPDATE audit_entries SET idx = -1 WHERE idx = 3",
        "UPDATE audit_entries SET idx = 3 WHERE idx = 8",
        "UPDATE audit_entries SET idx = 8 WHERE idx = -1",
    )
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert f"entry {NODE}~3 and entry {NODE}~8 swapped places" in output


def test_inserted_forged_row(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """A forged entry slipped in (later ones renumbered) is named as an insertion."""
    db, config, public = sqlite_trail
    leaf, body = forged(12, officer="intruder")
    tamper(
        db,
        "UPDATE audit_entries SET idx = idx + 1000 WHERE idx >= 12",
        "UPDATE audit_entries SET idx = idx - 999 WHERE idx >= 1000",
    )
    tamper(
        db,
        "INSERT INTO audit_entries (node, idx, leaf, body) VALUES ('hue-1', 12, ?, ?)",
        params=(leaf, body),
    )
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert f"entry {NODE}~12 is held at positions 12, 13: an entry was inserted" in output
    assert "positions 13 to 40" in output
    assert "inserted before them" in output


def test_truncated_after_checkpoint(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """Entries cut from the end under a checkpoint are named, with the count signed."""
    db, config, public = sqlite_trail
    tamper(db, "DELETE FROM audit_entries WHERE idx >= 35")
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert f"entries {NODE}~35 to {NODE}~39 removed from the end" in output
    assert "covers 40" in output


def test_backdated_row_appended(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """An entry appended after the fact, dated before the newest checkpoint, is named."""
    db, config, public = sqlite_trail
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    leaf, body = forged(40, time=yesterday)
    tamper(
        db,
        "INSERT INTO audit_entries (node, idx, leaf, body) VALUES ('hue-1', 40, ?, ?)",
        params=(leaf, body),
    )
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert f"entry {NODE}~40 dated before checkpoint #3 but not covered by it" in output
    assert "1 entries after the newest checkpoint are not yet signed" in output


def test_unsigned_entry_without_mac_fails(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """An entry added after the newest checkpoint without the trail's MAC fails, strict or not."""
    db, config, public = sqlite_trail
    leaf, body = forged(40)
    tamper(
        db,
        "INSERT INTO audit_entries (node, idx, leaf, body) VALUES ('hue-1', 40, ?, ?)",
        params=(leaf, body),
    )
    code, output = verify(config, "--public-key", str(public))
    assert code == 1, output
    assert "warning: node hue-1: 1 entries after the newest checkpoint" in output
    assert "entry hue-1~40 after the newest checkpoint do not carry this trail's MAC" in output


def test_forged_checkpoint_signature(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """A checkpoint whose signature does not hold is named."""
    db, config, public = sqlite_trail
    tamper(db, "UPDATE audit_checkpoints SET signature = ? WHERE seq = 1", params=(b"\x01" * 64,))
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert "checkpoint #1: the signature does not hold" in output


def test_removed_checkpoint(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """A checkpoint removed from the chain is named."""
    db, config, public = sqlite_trail
    tamper(db, "DELETE FROM audit_checkpoints WHERE seq = 1")
    code, output = verify(config, "--public-key", str(public))
    assert code == 1
    assert "checkpoint #1 missing (removed)" in output


def test_wrong_public_key(tmp_path: Path, sqlite_trail: tuple[Path, Path, Path]) -> None:
    """Checked with another key, every checkpoint is named as signed by a key not trusted."""
    from hub.audit._keys import generate_signing_key

    _, config, _ = sqlite_trail
    other = tmp_path / "other.pub"
    other.write_text(generate_signing_key(tmp_path / "other.pem"), encoding="utf-8")
    code, output = verify(config, "--public-key", str(other))
    assert code == 1
    assert "checkpoint #0 to #3: signed by a key you do not trust" in output


async def test_altered_tile_hash(tmp_path: Path, data_dir: Path) -> None:
    """A stored tile hash altered (entries intact) is named: proofs through it would fail."""
    db = tmp_path / "tiles.db"
    settings = AuditSettings(
        store=f"sqlite:///{db}", node=NODE, checkpoint_every=100, checkpoint_seconds=3600
    )
    await make_trail(settings, data_dir, count=300)
    public = public_key_file(data_dir, settings)
    tamper(db, "UPDATE audit_entries SET tile = ? WHERE idx = 255", params=(b"\x07" * 32,))
    result = await asyncio.to_thread(
        runner.invoke,
        audit_app,
        ["verify", "--store", f"sqlite:///{db}", "--public-key", str(public)],
    )
    assert result.exit_code == 1
    assert (
        f"the stored hash of tile 0 (entries {NODE}~0 to {NODE}~255) was altered" in result.output
    )


def test_verify_as_a_real_process(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """Run as a command: exit 1, the problem named, no traceback."""
    db, config, public = sqlite_trail
    tamper(db, "DELETE FROM audit_entries WHERE idx = 20")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub.audit",
            "verify",
            "--config",
            str(config),
            "--public-key",
            str(public),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert f"entry {NODE}~20 removed" in result.stdout
    assert "Traceback" not in result.stderr


def test_verify_json(sqlite_trail: tuple[Path, Path, Path]) -> None:
    """--json gives the summary and problems as JSON."""
    import json

    db, config, public = sqlite_trail
    tamper(db, "DELETE FROM audit_entries WHERE idx = 20")
    code, output = verify(config, "--public-key", str(public), "--json")
    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False
    assert report["nodes"][0]["entries"] == 39
    assert any(f"{NODE}~20 removed" in problem for problem in report["problems"])


@pytest.mark.postgres
def test_postgres_changed_field(postgres_schema: str, data_dir: Path) -> None:
    """On PostgreSQL too, an entry edited in place (triggers dropped) is named."""
    from tests.audit.conftest import postgres_dsn, with_search_path

    url = with_search_path(postgres_dsn(), postgres_schema)
    settings = AuditSettings(
        store=url, node=NODE, checkpoint_every=10, checkpoint_seconds=3600, **audit_keys(data_dir)
    )
    asyncio.run(make_trail(settings, data_dir, count=30))
    public = public_key_file(data_dir, settings)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
        conn.execute(
            "UPDATE audit_entries SET body = replace(body, '\"cb.0042\"', '\"cb.9999\"')"
            " WHERE node = %s AND idx = 17",
            (NODE,),
        )
    result = runner.invoke(audit_app, ["verify", "--store", url, "--public-key", str(public)])
    assert result.exit_code == 1
    assert f"entry {NODE}~17 changed after it was written" in result.output
    assert "checkpoint #1" in result.output
