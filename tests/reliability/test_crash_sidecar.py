"""The sidecar killed (SIGKILL) under load and started again, several times: every answer
that reached a client with an audit id has its entry in the trail, and the trail verifies.

The sidecar is a real process (``python -m hub serve --config FILE``) in front of the
budget-unit mock, which this process serves; sixteen clients keep calling it through the
kills. Runs on SQLite and on PostgreSQL (a schema of its own). With several workers, one
worker at a time is killed and its supervisor replaces it.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub._registry import installed_mocks
from hub.audit import InclusionProof
from hub.audit._entry import parse_audit_id
from hub.sidecar import hash_key
from hub.testing import LeakCheck, ServedApp
from tests._helpers import FAST, MockAdmin, audit_keys, serve_mock
from tests.reliability.crash_kit import (
    Answer,
    Load,
    SidecarProcess,
    check_receipts,
    free_port,
    postgres_schema,
    proof_cli,
    read_trail,
    store_url,
    toml_text,
    verify_cli,
    wait_until,
)

NODE = "crash-1"
HOST = socket.gethostname()
WORKERS = 2
WORKER_KILLS = 2
WORKER_START_TIMEOUT = 180.0
CLIENT = "portal-crash"
KEY = "key-portal-crash-0123456789abcdef01234567"
CLIENTS = 16
KILLS = 3
#: Answers between two kills: a second or two of load on this machine.
ANSWERS_PER_LIFE = 120
#: A well-formed code the register does not hold: its answers (404) are audited too.
UNKNOWN_CODE = "9000001"


@pytest.fixture(scope="module")
def budget_unit_mock() -> Iterator[ServedApp]:
    with serve_mock("budget_unit", seed=3, citizens=20_000) as served:
        yield served


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trail' / 'audit.db'}"
        return
    with postgres_schema("crash_test") as schema:
        yield store_url(schema)


def keys_for(store: str, tmp_path: Path) -> dict[str, str]:
    """The configured audit keys a PostgreSQL trail needs; none for SQLite."""
    return audit_keys(tmp_path) if store.startswith("postgresql:") else {}


def write_config(
    tmp_path: Path, store: str, mock: ServedApp, port: int, *, workers: int = 1
) -> Path:
    mock_source = {
        **installed_mocks()["budget_unit"].hub_settings(mock.url),
        **FAST,
        "deadline": 5.0,
        "attempt_timeout": 2.0,
    }
    config = {
        "data_dir": str(tmp_path / "data"),
        # Checkpoints often, so that kills fall before, during and after signing.
        "audit": {
            "store": store,
            # Several workers take the host's writer slots, which a named node has not.
            **({"node": NODE} if workers == 1 else {}),
            **keys_for(store, tmp_path),
            "checkpoint_every": 200,
            "checkpoint_seconds": 0.5,
        },
        "logging": {"format": "json", "level": "info"},
        "sidecar": {
            "host": "127.0.0.1",
            "port": port,
            "shutdown_grace": 5.0,
            "workers": workers,
        },
        "sources": {"budget_unit": mock_source},
        "clients": {
            CLIENT: {
                "key_sha256": hash_key(KEY),
                "sources": {"budget_unit": {"operations": ["lookup"]}},
            }
        },
    }
    path = tmp_path / "hub.toml"
    path.write_text(toml_text(config) + "\n", encoding="utf-8")
    return path


def receipts(load: Load) -> int:
    return load.count(lambda answer: answer.audit_id is not None)


def index_of(answer: Answer) -> int:
    assert answer.audit_id is not None
    return parse_audit_id(answer.audit_id)[1]


def test_answers_with_an_audit_id_survive_sidecar_kills(
    tmp_path: Path, store: str, budget_unit_mock: ServedApp, leaks: LeakCheck
) -> None:
    """After each SIGKILL under load, each receipt a client got is in a trail that verifies."""
    codes = MockAdmin(budget_unit_mock).sample(40)
    queries = [{"code": code} for code in codes] + [{"code": UNKNOWN_CODE}]
    port = free_port()
    config = write_config(tmp_path, store, budget_unit_mock, port)
    sidecar = SidecarProcess(config, port=port, log=tmp_path / "sidecar.log")
    load = Load(sidecar.url, key=KEY, source="budget_unit", queries=queries, clients=CLIENTS)
    try:
        sidecar.start()
        with load:
            for life in range(KILLS + 1):
                target = receipts(load) + ANSWERS_PER_LIFE
                wait_until(
                    lambda target=target: receipts(load) >= target,
                    timeout=60,
                    what=f"{ANSWERS_PER_LIFE} answers in life {life} of the sidecar",
                )
                if life < KILLS:
                    sidecar.kill()
                    load.phase = life + 1
                    # As the killed process left it: entries not yet signed are a warning.
                    trail = read_trail(store, NODE, tmp_path / "data", keys_for(store, tmp_path))
                    check_receipts(list(load.answers), trail, NODE)
                    sidecar.start()
        # A clean stop signs every entry the last life made.
        sidecar.stop()
    finally:
        sidecar.close()
        leaks.add(sidecar.output())

    answers = load.answers
    for answer in answers:
        if answer.status != 200:
            leaks.add(answer.body.decode())
    assert {answer.status for answer in answers} == {200, 404}
    for life in range(KILLS + 1):
        assert any(a.phase == life and a.status == 200 for a in answers), f"life {life}"
    assert sum(load.unanswered.values()) > 0, "no call was cut: the kills missed the load"

    trail = read_trail(store, NODE, tmp_path / "data", keys_for(store, tmp_path))
    checked = check_receipts(answers, trail, NODE)
    assert checked == len(answers)
    assert len(trail.request_ids) >= checked

    print(
        f"{store.partition(':')[0]}: {KILLS} kills, {sidecar.starts} starts;"
        f" {checked} answers with an audit id ({load.count(lambda a: a.status == 404)} of them"
        f" 404), {sum(load.unanswered.values())} calls cut or refused by a dead sidecar;"
        f" {len(trail.request_ids)} entries"
    )
    report = verify_cli(config)
    assert report["ok"], report["problems"]
    (node,) = report["nodes"]
    assert node["node"] == NODE
    assert node["entries"] == len(trail.request_ids)
    assert node["unsigned"] == 0

    last_of_each_life = [
        max((a for a in answers if a.phase == life and a.audit_id), key=index_of)
        for life in range(KILLS + 1)
    ]
    for answer in last_of_each_life:
        assert answer.audit_id is not None
        proof = InclusionProof.model_validate(proof_cli(config, answer.audit_id))
        assert proof.audit_id == answer.audit_id
        assert proof.verify()


# Every start imports the hub twice over (supervisor, then workers): minutes on a loaded
# machine rather than the default two.
@pytest.mark.timeout(480)
def test_a_killed_worker_is_replaced_and_loses_no_receipt(
    tmp_path: Path, store: str, budget_unit_mock: ServedApp, leaks: LeakCheck
) -> None:
    """Workers SIGKILLed under load are replaced, reusing their slots; no receipt is lost."""
    codes = MockAdmin(budget_unit_mock).sample(40)
    queries = [{"code": code} for code in codes] + [{"code": UNKNOWN_CODE}]
    port = free_port()
    config = write_config(tmp_path, store, budget_unit_mock, port, workers=WORKERS)
    # The supervisor and then each worker import the hub: slow on a loaded machine.
    sidecar = SidecarProcess(
        config, port=port, log=tmp_path / "sidecar.log", start_timeout=WORKER_START_TIMEOUT
    )
    load = Load(sidecar.url, key=KEY, source="budget_unit", queries=queries, clients=CLIENTS)
    try:
        sidecar.start()
        wait_until(
            lambda: len(sidecar.workers()) == WORKERS,
            timeout=WORKER_START_TIMEOUT,
            what="the workers",
        )
        with load:
            for life in range(WORKER_KILLS + 1):
                target = receipts(load) + ANSWERS_PER_LIFE
                wait_until(
                    lambda target=target: receipts(load) >= target,
                    timeout=WORKER_START_TIMEOUT,
                    what=f"{ANSWERS_PER_LIFE} answers in life {life} of the workers",
                )
                if life < WORKER_KILLS:
                    victim = min(sidecar.workers())
                    os.kill(victim, signal.SIGKILL)
                    load.phase = life + 1
                    wait_until(
                        lambda victim=victim: (
                            victim not in (pids := sidecar.workers()) and len(pids) == WORKERS
                        ),
                        timeout=WORKER_START_TIMEOUT,
                        what="the killed worker's replacement",
                    )
        # A clean stop: every worker finishes its calls and signs its tree.
        sidecar.stop()
    finally:
        sidecar.close()
        leaks.add(sidecar.output())

    answers = load.answers
    for answer in answers:
        if answer.status != 200:
            leaks.add(answer.body.decode())
    assert {answer.status for answer in answers} == {200, 404}
    assert sum(load.unanswered.values()) > 0, "no call was cut: the kills missed the load"
    slots = {f"{HOST}.{n}" for n in range(1, WORKERS + 1)}
    by_node: dict[str, list[Answer]] = {node: [] for node in slots}
    for answer in answers:
        if answer.audit_id is not None:
            by_node[parse_audit_id(answer.audit_id)[0]].append(answer)
    checked = 0
    for node, answered in by_node.items():
        trail = read_trail(store, node, tmp_path / "data", keys_for(store, tmp_path))
        checked += check_receipts(answered, trail, node)
    assert checked == receipts(load)

    report = verify_cli(config)
    assert report["ok"], report["problems"]
    # The kills' replacements reused the freed slots: never a third tree. (Which worker
    # accepts a connection is the kernel's choice, so one of them may have written
    # nothing.) A slot whose last holder was killed may keep unsigned entries (MACed, so
    # still proven) until a process takes it again.
    written = {node["node"] for node in report["nodes"]}
    assert written, "no worker wrote"
    assert written <= slots
    print(
        f"{store.partition(':')[0]}: {WORKER_KILLS} worker kills; {checked} answers with an"
        f" audit id across {len(slots)} slots, {sum(load.unanswered.values())} calls cut"
    )
