"""Testing helpers, shipped for every user of the hub (ours and third parties').

- `ConnectorContract`: subclass it in a test module to prove a connector honours
  the uniform interface against its mock, over real HTTP.
- `ServedApp`: serve an ASGI app (a mock) on a loopback port in a thread.
- `LeakCheck`: collect every rendered log line and find personal data in them.
- `no_retries`: one attempt per call, for fast tests of code that calls the hub.

For the mock of a source outside the hub, the machinery the bundled mocks share:

- `mock_app`: the mock's ASGI app, its protocol routes behind the admin surface the
  contract kit drives (``/_admin/stats``, ``/_admin/sample``, ``/_admin/faults``) and
  every fault kind of the bundled mocks.
- `MockProfile`: what the fault machinery needs to know of the mock's protocol;
  `MockWorld`: what the admin surface needs of its data (a seed and samples).
- `FaultEntry`, `FaultCall`, `Captured`, `ConnectionDropped`: for fault kinds of the
  protocol's own; `PlanError`: an invalid fault plan; `problem`: an RFC 9457 problem
  answer, as REST registers write their errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub._serving import ServedApp
from hub.mocks._common import (
    Captured,
    ConnectionDropped,
    FaultCall,
    FaultEntry,
    MockProfile,
    MockWorld,
    PlanError,
    mock_app,
    problem,
)
from hub.testing._leaks import LeakCheck
from hub.testing._retries import no_retries

if TYPE_CHECKING:
    from hub.testing._contract import ConnectorContract

__all__ = [
    "Captured",
    "ConnectionDropped",
    "ConnectorContract",
    "FaultCall",
    "FaultEntry",
    "LeakCheck",
    "MockProfile",
    "MockWorld",
    "PlanError",
    "ServedApp",
    "mock_app",
    "no_retries",
    "problem",
]


def __getattr__(name: str) -> Any:
    # The contract kit is built on pytest, which a mock served by `hub mocks serve`
    # outside any test run need not have installed.
    if name == "ConnectorContract":
        from hub.testing._contract import ConnectorContract

        return ConnectorContract
    raise AttributeError(f"module 'hub.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
