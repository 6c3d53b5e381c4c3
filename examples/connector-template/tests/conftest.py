"""The mock served over real HTTP, beside the population mock of the same world."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub import HubSettings, SyncHub
from hub.testing import ServedApp

from lienthong_social_insurance_mock import create_app, hub_settings

SEED = 1
CITIZENS = 2_000
PURPOSE = {
    "client": "portal-test",
    "officer": "cb.0042",
    "procedure": "1.001757",
    "dossier": "H37-0001",
}
# One quick retry at most, and a breaker that never trips inside a test.
TUNING: dict[str, Any] = {
    "deadline": 5.0,
    "retry": {"attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.02},
    "breaker": {"min_calls": 1000},
}


@pytest.fixture(scope="session")
def mock() -> Iterator[ServedApp]:
    with ServedApp(create_app(seed=SEED, citizens=CITIZENS)) as served:
        yield served


@pytest.fixture(scope="session")
def population_mock() -> Iterator[ServedApp]:
    (entry,) = entry_points(group="hub.mocks", name="population")
    with ServedApp(entry.load().create_app(seed=SEED, citizens=CITIZENS)) as served:
        yield served


@pytest.fixture
def hub(tmp_path: Path, mock: ServedApp, population_mock: ServedApp) -> Iterator[SyncHub]:
    (entry,) = entry_points(group="hub.mocks", name="population")
    sources = {
        "social_insurance": {**hub_settings(mock.url), **TUNING},
        "population": {**entry.load().hub_settings(population_mock.url), **TUNING},
    }
    httpx.delete(f"{mock.url}/_admin/faults").raise_for_status()
    # HubSettings rather than load_settings: a hub.toml lying in the working directory
    # must not change the tests.
    with SyncHub(HubSettings(data_dir=tmp_path, sources=sources)) as sync_hub:
        yield sync_hub
    httpx.delete(f"{mock.url}/_admin/faults").raise_for_status()


def sample(mock: ServedApp, kind: str, n: int = 1) -> list[str]:
    """Keys of members of a kind, from the mock's admin surface."""
    response = httpx.get(f"{mock.url}/_admin/sample", params={"kind": kind, "n": n}, timeout=30)
    response.raise_for_status()
    keys: list[str] = response.json()["keys"]
    assert len(keys) == n, f"the register holds fewer than {n} of kind {kind}"
    return keys
