"""Translate between the hub and the budget-unit code system's REST + JSON service.

The service's contract is ``src/hub/schemas/budget_unit/openapi.json``: ``GET /v1/units/{code}``
with the agency's key in ``X-Api-Key``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

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
from hub.identifiers import BudgetUnitCode
from hub.records import Address, BudgetUnit
from hub.text import normalize

__all__ = ["BudgetUnitConnector", "BudgetUnitQuery", "BudgetUnitSettings"]

SOURCE = "budget_unit"
_LEVELS = {"trung_uong": "central", "tinh": "province", "huyen": "district", "xa": "commune"}
_STATUSES = {"dang_hoat_dong": "active", "da_dong": "closed"}


class BudgetUnitSettings(SourceSettings):
    """``[sources.budget_unit]``: the service endpoint and the agency's API key."""

    #: Sent as ``X-Api-Key``; write it as ``env:NAME`` or ``file:PATH`` in production.
    api_key: SecretRef


class BudgetUnitQuery(Query):
    """A look-up by the unit's 7-digit code."""

    code: BudgetUnitCode


class BudgetUnitConnector(Connector[BudgetUnitSettings, BudgetUnitQuery]):
    """Budget-relationship unit codes: look-up of a unit by its code."""

    name: ClassVar[str] = SOURCE
    title: ClassVar[str] = "Budget-relationship unit codes"
    operations = frozenset({Operation.LOOKUP})
    Settings = BudgetUnitSettings
    Query = BudgetUnitQuery
    Record = BudgetUnit
    # A public register of state bodies (codes, names, office addresses): no person.
    personal_data = False

    def __init__(self, settings: BudgetUnitSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._headers = {
            "X-Api-Key": settings.api_key.get_secret_value(),
            "Accept": "application/json",
        }

    async def lookup(self, query: BudgetUnitQuery, call: Call) -> BudgetUnit:
        response = await self.http.get(f"/v1/units/{query.code}", headers=self._headers)
        _check(response)
        data = json_body(response, source=SOURCE)
        try:
            unit = _unit(data)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise UpstreamError(
                "the register answered with an invalid budget unit", source=SOURCE
            ) from None
        if unit.code != query.code:
            raise UpstreamError("the register answered for another unit", source=SOURCE)
        return unit

    async def health(self) -> Health:
        # The status endpoint checks the key too, so a refused key shows as down.
        response = await self.http.get("/v1/status", headers=self._headers)
        if response.status_code == 200:
            return Health(status=HealthStatus.UP)
        return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")


def _check(response: httpx.Response) -> None:
    if response.status_code == 401:
        # The hub's own key, not the caller's: a bad answer from upstream, for the
        # portal, and a failure the breaker counts.
        raise UpstreamError("the register refused the hub's API key", source=SOURCE)
    check_status(response, source=SOURCE, not_found="the register has no unit with this code")


def _address(value: dict[str, Any] | None) -> Address | None:
    if value is None:
        return None
    return Address(
        text=normalize(value["chiTiet"]),
        province_code=value.get("maTinh"),
        district_code=value.get("maHuyen"),
        ward_code=value.get("maXa"),
    )


def _unit(data: dict[str, Any]) -> BudgetUnit:
    authority = data.get("coQuanChuQuan")
    return BudgetUnit(
        code=data["maDonVi"],
        name=normalize(data["tenDonVi"]),
        type=normalize(data["loaiDonVi"]["ten"]),
        governing_authority=normalize(authority) if authority else None,
        budget_level=_LEVELS[data["capNganSach"]],
        status=_STATUSES[data["trangThai"]],
        address=_address(data.get("diaChi")),
    )
