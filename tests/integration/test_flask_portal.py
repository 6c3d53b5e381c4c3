"""The Flask portal example under gunicorn: three workers, three audit writer slots.

gunicorn is a real process with three worker processes, in front of the population mock
that this process serves; the portal's hub finds its configuration in the folder gunicorn
runs in. Runs on SQLite and on PostgreSQL (a schema of its own, configured keys).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hub.audit._entry import parse_audit_id
from hub.testing import LeakCheck, ServedApp
from tests._helpers import MockAdmin, audit_keys, muted, population_source
from tests.reliability.crash_kit import (
    free_port,
    postgres_schema,
    store_url,
    toml_text,
    verify_cli,
    wait_until,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask-portal"
HOST = socket.gethostname()
WORKERS = 3
LOOKUPS = 300
#: Look-ups in flight at once: enough to keep every worker busy, bounded.
CONCURRENCY = 24
SLOTS = {f"{HOST}.{n}" for n in range(1, WORKERS + 1)}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The default store (SQLite in the data directory), or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_schema("portal_test") as schema:
        yield store_url(schema)


class Gunicorn:
    """``gunicorn --workers 3 portal:app`` in ``folder``, on a loopback port."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.url = f"http://127.0.0.1:{port}"
        self._port = port
        self._log = folder / "gunicorn.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it; return once every worker has answered with its own writer slot."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "gunicorn", "-c", str(EXAMPLE / "gunicorn.conf.py")),
                    *("--workers", str(WORKERS)),
                    *("--threads", "4", "--bind", f"127.0.0.1:{self._port}"),
                    *("--pythonpath", str(EXAMPLE), "--graceful-timeout", "20"),
                    "portal:app",
                ],
                cwd=self.folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        writers: set[str] = set()

        def every_worker_answers() -> bool:
            assert self._process is not None
            if self._process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.output()[-3000:]}")
            try:
                # A new connection each time: the kernel hands them to the workers in turn.
                answer = httpx.get(f"{self.url}/healthz", timeout=30)
            except httpx.TransportError:
                return False
            writers.add(answer.json()["writer"])
            return len(writers) == WORKERS

        wait_until(every_worker_answers, timeout=120, what="every gunicorn worker")
        assert writers == SLOTS

    def stop(self) -> None:
        """SIGTERM: the workers finish their requests and close their hubs."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        assert self._process.wait(60) == 0, self.output()[-3000:]

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def output(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace")


def write_config(folder: Path, store: str | None, mock: ServedApp) -> Path:
    """The portal's hub.toml: the population source; [audit] only for PostgreSQL."""
    config: dict[str, object] = {
        "data_dir": str(folder / "var"),
        "sources": {"population": population_source(mock)},
    }
    if store is not None:
        config["audit"] = {"store": store, **audit_keys(folder)}
    path = folder / "hub.toml"
    path.write_text(toml_text(config) + "\n", encoding="utf-8")
    return path


def look_up(url: str, national_ids: list[str]) -> list[httpx.Response]:
    def one(national_id: str) -> httpx.Response:
        body = {
            "national_id": national_id,
            "officer": "cb.0042",
            "procedure": "1.001757",
            "dossier": "H37.22-240315-0001",
        }
        return httpx.post(f"{url}/citizens/lookup", json=body, timeout=60)

    with muted("httpx"), ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return list(pool.map(one, national_ids))


# Two starts of gunicorn, each importing the hub in three workers: slow on a loaded machine.
@pytest.mark.timeout(300)
def test_three_gunicorn_workers_write_three_trees_and_keep_them_after_a_restart(
    tmp_path: Path, store: str | None, population_mock: ServedApp, leaks: LeakCheck
) -> None:
    """300 concurrent look-ups each get a distinct audit id; the trail verifies with 3 slots."""
    folder = tmp_path / "portal"
    folder.mkdir()
    config = write_config(folder, store, population_mock)
    national_ids = MockAdmin(population_mock).sample(LOOKUPS)
    gunicorn = Gunicorn(folder, free_port())
    try:
        gunicorn.start()
        answers = look_up(gunicorn.url, national_ids)
        gunicorn.stop()
        assert [answer.status_code for answer in answers] == [200] * LOOKUPS
        ids = [answer.json()["audit_id"] for answer in answers]
        assert len(set(ids)) == LOOKUPS
        assert {parse_audit_id(audit_id)[0] for audit_id in ids} == SLOTS

        report = verify_cli(config)
        assert report["ok"], report["problems"]
        assert {node["node"] for node in report["nodes"]} == SLOTS
        assert sum(node["entries"] for node in report["nodes"]) == LOOKUPS
        # The workers closed their hubs on the way out: every entry is signed.
        assert all(node["unsigned"] == 0 for node in report["nodes"])

        gunicorn.start()
        again = look_up(gunicorn.url, national_ids[:30])
        gunicorn.stop()
        assert [answer.status_code for answer in again] == [200] * 30
        report = verify_cli(config)
        assert report["ok"], report["problems"]
        assert {node["node"] for node in report["nodes"]} == SLOTS
        assert sum(node["entries"] for node in report["nodes"]) == LOOKUPS + 30
    finally:
        gunicorn.close()
        leaks.add(gunicorn.output())
