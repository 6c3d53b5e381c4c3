"""The register's JSON: enterprises as it publishes them, and its error answers.

Field names are the register's own (snake_case Vietnamese), as
``src/hub/schemas/business/openapi.json`` documents them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from hub.mocks._world import LEGAL_FORMS, Address, Branch, Enterprise

JSON = "application/json"

# The register's codes for the legal forms of the world (keys of LEGAL_FORMS).
LEGAL_FORM_CODES = {
    "llc_single": "tnhh_1tv",
    "llc_multi": "tnhh_2tv",
    "jsc": "co_phan",
    "partnership": "hop_danh",
    "private": "tu_nhan",
}
# The register's codes and names of the world's enterprise statuses.
STATUSES = {
    "active": ("hoat_dong", "Đang hoạt động"),
    "suspended": ("tam_ngung", "Tạm ngừng kinh doanh"),
    "dissolving": ("dang_giai_the", "Đang làm thủ tục giải thể"),
    "dissolved": ("da_giai_the", "Đã giải thể"),
    "bankrupt": ("pha_san", "Đã phá sản"),
}

# RFC 6750: the realm and the error a resource server names in WWW-Authenticate.
BEARER_CHALLENGE = (
    'Bearer realm="dkkd", error="invalid_token", '
    'error_description="The access token is missing, expired or revoked"'
)


def json_response(
    data: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer, encoded with orjson (the mock is benchmarked at hundreds of requests/s)."""
    return Response(orjson.dumps(data), status, headers, media_type=JSON)


def error(status: int, code: str, message: str) -> Response:
    """The register's error answer: ``{"ma_loi": ..., "thong_bao": ...}``."""
    return json_response({"ma_loi": code, "thong_bao": message}, status)


def invalid_token() -> Response:
    """401 for a missing, expired or revoked access token."""
    return json_response(
        {"ma_loi": "token_khong_hop_le", "thong_bao": "Access token không hợp lệ hoặc đã hết hạn"},
        401,
        {"WWW-Authenticate": BEARER_CHALLENGE},
    )


def _address(address: Address) -> dict[str, str]:
    data = {"dia_chi_day_du": address.text, "ma_tinh": address.province}
    if address.district is not None:
        data["ma_huyen"] = address.district
    data["ma_xa"] = address.ward
    return data


def _status(status: str) -> dict[str, str]:
    code, name = STATUSES[status]
    return {"ma": code, "ten": name}


def _branch(branch: Branch) -> dict[str, Any]:
    return {
        "ma_chi_nhanh": branch.code,
        "ten_chi_nhanh": branch.name,
        "dia_chi": _address(branch.address),
        "tinh_trang": _status(branch.status),
    }


def enterprise(record: Enterprise, branch: str | None = None) -> dict[str, Any]:
    """An enterprise as the register publishes it.

    Args:
        record: The world's enterprise.
        branch: The branch code the look-up asked for, marked in ``chi_nhanh_tra_cuu``.
    """
    data: dict[str, Any] = {
        "ma_so_doanh_nghiep": record.code,
        "ten_tieng_viet": record.name,
        "ten_tieng_anh": record.name_en,
        "ten_viet_tat": record.short_name,
        "loai_hinh": {
            "ma": LEGAL_FORM_CODES[record.legal_form],
            "ten": LEGAL_FORMS[record.legal_form],
        },
        "tinh_trang": _status(record.status),
        "ngay_thanh_lap": record.founded.isoformat(),
        "dia_chi_tru_so": _address(record.address),
        "von_dieu_le": record.charter_capital,
        "nguoi_dai_dien": [
            {
                "ho_ten": person.name,
                "so_dinh_danh": person.national_id,
                "quoc_tich": person.nationality,
                "chuc_danh": person.title,
            }
            for person in record.representatives
        ],
        "nganh_nghe_chinh": {"ma_nganh": record.main_line.code, "ten_nganh": record.main_line.name},
        "chi_nhanh": [_branch(item) for item in record.branches],
    }
    if branch is not None:
        data["chi_nhanh_tra_cuu"] = branch
    return data
