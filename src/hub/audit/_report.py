"""Reading the trail for people: who looked a subject up, and the quarter's statistics."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from hub.audit._entry import AuditEntry, Outcome, audit_id
from hub.audit._store import ReportRow, Store, StoreError

__all__ = ["GROUP_KEYS", "Found", "Report", "build_report", "find_entries", "page_of_entries"]

#: What a report may group by.
GROUP_KEYS = ("node", "client", "officer", "procedure", "source", "operation")
#: The (source, operation) pairs by which a dossier used population data for electronic
#: identification: a match against the population database, or a VNeID sign-in.
EID_CALLS = frozenset({("population", "verify"), ("vneid", "authenticate")})


@dataclass(frozen=True, slots=True)
class Found:
    """One entry about the subject asked for."""

    audit_id: str
    entry: AuditEntry


async def find_entries(
    store: Store, subject: str, *, since: str | None = None, until: str | None = None
) -> list[Found]:
    """The entries about one subject, oldest first.

    Args:
        store: The trail's store.
        subject: The subject's pseudonym (HMAC hex), not the identifier.
        since: RFC 3339 UTC text; inclusive.
        until: Likewise; exclusive.

    Raises:
        StoreError: the store cannot be read, or holds a malformed record.
    """
    async with store.snapshot() as snapshot:
        rows = await snapshot.find(subject, since, until)
    return [_found(node, index, body) for node, index, body in rows]


async def page_of_entries(
    store: Store,
    subject: str,
    *,
    since: str | None = None,
    until: str | None = None,
    offset: int,
    limit: int,
) -> tuple[int, list[Found]]:
    """A page of the entries about one subject, newest first, and how many there are.

    Args:
        store: The trail's store.
        subject: The subject's pseudonym (HMAC hex), not the identifier.
        since: RFC 3339 UTC text; inclusive.
        until: Likewise; exclusive.
        offset: Entries skipped.
        limit: Entries in the page at most.

    Raises:
        StoreError: the store cannot be read, or holds a malformed record.
    """
    async with store.snapshot() as snapshot:
        total, rows = await snapshot.find_page(subject, since, until, offset=offset, limit=limit)
    return total, [_found(node, index, body) for node, index, body in rows]


def _found(node: str, index: int, body: bytes) -> Found:
    try:
        entry = AuditEntry.model_validate(orjson.loads(body)["entry"])
    except (ValueError, TypeError, KeyError, ValidationError):
        raise StoreError(
            f"entry {audit_id(node, index)} is malformed; run `hub audit verify`"
        ) from None
    return Found(audit_id(node, index), entry)


@dataclass(slots=True)
class _Group:
    lookups: int = 0
    dossiers: set[str] = field(default_factory=set)
    eid_dossiers: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    upstream: list[float] = field(default_factory=list)

    def add(self, row: ReportRow) -> None:
        self.lookups += 1
        self.outcomes[row.outcome] += 1
        if row.dossier:
            self.dossiers.add(row.dossier)
            if row.outcome == Outcome.OK and (row.source, row.operation) in EID_CALLS:
                self.eid_dossiers.add(row.dossier)
        if row.upstream_ms is not None:
            self.upstream.append(float(row.upstream_ms))

    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "lookups": self.lookups,
            "dossiers": len(self.dossiers),
            "eid_dossiers": len(self.eid_dossiers),
        }
        for outcome in Outcome:
            figures[f"{outcome.value}_rate"] = (
                round(self.outcomes[outcome.value] / self.lookups, 4) if self.lookups else None
            )
        figures["p50_upstream_ms"] = _percentile(self.upstream, 50)
        figures["p95_upstream_ms"] = _percentile(self.upstream, 95)
        return figures


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return round(statistics.quantiles(values, n=100, method="inclusive")[percent - 1], 3)


@dataclass(slots=True)
class Report:
    """Look-ups per group over a period, and the same figures for the whole period.

    Each row holds the group's keys, then ``lookups``, distinct ``dossiers``,
    ``eid_dossiers`` (distinct dossiers that used population data for electronic
    identification), the rate of each outcome, and p50/p95 upstream milliseconds.
    """

    since: str | None
    until: str | None
    by: tuple[str, ...]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "by": list(self.by),
            "groups": self.rows,
            "totals": self.totals,
        }


async def build_report(
    store: Store,
    *,
    by: Sequence[str],
    since: str | None = None,
    until: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Count the entries made in [since, until), grouped by ``by``.

    Args:
        store: The trail's store.
        by: Keys among `GROUP_KEYS`, in the order of the report's columns.
        since: RFC 3339 UTC text; inclusive.
        until: Likewise; exclusive.
        progress: Called with the number of entries read so far.

    Raises:
        ValueError: a key is not one of `GROUP_KEYS`.
        StoreError: the store cannot be read.
    """
    unknown = [key for key in by if key not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)}; use {', '.join(GROUP_KEYS)}")
    groups: dict[tuple[str, ...], _Group] = {}
    everything = _Group()
    done = 0
    async with store.snapshot() as snapshot:
        async for chunk in snapshot.report_rows(since, until):
            for row in chunk:
                key = tuple(getattr(row, name) for name in by)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group()
                group.add(row)
                everything.add(row)
            done += len(chunk)
            if progress is not None:
                progress(done)
    rows = [
        {**dict(zip(by, key, strict=True)), **group.figures()}
        for key, group in sorted(groups.items())
    ]
    return Report(since, until, tuple(by), rows, everything.figures())
