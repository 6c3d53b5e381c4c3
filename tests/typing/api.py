"""The documented usage of the public API, checked by mypy (``make lint``), never run.

A connector, a portal calling `Hub` and `SyncHub`, the errors they catch, a mock built
on `hub.testing.mock_app` and a contract-kit test, written as README.md and
docs/writing-a-connector.md show them; ``assert_type`` pins the types a caller is
promised. tests/typing/test_api.py runs mypy on it.
"""

from __future__ import annotations

from typing import Any, Literal, Never, assert_type

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import Hub, LookupResult, Purpose, SyncHub, VerificationResult
from hub.connector import (
    Call,
    Connector,
    Health,
    HealthStatus,
    Operation,
    Query,
    Record,
    SecretRef,
    SourceSettings,
    check_status,
    json_body,
)
from hub.errors import HubError, InvalidQuery, NotFound, UpstreamError, UpstreamUnavailable
from hub.identifiers import NationalId
from hub.records import (
    AssuranceLevel,
    AuthorizationRequest,
    Citizen,
    PersonRef,
    Verification,
    VerifiedIdentity,
)
from hub.testing import ConnectorContract, FaultCall, FaultEntry, MockProfile, mock_app

SOURCE = "social_insurance"
PURPOSE = Purpose(
    client="portal-ninhbinh", officer="cb.0042", procedure="1.001757", dossier="H37-0001"
)

# A connector


class InsuranceSettings(SourceSettings):
    api_key: SecretRef
    agency_code: str = "000.00.00.H00"


class InsuranceQuery(Query):
    national_id: NationalId


class InsuranceClaim(Query):
    national_id: NationalId
    full_name: str


class Insurance(Record):
    holder: PersonRef


class InsuranceConnector(Connector[InsuranceSettings, InsuranceQuery]):
    name = SOURCE
    title = "Social insurance register"
    operations = frozenset({Operation.LOOKUP, Operation.VERIFY})
    Settings = InsuranceSettings
    Query = InsuranceQuery
    Record = Insurance
    Claim = InsuranceClaim

    def __init__(self, settings: InsuranceSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        assert_type(self.settings, InsuranceSettings)
        self._headers = {
            "X-Api-Key": settings.api_key.get_secret_value(),
            "X-Ma-Don-Vi": self.settings.agency_code,
        }

    @classmethod
    def person_query(cls, national_id: str) -> dict[str, Any]:
        return {"national_id": national_id}

    async def lookup(self, query: InsuranceQuery, call: Call) -> Insurance:
        assert_type(query.national_id, str)
        assert_type(call.remaining(), float)
        response = await self.http.post(
            "/api/v1/tra-cuu", json={"soDinhDanh": query.national_id}, headers=self._headers
        )
        check_status(response, source=SOURCE, not_found="no such insured person")
        data = json_body(response, source=SOURCE)
        try:
            return Insurance(holder=PersonRef(full_name=data["hoTen"]))
        except (KeyError, TypeError, ValueError):
            raise UpstreamError("the register answered an invalid record", source=SOURCE) from None

    async def verify(self, claim: InsuranceClaim, call: Call) -> Verification:
        raise UpstreamUnavailable("the register is down", source=SOURCE, retry_after=5.0)

    async def health(self) -> Health:
        response = await self.http.get("/api/v1/trang-thai", headers=self._headers)
        if response.status_code == 200:
            return Health(status=HealthStatus.UP)
        return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")


class LoginSettings(SourceSettings):
    client_id: str


class LoginConnector(Connector[LoginSettings, Never]):
    """A source without look-ups gives Never as its query type."""

    name = "login"
    title = "Electronic identification"
    operations = frozenset({Operation.AUTHENTICATE})
    Settings = LoginSettings
    Record = VerifiedIdentity

    async def authorization_request(
        self, redirect_uri: str, level: AssuranceLevel
    ) -> AuthorizationRequest:
        assert_type(self.settings.client_id, str)
        raise NotImplementedError

    async def health(self) -> Health:
        return Health(status=HealthStatus.UP)


# A portal calling the hub


async def portal_view() -> None:
    async with Hub.from_config("hub.toml") as hub:
        result = await hub.lookup("population", {"national_id": "037090001234"}, purpose=PURPOSE)
        assert_type(result, LookupResult)
        assert_type(result.record, Record | tuple[Record, ...])
        assert_type(result.audit_id, str | None)
        if isinstance(result.record, Citizen):
            assert_type(result.record.national_id, str)
        check = await hub.verify(
            "population",
            {"national_id": "037090001234", "full_name": "Nguyễn Văn An"},
            purpose={"client": "portal", "officer": "cb.1", "procedure": "1", "dossier": "D1"},
        )
        assert_type(check, VerificationResult)
        assert_type(check.verdict, str)
        signed = await hub.lookup(
            "population", {"national_id": "037090001234"}, purpose=PURPOSE, receipt=True
        )
        assert_type(signed.receipt, str | None)
        assert_type(signed.data(), Any)


def blocking_view() -> str | None:
    with SyncHub.from_config("hub.toml") as hub:
        try:
            result = hub.lookup(SOURCE, {"national_id": "037090001234"}, purpose=PURPOSE)
        except InvalidQuery as error:
            assert_type(error.fields, list[str])
            return None
        except NotFound as error:
            return error.audit_id
        except HubError as error:
            assert_type(error.status, int)
            assert_type(error.retryable, bool)
            raise
        return result.audit_id


def hub_with_its_own_connectors() -> SyncHub:
    return SyncHub(connectors={SOURCE: InsuranceConnector, "login": LoginConnector})


# A mock of the register, on the hub's mock machinery


class Members:
    """The mock's data: what `mock_app` needs of it is a seed and samples."""

    sample_kinds = ("national_id", "deceased")

    def __init__(self, seed: int) -> None:
        self.seed = seed

    async def sample(self, kind: str, n: int) -> list[str]:
        return []


class ExpiredKeyFault(FaultEntry):
    """A fault of the register's own: its key refused as expired."""

    kind: Literal["expired_key"]

    async def apply(self, call: FaultCall) -> None:
        await call.respond(JSONResponse({"title": "Khóa API đã hết hạn"}, 401))


PROFILE = MockProfile(
    name=SOURCE,
    content_type="application/json",
    malformed_body=b'{"hoTen": [',
    oversized_prefix=b'{"hoTen": "',
    sample_kind="national_id",
    fault_kinds=(ExpiredKeyFault,),
)


async def _status(request: Any) -> JSONResponse:
    return JSONResponse({"trangThai": "hoat_dong"})


def create_app(
    *, seed: int = 1, citizens: int = 10_000, faults: list[dict[str, Any]] | None = None
) -> Starlette:
    routes = [Route("/api/v1/trang-thai", _status, methods=["GET"])]
    return mock_app(world=Members(seed), profile=PROFILE, routes=routes, faults=faults)


# The contract kit


class InsuranceContract(ConnectorContract):
    connector = InsuranceConnector
    sample_kind = "national_id"

    def lookup_query(self, key: str) -> dict[str, Any]:
        return {"national_id": key}
