"""The population connector honours the contract kit."""

from typing import Any, ClassVar

from hub.connectors.population import PopulationConnector
from hub.records import Citizen
from hub.testing import ConnectorContract


class TestPopulationContract(ConnectorContract):
    connector = PopulationConnector
    sample_kind = "citizen"
    missing_query: ClassVar[dict[str, Any]] = {"national_id": "001099999999"}
    invalid_queries: ClassVar[list[dict[str, Any]]] = [
        {"national_id": "12"},
        {"national_id": "abcdefghijkl"},
        {},
        {"legacy_id": "123456789", "full_name": "Lê Văn A"},
    ]

    def lookup_query(self, key):
        return {"national_id": key}

    def verify_claim(self, key, record):
        assert isinstance(record, Citizen)
        return {
            "national_id": key,
            "full_name": record.full_name,
            "date_of_birth": str(record.date_of_birth),
            "sex": record.sex.value,
        }
