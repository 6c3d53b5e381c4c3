"""Translate between the hub and the driving-licence system's signed REST API.

The API is described in ``src/hub/schemas/driving_licence/openapi.json``. Every request is
signed with the agency's key: an HMAC-SHA256 over the method, the request target, the
time, a nonce and the body's digest. The nonce is drawn afresh for every request, so
that a retry is a new request and never a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import ValidationError, field_validator, model_validator

from hub._config import SecretRef
from hub.connector import (
    Call,
    Connector,
    Health,
    HealthStatus,
    Operation,
    Query,
    SourceSettings,
    check_status,
    json_body,
)
from hub.errors import UpstreamError
from hub.identifiers import LicenceNumber, NationalId
from hub.records import (
    DrivingLicence,
    LicenceClass,
    LicenceStatus,
    Match,
    PartialDate,
    PersonRef,
    Verification,
)
from hub.text import PersonName, normalize

__all__ = [
    "DrivingLicenceConnector",
    "DrivingLicenceSettings",
    "LicenceClaim",
    "LicenceQuery",
]

SOURCE = "driving_licence"
# The refusals of the signature check (the `error` of a 401), safe to name in an error:
# they say which check failed, never a value.
_REFUSALS = frozenset(
    {
        "missing_credentials",
        "unknown_key",
        "expired_key",
        "invalid_timestamp",
        "stale_timestamp",
        "invalid_nonce",
        "bad_signature",
        "replayed_nonce",
    }
)
# The system's names of the claimed facts, and ours.
_CLAIM_FIELDS = {"holder_name": "full_name", "date_of_birth": "date_of_birth"}


class DrivingLicenceSettings(SourceSettings):
    """``[sources.driving_licence]``: the endpoint and the agency's signing key."""

    #: The agency's API key, sent as ``X-Api-Key``.
    api_key: SecretRef
    #: The key of the HMAC-SHA256 signature of every request (``X-Signature``).
    api_secret: SecretRef


class LicenceQuery(Query):
    """A look-up by licence number (one licence), or by holder's national id (a list)."""

    number: LicenceNumber | None = None
    holder_national_id: NationalId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LicenceQuery:
        if (self.number is None) == (self.holder_national_id is None):
            raise ValueError("give exactly one of number and holder_national_id")
        return self

    def subject(self) -> str | None:
        return self.holder_national_id or self.number


class LicenceClaim(Query):
    """Facts to check against a licence: its number, and the holder's name or birth date or both."""

    number: LicenceNumber
    full_name: PersonName | None = None
    date_of_birth: PartialDate | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _full_date(cls, value: PartialDate | None) -> PartialDate | None:
        if value is not None and not value.is_complete:
            raise ValueError("the driving-licence system checks full dates only: YYYY-MM-DD")
        return value

    @model_validator(mode="after")
    def _something_to_check(self) -> LicenceClaim:
        if self.full_name is None and self.date_of_birth is None:
            raise ValueError("give full_name, date_of_birth or both besides number")
        return self


def _sign(secret: bytes, method: str, target: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of a request's canonical text (see the OpenAPI).

    ``target`` is the path as sent, with ``?query`` when there is one.
    """
    digest = hashlib.sha256(body).hexdigest()
    message = f"{method.upper()}\n{target}\n{timestamp}\n{nonce}\n{digest}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class DrivingLicenceConnector(Connector[DrivingLicenceSettings, LicenceQuery]):
    """The driving-licence system: look-up by number or holder, and holder verification."""

    name: ClassVar[str] = SOURCE
    title: ClassVar[str] = "Driving-licence system"
    operations = frozenset({Operation.LOOKUP, Operation.VERIFY})
    Settings = DrivingLicenceSettings
    Query = LicenceQuery
    Record = DrivingLicence
    Claim = LicenceClaim
    record_identifiers: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "number": ("number",),
        "holder_national_id": ("holder.national_id",),
    }
    # The holder's date of birth is in no licence field: a client whose rules name the
    # fields it may see verifies it only if they name date_of_birth too.
    verified_fields: ClassVar[Mapping[str, str]] = {"full_name": "holder"}

    def __init__(self, settings: DrivingLicenceSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._api_key = settings.api_key.get_secret_value()
        self._secret = settings.api_secret.get_secret_value().encode()

    @classmethod
    def person_query(cls, national_id: str) -> dict[str, Any]:
        return {"holder_national_id": national_id}

    async def lookup(
        self, query: LicenceQuery, call: Call
    ) -> DrivingLicence | list[DrivingLicence]:
        if query.number is not None:
            response = await self._send("GET", f"/v1/licences/{query.number}")
            return _licence(_answer(response))
        response = await self._send(
            "GET", "/v1/licences", params={"holder": query.holder_national_id}
        )
        data = _answer(response)
        items = data.get("licences") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise UpstreamError("the system answered without a list of licences", source=SOURCE)
        return [_licence(item) for item in items]

    async def verify(self, claim: LicenceClaim, call: Call) -> Verification:
        facts: dict[str, str] = {}
        if claim.full_name is not None:
            facts["holder_name"] = claim.full_name
        if claim.date_of_birth is not None:
            facts["date_of_birth"] = str(claim.date_of_birth)
        response = await self._send(
            "POST", "/v1/licences/verify", json={"number": claim.number, **facts}
        )
        data = _answer(response)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, dict) or results.keys() != facts.keys():
            raise UpstreamError(
                "the system did not answer for exactly the facts asked", source=SOURCE
            )
        try:
            matches = {_CLAIM_FIELDS[name]: Match(results[name]) for name in facts}
            status = LicenceStatus(data.get("status"))
        except ValueError:
            raise UpstreamError(
                "the system answered with an unknown result or status", source=SOURCE
            ) from None
        return Verification(matches=matches, status=status.value)

    async def health(self) -> Health:
        response = await self._send("GET", "/v1/health")
        if response.status_code == 200:
            return Health(status=HealthStatus.UP)
        if response.status_code == 401:
            return Health(
                status=HealthStatus.DOWN, detail=f"credentials refused ({_refusal(response)})"
            )
        return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Sign and send one request, with a nonce of its own."""
        content = orjson.dumps(json) if json is not None else b""
        headers = {"Content-Type": "application/json"} if json is not None else {}
        request = self.http.build_request(
            method, path, params=params, content=content, headers=headers
        )
        # Signed over the target exactly as it goes out, base path and encoding included.
        target = request.url.raw_path.decode("ascii")
        timestamp = str(int(time.time()))
        nonce = secrets.token_urlsafe(24)
        request.headers["X-Api-Key"] = self._api_key
        request.headers["X-Timestamp"] = timestamp
        request.headers["X-Nonce"] = nonce
        request.headers["X-Signature"] = _sign(
            self._secret, method, target, timestamp, nonce, content
        )
        return await self.http.send(request)


def _answer(response: httpx.Response) -> Any:
    """The JSON of a successful answer, or the typed error its status stands for.

    A 401 means the hub's own key, secret or clock is wrong: nothing the caller did or
    can fix, and nothing a retry would mend. It is the exchange with the upstream that
    failed (502), not the caller's authentication (401), so it is an `UpstreamError`
    naming the failed check.
    """
    if response.status_code == 401:
        raise UpstreamError(
            f"the driving-licence system refused the hub's credentials ({_refusal(response)})",
            source=SOURCE,
        )
    check_status(response, source=SOURCE, not_found="the system has no such licence")
    return json_body(response, source=SOURCE)


def _refusal(response: httpx.Response) -> str:
    """The name of the failed signature check, when the answer gives a known one."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return "unspecified"
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and code in _REFUSALS else "unspecified"


def _licence(data: Any) -> DrivingLicence:
    try:
        holder = data["holder"]
        return DrivingLicence(
            number=data["licence_number"],
            holder=PersonRef(
                full_name=normalize(holder["full_name"]),
                national_id=holder.get("national_id"),
                nationality=holder.get("nationality"),
            ),
            classes=[
                LicenceClass(
                    code=item["class"], issued=item["issued_on"], expires=item.get("expires_on")
                )
                for item in data["classes"]
            ],
            issue_date=data["issued_on"],
            expiry_date=data.get("expires_on"),
            status=LicenceStatus(data["status"]),
            points=data["points_remaining"],
            issuing_authority=normalize(data["issuing_authority"]),
        )
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError):
        raise UpstreamError(
            "the system answered with an invalid licence record", source=SOURCE
        ) from None
