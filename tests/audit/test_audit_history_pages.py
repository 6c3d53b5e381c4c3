"""Pages of the entries about one subject: newest first, the same as reading them all."""

from __future__ import annotations

import asyncio
import datetime as dt

from hub.audit._report import find_entries, page_of_entries
from tests.audit.conftest import make_entry

HERS = "a" * 64
OTHERS = "b" * 64


async def test_pages_cover_every_entry_about_her_newest_first(trail):
    """Pages across several runs of the subject index equal the full search reversed."""
    # 9,000 entries: three runs of 4,096, hers every seventh and in the last one.
    entries = [make_entry(subject=HERS if i % 7 == 0 else OTHERS) for i in range(9_000)]
    await asyncio.gather(*(trail.append(entry) for entry in entries))
    everything = [found.audit_id for found in await find_entries(trail.store, HERS)][::-1]
    paged: list[str] = []
    for offset in range(0, len(everything) + 300, 300):
        total, found = await page_of_entries(trail.store, HERS, offset=offset, limit=300)
        assert total == len(everything)
        paged += [item.audit_id for item in found]
    assert paged == everything
    assert len(everything) == 1286


async def test_a_bounded_page_keeps_to_its_period(trail):
    """With bounds, only the entries made within them, still newest first."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for day in range(10):
        await trail.append(make_entry(subject=HERS, time=start + dt.timedelta(days=day)))
    total, found = await page_of_entries(
        trail.store,
        HERS,
        since="2026-01-03T00:00:00.000Z",
        until="2026-01-06T00:00:00.000Z",
        offset=1,
        limit=5,
    )
    assert total == 3
    assert [item.entry.time.day for item in found] == [4, 3]
