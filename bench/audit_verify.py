"""``hub audit verify`` throughput: entries checked per second, on each store.

Run: ``python -m bench.audit_verify [--entries N]``. Builds a trail of N entries (with
the trail itself: group commit, checkpoints every 1,000), then times the verification
in process and as the command (``python -m hub.audit verify``, start-up included).
Prints a table and writes bench/results/audit_verify.json.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import report
from bench.audit_common import entries, postgres_reachable, postgres_schema
from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._keys import public_key_pem, signing_key
from hub.audit._store import open_store
from hub.audit._verify import verify_trail

TARGET = 100_000
WRITERS = 256


async def build(settings: AuditSettings, data_dir: Path, total: int) -> None:
    pool = entries(4096)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    remaining = total

    async def writer(offset: int) -> None:
        nonlocal remaining
        i = offset
        while remaining > 0:
            remaining -= 1
            await trail.append(pool[i % len(pool)])
            i += WRITERS

    try:
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    finally:
        await trail.aclose()


async def verify_in_process(settings: AuditSettings, data_dir: Path) -> tuple[int, float, float]:
    key = signing_key(settings, data_dir=data_dir, create=False).public_key()
    store = open_store(settings.store, data_dir=data_dir, timeout=60)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        result = await verify_trail(store, [key])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await store.aclose()
    if not result.ok:
        raise SystemExit(f"the trail does not verify: {result.problems[:3]}")
    return result.entries, elapsed, cpu


def verify_command(settings: AuditSettings, data_dir: Path) -> float:
    key = signing_key(settings, data_dir=data_dir, create=False).public_key()
    public = data_dir / "audit.pub"
    public.write_text(public_key_pem(key), encoding="utf-8")
    assert settings.store is not None
    store = settings.store.get_secret_value()
    command = [sys.executable, "-m", "hub.audit", "verify", "--store", store]
    started = time.perf_counter()
    subprocess.run([*command, "--public-key", str(public)], check=True, capture_output=True)
    return time.perf_counter() - started


def measure(store_url: str, data_dir: Path, total: int) -> dict[str, Any]:
    settings = AuditSettings(store=store_url, node="bench-1", append_timeout=60, development=True)
    asyncio.run(build(settings, data_dir, total))
    count, in_process, cpu = asyncio.run(verify_in_process(settings, data_dir))
    command = verify_command(settings, data_dir)
    return {
        "entries": count,
        "in_process_seconds": round(in_process, 3),
        "in_process_per_second": round(count / in_process),
        # CPU seconds (every thread): the figure least moved by other load.
        "in_process_cpu_seconds": round(cpu, 3),
        "command_seconds": round(command, 3),
        "command_per_second": round(count / command),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300_000, help="entries in the trail")
    args = parser.parse_args()
    stores: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        url = f"sqlite:///{data_dir / 'audit.db'}"
        stores["sqlite"] = measure(url, data_dir, args.entries)
        if postgres_reachable():
            with postgres_schema() as pg_url:
                stores["postgres"] = measure(pg_url, data_dir, args.entries)
    rows = [
        {"store": name, **figures, "target_per_second": TARGET} for name, figures in stores.items()
    ]
    report(
        "audit_verify",
        "Audit trail: hub audit verify, entries checked per second",
        rows,
        command=" ".join(["python -m bench.audit_verify", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    main()
