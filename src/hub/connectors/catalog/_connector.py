"""Translate between the hub and the shared catalogs' REST + JSON service.

The service's contract is ``src/hub/schemas/catalog/openapi.json``. It holds no personal data
and needs no credentials, so its queries have no subject and its records are not
minimised: one query model asks for an entry, a page of a catalog, or what became of
a unit from before the 2025 reorganisation, and each answers its own record type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hub import records
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
from hub.records import AdministrativeUnit, CatalogItem, CatalogPage, UnitMapping, UnitSuccessor
from hub.text import normalize

__all__ = ["CatalogConnector", "CatalogName", "CatalogQuery", "CatalogSettings"]

SOURCE = "catalog"
#: The service's cap on a page.
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


class CatalogName(StrEnum):
    PROVINCES = "provinces"
    WARDS = "wards"
    PROVINCES_BEFORE_2025 = "provinces_before_2025"
    DISTRICTS_BEFORE_2025 = "districts_before_2025"
    WARDS_BEFORE_2025 = "wards_before_2025"
    ETHNIC_GROUPS = "ethnic_groups"
    RELIGIONS = "religions"
    NATIONALITIES = "nationalities"
    MARITAL_STATUSES = "marital_statuses"
    BLOOD_TYPES = "blood_types"


@dataclass(frozen=True)
class _Code:
    """The shape of a code, and how to say it in an error."""

    pattern: re.Pattern[str]
    rule: str

    def check(self, value: str) -> str:
        if not self.pattern.fullmatch(value):
            raise ValueError(f"must be {self.rule}")
        return value


_PROVINCE = _Code(re.compile(r"[0-9]{2}"), "a province code of 2 digits")
_DISTRICT = _Code(re.compile(r"[0-9]{3}"), "a district code of 3 digits")
_WARD = _Code(re.compile(r"[0-9]{5}"), "a ward code of 5 digits")
_TWO_DIGITS = _Code(re.compile(r"[0-9]{2}"), "2 digits")
_ONE_DIGIT = _Code(re.compile(r"[0-9]"), "1 digit")
_COUNTRY = _Code(re.compile(r"[A-Z]{2}"), "an ISO 3166-1 alpha-2 code (two capital letters)")


@dataclass(frozen=True)
class _Shape:
    code: _Code
    #: The code of the parent a page can be filtered by, if any.
    parent: _Code | None = None
    #: Administrative units, or entries of a code list.
    units: bool = False


_CATALOGS = {
    CatalogName.PROVINCES: _Shape(_PROVINCE, units=True),
    CatalogName.WARDS: _Shape(_WARD, _PROVINCE, units=True),
    CatalogName.PROVINCES_BEFORE_2025: _Shape(_PROVINCE, units=True),
    CatalogName.DISTRICTS_BEFORE_2025: _Shape(_DISTRICT, _PROVINCE, units=True),
    CatalogName.WARDS_BEFORE_2025: _Shape(_WARD, _DISTRICT, units=True),
    CatalogName.ETHNIC_GROUPS: _Shape(_TWO_DIGITS),
    CatalogName.RELIGIONS: _Shape(_TWO_DIGITS),
    CatalogName.NATIONALITIES: _Shape(_COUNTRY),
    CatalogName.MARITAL_STATUSES: _Shape(_ONE_DIGIT),
    CatalogName.BLOOD_TYPES: _Shape(_ONE_DIGIT),
}
_SUCCESSOR_CODES = {"province": _PROVINCE, "ward": _WARD}
_LEVELS = {"tinh": "province", "huyen": "district", "xa": "ward"}
_PERIODS = {"hien_hanh": "current", "truoc_2025": "before_2025"}


class CatalogSettings(SourceSettings):
    """``[sources.catalog]``: the service endpoint; the catalogs need no credentials."""


class CatalogQuery(Query):
    """One of three questions, told apart by the fields given.

    - ``{"catalog": "ethnic_groups", "code": "01"}``: one entry (a `CatalogItem`, or an
      `AdministrativeUnit` for the five unit catalogs);
    - ``{"catalog": "wards", "page": 1, "page_size": 100, "parent": "01"}``: a
      `CatalogPage` (page and page_size default to 1 and 100; ``parent`` filters wards
      and districts_before_2025 by province, wards_before_2025 by district);
    - ``{"successors_of": "00001", "level": "ward"}``: a `UnitMapping`, what became of
      a province or ward from before 1 July 2025.

    Codes are checked against the catalog's own shape (a ward code is 5 digits, a
    nationality two capital letters) before any call.
    """

    catalog: CatalogName | None = None
    code: str | None = None
    page: int | None = Field(default=None, ge=1, le=1_000_000)
    page_size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    parent: str | None = None
    level: Literal["province", "ward"] | None = None
    successors_of: str | None = None

    # An explicit null reaches these validators too: it means the field is absent.

    @field_validator("code")
    @classmethod
    def _code_of_the_catalog(cls, value: str | None, info: ValidationInfo) -> str | None:
        catalog = info.data.get("catalog")
        # Without a valid catalog the missing or bad catalog is the error to report.
        if value is None or catalog is None:
            return value
        return _CATALOGS[catalog].code.check(value)

    @field_validator("parent")
    @classmethod
    def _parent_of_the_catalog(cls, value: str | None, info: ValidationInfo) -> str | None:
        catalog = info.data.get("catalog")
        if value is None or catalog is None:
            return value
        parent = _CATALOGS[catalog].parent
        if parent is None:
            raise ValueError(f"{catalog.value} cannot be filtered by parent")
        return parent.check(value)

    @field_validator("successors_of")
    @classmethod
    def _old_unit_code(cls, value: str | None, info: ValidationInfo) -> str | None:
        level = info.data.get("level")
        if value is None or level is None:
            return value
        return _SUCCESSOR_CODES[level].check(value)

    @model_validator(mode="after")
    def _one_question(self) -> CatalogQuery:
        paging = [
            name for name in ("page", "page_size", "parent") if getattr(self, name) is not None
        ]
        if self.successors_of is not None or self.level is not None:
            if self.successors_of is None or self.level is None:
                raise ValueError("successors_of and level go together")
            if self.catalog is not None or self.code is not None or paging:
                raise ValueError("successors_of and level take no other field")
            return self
        if self.catalog is None:
            raise ValueError(
                "give catalog (with code, or to page through it), or successors_of with level"
            )
        if self.code is not None and paging:
            raise ValueError(f"a look-up by code takes no {' or '.join(paging)}")
        return self

    def subject(self) -> str | None:
        """None: the catalogs hold no personal data, so no look-up has a subject."""
        return None


class CatalogConnector(Connector[CatalogSettings, CatalogQuery]):
    """The shared electronic catalogs: administrative units and national code lists."""

    name: ClassVar[str] = SOURCE
    title: ClassVar[str] = "Shared electronic catalogs"
    operations = frozenset({Operation.LOOKUP})
    Settings = CatalogSettings
    Query = CatalogQuery
    # Several record types answer; the hub checks each is a Record.
    Record = records.Record
    # Public code lists: nothing here concerns a person.
    personal_data = False

    async def lookup(
        self, query: CatalogQuery, call: Call
    ) -> CatalogItem | AdministrativeUnit | CatalogPage | UnitMapping:
        path, params, missing = _request(query)
        response = await self.http.get(path, params=params)
        check_status(response, source=SOURCE, not_found=f"the catalog has no such {missing}")
        data = json_body(response, source=SOURCE)
        try:
            record = _record(query, data)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise UpstreamError(
                "the catalog answered with an unreadable record", source=SOURCE
            ) from None
        if isinstance(record, CatalogItem | AdministrativeUnit) and record.code != query.code:
            raise UpstreamError("the catalog answered with another entry", source=SOURCE)
        return record

    async def health(self) -> Health:
        response = await self.http.get("/v1/catalogs")
        if response.status_code == 200:
            return Health(status=HealthStatus.UP)
        return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")


def _request(query: CatalogQuery) -> tuple[str, dict[str, str | int] | None, str]:
    """The path and parameters that ask the question, and what a 404 means."""
    if query.successors_of is not None:
        path = f"/v1/administrative-units/before-2025/{query.level}/{query.successors_of}"
        return f"{path}/successors", None, "unit"
    assert query.catalog is not None
    items = f"/v1/catalogs/{query.catalog.value}/items"
    if query.code is not None:
        return f"{items}/{query.code}", None, "entry"
    params: dict[str, str | int] = {
        "page": query.page or 1,
        "page_size": query.page_size or DEFAULT_PAGE_SIZE,
    }
    if query.parent is not None:
        params["parent"] = query.parent
    return items, params, "catalog"


def _record(
    query: CatalogQuery, data: Any
) -> CatalogItem | AdministrativeUnit | CatalogPage | UnitMapping:
    """The record the answer to ``query`` makes; KeyError, TypeError ... if it is unreadable."""
    if query.successors_of is not None:
        return _mapping(data)
    assert query.catalog is not None
    if query.code is not None:
        return _item(query.catalog, data)
    return _page(query.catalog, data)


def _unit(data: dict[str, Any]) -> AdministrativeUnit:
    return AdministrativeUnit(
        code=data["ma"],
        name=normalize(data["ten"]),
        level=_LEVELS[data["cap"]],
        type=normalize(data["loai"]),
        parent_code=data.get("maCapTren"),
        period=_PERIODS[data["thoiKy"]],
    )


def _item(catalog: CatalogName, data: dict[str, Any]) -> CatalogItem | AdministrativeUnit:
    if _CATALOGS[catalog].units:
        return _unit(data)
    return CatalogItem(catalog=catalog.value, code=data["ma"], name=normalize(data["ten"]))


def _page(catalog: CatalogName, data: dict[str, Any]) -> CatalogPage:
    if data["danhMuc"] != catalog.value:
        raise ValueError("another catalog")
    return CatalogPage(
        catalog=catalog.value,
        items=[_item(catalog, item) for item in data["danhSach"]],
        page=data["trang"],
        page_size=data["kichThuocTrang"],
        total=data["tongSo"],
    )


def _mapping(data: dict[str, Any]) -> UnitMapping:
    return UnitMapping(
        old=_unit(data["donVi"]),
        successors=[
            UnitSuccessor(code=s["ma"], name=normalize(s["ten"]), partly=s["motPhan"])
            for s in data["donViKeThua"]
        ],
    )
