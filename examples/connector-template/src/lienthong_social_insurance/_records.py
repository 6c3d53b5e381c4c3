"""The social-insurance record, in the hub's uniform style: English names, the register's in
the descriptions, values hidden from every repr.

Each part of the record (employer, period, card) subclasses `hub.connector.Record` as
well: it carries personal data too, and so must not show it in a repr of its own.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from hub.connector import Record
from hub.identifiers import Sex
from hub.records import PartialDate, PersonRef
from pydantic import Field

__all__ = [
    "CoverageStatus",
    "Employer",
    "HealthInsuranceCard",
    "InsuredPeriod",
    "Scheme",
    "SocialInsurance",
]


class CoverageStatus(StrEnum):
    """Where a person stands with social insurance (trạng thái tham gia)."""

    CONTRIBUTING = "contributing"  # đang tham gia: contributions are being paid
    PAUSED = "paused"  # tạm dừng đóng: the employer paused contributions
    ENDED = "ended"  # dừng tham gia: left work without joining again, or died
    PENSIONER = "pensioner"  # hưởng lương hưu: draws a pension
    HEALTH_ONLY = "health_only"  # chỉ tham gia BHYT: children, pupils, households


class Scheme(StrEnum):
    """How a period was insured (loại hình tham gia)."""

    COMPULSORY = "compulsory"  # bắt buộc: through an employer
    VOLUNTARY = "voluntary"  # tự nguyện: paid by the person


class Employer(Record):
    """An employer that paid contributions (đơn vị sử dụng lao động)."""

    code: str = Field(description="MaSoThue: the employer's 10-digit tax code")
    name: str = Field(description="TenDonVi")


class InsuredPeriod(Record):
    """A stretch of months with contributions, with one employer or voluntarily."""

    start: PartialDate = Field(description="TuThang: the first month (YYYY-MM)")
    end: PartialDate | None = Field(default=None, description="DenThang: the last; None if open")
    scheme: Scheme = Field(description="LoaiHinh")
    employer: Employer | None = Field(default=None, description="DonVi; None when voluntary")


class HealthInsuranceCard(Record):
    """The health-insurance card (thẻ bảo hiểm y tế) and where it may be used."""

    number: str = Field(
        description="MaThe: two-letter group, benefit level, province, social-insurance number"
    )
    benefit_level: int = Field(ge=1, le=5, description="MucHuong: 1 (100%) to 5")
    valid_from: dt.date = Field(description="GiaTriTu")
    valid_until: dt.date = Field(description="GiaTriDen")
    primary_care_code: str = Field(description="NoiDangKyKcb.Ma: the registered facility")
    primary_care_name: str = Field(description="NoiDangKyKcb.Ten")

    def valid_on(self, day: dt.date) -> bool:
        """Whether the card covers treatment on ``day``."""
        return self.valid_from <= day <= self.valid_until


class SocialInsurance(Record):
    """A person as the social-insurance register (Cơ sở dữ liệu quốc gia về bảo hiểm) knows her."""

    insurance_number: str = Field(description="MaSoBhxh: the 10-digit social-insurance number")
    holder: PersonRef = Field(description="HoTen and SoDinhDanh")
    date_of_birth: PartialDate = Field(description="NgaySinh, possibly partial")
    sex: Sex = Field(description="GioiTinh")
    status: CoverageStatus = Field(description="TrangThai")
    employer: Employer | None = Field(default=None, description="The employer of the open period")
    periods: list[InsuredPeriod] = Field(default_factory=list, description="QuaTrinhThamGia")
    contribution_months: int = Field(ge=0, description="TongSoThangDong")
    health_insurance: HealthInsuranceCard | None = Field(default=None, description="TheBhyt")
    date_of_death: PartialDate | None = Field(default=None, description="NgayChet")
