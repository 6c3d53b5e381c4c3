"""What the crash and outage tests share: clients under load, a sidecar in a process of its
own, PostgreSQL schemas of their own, and the trail read back and checked.

Every answer a client gets is kept with the request id it sent, so that the trail can be
checked entry by entry: an audit id handed to a client must name an entry recording that
very request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import orjson
import psycopg
from typer.testing import CliRunner

from hub._config import AuditSettings
from hub.audit._cli import audit_app
from hub.audit._entry import parse_audit_id
from hub.audit._keys import signing_key
from hub.audit._store import open_store
from hub.audit._verify import VerifyReport, verify_trail
from tests._helpers import collect_problem, requires_service
from tests.audit.conftest import postgres_dsn

ROOT = Path(__file__).resolve().parents[2]
PURPOSE = {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37.22-240315-0001"}
#: Long enough for a sidecar to import everything and open its trail on a busy machine.
START_TIMEOUT = 60.0


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.02)


# Clients under load


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer a client received, with the phases of the test when it asked and got it."""

    request_id: str
    phase: int
    ended: int
    status: int
    audit_id: str | None
    #: The problem type's last part (``audit_unavailable``), for an error.
    kind: str | None
    body: bytes


class Load:
    """Concurrent clients posting look-ups until stopped; every answer is kept.

    Each client has its own connection and cycles through ``queries``. A transport error
    (the sidecar killed, not yet listening) is counted and the call is made again after
    a short pause.

    Args:
        url: The sidecar's base URL.
        key: The client's API key.
        source: The source to look up.
        queries: The queries to cycle through.
        clients: How many clients at once.
    """

    def __init__(
        self, url: str, *, key: str, source: str, queries: list[dict[str, str]], clients: int
    ) -> None:
        self._url = url
        self._key = key
        self._path = f"/v1/sources/{source}/lookup"
        self._queries = queries
        self._clients = clients
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._failures: list[BaseException] = []
        self.answers: list[Answer] = []
        #: Calls that got no answer (connection refused, reset, cut mid-answer), by phase.
        self.unanswered: Counter[int] = Counter()
        #: Bumped by the test (healthy, failing, restored ...); each answer records it.
        self.phase = 0

    def __enter__(self) -> Load:
        for number in range(self._clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the clients; raise what made one of them give up, if anything did."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in self._threads), "a client hangs"
        if self._failures:
            raise self._failures[0]

    def count(self, predicate: Callable[[Answer], bool] = lambda answer: True) -> int:
        with self._lock:
            return sum(1 for answer in self.answers if predicate(answer))

    def _client(self, number: int) -> None:
        try:
            self._calls(number)
        except BaseException as exc:
            self._failures.append(exc)
            raise

    def _calls(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {self._key}"}
        hooks = {"response": [collect_problem]}
        with httpx.Client(
            base_url=self._url, headers=headers, timeout=30, event_hooks=hooks
        ) as http:
            sent = 0
            while not self._stop.is_set():
                query = self._queries[(number + sent * self._clients) % len(self._queries)]
                sent += 1
                request_id = f"load-{number}-{sent}-{uuid.uuid4().hex[:8]}"
                phase = self.phase
                try:
                    response = http.post(
                        self._path,
                        json={"query": query, "purpose": PURPOSE},
                        headers={"X-Request-ID": request_id},
                    )
                except httpx.TransportError:
                    with self._lock:
                        self.unanswered[phase] += 1
                    self._stop.wait(0.1)
                    continue
                kind = None
                if response.status_code >= 400:
                    kind = str(response.json().get("type", "")).rpartition(":")[2]
                answer = Answer(
                    request_id=request_id,
                    phase=phase,
                    ended=self.phase,
                    status=response.status_code,
                    audit_id=response.headers.get("X-Audit-Id"),
                    kind=kind,
                    body=response.content,
                )
                with self._lock:
                    self.answers.append(answer)


# A sidecar in a process of its own


def toml_text(table: dict[str, Any], name: str = "") -> str:
    """A TOML document of nested tables of strings, numbers, booleans and lists of them."""
    scalars = [
        f"{key} = {json.dumps(value)}"
        for key, value in table.items()
        if not isinstance(value, dict)
    ]
    lines = [f"[{name}]", *scalars] if name and scalars else scalars
    for key, value in table.items():
        if isinstance(value, dict):
            lines.append(toml_text(value, f"{name}.{key}" if name else key))
    return "\n".join(lines)


def free_port() -> int:
    """A loopback port nothing listens on now (the sidecar binds it on each start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SidecarProcess:
    """``python -m hub serve --config FILE``, started, killed and restarted on one port.

    Its output (JSON log lines) goes to ``log``, which `output` reads back.

    Args:
        config: The configuration file; its ``[sidecar] port`` is ``port``.
        port: The port it listens on.
        log: Where its standard output and error go.
        start_timeout: Seconds it may take to answer after a start.
    """

    def __init__(
        self, config: Path, *, port: int, log: Path, start_timeout: float = START_TIMEOUT
    ) -> None:
        self.config = config
        self.start_timeout = start_timeout
        self.url = f"http://127.0.0.1:{port}"
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start it and wait until it answers (its audit trail is then open)."""
        # The configuration is the file alone: no HUB_ variable of the test run applies.
        env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
        self._log_file = self._log.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--config", str(self.config)],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1
        process = self._process

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"the sidecar exited with {process.returncode}:\n{self.output()[-3000:]}"
                )
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, timeout=self.start_timeout, what="the sidecar to start")

    @property
    def pid(self) -> int:
        """The process id of the running sidecar (the supervisor, with several workers)."""
        return self._running().pid

    def workers(self) -> set[int]:
        """The process ids of its worker processes: the children uvicorn spawned."""
        parent = self.pid
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            # The parent's pid follows the state, after the command name in parentheses.
            if int(stat.rpartition(")")[2].split()[1]) == parent and b"spawn_main" in cmdline:
                found.add(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL: no shutdown work at all, as in a power cut of the process."""
        process = self._running()
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
        self._closed()

    def stop(self) -> None:
        """SIGTERM: finish in-flight calls, flush and sign the trail, exit."""
        process = self._running()
        process.send_signal(signal.SIGTERM)
        # uvicorn exits cleanly, then raises the signal it caught again.
        assert process.wait(60) in (0, -signal.SIGTERM), self.output()[-3000:]
        self._closed()

    def close(self) -> None:
        """Kill it if it still runs (after a failed test)."""
        if self._process is not None and self._process.poll() is None:
            self.kill()
        self._closed()

    def output(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace")

    def _running(self) -> subprocess.Popen[bytes]:
        process = self._process
        assert process is not None, "never started"
        assert process.poll() is None, "not running"
        return process

    def _closed(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


# PostgreSQL


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(postgres_dsn(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def store_url(schema: str, *, host: str | None = None, port: int | None = None) -> str:
    """The URL of the test server's ``schema`` as a store; ``host``/``port`` replace its own."""
    parts = urlsplit(postgres_dsn())
    netloc = parts.netloc
    if host is not None or port is not None:
        user, at, _ = parts.netloc.rpartition("@")
        netloc = f"{user}{at}{host or parts.hostname}:{port or parts.port or 5432}"
    query = f"options={quote(f'-csearch_path={schema}', safe='')}"
    if parts.query:
        query = f"{parts.query}&{query}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@contextlib.contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """A fresh schema on the test server, dropped after; skips (fails under CI) without one."""
    server = urlsplit(postgres_dsn())
    # The host and port only: the DSN may hold a password.
    requires_service(
        "PostgreSQL", postgres_reachable(), f"no server at {server.hostname}:{server.port}"
    )
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
            # Never wait forever on a session a failed test left behind.
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# The trail, read back


@dataclass(frozen=True, slots=True)
class TrailState:
    """What the store holds for one node, and how it verifies."""

    report: VerifyReport
    #: The request id of each stored entry, by index.
    request_ids: dict[int, str]


async def _read_trail(settings: AuditSettings, data_dir: Path) -> TrailState:
    key = signing_key(settings, data_dir=data_dir, create=False).public_key()
    store = open_store(settings.store, data_dir=data_dir, timeout=30)
    try:
        report = await verify_trail(store, [key])
        async with store.snapshot() as snapshot:
            size = await snapshot.size(settings.node)
            bodies = await snapshot.bodies(settings.node, 0, size)
    finally:
        await store.aclose()
    request_ids = {index: orjson.loads(body)["entry"]["request_id"] for index, body in bodies}
    return TrailState(report=report, request_ids=request_ids)


def read_trail(
    store: str, node: str, data_dir: Path, keys: dict[str, str] | None = None
) -> TrailState:
    """Verify the trail in ``store`` and read the request id of every entry of ``node``.

    ``keys`` are the configured ``[audit]`` keys (a PostgreSQL trail has them); without,
    the development keys of ``data_dir``.
    """
    settings = AuditSettings(store=store, node=node, **(keys or {}))
    return asyncio.run(_read_trail(settings, data_dir))


def check_receipts(answers: list[Answer], trail: TrailState, node: str) -> int:
    """Every audit id a client received names an entry of that request; none is used twice.

    Also checks that the stored indices run from 0 without a gap and that no request was
    recorded twice. Returns how many receipts were checked.
    """
    assert trail.report.ok, trail.report.problems
    assert sorted(trail.request_ids) == list(range(len(trail.request_ids))), "an index is skipped"
    recorded = Counter(trail.request_ids.values())
    assert not [rid for rid, times in recorded.items() if times > 1], "a request recorded twice"
    receipts = [answer for answer in answers if answer.audit_id is not None]
    seen: set[int] = set()
    for answer in receipts:
        assert answer.audit_id is not None
        answer_node, index = parse_audit_id(answer.audit_id)
        assert answer_node == node
        assert index not in seen, f"{answer.audit_id} was handed out twice"
        seen.add(index)
        assert trail.request_ids.get(index) == answer.request_id, (
            f"{answer.audit_id} (status {answer.status}) does not record its request"
        )
        assert orjson.loads(answer.body)["audit_id"] == answer.audit_id
    return len(receipts)


def verify_cli(config: Path) -> dict[str, Any]:
    """``hub audit verify --config FILE --json``; it must exit 0. Returns its report."""
    result = CliRunner().invoke(audit_app, ["verify", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def proof_cli(config: Path, audit_id: str) -> dict[str, Any]:
    """``hub audit proof AUDIT_ID --config FILE``; it must exit 0. Returns the proof."""
    result = CliRunner().invoke(audit_app, ["proof", audit_id, "--config", str(config)])
    assert result.exit_code == 0, result.output
    proof: dict[str, Any] = json.loads(result.stdout)
    return proof
