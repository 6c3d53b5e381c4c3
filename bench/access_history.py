"""A citizen's access history: milliseconds per page when she has 10,000 accesses.

Run: ``python -m bench.access_history [--accesses N] [--others M]``. Builds a trail
holding N entries about one citizen among M about other people (with the trail itself:
group commit, checkpoints), then times pages of 50 read as `Hub.access_history` reads
them (the store's page, its bodies parsed), first, middle and last, on each store.
Prints a table and writes bench/results/access_history.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._common import median, report
from bench.audit_common import entries, postgres_reachable, postgres_schema
from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._report import page_of_entries

TARGET_MS = 100.0
PAGE_SIZE = 50
ROUNDS = 7
WRITERS = 256
SUBJECT = "5" * 64


async def build(trail: AuditTrail, accesses: int, others: int) -> None:
    pool = entries(4096)
    # Hers spread evenly among the others', as a year of look-ups would fall.
    order = [False] * (accesses + others)
    step = len(order) // accesses
    for n in range(accesses):
        order[n * step] = True
    queue = iter(enumerate(order))

    async def writer() -> None:
        for i, mine in queue:
            entry = pool[i % len(pool)]
            await trail.append(entry.model_copy(update={"subject": SUBJECT}) if mine else entry)

    await asyncio.gather(*(writer() for _ in range(WRITERS)))


async def measure(settings: AuditSettings, data_dir: Path, accesses: int, others: int) -> Any:
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    try:
        await build(trail, accesses, others)
        pages = (accesses + PAGE_SIZE - 1) // PAGE_SIZE
        timings: dict[str, float] = {}
        for label, page in (("first", 1), ("middle", pages // 2), ("last", pages)):
            spent = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                total, found = await page_of_entries(
                    trail.store, SUBJECT, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
                )
                spent.append((time.perf_counter() - started) * 1000)
                assert total == accesses
                assert len(found) == PAGE_SIZE
            timings[label] = round(median(spent), 1)
        return timings
    finally:
        await trail.aclose()


@contextlib.contextmanager
def stores(folder: Path) -> Iterator[list[tuple[str, AuditSettings]]]:
    chosen = [("SQLite", AuditSettings(store=f"sqlite:///{folder}/audit.db", node="bench-1"))]
    with contextlib.ExitStack() as stack:
        if postgres_reachable():
            url = stack.enter_context(postgres_schema())
            chosen.append(
                ("PostgreSQL", AuditSettings(store=url, node="bench-1", development=True))
            )
        else:
            print("PostgreSQL unreachable: SQLite only", file=sys.stderr)
        yield chosen


async def main(accesses: int, others: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, stores(Path(tmp)) as chosen:
        for name, settings in chosen:
            data_dir = Path(tmp) / name
            timings = await measure(settings, data_dir, accesses, others)
            rows.append(
                {
                    "store": name,
                    "her accesses": accesses,
                    "other entries": others,
                    **{f"page {label}, ms": value for label, value in timings.items()},
                    "target, ms": TARGET_MS,
                }
            )
    report(
        "access_history",
        f"A citizen's access history: a page of {PAGE_SIZE}, median of {ROUNDS}",
        rows,
        command=" ".join(["python -m bench.access_history", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accesses", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=90_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.accesses, arguments.others))
