"""Append under load until killed, printing each acknowledged audit id (for the crash test).

Run as ``python -m tests.audit.crash_child STORE_URL DATA_DIR``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import uuid
from pathlib import Path

from hub._config import AuditSettings
from hub.audit import AuditEntry, AuditTrail, Outcome
from tests._helpers import audit_keys

WRITERS = 32


def entry() -> AuditEntry:
    return AuditEntry(
        time=dt.datetime.now(dt.UTC),
        node="hue-1",
        request_id=uuid.uuid4().hex,
        client="portal-ninhbinh",
        officer="cb.0042",
        procedure="1.001757",
        dossier="H37.22-240315-0001",
        source="population",
        operation="lookup",
        subject=None,
        fields=["full_name"],
        outcome=Outcome.OK,
        error=None,
        attempts=1,
        upstream_ms=3.0,
        total_ms=4.0,
        cache=None,
    )


async def main(store: str, data_dir: Path) -> None:
    # The keys the test's settings configure for a shared store (see make_settings).
    keys = audit_keys(data_dir.parent) if store.startswith("postgresql:") else {}
    settings = AuditSettings(
        store=store, node="hue-1", checkpoint_every=100, checkpoint_seconds=0.2, **keys
    )
    trail = await AuditTrail.open(settings, data_dir=data_dir)

    async def writer() -> None:
        while True:
            value = await trail.append(entry())
            # Printed only once append has returned: the entry is durable.
            sys.stdout.write(value + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(writer() for _ in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
