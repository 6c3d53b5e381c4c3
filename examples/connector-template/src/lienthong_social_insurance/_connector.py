"""Translate between the hub and the social-insurance register's REST + JSON service.

``POST /api/v1/tra-cuu`` with ``{"maSoBhxh": "..."}`` or ``{"soDinhDanh": "..."}`` answers
one person's record; ``GET /api/v1/trang-thai`` says whether the service is up and the
key accepted. Every request carries the agency's key (``X-Api-Key``) and code
(``X-Ma-Don-Vi``). Identifiers travel in the body, never in the URL, so that they stay
out of every proxy's access log.

This module imports only the hub's public API: `hub.connector`, `hub.errors`,
`hub.identifiers`, `hub.records` and `hub.text`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

import httpx
from hub.connector import (
    Call,
    Connector,
    Health,
    HealthStatus,
    Operation,
    Query,
    SecretRef,
    SourceSettings,
    check_status,
    json_body,
)
from hub.errors import Unauthenticated, UpstreamError
from hub.identifiers import NationalId, Sex
from hub.records import PartialDate, PersonRef
from hub.text import normalize
from pydantic import AfterValidator, Field, model_validator

from lienthong_social_insurance._records import (
    CoverageStatus,
    Employer,
    HealthInsuranceCard,
    InsuredPeriod,
    Scheme,
    SocialInsurance,
)

__all__ = [
    "InsuranceNumber",
    "SocialInsuranceConnector",
    "SocialInsuranceQuery",
    "SocialInsuranceSettings",
    "parse_insurance_number",
]

SOURCE = "social_insurance"

_STATUSES = {
    "DANG_THAM_GIA": CoverageStatus.CONTRIBUTING,
    "TAM_DUNG": CoverageStatus.PAUSED,
    "DUNG_THAM_GIA": CoverageStatus.ENDED,
    "HUONG_LUONG_HUU": CoverageStatus.PENSIONER,
    "CHI_BHYT": CoverageStatus.HEALTH_ONLY,
}
_SCHEMES = {"BAT_BUOC": Scheme.COMPULSORY, "TU_NGUYEN": Scheme.VOLUNTARY}
_SEXES = {1: Sex.MALE, 2: Sex.FEMALE}


def parse_insurance_number(value: str) -> str:
    """Validate a 10-digit social-insurance number (mã số BHXH); no check digit is known.

    Args:
        value: The number as typed, already trimmed.

    Raises:
        ValueError: it is not exactly ten digits (the message never repeats it).
    """
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        raise ValueError("a social-insurance number must be exactly 10 digits")
    return value


#: A 10-digit social-insurance number, for pydantic query models.
InsuranceNumber = Annotated[str, AfterValidator(parse_insurance_number)]


class SocialInsuranceSettings(SourceSettings):
    """``[sources.social_insurance]``: the endpoint, the agency's code and its API key."""

    #: Sent as ``X-Api-Key``; write it as ``env:NAME`` or ``file:PATH`` in production.
    api_key: SecretRef
    #: MaDonVi: the code of the agency on whose behalf the hub asks.
    agency_code: str = Field(default="000.00.00.H00", pattern=r"^[A-Z0-9.]{1,32}$")


class SocialInsuranceQuery(Query):
    """A look-up by social-insurance number or by national id, one of them.

    Since 1 July 2025 a Vietnamese citizen's national id is also her social-insurance
    number; the register still answers to the 10-digit numbers given before.
    """

    insurance_number: InsuranceNumber | None = None
    national_id: NationalId | None = None

    @model_validator(mode="after")
    def _one_way_to_ask(self) -> SocialInsuranceQuery:
        if (self.insurance_number is None) == (self.national_id is None):
            raise ValueError("give insurance_number or national_id, one of them")
        return self

    def subject(self) -> str | None:
        return self.national_id or self.insurance_number


class SocialInsuranceConnector(Connector[SocialInsuranceSettings, SocialInsuranceQuery]):
    """Social insurance: a person's coverage, contribution history and health-insurance card."""

    name: ClassVar[str] = SOURCE
    title: ClassVar[str] = "Social insurance register"
    operations = frozenset({Operation.LOOKUP})
    Settings = SocialInsuranceSettings
    Query = SocialInsuranceQuery
    Record = SocialInsurance

    def __init__(self, settings: SocialInsuranceSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._headers = {
            "X-Api-Key": settings.api_key.get_secret_value(),
            "X-Ma-Don-Vi": settings.agency_code,
            "Accept": "application/json",
        }

    @classmethod
    def person_query(cls, national_id: str) -> dict[str, Any]:
        return {"national_id": national_id}

    async def lookup(self, query: SocialInsuranceQuery, call: Call) -> SocialInsurance:
        if query.insurance_number is not None:
            body = {"maSoBhxh": query.insurance_number}
        else:
            assert query.national_id is not None  # the query holds one of the two
            body = {"soDinhDanh": query.national_id}
        response = await self.http.post("/api/v1/tra-cuu", json=body, headers=self._headers)
        _check(response)
        data = json_body(response, source=SOURCE)
        try:
            record = _record(data)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise UpstreamError(
                "the register answered with an invalid social-insurance record", source=SOURCE
            ) from None
        asked_for = (
            record.insurance_number == query.insurance_number
            if query.insurance_number is not None
            else record.holder.national_id == query.national_id
        )
        if not asked_for:
            raise UpstreamError("the register answered for another person", source=SOURCE)
        return record

    async def health(self) -> Health:
        # The status endpoint checks the key too, so a refused key shows as down.
        response = await self.http.get("/api/v1/trang-thai", headers=self._headers)
        if response.status_code == 200:
            return Health(status=HealthStatus.UP)
        return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")


def _check(response: httpx.Response) -> None:
    if response.status_code in (401, 403):
        raise Unauthenticated("the register refused the hub's API key", source=SOURCE)
    check_status(response, source=SOURCE, not_found="the register has no such insured person")


def _date(value: str) -> dt.date:
    """A day as the register writes it: ``dd/mm/yyyy``."""
    return dt.datetime.strptime(value, "%d/%m/%Y").date()


def _partial_date(value: str) -> PartialDate:
    """``dd/mm/yyyy``, ``mm/yyyy`` or ``yyyy``: the register keeps what it knows."""
    return PartialDate.parse("-".join(reversed(value.split("/"))))


def _employer(value: dict[str, Any] | None) -> Employer | None:
    if value is None:
        return None
    return Employer(code=value["maSoThue"], name=normalize(value["tenDonVi"]))


def _period(value: dict[str, Any]) -> InsuredPeriod:
    end = value.get("denThang")
    return InsuredPeriod(
        start=_partial_date(value["tuThang"]),
        end=_partial_date(end) if end else None,
        scheme=_SCHEMES[value["loaiHinh"]],
        employer=_employer(value.get("donVi")),
    )


def _card(value: dict[str, Any] | None) -> HealthInsuranceCard | None:
    if value is None:
        return None
    facility = value["noiDangKyKcb"]
    return HealthInsuranceCard(
        number=value["maThe"],
        benefit_level=value["mucHuong"],
        valid_from=_date(value["giaTriTu"]),
        valid_until=_date(value["giaTriDen"]),
        primary_care_code=facility["ma"],
        primary_care_name=normalize(facility["ten"]),
    )


def _record(data: dict[str, Any]) -> SocialInsurance:
    death = data.get("ngayChet")
    return SocialInsurance(
        insurance_number=data["maSoBhxh"],
        holder=PersonRef(full_name=normalize(data["hoTen"]), national_id=data.get("soDinhDanh")),
        date_of_birth=_partial_date(data["ngaySinh"]),
        sex=_SEXES[data["gioiTinh"]],
        status=_STATUSES[data["trangThai"]],
        employer=_employer(data.get("donViHienTai")),
        periods=[_period(item) for item in data.get("quaTrinhThamGia") or []],
        contribution_months=data["tongSoThangDong"],
        health_insurance=_card(data.get("theBhyt")),
        date_of_death=_partial_date(death) if death else None,
    )
