"""What the two operations mean: look-up and authentication against the world."""

from __future__ import annotations

import unicodedata

from lxml import etree

from hub.mocks._world import Citizen, World
from hub.mocks.population._soap import SoapFault, text

MATCH = "Khop"
MISMATCH = "KhongKhop"
UNDECIDED = "KhongXacDinh"
NOT_FOUND = SoapFault("KhongTimThay", "Không tìm thấy công dân")


def same_name(left: str, right: str) -> bool:
    """Names compared as the register does: NFC, whitespace collapsed, case folded."""

    def key(name: str) -> str:
        return " ".join(unicodedata.normalize("NFC", name).split()).casefold()

    return key(left) == key(right)


def compare_dates(register: str, claimed: str) -> str:
    """A claimed date (YYYYMMDD, YYYYMM or YYYY) against the register's, which may be partial.

    The digits both give must agree; then the claim matches when the register knows at
    least as much as was claimed, and is undecided when the register knows less.
    """
    common = min(len(register), len(claimed))
    if register[:common] != claimed[:common]:
        return MISMATCH
    return MATCH if len(register) >= len(claimed) else UNDECIDED


def look_up(world: World, request: etree._Element) -> Citizen:
    """TraCuuCongDan: by SoDinhDanh, or by SoCMND with HoVaTen and NgayThangNamSinh."""
    national_id = text(request, "SoDinhDanh")
    if national_id is not None:
        citizen = world.find_citizen(national_id)
    else:
        legacy_id = text(request, "SoCMND")
        name = text(request, "HoVaTen")
        born = text(request, "NgayThangNamSinh")
        if legacy_id is None or name is None or born is None:
            raise SoapFault(
                "YeuCauKhongHopLe",
                "Cần SoDinhDanh, hoặc SoCMND cùng HoVaTen và NgayThangNamSinh",
            )
        citizen = world.find_by_legacy_id(legacy_id)
        if citizen is not None and not (
            same_name(citizen.full_name, name) and citizen.date_of_birth == born
        ):
            citizen = None
    if citizen is None:
        raise NOT_FOUND
    return citizen


def verify(world: World, request: etree._Element) -> list[tuple[str, str]]:
    """XacThucCongDan: each given field against the record, without revealing the record.

    The answer names only the fields given besides SoDinhDanh; a request with none of
    them is invalid.
    """
    national_id = text(request, "SoDinhDanh")
    citizen = None if national_id is None else world.find_citizen(national_id)
    if citizen is None:
        raise NOT_FOUND
    results = []
    name = text(request, "HoVaTen")
    if name is not None:
        results.append(("HoVaTen", MATCH if same_name(citizen.full_name, name) else MISMATCH))
    born = text(request, "NgayThangNamSinh")
    if born is not None:
        results.append(("NgayThangNamSinh", compare_dates(citizen.date_of_birth, born)))
    sex = text(request, "GioiTinh")
    if sex is not None:
        results.append(("GioiTinh", MATCH if int(sex) == citizen.sex else MISMATCH))
    legacy_id = text(request, "SoCMND")
    if legacy_id is not None:
        if citizen.legacy_id is None:
            results.append(("SoCMND", UNDECIDED))
        else:
            results.append(("SoCMND", MATCH if legacy_id == citizen.legacy_id else MISMATCH))
    if not results:
        raise SoapFault("YeuCauKhongHopLe", "Cần ít nhất một trường để xác thực")
    return results
