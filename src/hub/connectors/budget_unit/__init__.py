"""Budget-relationship unit codes (mã số đơn vị có quan hệ với ngân sách), over REST."""

from hub.connectors.budget_unit._connector import (
    BudgetUnitConnector,
    BudgetUnitQuery,
    BudgetUnitSettings,
)

__all__ = ["BudgetUnitConnector", "BudgetUnitQuery", "BudgetUnitSettings"]
