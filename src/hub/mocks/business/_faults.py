"""The business mock's own fault kind: a register that refuses every access token."""

from __future__ import annotations

from typing import Literal

from hub.mocks._common import FaultCall, FaultEntry
from hub.mocks.business._answers import invalid_token


class InvalidTokenFault(FaultEntry):
    """401 ``invalid_token`` in place of the answer, whatever token came.

    A register that lost its signing keys, or a gateway whose token cache went stale:
    a client refreshes its token once, and must not loop when the fresh one is refused
    too.
    """

    kind: Literal["invalid_token"]

    async def apply(self, call: FaultCall) -> None:
        await call.respond(invalid_token())
