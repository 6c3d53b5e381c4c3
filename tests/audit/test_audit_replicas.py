"""Replicas on one PostgreSQL trail and one Redis: keys that agree, or a refusal at start.

The replicas run from folders of their own with the configuration of
examples/replicas/, their store and Redis given by the environment, as docs/audit.md says.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub import Hub, Purpose
from hub._config import HubSettings, load_settings
from hub._serving import ServedApp
from hub.audit._cli import audit_app
from hub.audit._keys import generate_audit_keys, generate_signing_key
from hub.errors import ConfigError
from tests._helpers import MockAdmin, population_source, redis_database
from tests.audit.conftest import postgres_dsn, with_search_path

pytestmark = pytest.mark.postgres

EXAMPLES = Path(__file__).parents[2] / "examples" / "replicas"
# A Redis database of its own, emptied before and after.
TEST_DB = 13
runner = CliRunner()


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_database(TEST_DB) as url:
        yield url


@pytest.fixture
def folders(
    tmp_path: Path, postgres_schema: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Path]:
    """A folder per replica, each with the shared keys and its own signing key."""
    monkeypatch.setenv("HUB_AUDIT__STORE", with_search_path(postgres_dsn(), postgres_schema))
    monkeypatch.setenv("HUB_REDIS_URL", redis_url)
    shared = generate_audit_keys(tmp_path / "shared")
    folders = {}
    for replica in ("a", "b"):
        keys = tmp_path / replica / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        for name in ("pseudonym_key", "mac_key"):
            shutil.copy(shared[name], keys / shared[name].name)
        public = generate_signing_key(keys / f"replica-{replica}.pem")
        folders[replica] = tmp_path / replica
        for other in ("a", "b"):
            (tmp_path / other / "keys").mkdir(parents=True, exist_ok=True)
            (tmp_path / other / "keys" / f"replica-{replica}.pub").write_text(public)
    return folders


def settings(folder: Path, mock: ServedApp, monkeypatch: pytest.MonkeyPatch) -> HubSettings:
    """Replica ``folder``'s settings: the example file, read from its own folder."""
    monkeypatch.chdir(folder)
    replica = folder.name
    return load_settings(
        EXAMPLES / f"replica-{replica}.toml",
        data_dir=str(folder / "var"),
        sources={"population": population_source(mock)},
    )


def purpose(client: str) -> Purpose:
    return Purpose(client=client, officer="cb.0042", procedure="1.001757", dossier="H37-0001")


@pytest.mark.parametrize(
    ("setting", "file"),
    [("pseudonym_key", "audit-pseudonym.key"), ("mac_key", "audit-mac.key")],
)
def test_a_replica_with_another_shared_key_refuses_to_start(
    folders: dict[str, Path],
    population_mock: ServedApp,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    file: str,
) -> None:
    """A second replica whose pseudonym or MAC key differs refuses the trail, naming the key."""
    (folders["b"] / "keys" / file).write_text("f" * 64)

    async def start(replica: str) -> None:
        async with Hub(settings(folders[replica], population_mock, monkeypatch)):
            pass

    asyncio.run(start("a"))
    with pytest.raises(ConfigError, match=rf"audit\.{setting}: not the key this audit trail"):
        asyncio.run(start("b"))


def test_replicas_find_and_verify_across_both(
    folders: dict[str, Path],
    population_mock: ServedApp,
    population: MockAdmin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Four look-ups of one citizen, two per replica: find lists four; verify trusts both keys."""
    (national_id,) = population.sample(1)

    async def look_up(replica: str) -> list[str]:
        async with Hub(settings(folders[replica], population_mock, monkeypatch)) as hub:
            return [
                (
                    await hub.lookup("population", {"national_id": national_id}, purpose=purpose(c))
                ).audit_id
                for c in ("portal-a", "portal-b")
            ]

    ids = asyncio.run(look_up("a")) + asyncio.run(look_up("b"))
    assert {i.split("~")[0] for i in ids} == {"replica-a", "replica-b"}
    monkeypatch.chdir(folders["a"])
    config = str(EXAMPLES / "replica-a.toml")
    found = runner.invoke(
        audit_app, ["find", "--config", config, "--subject", national_id, "--json"]
    )
    assert found.exit_code == 0, found.output
    assert sorted(found.output.count(i) for i in ids) == [1, 1, 1, 1]
    verified = runner.invoke(audit_app, ["verify", "--config", config, "--strict"])
    assert verified.exit_code == 0, verified.output
    # Without replica-b's public key in the trust list, its checkpoints are named as such.
    (folders["a"] / "keys" / "replica-b.pub").write_text(
        (folders["a"] / "keys" / "replica-a.pub").read_text()
    )
    refused = runner.invoke(audit_app, ["verify", "--config", config, "--strict"])
    assert refused.exit_code == 1
    assert "node replica-b: checkpoint #0: signed by a key you do not trust" in refused.output
    assert "does not hold" not in refused.output


def test_development_keys_are_refused_on_a_shared_store(
    tmp_path: Path,
    postgres_schema: str,
    population_mock: ServedApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without configured keys a shared trail does not start, unless development is declared."""
    store = with_search_path(postgres_dsn(), postgres_schema)
    source = population_source(population_mock)

    async def start(**audit: object) -> None:
        config = load_settings(
            None,
            data_dir=str(tmp_path),
            sources={"population": source},
            audit={"store": store, "node": "dev", **audit},
        )
        async with Hub(config):
            pass

    with pytest.raises(ConfigError, match="needs configured keys"):
        asyncio.run(start())
    asyncio.run(start(development=True))
