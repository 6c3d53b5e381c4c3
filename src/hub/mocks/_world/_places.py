"""Administrative units and addresses, before and after the reorganisation of 1 July 2025.

The units (34 provinces and their wards since, no districts; 63 provinces with their
districts and wards before) and the official old-to-new ward conversion come from
``src/hub/schemas/admin-units-2025.json``, a snapshot of the ``vietnam-provinces`` package,
loaded once, on first use.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from typing import Any

from hub.mocks._world._random import Weighted
from hub.schemas import schema_path


@dataclass(frozen=True, slots=True, repr=False)
class Address:
    """An address as a register keeps it: its text and the codes of its units.

    Codes are strings as the registers give them: province 2 digits, district 3, ward 5.
    ``district`` is present only on addresses recorded before 1 July 2025, whose codes
    are those of the units of the time.
    """

    text: str
    line: str
    province: str
    district: str | None
    ward: str

    @property
    def before_2025(self) -> bool:
        """Whether the address carries the codes of the units before the reorganisation."""
        return self.district is not None

    def __repr__(self) -> str:
        # The text is a home address: codes only.
        return f"Address(province={self.province}, district={self.district}, ward={self.ward})"


@dataclass(frozen=True, slots=True)
class _Unit:
    code: int
    name: str
    parent: int


class _Units:
    """Both generations of units, indexed for drawing addresses and converting them."""

    def __init__(self) -> None:
        document: dict[str, Any] = json.loads(
            schema_path("admin-units-2025.json").read_text(encoding="utf-8")
        )
        legacy = document["legacy"]
        self.current_provinces: dict[int, str] = {}
        self.current_wards: dict[int, _Unit] = {}
        self.current_wards_by_province: dict[int, list[_Unit]] = {}
        current = document["current"]
        for province in current["provinces"]:
            self.current_provinces[province["code"]] = province["name"]
            self.current_wards_by_province[province["code"]] = []
        for ward in current["wards"]:
            unit = _Unit(ward["code"], ward["name"], ward["province"])
            self.current_wards_by_province[unit.parent].append(unit)
            self.current_wards[unit.code] = unit

        self.legacy_provinces: dict[int, str] = {p["code"]: p["name"] for p in legacy["provinces"]}
        self.legacy_districts = {
            d["code"]: _Unit(d["code"], d["name"], d["province"]) for d in legacy["districts"]
        }
        # An old ward is drawn only if the official conversion names a current ward for
        # it, so that every old address converts.
        self.converted: dict[int, int] = {}
        for entry in document["conversion"]["wards"]:
            current = [code for code in entry["new"] if code in self.current_wards]
            if current:
                self.converted[entry["old"]] = current[0]
        self.legacy_wards: dict[int, _Unit] = {}
        self.legacy_wards_by_district: dict[int, list[_Unit]] = {}
        for w in legacy["wards"]:
            if w["code"] in self.converted:
                unit = _Unit(w["code"], w["name"], w["district"])
                self.legacy_wards[unit.code] = unit
                self.legacy_wards_by_district.setdefault(w["district"], []).append(unit)
        self.legacy_districts_by_province: dict[int, list[_Unit]] = {}
        for district in self.legacy_districts.values():
            if district.code in self.legacy_wards_by_district:
                self.legacy_districts_by_province.setdefault(district.parent, []).append(district)

        # Rough weights: the two big cities hold far more people than an average province.
        self.current_weighted = Weighted(
            [(code, {79: 6.0, 1: 4.0}.get(code, 1.0)) for code in self.current_provinces]
        )
        self.legacy_weighted = Weighted(
            [(code, {79: 4.0, 1: 3.0}.get(code, 1.0)) for code in self.legacy_districts_by_province]
        )


@functools.cache
def units() -> _Units:
    """The administrative units, loaded on first use."""
    return _Units()


_STREETS = (
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Trãi",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Quang Trung",
    "Hùng Vương",
    "Nguyễn Du",
    "Trần Phú",
    "Lê Duẩn",
    "Phan Đình Phùng",
    "Điện Biên Phủ",
    "Bà Triệu",
    "Nguyễn Huệ",
    "Võ Thị Sáu",
    "Lê Lai",
)


def _line(rng: random.Random, ward_name: str, south: bool) -> str:
    if ward_name.startswith(("Phường", "Thị trấn")):
        house = rng.randint(1, 300)
        street = rng.choice(_STREETS)
        if rng.random() < 0.4:
            alley = "hẻm" if south else "ngõ"
            return f"Số {house}, {alley} {rng.randint(1, 200)}, đường {street}"
        return f"Số {house}, đường {street}"
    hamlet = "Ấp" if south else rng.choice(("Thôn", "Xóm"))
    return f"{hamlet} {rng.randint(1, 15)}"


def current_address(
    rng: random.Random, province: int | None = None, ward: int | None = None
) -> Address:
    """An address in the units since 1 July 2025: in ``ward``, in ``province``, or drawn."""
    u = units()
    if ward is None:
        code = u.current_weighted.draw(rng) if province is None else province
        unit = rng.choice(u.current_wards_by_province[code])
    else:
        unit = u.current_wards[ward]
    return _current(_line(rng, unit.name, south=unit.parent >= 75), unit)


def current_ward(rng: random.Random, province: int) -> tuple[int, str]:
    """A ward of a current province: its code and name."""
    unit = rng.choice(units().current_wards_by_province[province])
    return unit.code, unit.name


def _current(line: str, ward: _Unit) -> Address:
    province_name = units().current_provinces[ward.parent]
    return Address(
        text=f"{line}, {ward.name}, {province_name}",
        line=line,
        province=f"{ward.parent:02d}",
        district=None,
        ward=f"{ward.code:05d}",
    )


def legacy_address(rng: random.Random, province: int | None = None) -> Address:
    """An address recorded before 1 July 2025, with that time's province, district and ward."""
    u = units()
    code = u.legacy_weighted.draw(rng) if province is None else province
    district = rng.choice(u.legacy_districts_by_province[code])
    ward = rng.choice(u.legacy_wards_by_district[district.code])
    line = _line(rng, ward.name, south=code >= 70)
    return Address(
        text=f"{line}, {ward.name}, {district.name}, {u.legacy_provinces[code]}",
        line=line,
        province=f"{code:02d}",
        district=f"{district.code:03d}",
        ward=f"{ward.code:05d}",
    )


def to_current(address: Address) -> Address:
    """The same place in the units since 1 July 2025, by the official ward conversion."""
    if not address.before_2025:
        return address
    u = units()
    ward = u.current_wards[u.converted[int(address.ward)]]
    return _current(address.line, ward)


def unit_names(address: Address) -> tuple[str, str | None, str]:
    """The names of an address's province, district (old addresses only) and ward."""
    u = units()
    if address.district is None:
        return (
            u.current_provinces[int(address.province)],
            None,
            u.current_wards[int(address.ward)].name,
        )
    return (
        u.legacy_provinces[int(address.province)],
        u.legacy_districts[int(address.district)].name,
        u.legacy_wards[int(address.ward)].name,
    )


def current_province_codes() -> list[int]:
    """The codes of the 34 provinces since the reorganisation."""
    return list(units().current_provinces)


def legacy_province_codes() -> list[int]:
    """The codes of the 63 provinces before the reorganisation that addresses are drawn in."""
    return list(units().legacy_districts_by_province)


def legacy_province_name(code: int) -> str:
    """The full name of a province before the reorganisation, e.g. "Tỉnh Hà Giang"."""
    return units().legacy_provinces[code]


def province_name(code: int) -> str:
    """The full name of a current province, e.g. "Tỉnh Cao Bằng"."""
    return units().current_provinces[code]


def short_name(full_name: str) -> str:
    """A unit's name without its kind: "Tỉnh Hà Giang" -> "Hà Giang", "Xã An Phú" -> "An Phú"."""
    for prefix in ("Tỉnh ", "Thành phố ", "Phường ", "Xã ", "Đặc khu ", "Thị trấn "):
        if full_name.startswith(prefix):
            return full_name[len(prefix) :]
    return full_name
