"""The catalog connector honours the contract kit."""

from typing import Any, ClassVar

from hub.connectors.catalog import CatalogConnector
from hub.testing import ConnectorContract


class TestCatalogContract(ConnectorContract):
    connector = CatalogConnector
    # The mock's samples are national ids, whose first three digits name the province of
    # birth registration before 2025: a key of the before-2025 province catalog.
    sample_kind = "citizen"
    missing_query: ClassVar[dict[str, Any]] = {"catalog": "ethnic_groups", "code": "99"}
    invalid_queries: ClassVar[list[dict[str, Any]]] = [
        {"catalog": "districts", "code": "001"},
        {"catalog": "provinces", "code": "1"},
        {"catalog": "wards", "code": "0000a"},
        {"catalog": "nationalities", "code": "vn1"},
        {"catalog": "religions", "parent": "01"},
        {"catalog": "wards", "page_size": 5000},
        {"catalog": "wards", "code": "00004", "page": 2},
        {"successors_of": "00001"},
        {"successors_of": "001", "level": "ward"},
        {},
    ]

    def lookup_query(self, key):
        return {"catalog": "provinces_before_2025", "code": key[1:3]}
