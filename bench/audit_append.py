"""Durable appends per second with group commit: 256 concurrent writers, each store.

Run: ``python -m bench.audit_append [--entries N] [--writers W]``. Prints a table and
writes bench/results/audit_append.json. PostgreSQL is measured when the server of
``HUB_TEST_POSTGRES_DSN`` answers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from bench._common import report
from bench.audit_common import entries, postgres_reachable, postgres_schema
from hub._config import AuditSettings
from hub.audit import AuditEntry, AuditTrail
from hub.audit._store import Batch, Head, Snapshot, Store, open_store

#: The targets, appends per second on a 2-core machine.
TARGETS = {"sqlite": 20_000, "postgres": 5_000}


class CountingStore(Store):
    """A store that counts its commits, to report the mean batch."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.description = inner.description
        self.identity = inner.identity
        self.commits = 0
        self.entries = 0

    async def open_writer(self, node: str) -> Head:
        return await self.inner.open_writer(node)

    async def commit(self, node: str, batch: Batch) -> None:
        await self.inner.commit(node, batch)
        self.commits += 1
        self.entries += len(batch.entries)

    async def claim_meta(self, values: dict[str, str]) -> dict[str, str]:
        return await self.inner.claim_meta(values)

    async def add_cosignature(self, node: str, seq: int, witness: str, line: str) -> None:
        await self.inner.add_cosignature(node, seq, witness, line)

    async def probe(self) -> None:
        await self.inner.probe()

    def snapshot(self) -> AbstractAsyncContextManager[Snapshot]:
        return self.inner.snapshot()

    async def close_writer(self) -> None:
        await self.inner.close_writer()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def run(
    store_url: str, data_dir: Path, pool: list[AuditEntry], total: int, writers: int
) -> dict[str, Any]:
    # A shared store wants configured keys; one benchmark process may use development ones.
    settings = AuditSettings(store=store_url, node="bench-1", append_timeout=30, development=True)
    store = CountingStore(open_store(settings.store, data_dir=data_dir, timeout=30))
    trail = await AuditTrail._start(store, settings, data_dir=data_dir)
    remaining = total

    async def writer(offset: int) -> None:
        nonlocal remaining
        i = offset
        while remaining > 0:
            remaining -= 1
            await trail.append(pool[i % len(pool)])
            i += writers

    try:
        # Warm up: schema, connections, caches.
        await asyncio.gather(*(trail.append(pool[i]) for i in range(min(2000, len(pool)))))
        store.commits = store.entries = 0
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(writer(n) for n in range(writers)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await trail.aclose()
    return {
        "entries": store.entries,
        "seconds": round(elapsed, 3),
        "appends_per_second": round(store.entries / elapsed),
        # CPU seconds of this process (every thread): the figure least moved by other
        # load on a shared machine.
        "cpu_seconds": round(cpu, 3),
        "commits": store.commits,
        "mean_batch": round(store.entries / max(store.commits, 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000, help="appends per store")
    parser.add_argument("--writers", type=int, default=256, help="concurrent writers")
    args = parser.parse_args()
    pool = entries(4096)
    stores: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        url = f"sqlite:///{data_dir / 'audit.db'}"
        stores["sqlite"] = asyncio.run(run(url, data_dir, pool, args.entries, args.writers))
        if postgres_reachable():
            with postgres_schema() as pg_url:
                stores["postgres"] = asyncio.run(
                    run(pg_url, data_dir, pool, args.entries, args.writers)
                )
    rows = [
        {"store": name, "writers": args.writers, **figures, "target_per_second": TARGETS[name]}
        for name, figures in stores.items()
    ]
    report(
        "audit_append",
        "Audit trail: durable appends per second, group commit",
        rows,
        command=" ".join(["python -m bench.audit_append", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    main()
