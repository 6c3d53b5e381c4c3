"""The audit findings of the hostile review (H1, L7): each attack, replayed against the trail.

The attacker has write access to the store and no key: they insert, delete and rewrite
rows, dropping the append-only triggers first as a store administrator can.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hub import Hub
from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._cli import audit_app
from hub.audit._entry import canonical_entry, record_bytes
from hub.audit._keys import EntryMac, mac_key, signing_key
from hub.audit._proof import parse_checkpoint
from hub.audit._store import open_store
from hub.audit._verify import verify_trail
from hub.audit.merkle import leaf_hash
from hub.errors import AuditUnavailable
from tests._helpers import audit_keys_toml, hub_settings, population_source
from tests.audit.conftest import NATIONAL_ID, NODE, make_entry

runner = CliRunner()


def attack(settings: AuditSettings, *statements: str, params: tuple[object, ...] = ()) -> None:
    """Drop the append-only triggers, as the store's administrator can, then run ``statements``."""
    assert settings.store is not None
    url = settings.store.get_secret_value()
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (name,) in triggers.fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement, params if "?" in statement else ())
        conn.close()
        return
    with psycopg.connect(url, autocommit=True) as pg:
        for table in ("audit_entries", "audit_checkpoints"):
            pg.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        for statement in statements:
            sql = statement.replace("?", "%s")
            pg.execute(sql, params if "?" in statement else ())


def framed_row(index: int, subject: str) -> tuple[bytes, str]:
    """A back-dated entry of another client about the victim: well formed, but without MAC."""
    entry = make_entry(
        time=dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC),
        client="portal-attacker",
        officer="cb.6666",
        subject=subject,
    )
    body = record_bytes(canonical_entry(entry), index)
    return leaf_hash(body), body.decode()


async def report(settings: AuditSettings, data_dir: Path, *, strict: bool = True) -> list[str]:
    """The problems `verify` names, with the trail's own keys (signing and MAC)."""
    store = open_store(settings.store, data_dir=data_dir, timeout=5)
    try:
        found = await verify_trail(
            store,
            [signing_key(settings, data_dir=data_dir, create=False).public_key()],
            strict=strict,
            mac=EntryMac(mac_key(settings, data_dir=data_dir, create=False)),
        )
    finally:
        await store.aclose()
    return found.problems


async def signed_sizes(settings: AuditSettings, data_dir: Path) -> list[int]:
    store = open_store(settings.store, data_dir=data_dir, timeout=5)
    try:
        async with store.snapshot() as snapshot:
            return [parse_checkpoint(c).size for c in await snapshot.checkpoints(NODE)]
    finally:
        await store.aclose()


INSERT = "INSERT INTO audit_entries (node, idx, leaf, body) VALUES (?, ?, ?, ?)"


async def test_h1_forged_row_at_next_index_is_never_signed(
    make_settings: Callable[..., AuditSettings], data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A row inserted at the next index is a tamper alarm: never read back, never signed."""
    settings = make_settings(checkpoint_every=5)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    victim = trail.pseudonymise(NATIONAL_ID)
    for _ in range(5):
        await trail.append(make_entry(subject=victim))
    leaf, body = framed_row(5, victim)
    attack(settings, INSERT, params=(NODE, 5, leaf, body))
    with pytest.raises(AuditUnavailable):
        await trail.append(make_entry())
    # Not a transient failure: the writer writes no more.
    with pytest.raises(AuditUnavailable, match="tampered"):
        await trail.append(make_entry())
    await trail.aclose()
    alarms = [r for r in caplog.records if r.getMessage().startswith("audit tamper alarm")]
    assert alarms, caplog.text
    assert (alarms[0].node, alarms[0].index) == (NODE, 5)
    assert max(await signed_sizes(settings, data_dir)) == 5
    problems = await report(settings, data_dir)
    assert any(f"{NODE}~5 after the newest checkpoint do not carry" in p for p in problems)


async def test_h1_forged_entry_after_checkpoint_refused_at_start(
    make_settings: Callable[..., AuditSettings], data_dir: Path
) -> None:
    """A writer that finds an entry without its MAC after its newest checkpoint will not start."""
    settings = make_settings()
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    victim = trail.pseudonymise(NATIONAL_ID)
    for _ in range(3):
        await trail.append(make_entry(subject=victim))
    await trail.aclose()
    leaf, body = framed_row(3, victim)
    attack(settings, INSERT, params=(NODE, 3, leaf, body))
    with pytest.raises(AuditUnavailable) as refused:
        await AuditTrail.open(settings, data_dir=data_dir)
    assert "tampered with (first index at fault: 3)" in str(refused.value)
    assert max(await signed_sizes(settings, data_dir)) == 3


async def test_h1_store_cut_back_is_refused_at_start(
    make_settings: Callable[..., AuditSettings], data_dir: Path
) -> None:
    """Newest entries deleted with the checkpoints over them: the writer remembers, refuses."""
    settings = make_settings(checkpoint_every=4)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(10):
        await trail.append(make_entry())
    await trail.aclose()
    attack(
        settings,
        "DELETE FROM audit_entries WHERE idx >= 4",
        "DELETE FROM audit_checkpoints WHERE seq >= 1",
    )
    with pytest.raises(AuditUnavailable, match="first index at fault: 4"):
        await AuditTrail.open(settings, data_dir=data_dir)


async def test_h1_rewritten_history_refused_at_start(tmp_path: Path, data_dir: Path) -> None:
    """Entries under the newest checkpoint rewritten, stored hashes and all: the root fails."""
    db = tmp_path / "audit.db"
    settings = AuditSettings(store=f"sqlite:///{db}", node=NODE, checkpoint_seconds=3600)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(6):
        await trail.append(make_entry())
    await trail.aclose()
    leaf, body = framed_row(2, "0" * 64)
    attack(
        settings,
        "UPDATE audit_entries SET leaf = ?, body = ? WHERE idx = 2",
        params=(leaf, body),
    )
    with pytest.raises(AuditUnavailable, match="tampered"):
        await AuditTrail.open(settings, data_dir=data_dir)


async def test_h1_entry_times_never_go_backwards(tmp_path: Path, data_dir: Path) -> None:
    """A call that began earlier is written no earlier than the entry before it; verify names
    a back-dated entry."""
    settings = AuditSettings(
        store=f"sqlite:///{tmp_path / 'audit.db'}", node=NODE, checkpoint_seconds=3600
    )
    now = dt.datetime.now(dt.UTC)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    await trail.append(make_entry(time=now))
    await trail.append(make_entry(time=now - dt.timedelta(hours=1)))
    await trail.aclose()
    conn = sqlite3.connect(tmp_path / "audit.db")
    times = [t for (t,) in conn.execute("SELECT time FROM audit_entries ORDER BY idx")]
    conn.close()
    assert times == sorted(times)
    assert await report(settings, data_dir) == []
    leaf, body = framed_row(2, "0" * 64)
    attack(settings, INSERT, params=(NODE, 2, leaf, body))
    problems = await report(settings, data_dir, strict=False)
    assert f"node {NODE}: entry {NODE}~2 is dated before the entry before it" in problems


async def test_h1_genuine_unsigned_tail_is_a_warning(tmp_path: Path, data_dir: Path) -> None:
    """Entries a writer left unsigned (it crashed) carry its MACs: a warning, and it resumes."""
    settings = AuditSettings(
        store=f"sqlite:///{tmp_path / 'audit.db'}", node=NODE, checkpoint_seconds=3600
    )
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    await trail.append(make_entry())
    await trail.aclose()
    crashed = await AuditTrail.open(settings, data_dir=data_dir)
    await crashed.append(make_entry())
    # Gone without closing, as a killed process: entry 1 is committed and unsigned.
    await crashed.store.close_writer()
    assert await report(settings, data_dir, strict=False) == []
    assert await report(settings, data_dir, strict=True) != []
    resumed = await AuditTrail.open(settings, data_dir=data_dir)
    assert await resumed.append(make_entry()) == f"{NODE}~2"
    await resumed.aclose()
    assert await report(settings, data_dir) == []


def test_h1_verify_command_names_the_framed_access(
    make_settings: Callable[..., AuditSettings], data_dir: Path, tmp_path: Path
) -> None:
    """`hub audit verify --strict` fails on the framed entry that `find --subject` would list."""
    settings = make_settings(checkpoint_every=2)

    async def frame() -> None:
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        victim = trail.pseudonymise(NATIONAL_ID)
        await trail.append(make_entry(subject=victim))
        await trail.append(make_entry(subject=victim))
        leaf, body = framed_row(2, victim)
        attack(settings, INSERT, params=(NODE, 2, leaf, body))
        with pytest.raises(AuditUnavailable):
            await trail.append(make_entry(subject=victim))
        await trail.aclose()

    asyncio.run(frame())
    config = tmp_path / "hub.toml"
    assert settings.store is not None
    url = settings.store.get_secret_value()
    keys = audit_keys_toml(tmp_path) if url.startswith("postgresql:") else ""
    config.write_text(
        f'data_dir = "{data_dir}"\n[audit]\nstore = "{url}"\nnode = "{NODE}"\n{keys}',
        encoding="utf-8",
    )
    result = runner.invoke(audit_app, ["verify", "--config", str(config), "--strict"])
    assert result.exit_code == 1, result.output
    assert f"entry {NODE}~2 after the newest checkpoint do not carry" in result.output


def test_l7_trail_files_are_private(tmp_path: Path, population_mock: object) -> None:
    """The trail's folder is 0700; its database, WAL, shared memory and keys are 0600."""
    data = tmp_path / "var"

    async def open_and_append() -> None:
        settings = hub_settings(data, population=population_source(population_mock))  # type: ignore[arg-type]
        async with Hub(settings) as hub:
            await hub.audit.append(make_entry(node=hub.audit.node))

    asyncio.run(open_and_append())
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [data / "audit.db", *data.glob("audit.db-*"), *(data / "keys").iterdir()]
    assert len(files) >= 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
