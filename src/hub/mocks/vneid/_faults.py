"""The VNeID mock's own fault kind: a token answer whose ID token must be refused."""

from __future__ import annotations

from typing import Literal

from hub.mocks._common import FaultCall, FaultEntry

#: The request scope key through which the fault asks the token endpoint to spoil its token.
SPOIL_KEY = "vneid.spoil"
EXCHANGE_PATH = "/token"


class HostileTokenFault(FaultEntry):
    """The code exchange goes through, but the ID token in the answer is spoiled.

    Variants: ``alg_none`` (unsigned, ``alg: none``), ``unknown_key`` (signed by a key
    the JWKS does not publish, under its own kid), ``bad_signature`` (that key, under
    the current kid), ``expired``, ``wrong_audience``, ``wrong_nonce``,
    ``wrong_issuer``, ``malformed`` (a payload that is not base64url).

    It spoils token answers only: any other request it fires on goes to the mock
    untouched, and like every firing entry spends one of its ``count``. Set it once the
    token request is the next one (the client holds the discovery document and the
    JWKS), or without a count and clear it afterwards.
    """

    kind: Literal["hostile_token"]
    variant: Literal[
        "alg_none",
        "unknown_key",
        "bad_signature",
        "expired",
        "wrong_audience",
        "wrong_nonce",
        "wrong_issuer",
        "malformed",
    ]

    async def apply(self, call: FaultCall) -> None:
        if call.scope["path"] == EXCHANGE_PATH:
            call.scope[SPOIL_KEY] = self.variant
        await call.app(call.scope, call.receive, call.send)
