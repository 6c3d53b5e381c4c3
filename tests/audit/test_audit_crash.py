"""A process killed (SIGKILL) while appending loses no acknowledged entry."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._entry import parse_audit_id
from hub.audit._keys import signing_key
from hub.audit._store import open_store
from hub.audit._verify import VerifyReport, verify_trail
from tests.audit.conftest import NODE, make_entry

ROOT = Path(__file__).resolve().parents[2]
#: Acknowledgements to wait for before the kill: well into steady load.
ACKED_BEFORE_KILL = 600


async def read_back(settings: AuditSettings, data_dir: Path) -> tuple[VerifyReport, int]:
    """The verification of the trail, and how many entries it holds."""
    key = signing_key(settings, data_dir=data_dir, create=False).public_key()
    store = open_store(settings.store, data_dir=data_dir, timeout=10)
    try:
        report = await verify_trail(store, [key])
        async with store.snapshot() as snapshot:
            size = await snapshot.size(NODE)
    finally:
        await store.aclose()
    return report, size


def test_acknowledged_entries_survive_sigkill(
    store_url: str, data_dir: Path, make_settings: Callable[..., AuditSettings]
) -> None:
    """Every id printed before SIGKILL is in the trail; it verifies, then resumes."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.audit.crash_child", store_url, str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    acked: list[str] = []
    try:
        for line in child.stdout:
            acked.append(line.decode())
            if len(acked) >= ACKED_BEFORE_KILL:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        rest, errors = child.communicate(timeout=60)
    acked += rest.decode().splitlines(keepends=True)
    # A line cut by the kill was not printed whole; only whole lines count as acknowledged.
    indices = [parse_audit_id(line.strip())[1] for line in acked if line.endswith("\n")]
    assert child.returncode == -signal.SIGKILL
    assert len(indices) >= ACKED_BEFORE_KILL, errors.decode()

    settings = make_settings(checkpoint_every=1000, checkpoint_seconds=10.0)
    report, size = asyncio.run(read_back(settings, data_dir))
    assert report.ok, report.problems
    assert max(indices) < size
    assert len(set(indices)) == len(indices)

    async def resume() -> str:
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        try:
            return await trail.append(make_entry())
        finally:
            await trail.aclose()

    assert parse_audit_id(asyncio.run(resume()))[1] == size
    report, _ = asyncio.run(read_back(settings, data_dir))
    assert report.ok, report.problems
    assert report.nodes[0].unsigned == 0
