"""Durable appends per second with 1, 2 and 4 writer slots: one process per slot, one store.

Each process opens the trail without a node name, so it takes a writer slot of its host
(`<host>.1`, `<host>.2`, ...) and its own tree, as the workers of `hub serve --workers`
or of gunicorn do; 256 concurrent writers are shared among them. On SQLite the slots
contend for one file's write lock; on PostgreSQL each has its own connection.

Run: ``python -m bench.audit_slots [--entries N] [--writers W]``. Prints a table and
writes bench/results/audit_slots.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from bench._common import report
from bench.audit_common import entries, postgres_reachable, postgres_schema
from hub._config import AuditSettings
from hub.audit import AuditTrail

SLOTS = (1, 2, 4)


async def _append(
    store_url: str, data_dir: Path, total: int, writers: int, start: Barrier
) -> dict[str, Any]:
    # A shared store wants configured keys; the processes of one run share the data
    # folder's development keys, which is what `development` is for.
    settings = AuditSettings(store=store_url, append_timeout=60, development=True)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    pool = entries(4096, node=trail.node)
    remaining = total

    async def writer(offset: int) -> None:
        nonlocal remaining
        i = offset
        while remaining > 0:
            remaining -= 1
            await trail.append(pool[i % len(pool)])
            i += writers

    try:
        await asyncio.gather(*(trail.append(pool[i]) for i in range(500)))
        # Every process starts appending together, once all hold their slot.
        start.wait()
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(writer(n) for n in range(writers)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await trail.aclose()
    return {"node": trail.node, "entries": total, "seconds": elapsed, "cpu_seconds": cpu}


def _process(
    store_url: str, data_dir: Path, total: int, writers: int, start: Barrier, results: Any
) -> None:
    results.put(asyncio.run(_append(store_url, data_dir, total, writers, start)))


def run(store_url: str, data_dir: Path, slots: int, total: int, writers: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(slots)
    results = context.Queue()
    processes = [
        context.Process(
            target=_process,
            args=(store_url, data_dir, total // slots, max(1, writers // slots), start, results),
        )
        for _ in range(slots)
    ]
    for process in processes:
        process.start()
    done = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    elapsed = max(item["seconds"] for item in done)
    appended = sum(item["entries"] for item in done)
    return {
        "slots": slots,
        "nodes": sorted(item["node"] for item in done),
        "entries": appended,
        "seconds": round(elapsed, 3),
        "appends_per_second": round(appended / elapsed),
        "cpu_seconds": round(sum(item["cpu_seconds"] for item in done), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="appends per run")
    parser.add_argument("--writers", type=int, default=256, help="concurrent writers in all")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for slots in SLOTS:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            url = f"sqlite:///{data_dir / 'audit.db'}"
            rows.append(
                {"store": "sqlite", **run(url, data_dir, slots, args.entries, args.writers)}
            )
        if postgres_reachable():
            with tempfile.TemporaryDirectory() as tmp, postgres_schema() as pg_url:
                figures = run(pg_url, Path(tmp), slots, args.entries, args.writers)
                rows.append({"store": "postgres", **figures})
    for row in rows:
        single = next(r for r in rows if r["store"] == row["store"] and r["slots"] == 1)
        row["vs_one_slot"] = round(row["appends_per_second"] / single["appends_per_second"], 2)
        del row["nodes"]
    report(
        "audit_slots",
        "Audit trail: durable appends per second by writer slots (one process each)",
        rows,
        command=" ".join(["python -m bench.audit_slots", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    main()
