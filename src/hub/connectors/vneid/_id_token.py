"""The checks of a VNeID ID token, all through joserfc: nothing here parses a JWT by hand.

In order: the header names the algorithm pinned in the hub's settings, ES256 or RS256
(``alg: none`` and every other algorithm are refused before any key is looked up); the
signature verifies with the provider's published key for that algorithm; issuer,
audience (and ``azp``), expiry and issue time (within the allowed clock skew),
``auth_time``, the nonce of this login and the level of assurance are checked.
Only then are the provider's personal claims read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from joserfc import jws, jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import ECKey, RSAKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.errors import Unauthenticated, UpstreamError
from hub.identifiers import NationalId
from hub.records import AssuranceLevel, PartialDate, VerifiedIdentity
from hub.text import PersonName

__all__ = [
    "ACR_LEVELS",
    "ASSERTION_ALGORITHM",
    "IdTokenAlgorithm",
    "SigningKey",
    "identity",
    "signing_key_id",
    "verify_id_token",
]

SOURCE = "vneid"
#: The hub's client assertions are signed with its EC P-256 key.
ASSERTION_ALGORITHM = "ES256"
#: The algorithms an ID token may be signed with; a client registers one of them.
IdTokenAlgorithm = Literal["ES256", "RS256"]
SigningKey = ECKey | RSAKey
#: The provider's ``acr`` values and the levels they stand for.
ACR_LEVELS = {"LoA1": AssuranceLevel.LEVEL_1, "LoA2": AssuranceLevel.LEVEL_2}


class _PersonalClaims(BaseModel):
    """The claims a verified ID token carries about the person, as the provider names them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    subject: str = Field(alias="sub", min_length=1, max_length=255)
    auth_time: int = Field(ge=0)
    national_id: NationalId = Field(alias="SoDinhDanh")
    full_name: PersonName = Field(alias="HoVaTen")
    date_of_birth: PartialDate = Field(alias="NgayThangNamSinh")
    account_type: str | None = Field(default=None, alias="LoaiTaiKhoan", max_length=64)


def signing_key_id(token: str, algorithm: IdTokenAlgorithm) -> str | None:
    """The ``kid`` of an ID token's header, once the header is known to name ``algorithm``.

    Args:
        token: The ID token, compact JWS.
        algorithm: The algorithm the hub's client is registered for.

    Raises:
        Unauthenticated: the token is not a compact JWS, or names another algorithm.
    """
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise Unauthenticated("the ID token is malformed", source=SOURCE) from None
    if header.get("alg") != algorithm:
        raise Unauthenticated(f"the ID token is not signed with {algorithm}", source=SOURCE)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise Unauthenticated("the ID token is malformed", source=SOURCE)
    return kid


def verify_id_token(
    token: str,
    key: SigningKey,
    *,
    algorithm: IdTokenAlgorithm,
    issuer: str,
    client_id: str,
    nonce: str,
    skew: int,
    now: int,
) -> dict[str, Any]:
    """Verify the signature and the registered claims; return the claims.

    Args:
        token: The ID token, compact JWS.
        key: The provider's public key named by the token's ``kid``.
        algorithm: The one algorithm accepted: the one the hub's client is registered for.
        issuer: The provider's issuer, exactly as its discovery document gives it.
        client_id: The hub's client id: the audience.
        nonce: The nonce of the authorization request this login answers.
        skew: Seconds of clock difference tolerated on ``exp``, ``iat`` and ``auth_time``.
        now: The current time, in seconds since the epoch.

    Raises:
        Unauthenticated: naming the check that failed (never a claim's value).
    """
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm]).claims
    except (JoseError, ValueError):
        raise Unauthenticated("the ID token's signature does not verify", source=SOURCE) from None
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=skew,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
        nonce={"essential": True, "value": nonce},
        acr={"essential": True, "values": list(ACR_LEVELS)},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise Unauthenticated("the ID token has expired", source=SOURCE) from None
    except ClaimError as exc:
        raise Unauthenticated(
            f"the ID token's {exc.claim} claim is missing or not acceptable", source=SOURCE
        ) from None
    audience = claims["aud"]
    # With several audiences, or an azp at all, the azp must be this client (OIDC Core 3.1.3.7).
    several = isinstance(audience, list) and len(audience) > 1
    if (several or "azp" in claims) and claims.get("azp") != client_id:
        raise Unauthenticated("the ID token's azp claim is not acceptable", source=SOURCE)
    auth_time = claims["auth_time"]
    if isinstance(auth_time, bool) or not isinstance(auth_time, int) or auth_time > now + skew:
        raise Unauthenticated("the ID token's auth_time claim is not acceptable", source=SOURCE)
    return claims


def identity(claims: dict[str, Any], required: AssuranceLevel) -> VerifiedIdentity:
    """The verified identity in checked claims, if their level meets ``required``.

    Raises:
        Unauthenticated: the citizen authenticated at a lower level than required.
        UpstreamError: a validly signed token whose personal claims are unusable.
    """
    acr = claims.get("acr")
    level = ACR_LEVELS.get(acr) if isinstance(acr, str) else None
    if level is None:
        raise Unauthenticated("the ID token's acr claim is not acceptable", source=SOURCE)
    if level < required:
        raise Unauthenticated(
            f"the citizen authenticated at level {level.value}; level {required.value} is required",
            source=SOURCE,
        )
    try:
        person = _PersonalClaims.model_validate(claims)
    except ValidationError:
        raise UpstreamError(
            "the ID token lacks a valid SoDinhDanh, HoVaTen or NgayThangNamSinh", source=SOURCE
        ) from None
    return VerifiedIdentity(
        national_id=person.national_id,
        full_name=person.full_name,
        date_of_birth=person.date_of_birth,
        level=level,
        subject=person.subject,
        auth_time=dt.datetime.fromtimestamp(person.auth_time, dt.UTC),
        account_type=person.account_type,
    )
