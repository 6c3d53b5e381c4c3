"""Writer slots: each process of a host writes a tree of its own, reused after a restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._trail import MAX_SLOTS, writer_names
from hub.errors import AuditUnavailable, ConfigError
from tests._helpers import MockAdmin, population_source
from tests.audit.conftest import NODE

HOST = socket.gethostname()
HUB = str(Path(sys.executable).with_name("hub"))

# A portal process: the embedded default configuration (no file, no [audit] section)
# with one source; it looks one citizen up, says its audit id, and holds its slot until
# its standard input closes.
CHILD = """
import json, sys
from hub import SyncHub, load_settings
source, national_id = json.loads(sys.argv[1]), sys.argv[2]
purpose = {"client": "portal", "officer": "cb.1", "procedure": "1.001757", "dossier": "D-1"}
with SyncHub(load_settings(None, sources={"population": source})) as hub:
    result = hub.lookup("population", {"national_id": national_id}, purpose=purpose)
    print(result.audit_id, flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def portal_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "portal"
    folder.mkdir()
    return folder


def start_portal(
    folder: Path, source: dict[str, object], national_id: str
) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(source), national_id],
        cwd=folder,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def audit_id_of(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line, f"the portal process ended ({process.wait(30)}) without an audit id"
    return line


def finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(30) == 0


@pytest.fixture
def portals(portal_dir: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def verify(folder: Path) -> dict[str, object]:
    result = subprocess.run(
        [HUB, "audit", "verify", "--json"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_two_processes_take_two_slots_and_a_restart_reuses_the_first(
    portal_dir, portals, population_mock
):
    """Two portal processes write slots 1 and 2; verify covers both; a restart takes slot 1."""
    source = population_source(population_mock)
    first_id, second_id, third_id = MockAdmin(population_mock).sample(3)
    portals.append(start_portal(portal_dir, source, first_id))
    first = audit_id_of(portals[0])
    portals.append(start_portal(portal_dir, source, second_id))
    second = audit_id_of(portals[1])
    assert (first, second) == (f"{HOST}.1~0", f"{HOST}.2~0")
    finish(portals[0])
    finish(portals[1])

    report = verify(portal_dir)
    assert report["ok"] is True
    nodes = {node["node"]: node["entries"] for node in report["nodes"]}  # type: ignore[attr-defined]
    assert nodes == {f"{HOST}.1": 1, f"{HOST}.2": 1}

    portals.append(start_portal(portal_dir, source, third_id))
    assert audit_id_of(portals[2]) == f"{HOST}.1~1"
    finish(portals[2])
    assert verify(portal_dir)["ok"] is True


async def test_a_named_node_is_one_writer_and_a_second_is_refused(make_settings, data_dir):
    """With [audit] node set, a second writer of that node is refused, as before slots."""
    settings = make_settings()
    first = await AuditTrail.open(settings, data_dir=data_dir)
    try:
        assert first.node == NODE
        with pytest.raises(AuditUnavailable, match=f"another process is writing node {NODE}"):
            await AuditTrail.open(settings, data_dir=data_dir)
    finally:
        await first.aclose()


async def test_unnamed_writers_take_free_slots_in_order(make_settings, data_dir):
    """Writers without a node name take slots 1, 2, 3; a freed slot is the next one taken."""
    named = make_settings()
    settings = AuditSettings(**named.model_dump(exclude={"node"}, exclude_unset=True))
    trails = [await AuditTrail.open(settings, data_dir=data_dir) for _ in range(3)]
    try:
        assert [trail.node for trail in trails] == [f"{HOST}.{n}" for n in (1, 2, 3)]
        await trails[1].aclose()
        trails[1] = await AuditTrail.open(settings, data_dir=data_dir)
        assert trails[1].node == f"{HOST}.2"
    finally:
        for trail in trails:
            await trail.aclose()


def test_slots_are_bounded_and_need_room_in_the_node_name():
    """A host has at most MAX_SLOTS writer slots; a host name too long for one is refused."""
    names = writer_names(AuditSettings())
    assert len(names) == MAX_SLOTS
    assert names[0] == f"{HOST}.1"
    assert writer_names(AuditSettings(node="hue-1")) == ["hue-1"]
    long = AuditSettings.model_construct(_fields_set=set(), node="h" * 62)
    with pytest.raises(ConfigError, match="set \\[audit\\] node"):
        writer_names(long)


async def test_a_host_with_every_slot_taken_is_refused_clearly(
    make_settings, data_dir, monkeypatch
):
    """A writer finding every slot of its host taken is refused with the bound in the message."""
    monkeypatch.setattr("hub.audit._trail.MAX_SLOTS", 2)
    named = make_settings()
    settings = AuditSettings(**named.model_dump(exclude={"node"}, exclude_unset=True))
    trails = [await AuditTrail.open(settings, data_dir=data_dir) for _ in range(2)]
    try:
        with pytest.raises(AuditUnavailable, match=f"all 2 writer slots of node {HOST} are taken"):
            await AuditTrail.open(settings, data_dir=data_dir)
    finally:
        for trail in trails:
            await trail.aclose()
