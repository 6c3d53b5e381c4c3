"""The driving-licence connector honours the contract kit."""

from typing import Any, ClassVar

from hub.connectors.driving_licence import DrivingLicenceConnector
from hub.records import DrivingLicence
from hub.testing import ConnectorContract


class TestDrivingLicenceContract(ConnectorContract):
    connector = DrivingLicenceConnector
    sample_kind = "licence"
    # Real numbers start with an issuing province's code, never 00.
    missing_query: ClassVar[dict[str, Any]] = {"number": "000000000000"}
    invalid_queries: ClassVar[list[dict[str, Any]]] = [
        {"number": "12"},
        {"number": "abcdefghijkl"},
        {"holder_national_id": "999090001234"},
        {},
        {"number": "012345678901", "holder_national_id": "037090001234"},
    ]

    def lookup_query(self, key):
        return {"number": key}

    def verify_claim(self, key, record):
        assert isinstance(record, DrivingLicence)
        return {"number": key, "full_name": record.holder.full_name}
