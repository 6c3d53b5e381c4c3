"""The budget-unit connector honours the contract kit."""

from typing import Any, ClassVar

from hub.connectors.budget_unit import BudgetUnitConnector
from hub.testing import ConnectorContract


class TestBudgetUnitContract(ConnectorContract):
    connector = BudgetUnitConnector
    sample_kind = "budget_unit"
    missing_query: ClassVar[dict[str, Any]] = {"code": "9999999"}
    invalid_queries: ClassVar[list[dict[str, Any]]] = [
        {"code": "123456"},
        {"code": "12345678"},
        {"code": "12a4567"},
        {"code": ""},
        {},
    ]

    def lookup_query(self, key):
        return {"code": key}
