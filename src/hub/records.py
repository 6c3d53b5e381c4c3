"""The uniform records the sources return, whatever their upstream speaks.

Field names are English; each field's description gives the register's own name
(``SoDinhDanh``, ``HoVaTen`` ...) so that people who know the register find their way.
Text is kept in Unicode NFC with whitespace collapsed; dates of birth may be partial.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, computed_field
from pydantic_core import core_schema

from hub._model import PrivateModel, Record
from hub.identifiers import Sex

__all__ = [
    "Address",
    "AdministrativeUnit",
    "AssuranceLevel",
    "AuthorizationRequest",
    "Branch",
    "BudgetUnit",
    "BusinessLine",
    "CatalogEntry",
    "CatalogItem",
    "CatalogPage",
    "Citizen",
    "DrivingLicence",
    "Enterprise",
    "EnterpriseStatus",
    "LicenceClass",
    "LicenceStatus",
    "LifeStatus",
    "Match",
    "PartialDate",
    "PersonRef",
    "Record",
    "Sex",
    "UnitMapping",
    "UnitSuccessor",
    "Verdict",
    "Verification",
    "VerifiedIdentity",
]

_PARTIAL_DATE = re.compile(r"(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?")


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date of which the register may know only the year, or the year and month.

    Written ``1990``, ``1990-05`` or ``1990-05-01``; the register's ``YYYYMM`` and
    ``YYYYMMDD`` forms are read too. A partial date stays partial: it is never padded
    into a full date that nobody recorded.
    """

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if self.day is not None and self.month is None:
            raise ValueError("a date with a day must have a month")
        if not 1 <= self.year <= 9999:
            raise ValueError("year out of range")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError("month out of range")
        if self.day is not None:
            # Raises ValueError for 31 April, 29 February of a common year ...
            dt.date(self.year, self.month or 1, self.day)

    @classmethod
    def parse(cls, value: str | dt.date | PartialDate) -> PartialDate:
        """Read ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYYMM``, ``YYYYMMDD`` or a date."""
        if isinstance(value, PartialDate):
            return value
        if isinstance(value, dt.datetime):
            raise ValueError("expected a date, not a date and time")
        if isinstance(value, dt.date):
            return cls(value.year, value.month, value.day)
        if not isinstance(value, str):
            raise TypeError("expected a date as text: YYYY, YYYY-MM or YYYY-MM-DD")
        match = _PARTIAL_DATE.fullmatch(value.strip())
        if match is None:
            raise ValueError("expected a date as YYYY, YYYY-MM or YYYY-MM-DD")
        year, month, day = match.groups()
        return cls(int(year), int(month) if month else None, int(day) if day else None)

    @property
    def is_complete(self) -> bool:
        return self.day is not None

    def as_date(self) -> dt.date | None:
        """The full date, or None when the date is partial."""
        if self.month is None or self.day is None:
            return None
        return dt.date(self.year, self.month, self.day)

    def compare(self, other: PartialDate) -> Match:
        """Compare as far as both dates are known.

        Different known parts are a mismatch; equal known parts with either side
        less precise are unknown (1990 neither confirms nor refutes 1990-05-01).
        """
        pairs = [(self.year, other.year), (self.month, other.month), (self.day, other.day)]
        for mine, theirs in pairs:
            if mine is None or theirs is None:
                return Match.UNKNOWN
            if mine != theirs:
                return Match.MISMATCH
        return Match.MATCH

    def compact(self) -> str:
        """The register's form: ``YYYY``, ``YYYYMM`` or ``YYYYMMDD``."""
        return str(self).replace("-", "")

    def __str__(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        return text

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _parse_for_pydantic,
            json_schema_input_schema=core_schema.str_schema(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$"),
            serialization=core_schema.to_string_ser_schema(),
        )


def _parse_for_pydantic(value: Any) -> PartialDate:
    # pydantic reports ValueErrors as validation errors of the field; a TypeError would
    # escape as a crash.
    try:
        return PartialDate.parse(value)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


class Match(StrEnum):
    """How one claimed fact compares with the register."""

    MATCH = "match"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    """A verification's result over all the facts it checked."""

    CONFIRMED = "confirmed"  # every field matched
    REFUTED = "refuted"  # at least one field did not
    INCONCLUSIVE = "inconclusive"  # nothing refuted, something unknown


class LifeStatus(StrEnum):
    """Whether the register records the person as alive or deceased."""

    ALIVE = "alive"
    DECEASED = "deceased"


class CatalogEntry(PrivateModel):
    """An entry of a shared catalog: an ethnic group, a religion, a nationality ..."""

    code: str
    name: str


class Address(PrivateModel):
    """An address: its text and the administrative-unit codes the register gave.

    Codes are kept as the register wrote them. An address recorded before 1 July 2025
    has a district code and pre-reorganisation province and ward codes; the catalog
    source maps them to the units in force.
    """

    text: str = Field(description="ChiTiet")
    province_code: str | None = Field(default=None, description="MaTinh")
    district_code: str | None = Field(default=None, description="MaHuyen (before 2025)")
    ward_code: str | None = Field(default=None, description="MaXa")


class PersonRef(PrivateModel):
    """A reference to a related person: a name, a national id where known, a nationality."""

    full_name: str
    national_id: str | None = None
    nationality: str | None = None


class Citizen(Record):
    """A citizen as the national population database knows her: the 20 open fields."""

    national_id: str = Field(description="SoDinhDanh: 12-digit personal identification number")
    legacy_id: str | None = Field(default=None, description="SoCMND: 9-digit legacy card")
    full_name: str = Field(description="HoVaTen")
    date_of_birth: PartialDate = Field(description="NgayThangNamSinh, possibly partial")
    sex: Sex = Field(description="GioiTinh")
    birth_registration_place: Address | None = Field(default=None, description="NoiDangKyKhaiSinh")
    hometown: Address | None = Field(default=None, description="QueQuan")
    ethnicity: CatalogEntry | None = Field(default=None, description="DanToc")
    religion: CatalogEntry | None = Field(default=None, description="TonGiao")
    nationality: CatalogEntry | None = Field(default=None, description="QuocTich")
    marital_status: CatalogEntry | None = Field(default=None, description="TinhTrangHonNhan")
    blood_type: CatalogEntry | None = Field(default=None, description="NhomMau")
    permanent_residence: Address | None = Field(default=None, description="ThuongTru")
    temporary_residence: Address | None = Field(default=None, description="TamTru")
    current_residence: Address | None = Field(default=None, description="NoiOHienNay")
    father: PersonRef | None = Field(default=None, description="Cha")
    mother: PersonRef | None = Field(default=None, description="Me")
    spouse: PersonRef | None = Field(default=None, description="VoChong")
    legal_representative: PersonRef | None = Field(default=None, description="NguoiDaiDien")
    household_head: PersonRef | None = Field(default=None, description="ChuHo")
    household_relation: str | None = Field(default=None, description="QuanHeVoiChuHo")
    status: LifeStatus = Field(default=LifeStatus.ALIVE, description="TrangThai")
    date_of_death: PartialDate | None = Field(default=None, description="NgayMat")


class Verification(BaseModel):
    """The answer to "do these facts match the register?", field by field.

    It says match, mismatch or unknown per field, and nothing of the register's own
    values: a verification reveals no personal data.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    matches: dict[str, Match]
    #: The state of the record itself where the source reports one (e.g. "revoked").
    status: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Verdict:
        results = set(self.matches.values())
        if Match.MISMATCH in results:
            return Verdict.REFUTED
        if Match.UNKNOWN in results or not results:
            return Verdict.INCONCLUSIVE
        return Verdict.CONFIRMED


class AssuranceLevel(IntEnum):
    """Level of assurance of an electronic identification (VNeID's LoA1 / LoA2)."""

    LEVEL_1 = 1
    LEVEL_2 = 2


class VerifiedIdentity(Record):
    """A person electronically identified by VNeID, after every check of the ID token."""

    national_id: str = Field(description="SoDinhDanh")
    full_name: str = Field(description="HoVaTen")
    date_of_birth: PartialDate = Field(description="NgayThangNamSinh")
    level: AssuranceLevel = Field(description="acr: LoA1 / LoA2")
    subject: str = Field(description="sub: the provider's stable identifier")
    auth_time: dt.datetime
    account_type: str | None = Field(default=None, description="LoaiTaiKhoan")


class AuthorizationRequest(PrivateModel):
    """Where to send a citizen to authenticate, and what the portal must keep until she returns.

    The portal stores ``state``, ``nonce`` and ``code_verifier`` with the citizen's
    session and hands them back with the authorization code.
    """

    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    level: AssuranceLevel


class EnterpriseStatus(StrEnum):
    """An enterprise's standing in the register."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DISSOLVING = "dissolving"
    DISSOLVED = "dissolved"
    BANKRUPT = "bankrupt"


class BusinessLine(PrivateModel):
    """A line of business, by its VSIC code."""

    code: str
    name: str


class Branch(PrivateModel):
    """A branch or dependent unit, with its 13-digit code."""

    code: str
    name: str
    address: Address | None = None
    status: EnterpriseStatus | None = None


class Enterprise(Record):
    """An enterprise as the national business registration database knows it."""

    code: str = Field(description="Enterprise/tax code: 10 digits, or 13 for a branch")
    name: str = Field(description="Vietnamese name")
    name_en: str | None = Field(default=None, description="English name")
    short_name: str | None = None
    legal_form: str
    status: EnterpriseStatus
    founding_date: dt.date
    registered_address: Address | None = None
    charter_capital: int | None = Field(default=None, ge=0, description="VND")
    legal_representatives: list[PersonRef] = Field(default_factory=list)
    main_business_line: BusinessLine | None = None
    branches: list[Branch] = Field(default_factory=list)


class LicenceStatus(StrEnum):
    """Whether a driving licence may be used today."""

    VALID = "valid"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class LicenceClass(PrivateModel):
    """One class on a licence (A1, B, C1E ... since 2025; A2, B2, FC ... on older cards)."""

    code: str
    issued: dt.date
    expires: dt.date | None = None


class DrivingLicence(Record):
    """A driving licence as the driving-licence system knows it."""

    number: str = Field(description="12-digit licence number")
    holder: PersonRef
    classes: list[LicenceClass]
    issue_date: dt.date
    expiry_date: dt.date | None = None
    status: LicenceStatus
    points: int = Field(ge=0, le=12, description="points remaining of 12")
    issuing_authority: str


class BudgetUnit(Record):
    """A budget-relationship unit (mã đơn vị quan hệ ngân sách)."""

    code: str = Field(description="7-digit code")
    name: str
    type: str
    governing_authority: str | None = None
    budget_level: str = Field(description="central, province or commune")
    status: str
    address: Address | None = None


class AdministrativeUnit(Record):
    """A province, district (before 2025 only) or ward (xã, phường, đặc khu ...)."""

    code: str
    name: str
    level: str = Field(description="province, district or ward")
    type: str = Field(description="tỉnh, thành phố trung ương, xã, phường ...")
    parent_code: str | None = None
    #: "current" for the units since 1 July 2025, "before_2025" for those before.
    period: str


class CatalogItem(Record):
    """An entry of a shared catalog: an ethnic group, a religion, a nationality."""

    catalog: str
    code: str
    name: str


class CatalogPage(Record):
    """One page of a catalog."""

    catalog: str
    items: list[CatalogItem | AdministrativeUnit]
    page: int
    page_size: int
    total: int


class UnitSuccessor(PrivateModel):
    """A unit in force since 1 July 2025 that took over (part of) an older one."""

    code: str
    name: str
    partly: bool = Field(description="only part of the old unit went to this one")


class UnitMapping(Record):
    """What became of a unit from before the 2025 reorganisation."""

    old: AdministrativeUnit
    successors: list[UnitSuccessor]
