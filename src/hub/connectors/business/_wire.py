"""The register's JSON, as ``src/hub/schemas/business/openapi.json`` publishes it.

Parsing answers into these models first means an unusable answer fails in one place,
naming no value: the models hide their input from validation errors. Fields the
register adds later are ignored, so that an addition upstream breaks nothing here.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WireEnterprise", "WireListing", "WireToken"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class WireCoded(_Wire):
    ma: str
    ten: str


class WireAddress(_Wire):
    dia_chi_day_du: str
    ma_tinh: str | None = None
    ma_huyen: str | None = None
    ma_xa: str | None = None


class WireRepresentative(_Wire):
    ho_ten: str
    so_dinh_danh: str | None = None
    quoc_tich: str | None = None


class WireLine(_Wire):
    ma_nganh: str
    ten_nganh: str


class WireBranch(_Wire):
    ma_chi_nhanh: str
    ten_chi_nhanh: str
    dia_chi: WireAddress | None = None
    tinh_trang: WireCoded | None = None


class WireEnterprise(_Wire):
    ma_so_doanh_nghiep: str
    ten_tieng_viet: str
    ten_tieng_anh: str | None = None
    ten_viet_tat: str | None = None
    loai_hinh: WireCoded
    tinh_trang: WireCoded
    ngay_thanh_lap: dt.date
    dia_chi_tru_so: WireAddress | None = None
    von_dieu_le: int | None = None
    nguoi_dai_dien: list[WireRepresentative] = Field(default_factory=list)
    nganh_nghe_chinh: WireLine | None = None
    chi_nhanh: list[WireBranch] = Field(default_factory=list)


class WireListing(_Wire):
    ket_qua: list[WireEnterprise]


class WireToken(_Wire):
    """A token answer (RFC 6749, 5.1); the register always states the lifetime."""

    # RFC 6750's b64token: nothing that could break out of an Authorization header.
    access_token: str = Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9._~+/-]+=*$")
    #: Case-insensitive (RFC 6749, 5.1); any other type is not one this client can present.
    token_type: str = Field(pattern=r"(?i)^bearer$")
    expires_in: int = Field(ge=1)
