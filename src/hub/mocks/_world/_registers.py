"""The other registers, derived from the citizens: enterprises, driving licences, budget units.

Each record is computed from its index, and each number inverts to its index through a
seeded `Permutation`, as the citizens' numbers do.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta
from types import MappingProxyType

from stdnum.vn import mst

from hub.mocks._world import _names, _places
from hub.mocks._world._catalogs import CatalogEntry
from hub.mocks._world._citizens import AS_OF, MAX_CITIZENS, Person, Population, age
from hub.mocks._world._random import Permutation, Weighted, stream
from hub.mocks._world._records import (
    Branch,
    BudgetUnit,
    BusinessLine,
    Enterprise,
    LegalRepresentative,
    Licence,
    LicenceClass,
)

# Enterprises.

ENTERPRISE_SLOTS = 4
"""Enterprise ``e`` is the ``e % 4``-th enterprise whose first representative is ``e // 4``."""
ENTERPRISE_COUNT_RATES = ((1, 0.060), (2, 0.015), (3, 0.005))
"""Shares of living citizens aged 20 or more who represent 1, 2 or 3 enterprises."""
ENTERPRISE_STATUSES = Weighted(
    [
        ("active", 75.0),
        ("suspended", 7.0),
        ("dissolving", 5.0),
        ("dissolved", 11.0),
        ("bankrupt", 2.0),
    ]
)
LEGAL_FORMS = MappingProxyType(
    {
        "llc_single": "Công ty trách nhiệm hữu hạn một thành viên",
        "llc_multi": "Công ty trách nhiệm hữu hạn hai thành viên trở lên",
        "jsc": "Công ty cổ phần",
        "partnership": "Công ty hợp danh",
        "private": "Doanh nghiệp tư nhân",
    }
)
# Legal form, with the words of the Vietnamese, English and short names.
_FORMS = Weighted(
    [
        (("llc_single", "CÔNG TY TNHH", "COMPANY LIMITED", "CO., LTD"), 45.0),
        (("llc_multi", "CÔNG TY TNHH", "COMPANY LIMITED", "CO., LTD"), 25.0),
        (("jsc", "CÔNG TY CỔ PHẦN", "JOINT STOCK COMPANY", "JSC"), 22.0),
        (("private", "DOANH NGHIỆP TƯ NHÂN", "PRIVATE ENTERPRISE", "PE"), 7.0),
        (("partnership", "CÔNG TY HỢP DANH", "PARTNERSHIP COMPANY", "PARTNERSHIP"), 1.0),
    ]
)
_TITLES = {
    "jsc": "Tổng giám đốc",
    "private": "Chủ doanh nghiệp",
    "partnership": "Thành viên hợp danh",
}
# Main lines of business: a few codes and names of the Vietnam Standard Industrial
# Classification VSIC 2018 (Decision 27/2018/QĐ-TTg), with the words a company name
# takes from them in Vietnamese and English.
_LINES = (
    ("4101", "Xây dựng nhà để ở", "XÂY DỰNG", "CONSTRUCTION"),
    ("4102", "Xây dựng nhà không để ở", "XÂY DỰNG", "CONSTRUCTION"),
    ("4632", "Bán buôn thực phẩm", "THỰC PHẨM", "FOOD"),
    ("4649", "Bán buôn đồ dùng khác cho gia đình", "THƯƠNG MẠI", "TRADING"),
    ("4659", "Bán buôn máy móc, thiết bị và phụ tùng máy khác", "THIẾT BỊ", "EQUIPMENT"),
    (
        "4663",
        "Bán buôn vật liệu, thiết bị lắp đặt khác trong xây dựng",
        "VẬT LIỆU XÂY DỰNG",
        "BUILDING MATERIALS",
    ),
    ("4933", "Vận tải hàng hóa bằng đường bộ", "VẬN TẢI", "TRANSPORT"),
    ("5510", "Dịch vụ lưu trú ngắn ngày", "DU LỊCH", "TOURISM"),
    ("5610", "Nhà hàng và các dịch vụ ăn uống phục vụ lưu động", "ẨM THỰC", "CATERING"),
    ("6201", "Lập trình máy vi tính", "CÔNG NGHỆ", "TECHNOLOGY"),
    (
        "6202",
        "Tư vấn máy vi tính và quản trị hệ thống máy vi tính",
        "CÔNG NGHỆ THÔNG TIN",
        "INFORMATION TECHNOLOGY",
    ),
    (
        "6810",
        "Kinh doanh bất động sản, quyền sử dụng đất thuộc chủ sở hữu, chủ sử dụng hoặc đi thuê",
        "BẤT ĐỘNG SẢN",
        "REAL ESTATE",
    ),
    ("7020", "Hoạt động tư vấn quản lý", "TƯ VẤN", "CONSULTING"),
    ("7110", "Hoạt động kiến trúc và tư vấn kỹ thuật có liên quan", "KIẾN TRÚC", "ARCHITECTURE"),
    ("7310", "Quảng cáo", "TRUYỀN THÔNG", "MEDIA"),
    ("1410", "May trang phục (trừ trang phục từ da lông thú)", "MAY MẶC", "GARMENT"),
    ("0118", "Trồng rau, đậu các loại và trồng hoa", "NÔNG NGHIỆP", "AGRICULTURE"),
)
_BRANDS = (
    "Hoàng Phát",
    "Minh Long",
    "An Phú",
    "Thành Công",
    "Việt Tiến",
    "Phú Thịnh",
    "Đại Nam",
    "Sao Mai",
    "Hưng Thịnh",
    "Tân Tiến",
    "Kim Long",
    "Bảo An",
    "Thiên Phú",
    "Quang Minh",
    "Trường An",
    "Hải Đăng",
)
# Two-digit tax-code prefixes of the provincial tax departments that issued them, with
# the current province holding that territory (a code keeps its prefix when the
# enterprise moves or provinces merge), and a share of enterprises.
_TAX_PREFIXES = (
    ("01", 1, 30.0),  # Hà Nội
    ("02", 31, 6.0),  # Hải Phòng
    ("03", 79, 35.0),  # Hồ Chí Minh City
    ("04", 48, 5.0),  # Đà Nẵng
    ("23", 24, 4.0),  # Bắc Ninh
    ("35", 79, 4.0),  # Bà Rịa - Vũng Tàu, now Hồ Chí Minh City
    ("36", 75, 5.0),  # Đồng Nai
    ("37", 79, 6.0),  # Bình Dương, now Hồ Chí Minh City
    ("57", 22, 5.0),  # Quảng Ninh
)
_TAX_PREFIX_DRAW = Weighted([(k, share) for k, (_, _, share) in enumerate(_TAX_PREFIXES)])


def plain(text: str) -> str:
    """Text without Vietnamese diacritics, as in English-language names: "Đại" -> "Dai"."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _between(rng: random.Random, start: date, end: date) -> date:
    """A date in [start, end], or ``start`` when the span is empty."""
    return start + timedelta(days=rng.randrange(max(0, (end - start).days) + 1))


def _years_after(day: date, years: int) -> date:
    return date(day.year + years, day.month, min(day.day, 28))


class Enterprises:
    """The business register: enterprises and branches represented by the citizens."""

    def __init__(self, population: Population) -> None:
        self._population = population
        # Serial numbers 0000001..9999999: stdnum rejects an all-zero serial.
        self._serial = Permutation(10**7 - 1, population.seed, "enterprise-code")

    def count_of(self, i: int) -> int:
        """How many enterprises citizen i represents as first representative."""
        person = self._population.person(i)
        if person.died is not None or age(person.birth, AS_OF) < 20:
            return 0
        u = stream(self._population.seed, "enterprise-count", i).random()
        total = 0.0
        for count, rate in ENTERPRISE_COUNT_RATES:
            total += rate
            if u < total:
                return count
        return 0

    def code(self, e: int) -> str:
        """The 10-digit tax code of enterprise e."""
        serial = f"{self._serial(e) + 1:07d}"
        first = _TAX_PREFIX_DRAW.draw(stream(self._population.seed, "tax-prefix", e))
        # Some prefixes would need a check digit of 10, which no code can carry; the next
        # prefix then serves (the prefixes' weighted sums differ, so one always does).
        for step in range(len(_TAX_PREFIXES)):
            prefix = _TAX_PREFIXES[(first + step) % len(_TAX_PREFIXES)][0]
            check = mst.calc_check_digit(prefix + serial)
            if len(check) == 1:
                return prefix + serial + check
        raise AssertionError("no tax-office prefix gives a valid check digit")

    def index_of(self, code: str) -> int | None:
        """The index of the enterprise with this 10-digit tax code, or None."""
        if len(code) != 10 or not code.isdigit() or code[2:9] == "0000000":
            return None
        e = self._serial.invert(int(code[2:9]) - 1)
        i, j = divmod(e, ENTERPRISE_SLOTS)
        if i >= self._population.size or j >= self.count_of(i):
            return None
        return e if self.code(e) == code else None

    def enterprise(self, e: int) -> Enterprise:
        """The record of enterprise e."""
        population = self._population
        i = e // ENTERPRISE_SLOTS
        person = population.person(i)
        rng = stream(population.seed, "enterprise", e)
        code = self.code(e)
        form, prefix, suffix_en, suffix_short = _FORMS.draw(rng)
        line_code, line_name, words, words_en = rng.choice(_LINES)
        brand = rng.choice(_BRANDS)
        founded = _between(rng, max(_years_after(person.birth, 20), date(1998, 7, 1)), AS_OF)
        status = ENTERPRISE_STATUSES.draw(rng)
        representatives = [
            LegalRepresentative(
                person.name.full, population.national_id(i), "VN", _TITLES.get(form, "Giám đốc")
            )
        ]
        if form != "private" and rng.random() < 0.12:
            representatives.append(self._second_representative(rng, i))
        home_province = next(p for prefix_, p, _ in _TAX_PREFIXES if prefix_ == code[:2])
        address = _places.current_address(rng, home_province if rng.random() < 0.8 else None)
        name = f"{prefix} {words} {brand.upper()}"
        branches = []
        for b in range(_branch_count(rng)):
            branch_address = _places.current_address(rng)
            province = _places.short_name(_places.province_name(int(branch_address.province)))
            branches.append(
                Branch(
                    code=f"{code}-{b + 1:03d}",
                    parent=code,
                    name=f"CHI NHÁNH {province.upper()} - {name}",
                    address=branch_address,
                    status=status if status in ("dissolved", "bankrupt") else "active",
                )
            )
        return Enterprise(
            index=e,
            code=code,
            name=name,
            name_en=f"{plain(brand).upper()} {words_en} {suffix_en}",
            short_name=f"{plain(brand).upper()} {suffix_short}",
            legal_form=form,
            status=status,
            founded=founded,
            address=address,
            charter_capital=rng.choice((1, 2, 5, 10, 20, 50, 100, 500)) * 100_000_000,
            representatives=tuple(representatives),
            main_line=BusinessLine(line_code, line_name),
            branches=tuple(branches),
        )

    def _second_representative(self, rng: random.Random, i: int) -> LegalRepresentative:
        """A co-representative: the living spouse when there is one, else a foreigner."""
        spouse = self._population.spouse_of(i)
        if spouse is not None and self._population.person(spouse).died is None:
            ref = self._population.reference(spouse)
            return LegalRepresentative(ref.name, ref.national_id, "VN", "Phó giám đốc")
        sex = _names.MALE if rng.random() < 0.6 else _names.FEMALE
        name, nationality = _names.foreign_name(rng, sex)
        return LegalRepresentative(name, None, nationality, "Phó giám đốc")

    def of_citizen(self, i: int) -> list[Enterprise]:
        """The enterprises citizen i represents: their own, and their spouse's they co-represent."""
        found = [self.enterprise(i * ENTERPRISE_SLOTS + j) for j in range(self.count_of(i))]
        spouse = self._population.spouse_of(i)
        if spouse is not None:
            national_id = self._population.national_id(i)
            for j in range(self.count_of(spouse)):
                enterprise = self.enterprise(spouse * ENTERPRISE_SLOTS + j)
                if any(r.national_id == national_id for r in enterprise.representatives):
                    found.append(enterprise)
        return found


def _branch_count(rng: random.Random) -> int:
    u = rng.random()
    return 0 if u < 0.75 else 1 if u < 0.90 else 2 if u < 0.97 else 3


# Driving licences.

LICENCE_HOLDER_RATE = 0.35
"""Share of citizens aged 18 or more (at death, for the deceased) who hold a licence."""
NEW_CLASSES_FROM = date(2025, 1, 1)
"""Cards issued from this date carry the classes of the 2024 road traffic law."""
POLICE_ISSUE_FROM = date(2025, 3, 1)
"""Cards issued from this date are issued by the traffic police, not the transport department."""
REORGANISED = date(2025, 7, 1)

# Class, share, years of validity (None: no expiry; "age": until 60 for men, 55 for women).
_OLD_CLASSES = (
    (("A1", 0.65), ("A2", 0.12)),
    (("B2", 0.35), ("B1", 0.05)),
    (("C", 0.06),),
    (("D", 0.02), ("E", 0.01), ("FC", 0.01)),
)
_NEW_CLASSES = (
    (("A1", 0.65), ("A", 0.12)),
    (("B", 0.35), ("C1", 0.05)),
    (("C", 0.04), ("D1", 0.01)),
    (("D", 0.02), ("CE", 0.01), ("D2", 0.01)),
)
_VALIDITY: dict[str, int | str | None] = {
    "A1": None,
    "A2": None,
    "A": None,
    "B1": "age",
    "B2": 10,
    "B": 10,
    "C1": 10,
}
_MOTORBIKE = ("A1", "A2", "A")


class Licences:
    """The driving-licence register: at most one licence per citizen."""

    def __init__(self, population: Population) -> None:
        self._population = population
        self._serial = Permutation(MAX_CITIZENS, population.seed, "licence-number")

    def holds(self, i: int) -> bool:
        """Whether citizen i holds (or held, if deceased) a driving licence."""
        person = self._population.person(i)
        if age(person.birth, person.died or AS_OF) < 18:
            return False
        return stream(self._population.seed, "licence-holder", i).random() < LICENCE_HOLDER_RATE

    def index_of(self, number: str) -> int | None:
        """The index of the holder of the licence with this number, or None."""
        if len(number) != 12 or not number.isdigit():
            return None
        i = self._serial.invert(int(number[6:]))
        if i >= self._population.size or not self.holds(i):
            return None
        return i if self.licence(i).number == number else None

    def licence(self, i: int) -> Licence:
        """The licence of citizen i (who must hold one: see `holds`)."""
        population = self._population
        person = population.person(i)
        rng = stream(population.seed, "licence", i)
        end = min(person.died or AS_OF, AS_OF)
        earliest = min(max(_years_after(person.birth, 18), date(1995, 1, 1)), end)
        first = _between(rng, earliest, end)
        issued = _between(rng, first, end) if rng.random() < 0.5 else first
        classes = self._classes(rng, person, first, issued)
        expiries = [c.expires for c in classes if c.expires is not None]
        expires = min(expiries) if expiries else None
        u = rng.random()
        if person.died is not None or u < 0.02:
            status = "revoked"
        elif u < 0.05:
            status = "suspended"
        elif expires is not None and expires < AS_OF:
            status = "expired"
        else:
            status = "valid"
        points = 0
        if status in ("valid", "expired"):
            points = 12 if rng.random() < 0.8 else rng.randint(2, 11)
        province, authority = self._authority(rng, person, issued)
        return Licence(
            index=i,
            number=f"{province:02d}{rng.randrange(10_000):04d}{self._serial(i):06d}",
            holder_name=person.name.full,
            holder_national_id=population.national_id(i),
            classes=classes,
            issued=issued,
            expires=expires,
            status=status,
            points=points,
            authority=authority,
        )

    @staticmethod
    def _classes(
        rng: random.Random, person: Person, first: date, issued: date
    ) -> tuple[LicenceClass, ...]:
        groups = _NEW_CLASSES if issued >= NEW_CLASSES_FROM else _OLD_CLASSES
        classes = []
        for group in groups:
            u = rng.random()
            for code, share in group:
                if u < share:
                    since = first if code in _MOTORBIKE else _between(rng, first, issued)
                    classes.append(LicenceClass(code, since, _expiry(code, since, person)))
                    break
                u -= share
        if not classes:
            classes.append(LicenceClass(groups[0][0][0], first, None))
        return tuple(classes)

    def _authority(self, rng: random.Random, person: Person, issued: date) -> tuple[int, str]:
        """The issuing province's code (of the units of the time) and the authority's name."""
        if issued >= REORGANISED:
            province = rng.choice(_places.current_province_codes())
            name = _places.province_name(province)
        else:
            province = (
                person.birth_province
                if rng.random() < 0.6
                else rng.choice(_places.legacy_province_codes())
            )
            name = _places.legacy_province_name(province)
        if issued >= POLICE_ISSUE_FROM:
            return province, f"Phòng Cảnh sát giao thông, Công an {_lower_first(name)}"
        return province, f"Sở Giao thông vận tải {_places.short_name(name)}"


def _expiry(code: str, since: date, person: Person) -> date | None:
    validity = _VALIDITY.get(code, 5)
    if validity is None:
        return None
    if validity == "age":
        # Until 60 (men) or 55 (women); ten years when issued later than ten years before.
        retirement = _years_after(person.birth, 60 if person.sex == _names.MALE else 55)
        return max(retirement, _years_after(since, 10))
    assert isinstance(validity, int)
    return _years_after(since, validity)


# Budget-relationship units.

CITIZENS_PER_BUDGET_UNIT = 20
"""The world holds one budget unit per this many citizens (at least `MIN_BUDGET_UNITS`)."""
MIN_BUDGET_UNITS = 50
CLOSED_BUDGET_UNIT_RATE = 0.08
"""Share of units closed with the districts and old communes on 1 July 2025."""
UNIT_TYPES = MappingProxyType(
    {
        "administrative": CatalogEntry("1", "Cơ quan hành chính nhà nước"),
        "public_service": CatalogEntry("2", "Đơn vị sự nghiệp công lập"),
    }
)
_MINISTRIES = (
    "Bộ Tài chính",
    "Bộ Nội vụ",
    "Bộ Tư pháp",
    "Bộ Công Thương",
    "Bộ Nông nghiệp và Môi trường",
    "Bộ Xây dựng",
    "Bộ Y tế",
    "Bộ Giáo dục và Đào tạo",
    "Bộ Khoa học và Công nghệ",
    "Bộ Văn hóa, Thể thao và Du lịch",
)
_CENTRAL_UNITS = (
    ("Văn phòng", "administrative"),
    ("Vụ Kế hoạch - Tài chính", "administrative"),
    ("Vụ Tổ chức cán bộ", "administrative"),
    ("Trung tâm Thông tin", "public_service"),
)
_DEPARTMENTS = (
    "Tài chính",
    "Nội vụ",
    "Tư pháp",
    "Y tế",
    "Giáo dục và Đào tạo",
    "Xây dựng",
    "Công Thương",
    "Nông nghiệp và Môi trường",
)
_SCHOOL_NAMES = ("Nguyễn Du", "Lê Quý Đôn", "Chu Văn An", "Trần Phú", "Lê Lợi", "Nguyễn Trãi")


class BudgetUnits:
    """The budget-relationship unit codes: ministries' units, provinces' and communes'."""

    def __init__(self, population: Population) -> None:
        self.seed = population.seed
        self.count = max(MIN_BUDGET_UNITS, population.size // CITIZENS_PER_BUDGET_UNIT)
        self._serial = Permutation(10**6, population.seed, "budget-unit-code")

    def code(self, u: int) -> str:
        """The 7-digit code of unit u; the leading 1 marks a budget-estimate or -using unit."""
        return f"1{self._serial(u):06d}"

    def index_of(self, code: str) -> int | None:
        """The index of the unit with this code, or None."""
        if len(code) != 7 or not code.isdigit() or code[0] != "1":
            return None
        u = self._serial.invert(int(code[1:]))
        return u if u < self.count else None

    def unit(self, u: int) -> BudgetUnit:
        """The record of unit u."""
        if not 0 <= u < self.count:
            raise IndexError(f"no budget unit {u}")
        rng = stream(self.seed, "budget-unit", u)
        draw = rng.random()
        if draw < CLOSED_BUDGET_UNIT_RATE:
            return self._closed(rng, u)
        if draw < 0.18:
            ministry = rng.choice(_MINISTRIES)
            office, kind = rng.choice(_CENTRAL_UNITS)
            return self._unit(
                u,
                rng,
                f"{office}, {ministry}",
                kind,
                ministry,
                "central",
                _places.current_address(rng, 1),
            )
        province = rng.choice(_places.current_province_codes())
        province_name = _lower_first(_places.province_name(province))
        if draw < 0.45:
            if rng.random() < 0.6:
                name, kind = f"Sở {rng.choice(_DEPARTMENTS)} {province_name}", "administrative"
            else:
                school = rng.choice(_SCHOOL_NAMES)
                name, kind = f"Trường Trung học phổ thông {school}", "public_service"
            return self._unit(
                u,
                rng,
                name,
                kind,
                f"Ủy ban nhân dân {province_name}",
                "province",
                _places.current_address(rng, province),
            )
        ward, ward_name = _places.current_ward(rng, province)
        base = _places.short_name(ward_name)
        name, kind = rng.choice(
            (
                (f"Ủy ban nhân dân {_lower_first(ward_name)}", "administrative"),
                (f"Trạm Y tế {_lower_first(ward_name)}", "public_service"),
                (f"Trường Tiểu học {base}", "public_service"),
                (f"Trường Mầm non {base}", "public_service"),
                (f"Trường Trung học cơ sở {base}", "public_service"),
            )
        )
        authority = (
            f"Ủy ban nhân dân {province_name}"
            if name.startswith("Ủy ban")
            else f"Ủy ban nhân dân {_lower_first(ward_name)}"
        )
        return self._unit(
            u, rng, name, kind, authority, "commune", _places.current_address(rng, ward=ward)
        )

    def _unit(
        self,
        u: int,
        rng: random.Random,
        name: str,
        kind: str,
        authority: str,
        level: str,
        address: _places.Address,
    ) -> BudgetUnit:
        # The communes and their people's committees date from the reorganisation.
        if level == "commune" and kind == "administrative":
            established = REORGANISED
        else:
            established = _between(rng, date(1976, 7, 2), date(2024, 12, 31))
        return BudgetUnit(
            index=u,
            code=self.code(u),
            name=name,
            unit_type=UNIT_TYPES[kind],
            authority=authority,
            level=level,
            status="active",
            established=established,
            closed=None,
            address=address,
        )

    def _closed(self, rng: random.Random, u: int) -> BudgetUnit:
        """A unit of a district or old commune, closed when they were abolished or merged."""
        address = _places.legacy_address(rng)
        province, district, ward = _places.unit_names(address)
        assert district is not None
        if rng.random() < 0.5:
            name = f"Ủy ban nhân dân {_lower_first(district)}"
            authority, level = f"Ủy ban nhân dân {_lower_first(province)}", "district"
        else:
            name = f"Ủy ban nhân dân {_lower_first(ward)}"
            authority, level = f"Ủy ban nhân dân {_lower_first(district)}", "commune"
        return BudgetUnit(
            index=u,
            code=self.code(u),
            name=name,
            unit_type=UNIT_TYPES["administrative"],
            authority=authority,
            level=level,
            status="closed",
            established=_between(rng, date(1976, 7, 2), date(2019, 12, 31)),
            closed=REORGANISED,
            address=address,
        )
