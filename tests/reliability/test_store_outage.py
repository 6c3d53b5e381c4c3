"""The audit store going away under load: look-ups fail closed, then resume by themselves.

A sidecar in front of the population mock takes look-ups from concurrent clients while
its audit store is cut off: PostgreSQL behind a proxy of the test's that resets or
black-holes every connection; SQLite locked by another process, or its files refusing
writes. While the store is away every look-up is refused with 503 ``audit_unavailable``
and no record; once it is back, look-ups succeed again without a restart, and the trail
holds every answered call exactly once, at consecutive indices, and verifies.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from hub import load_settings
from hub.sidecar import create_app, hash_key
from hub.testing import LeakCheck, ServedApp
from tests._helpers import MockAdmin, audit_keys, population_source
from tests.audit.conftest import postgres_dsn
from tests.reliability.crash_kit import (
    Answer,
    Load,
    TrailState,
    check_receipts,
    postgres_schema,
    read_trail,
    store_url,
    wait_until,
)
from tests.reliability.outage_proxy import CutProxy

NODE = "outage-1"
CLIENT = "portal-outage"
KEY = "key-portal-outage-0123456789abcdef0123456"
CLIENTS = 12
#: How long a look-up waits for its entry to be durable before it is refused.
APPEND_TIMEOUT = 1.0
#: Answers before the cut, refusals during it, successes after it.
WARM = 100
REFUSALS = 30
AFTER = 100
#: The longest a test waits for look-ups to be answered again once the store is back.
RESUME_TIMEOUT = 30.0
#: Within this of the store coming back, look-ups are answered: a failed resume, one
#: that succeeds, and a wide margin for a busy machine.
RESUME_BOUND = 5 * APPEND_TIMEOUT

# The phases of a run, as each answer records them.
HEALTHY, CUT, REFUSING, RESTORED, RESUMED = range(5)


def sidecar_app(tmp_path: Path, store: str, mock: ServedApp) -> ServedApp:
    settings = load_settings(
        None,
        data_dir=str(tmp_path / "data"),
        sources={"population": population_source(mock, deadline=5.0, attempt_timeout=2.0)},
        clients={
            CLIENT: {
                "key_sha256": hash_key(KEY),
                "sources": {"population": {"operations": ["lookup"]}},
            }
        },
        audit={
            "store": store,
            "node": NODE,
            **(audit_keys(tmp_path) if store.startswith("postgresql:") else {}),
            "append_timeout": APPEND_TIMEOUT,
            "checkpoint_every": 100,
            "checkpoint_seconds": 0.5,
        },
        sidecar={"readiness_cache_seconds": 0},
    )
    return ServedApp(create_app(settings))


def readiness(url: str) -> int:
    return httpx.get(f"{url}/readyz", timeout=10).status_code


@dataclass
class Outage:
    load: Load
    #: The status of /readyz while look-ups were refused.
    readiness_during: int
    #: Seconds from the restore to the first look-up answered.
    resumed_in: float


def run_outage(
    url: str,
    citizens: list[str],
    cut: Callable[[], None],
    restore: Callable[[], None],
    *,
    refusals: int = REFUSALS,
) -> Outage:
    """Load the sidecar, cut the store, hold the cut for ``refusals``, restore it, load again."""
    queries = [{"national_id": citizen} for citizen in citizens]
    with Load(url, key=KEY, source="population", queries=queries, clients=CLIENTS) as load:

        def count(phase: int, status: int) -> int:
            return load.count(lambda a: a.phase == phase and a.status == status)

        wait_until(lambda: count(HEALTHY, 200) >= WARM, timeout=60, what="look-ups answered")
        load.phase = CUT
        cut()
        wait_until(lambda: load.count(lambda a: a.status == 503) > 0, timeout=30, what="a 503")
        load.phase = REFUSING
        wait_until(lambda: count(REFUSING, 503) >= refusals, timeout=60, what="refusals")
        readiness_during = readiness(url)
        load.phase = RESTORED
        restored = time.monotonic()
        restore()
        wait_until(lambda: count(RESTORED, 200) > 0, timeout=RESUME_TIMEOUT, what="resuming")
        resumed_in = time.monotonic() - restored
        load.phase = RESUMED
        wait_until(lambda: count(RESUMED, 200) >= AFTER, timeout=60, what="look-ups answered")
    wait_until(lambda: readiness(url) == 200, timeout=RESUME_TIMEOUT, what="ready again")
    return Outage(load, readiness_during, resumed_in)


def check_outage(outage: Outage, citizens: list[str], leaks: LeakCheck, trail: TrailState) -> None:
    """Refusals while the store was away, answers before and after; every answer audited."""
    load = outage.load
    answers = load.answers
    assert sum(load.unanswered.values()) == 0, "the sidecar itself failed"
    names = {
        orjson.loads(answer.body)["record"]["full_name"]
        for answer in answers
        if answer.status == 200
    }
    leaks.add_values(names)
    for answer in answers:
        assert answer.status in (200, 503), answer.body
        if answer.status == 503:
            check_refusal(answer, [*citizens, *names])
            leaks.add(answer.body.decode())
    # Asked after the first refusal and answered before the restore: refused, every one.
    assert {a.status for a in answers if a.phase == a.ended == REFUSING} == {503}
    # Asked after the first answer that followed the restore: answered, every one.
    assert {a.status for a in answers if a.phase == RESUMED} == {200}
    assert check_receipts(answers, trail, NODE) == load.count(lambda a: a.status == 200)
    # Closing the sidecar flushed the trail and signed a last checkpoint.
    assert trail.report.nodes[0].unsigned == 0
    # Not ready while refusing; ready again after (run_outage waited for it).
    assert outage.readiness_during == 503
    assert outage.resumed_in < RESUME_BOUND


def check_refusal(answer: Answer, personal: list[str]) -> None:
    """A refusal is the audit_unavailable problem: no record, no audit id, no personal data."""
    assert answer.kind == "audit_unavailable"
    assert answer.audit_id is None
    body = orjson.loads(answer.body)
    assert body["status"] == 503
    assert "record" not in body
    assert "audit_id" not in body
    text = answer.body.decode()
    assert not [value for value in personal if value in text]


def summary(label: str, outage: Outage, trail: TrailState) -> str:
    answered = outage.load.count(lambda a: a.status == 200)
    refused = outage.load.count(lambda a: a.status == 503)
    return (
        f"{label}: {answered} look-ups answered, {refused} refused (503),"
        f" {len(trail.request_ids)} entries; answering again {outage.resumed_in:.2f} s"
        " after the store came back"
    )


# PostgreSQL: connections cut by a proxy


@pytest.fixture
def postgres_store() -> Iterator[str]:
    """A PostgreSQL schema of this test's own; yields its name."""
    with postgres_schema("outage_test") as schema:
        yield schema


@pytest.mark.postgres
@pytest.mark.parametrize(("how", "refusals"), [("sever", REFUSALS), ("blackhole", CLIENTS)])
def test_postgres_cut_off_fails_closed_then_resumes(
    tmp_path: Path,
    postgres_store: str,
    population_mock: ServedApp,
    population: MockAdmin,
    leaks: LeakCheck,
    how: str,
    refusals: int,
) -> None:
    """Connections reset or black-holed: 503 without a record; back within seconds of the cure.

    The black hole is healed soon after the first refusals, while the commit it caught
    may still be pending: that commit must give up with the append timeout rather than
    wait for psycopg to send a cancel request to the unreachable server and then for the
    query to end (5 s each), since the writer cannot resume before it gives up.
    """
    citizens = population.sample(20)
    server = urlsplit(postgres_dsn())
    with CutProxy(server.hostname or "127.0.0.1", server.port or 5432) as proxy:
        through_proxy = store_url(postgres_store, host="127.0.0.1", port=proxy.port)
        with sidecar_app(tmp_path, through_proxy, population_mock) as served:
            cut = proxy.sever if how == "sever" else proxy.blackhole
            outage = run_outage(served.url, citizens, cut, proxy.restore, refusals=refusals)
    trail = read_trail(store_url(postgres_store), NODE, tmp_path / "data", audit_keys(tmp_path))
    print(summary(f"postgres {how}", outage, trail))
    check_outage(outage, citizens, leaks, trail)


# SQLite: the file locked by another process, or refusing writes


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "trail" / "audit.db"


def test_sqlite_locked_fails_closed_then_resumes(
    tmp_path: Path,
    sqlite_path: Path,
    population_mock: ServedApp,
    population: MockAdmin,
    leaks: LeakCheck,
) -> None:
    """Another process holds the write lock: 503 without a record; back once it lets go."""
    citizens = population.sample(20)
    holder: list[sqlite3.Connection] = []

    def lock() -> None:
        conn = sqlite3.connect(sqlite_path, timeout=10, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        holder.append(conn)

    def unlock() -> None:
        conn = holder.pop()
        conn.execute("ROLLBACK")
        conn.close()

    store = f"sqlite:///{sqlite_path}"
    with sidecar_app(tmp_path, store, population_mock) as served:
        try:
            outage = run_outage(served.url, citizens, lock, unlock)
        finally:
            for conn in holder:
                conn.close()
    trail = read_trail(store, NODE, tmp_path / "data")
    print(summary("sqlite locked", outage, trail))
    check_outage(outage, citizens, leaks, trail)


def _immutable(paths: list[Path], on: bool) -> None:
    subprocess.run(
        ["chattr", "+i" if on else "-i", *map(str, paths)], check=True, capture_output=True
    )


@contextlib.contextmanager
def refusing_writes(db: Path) -> Iterator[tuple[Callable[[], None], Callable[[], None]]]:
    """Make the database and its WAL refuse every write (immutable), and undo it.

    Writes through descriptors SQLite already holds then fail (EPERM), as on a file
    system gone read-only. Permission bits would not do: they are checked when a file
    is opened, and the writer's files are open. The shared-memory index is left alone:
    SQLite maps it, and a write to it would kill the process (SIGBUS).
    """
    probe = db.parent / "chattr-probe"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.touch()
    try:
        _immutable([probe], True)
        _immutable([probe], False)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("files cannot be made immutable here (chattr needs CAP_LINUX_IMMUTABLE)")
    made: list[Path] = []

    def cut() -> None:
        made.extend(path for path in (db, db.with_name(f"{db.name}-wal")) if path.exists())
        _immutable(made, True)

    def restore() -> None:
        _immutable(made, False)
        made.clear()

    try:
        yield cut, restore
    finally:
        if made:
            _immutable(made, False)


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr (e2fsprogs)")
def test_sqlite_refusing_writes_fails_closed_then_resumes(
    tmp_path: Path,
    sqlite_path: Path,
    population_mock: ServedApp,
    population: MockAdmin,
    leaks: LeakCheck,
) -> None:
    """The database file refuses writes: 503 without a record; back once it takes them."""
    citizens = population.sample(20)
    store = f"sqlite:///{sqlite_path}"
    with (
        refusing_writes(sqlite_path) as (cut, restore),
        sidecar_app(tmp_path, store, population_mock) as served,
    ):
        outage = run_outage(served.url, citizens, cut, restore)
    trail = read_trail(store, NODE, tmp_path / "data")
    print(summary("sqlite read-only", outage, trail))
    check_outage(outage, citizens, leaks, trail)
