"""Translate between the hub and the business registration database's REST API.

The register speaks JSON over HTTPS with OAuth 2.0 client credentials: the hub's
client authenticates with HTTP Basic at the token endpoint and presents the bearer
token it gets on every look-up. The token is cached, renewed shortly before it
expires, and renewed once when the register refuses it (the request is then sent once
more); concurrent look-ups share one renewal.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote_plus

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

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
from hub.connectors.business._token import AccessToken, TokenCache
from hub.connectors.business._wire import (
    WireAddress,
    WireCoded,
    WireEnterprise,
    WireListing,
    WireToken,
)
from hub.errors import UpstreamError
from hub.identifiers import EnterpriseCode, NationalId
from hub.records import Address, Branch, BusinessLine, Enterprise, EnterpriseStatus, PersonRef
from hub.text import normalize

__all__ = ["BusinessConnector", "BusinessSettings", "EnterpriseQuery"]

SOURCE = "business"
_M = TypeVar("_M", bound=BaseModel)

# Statuses that mean "come back later", whichever endpoint answers them.
_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# RFC 6749, 5.2: the error codes of a token endpoint; only these are repeated in errors.
_OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
_CLIENT_REFUSED = frozenset({"invalid_client", "unauthorized_client"})
_STATUSES = {
    "hoat_dong": EnterpriseStatus.ACTIVE,
    "tam_ngung": EnterpriseStatus.SUSPENDED,
    "dang_giai_the": EnterpriseStatus.DISSOLVING,
    "da_giai_the": EnterpriseStatus.DISSOLVED,
    "pha_san": EnterpriseStatus.BANKRUPT,
}


class BusinessSettings(SourceSettings):
    """``[sources.business]``: the register's base URL and the hub's OAuth 2.0 client."""

    #: The hub's client id at the register's authorization server.
    client_id: str = Field(min_length=1)
    #: Its client secret, sent with HTTP Basic authentication to ``token_url``.
    client_secret: SecretRef
    #: The token endpoint: a path under ``url``, or an absolute URL when the
    #: authorization server stands apart from the register.
    token_url: str = "/oauth/token"  # noqa: S105 - a path, not a secret


class EnterpriseQuery(Query):
    """A look-up by enterprise code, or by the national id of a legal representative.

    A branch's 13-digit code (``0100233488-001``) finds the enterprise it belongs to.
    A look-up by representative answers a list: every enterprise she represents,
    usually none.
    """

    code: EnterpriseCode | None = None
    legal_representative: NationalId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EnterpriseQuery:
        if (self.code is None) == (self.legal_representative is None):
            raise ValueError("give exactly one of code or legal_representative")
        return self

    def subject(self) -> str | None:
        return self.code or self.legal_representative


class BusinessConnector(Connector[BusinessSettings, EnterpriseQuery]):
    """National business registration database: enterprises by code or by representative."""

    name: ClassVar[str] = SOURCE
    title: ClassVar[str] = "National business registration database"
    operations = frozenset({Operation.LOOKUP})
    Settings = BusinessSettings
    Query = EnterpriseQuery
    Record = Enterprise
    # A branch's code finds its parent, which lists the branch.
    record_identifiers: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "code": ("code", "branches.code"),
        "legal_representative": ("legal_representatives.national_id",),
    }

    def __init__(self, settings: BusinessSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._token_url = settings.token_url
        # RFC 6749, 2.3.1: the client id and secret are form-encoded inside Basic.
        self._client_auth = httpx.BasicAuth(
            quote_plus(settings.client_id),
            quote_plus(settings.client_secret.get_secret_value()),
        )
        self._tokens = TokenCache(self._fetch_token)

    @classmethod
    def person_query(cls, national_id: str) -> dict[str, Any]:
        return {"legal_representative": national_id}

    async def lookup(self, query: EnterpriseQuery, call: Call) -> Enterprise | list[Enterprise]:
        if query.code is not None:
            response = await self._get(f"/v1/enterprises/{query.code}")
            check_status(response, source=SOURCE, not_found="the register has no such enterprise")
            answer = _parse(WireEnterprise, json_body(response, source=SOURCE), "enterprise")
            return _enterprise(answer)
        response = await self._get(
            "/v1/enterprises", params={"legal_representative": query.legal_representative}
        )
        check_status(response, source=SOURCE)
        listing = _parse(WireListing, json_body(response, source=SOURCE), "list of enterprises")
        return [_enterprise(item) for item in listing.ket_qua]

    async def health(self) -> Health:
        response = await self.http.get("/v1/health")
        if response.status_code == 200:
            return Health(status=HealthStatus.UP)
        return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET with the current token; once more with a new token if the register refuses it."""
        token = await self._tokens.get()
        response = await self.http.get(path, params=params, headers=_bearer(token))
        if response.status_code != 401:
            return response
        token = await self._tokens.renew(token)
        response = await self.http.get(path, params=params, headers=_bearer(token))
        if response.status_code == 401:
            raise UpstreamError("the register refused a newly issued access token", source=SOURCE)
        return response

    async def _fetch_token(self) -> AccessToken:
        """A new token from the token endpoint (client credentials grant)."""
        requested_at = time.monotonic()
        response = await self.http.post(
            self._token_url,
            data={"grant_type": "client_credentials"},
            auth=self._client_auth,
            headers={"Accept": "application/json"},
        )
        status = response.status_code
        if status in _RETRYABLE_STATUS:
            check_status(response, source=SOURCE)  # raises UpstreamUnavailable, Retry-After kept
        if status in (400, 401):
            raise _token_refusal(response)
        if status != 200:
            raise UpstreamError(f"the register's token endpoint answered {status}", source=SOURCE)
        answer = _parse(WireToken, json_body(response, source=SOURCE), "token answer")
        return AccessToken.issued(SecretStr(answer.access_token), answer.expires_in, requested_at)


def _bearer(token: SecretStr) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/json"}


def _token_refusal(response: httpx.Response) -> UpstreamError:
    """The error for a token request the authorization server refused.

    Refused client credentials are the hub's misconfiguration, not the caller's fault:
    an UpstreamError (502), which the breaker counts, so that a wrong secret does not
    hammer the authorization server (and lock the account) on every call.
    """
    try:
        data = json_body(response, source=SOURCE)
    except UpstreamError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    # Only the standard codes are repeated: the upstream's own text stays out of errors.
    code = error if isinstance(error, str) and error in _OAUTH_ERRORS else None
    if response.status_code == 401 or code in _CLIENT_REFUSED:
        return UpstreamError(
            "the register refused the hub's client credentials (invalid_client); "
            "check client_id and client_secret of [sources.business]",
            source=SOURCE,
        )
    return UpstreamError(
        f"the register's token endpoint refused the request ({code or 'no error code'})",
        source=SOURCE,
    )


def _parse(model: type[_M], data: Any, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError:
        raise UpstreamError(
            f"the register answered with an invalid {what}", source=SOURCE
        ) from None


def _status(coded: WireCoded) -> EnterpriseStatus:
    status = _STATUSES.get(coded.ma)
    if status is None:
        raise UpstreamError("the register answered with an unknown status", source=SOURCE)
    return status


def _address(wire: WireAddress | None) -> Address | None:
    if wire is None:
        return None
    return Address(
        text=normalize(wire.dia_chi_day_du),
        province_code=wire.ma_tinh,
        district_code=wire.ma_huyen,
        ward_code=wire.ma_xa,
    )


def _optional_text(value: str | None) -> str | None:
    return normalize(value) if value else None


def _enterprise(wire: WireEnterprise) -> Enterprise:
    line = wire.nganh_nghe_chinh
    try:
        return Enterprise(
            code=wire.ma_so_doanh_nghiep,
            name=normalize(wire.ten_tieng_viet),
            name_en=_optional_text(wire.ten_tieng_anh),
            short_name=_optional_text(wire.ten_viet_tat),
            legal_form=normalize(wire.loai_hinh.ten),
            status=_status(wire.tinh_trang),
            founding_date=wire.ngay_thanh_lap,
            registered_address=_address(wire.dia_chi_tru_so),
            charter_capital=wire.von_dieu_le,
            legal_representatives=[
                PersonRef(
                    full_name=normalize(person.ho_ten),
                    national_id=person.so_dinh_danh,
                    nationality=person.quoc_tich,
                )
                for person in wire.nguoi_dai_dien
            ],
            main_business_line=(
                BusinessLine(code=line.ma_nganh, name=normalize(line.ten_nganh)) if line else None
            ),
            branches=[
                Branch(
                    code=branch.ma_chi_nhanh,
                    name=normalize(branch.ten_chi_nhanh),
                    address=_address(branch.dia_chi),
                    status=_status(branch.tinh_trang) if branch.tinh_trang else None,
                )
                for branch in wire.chi_nhanh
            ],
        )
    except ValidationError:
        raise UpstreamError(
            "the register answered with an invalid enterprise record", source=SOURCE
        ) from None
