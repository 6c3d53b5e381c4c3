"""The business connector honours the contract kit."""

from typing import Any, ClassVar

from hub.connectors.business import BusinessConnector
from hub.testing import ConnectorContract


class TestBusinessContract(ConnectorContract):
    connector = BusinessConnector
    sample_kind = "enterprise"
    # A valid code (its check digit holds) that the world of the kit does not register.
    missing_query: ClassVar[dict[str, Any]] = {"code": "0100233488"}
    invalid_queries: ClassVar[list[dict[str, Any]]] = [
        {"code": "0100233489"},
        {"code": "01002334"},
        {"code": "0100233488-1"},
        {"legal_representative": "12"},
        {"legal_representative": "999090001234"},
        {},
        {"code": "0100233488", "legal_representative": "037090001234"},
    ]

    def lookup_query(self, key):
        return {"code": key}
