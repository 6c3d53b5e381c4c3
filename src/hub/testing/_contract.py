"""The connector contract kit: what every connector must do, checked against its mock.

It drives the connector through a real `SyncHub` (so it needs no async test plugin),
against the connector's mock served over real HTTP on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from hub._config import HubSettings, SourceSettings
from hub._hub import SyncHub
from hub._model import Query, Record
from hub._registry import installed_connectors, installed_mocks
from hub._serving import ServedApp
from hub.connector import Connector, HealthStatus, Operation
from hub.errors import InvalidQuery, NotFound, UpstreamError

__all__ = ["ConnectorContract"]

PURPOSE = {
    "client": "contract-kit",
    "officer": "cb.0001",
    "procedure": "1.001757",
    "dossier": "CONTRACT-0001",
}

# Fast retries and a breaker that does not trip inside the kit's own fault checks.
_TEST_TUNING: dict[str, Any] = {
    "deadline": 10.0,
    "attempt_timeout": 3.0,
    "retry": {"attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05},
    "breaker": {"min_calls": 1000},
}


class ConnectorContract:
    """Subclass in a test module; pytest then runs every check of the contract.

    Example::

        class TestPopulationContract(ConnectorContract):
            connector = PopulationConnector
            sample_kind = "citizen"
            missing_query = {"national_id": "001099000000"}
            invalid_queries = [{"national_id": "12"}, {}]

            def lookup_query(self, key):
                return {"national_id": key}

    Class attributes:
        connector: The connector class under test.
        sample_kind: The kind of key the mock's ``/_admin/sample`` gives for look-ups.
        missing_query: A well-formed query for a record that does not exist.
        invalid_queries: Queries the hub must refuse before any upstream call.
        settings: Extra ``[sources.NAME]`` settings for the test hub.
    """

    connector: ClassVar[type[Connector[Any, Any]]]
    sample_kind: ClassVar[str | None] = None
    missing_query: ClassVar[dict[str, Any] | None] = None
    invalid_queries: ClassVar[list[dict[str, Any]]] = []
    settings: ClassVar[dict[str, Any]] = {}
    citizens: ClassVar[int] = 2_000

    def lookup_query(self, key: str) -> dict[str, Any]:
        """The look-up query for a key from the mock's sample."""
        raise NotImplementedError

    def verify_claim(self, key: str, record: Record) -> dict[str, Any] | None:
        """A claim that matches ``record`` (found by ``key``), for connectors that verify."""
        return None

    # Fixtures

    @pytest.fixture(scope="class")
    @classmethod
    def mock(cls) -> Iterator[ServedApp]:
        module = installed_mocks()[cls.connector.name]
        with ServedApp(module.create_app(seed=1, citizens=cls.citizens)) as served:
            yield served

    @pytest.fixture
    def hub(self, mock: ServedApp, tmp_path: Path) -> Iterator[SyncHub]:
        module = installed_mocks()[self.connector.name]
        table = {**module.hub_settings(mock.url), **_TEST_TUNING, **self.settings}
        # Not load_settings: the kit must not pick up the caller's hub.toml or HUB_CONFIG.
        settings = HubSettings(data_dir=tmp_path, sources={self.connector.name: table})
        httpx.delete(f"{mock.url}/_admin/faults")
        with SyncHub(settings) as sync_hub:
            yield sync_hub
        httpx.delete(f"{mock.url}/_admin/faults")

    def _keys(self, mock: ServedApp, n: int = 3) -> list[str]:
        params: dict[str, Any] = {"n": n}
        if self.sample_kind:
            params["kind"] = self.sample_kind
        keys: list[str] = httpx.get(f"{mock.url}/_admin/sample", params=params).json()["keys"]
        assert keys, "the mock's sample returned no keys"
        return keys

    @staticmethod
    def _requests(mock: ServedApp) -> int:
        count: int = httpx.get(f"{mock.url}/_admin/stats").json()["requests"]
        return count

    def _supports(self, operation: Operation) -> None:
        if operation not in self.connector.operations:
            pytest.skip(f"{self.connector.name} does not {operation.value}")

    # The contract

    def test_declares_the_uniform_interface(self) -> None:
        """Name, title, operations and models are declared and consistent."""
        cls = self.connector
        assert cls.name
        assert cls.title
        assert cls.operations
        assert cls.operations <= set(Operation)
        assert issubclass(cls.Settings, SourceSettings)
        assert issubclass(cls.Record, Record)
        if Operation.LOOKUP in cls.operations:
            assert issubclass(cls.Query, Query)
        assert (cls.Claim is not None) == (Operation.VERIFY in cls.operations)
        assert (cls.Credential is not None) == (Operation.AUTHENTICATE in cls.operations)
        cls.Record.model_json_schema()

    def test_is_installed_with_its_mock(self) -> None:
        """The connector and its mock are registered under the same name."""
        assert installed_connectors()[self.connector.name] is self.connector
        module = installed_mocks()[self.connector.name]
        assert callable(module.create_app)
        assert callable(module.hub_settings)

    def test_health_is_up(self, hub: SyncHub) -> None:
        """The health check reaches the mock and reports up."""
        assert hub.health()[self.connector.name].status is HealthStatus.UP

    def test_lookup_returns_uniform_records(self, hub: SyncHub, mock: ServedApp) -> None:
        """Sample keys come back as the connector's Record, audited, repr hiding values."""
        self._supports(Operation.LOOKUP)
        for key in self._keys(mock):
            result = hub.lookup(self.connector.name, self.lookup_query(key), purpose=PURPOSE)
            records = result.record if isinstance(result.record, tuple) else (result.record,)
            assert records, "a sample key found nothing"
            for record in records:
                assert isinstance(record, self.connector.Record)
                assert key not in repr(record)
            assert result.audit_id

    def test_missing_record_is_not_found(self, hub: SyncHub) -> None:
        """A well-formed query for nothing raises NotFound, with an audit id."""
        self._supports(Operation.LOOKUP)
        if self.missing_query is None:
            pytest.skip("no missing_query given")
        with pytest.raises(NotFound) as caught:
            hub.lookup(self.connector.name, self.missing_query, purpose=PURPOSE)
        assert caught.value.audit_id

    def test_invalid_input_never_reaches_the_upstream(self, hub: SyncHub, mock: ServedApp) -> None:
        """Bad queries fail with InvalidQuery naming a field, and the mock sees nothing."""
        self._supports(Operation.LOOKUP)
        before = self._requests(mock)
        for query in [*self.invalid_queries, {"no_such_field": "x"}]:
            with pytest.raises(InvalidQuery) as caught:
                hub.lookup(self.connector.name, query, purpose=PURPOSE)
            assert caught.value.fields, "the error names no field"
            assert all(field.startswith("query") for field in caught.value.fields)
        assert self._requests(mock) == before

    def test_a_burst_of_503_is_retried(self, hub: SyncHub, mock: ServedApp) -> None:
        """Two 503s then an answer: the look-up succeeds after three requests."""
        self._supports(Operation.LOOKUP)
        key = self._keys(mock, 1)[0]
        httpx.put(f"{mock.url}/_admin/faults", json={"kind": "status", "status": 503, "count": 2})
        before = self._requests(mock)
        hub.lookup(self.connector.name, self.lookup_query(key), purpose=PURPOSE)
        assert self._requests(mock) - before == 3

    def test_a_malformed_answer_is_an_upstream_error(self, hub: SyncHub, mock: ServedApp) -> None:
        """Garbage in the right content type is UpstreamError, not a crash."""
        self._supports(Operation.LOOKUP)
        key = self._keys(mock, 1)[0]
        httpx.put(f"{mock.url}/_admin/faults", json={"kind": "malformed"})
        with pytest.raises(UpstreamError):
            hub.lookup(self.connector.name, self.lookup_query(key), purpose=PURPOSE)

    def test_verify_confirms_the_records_own_facts(self, hub: SyncHub, mock: ServedApp) -> None:
        """A claim built from the record itself is confirmed (or inconclusive if partial)."""
        self._supports(Operation.VERIFY)
        key = self._keys(mock, 1)[0]
        record = hub.lookup(self.connector.name, self.lookup_query(key), purpose=PURPOSE).record
        assert isinstance(record, Record)
        claim = self.verify_claim(key, record)
        if claim is None:
            pytest.skip("no verify_claim given")
        result = hub.verify(self.connector.name, claim, purpose=PURPOSE)
        assert result.verdict in ("confirmed", "inconclusive")
        assert "mismatch" not in result.matches.values()
        assert result.audit_id
