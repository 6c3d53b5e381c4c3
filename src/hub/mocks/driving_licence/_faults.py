"""The driving-licence mock's own fault kind: a system clock that has drifted."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.mocks._common import FaultCall, FaultEntry

#: The ASGI scope key through which the fault tells the signature check its skew.
SKEW_KEY = "driving_licence.clock_skew"


class ClockSkewFault(FaultEntry):
    """The system's clock runs ``seconds`` off (negative: behind) while checking signatures.

    Past the 300-second window every correctly signed request is refused as
    ``stale_timestamp``, as happens upstream when its time synchronisation fails.
    """

    kind: Literal["clock_skew"]
    seconds: int = Field(ge=-86_400, le=86_400)

    async def apply(self, call: FaultCall) -> None:
        scope = {**call.scope, SKEW_KEY: self.seconds}
        await call.app(scope, call.receive, call.send)
