"""What every mock shares: the admin surface (``/_admin/``) and fault injection.

A mock builds its app with `mock_app`, describing its protocol in a `MockProfile`;
protocol-specific fault kinds subclass `FaultEntry` and implement ``apply`` with the
helpers of `FaultCall`.
"""

from hub.mocks._common._app import PROBLEM, MockState, MockWorld, mock_app, problem
from hub.mocks._common._faults import (
    BUILT_IN_KINDS,
    Captured,
    ConnectionDropped,
    FaultCall,
    FaultEntry,
    FaultPlan,
    MockProfile,
    PlanError,
    parse_plan,
)

__all__ = [
    "BUILT_IN_KINDS",
    "PROBLEM",
    "Captured",
    "ConnectionDropped",
    "FaultCall",
    "FaultEntry",
    "FaultPlan",
    "MockProfile",
    "MockState",
    "MockWorld",
    "PlanError",
    "mock_app",
    "parse_plan",
    "problem",
]
