"""The social-insurance register: who is insured, since when, with whom, and their card.

Its members are the first ``min(citizens, 1000)`` citizens of the world in the world's
seeded order (the population mock hands out at most 1,000 national ids at once);
nobody else is in the register. A member's record is computed from the seed, her
national id and what the population register says of her, so the same seed always
gives the same answers, and names, dates of birth and deaths agree with the
population mock's. Dates are as of 1 November 2025, the world's ``AS_OF``.

The hard cases, in stable proportions: contributions paused with an expired card,
people who left work, pensioners, voluntary contributors, children and pupils with
health insurance only, the deceased (everything closed at the death), partial dates
of birth and names in NFD (both as the population register gives them).
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from hub.schemas import schema_path
from stdnum.vn import mst

from lienthong_social_insurance_mock._people import MAX_SAMPLE, Person, Population

__all__ = ["AS_OF", "SAMPLE_KINDS", "Register"]

AS_OF = dt.date(2025, 11, 1)

#: ``insurance_number`` gives 10-digit numbers; every other kind gives national ids.
SAMPLE_KINDS = (
    "insurance_number",
    "national_id",
    "contributing",
    "paused",
    "ended",
    "pensioner",
    "health_only",
    "voluntary",
    "deceased",
)
_STATUS_KINDS = {
    "contributing": "DANG_THAM_GIA",
    "paused": "TAM_DUNG",
    "ended": "DUNG_THAM_GIA",
    "pensioner": "HUONG_LUONG_HUU",
    "health_only": "CHI_BHYT",
}

# Retirement ages of 2025, rounded to whole years (Labour Code 2019, art. 169).
_RETIREMENT_AGE = {1: 61, 2: 57}
# The fate of a person of working age, by cumulative share.
_WORKING = (
    (0.58, "DANG_THAM_GIA"),
    (0.65, "voluntary"),
    (0.72, "TAM_DUNG"),
    (0.92, "DUNG_THAM_GIA"),
    (1.00, "CHI_BHYT"),
)
_PENSIONERS = 0.7
_EMPLOYERS = 60
_PUBLIC_SHARE = 0.25
_FORMS = ("Công ty TNHH", "Công ty Cổ phần", "Công ty TNHH MTV")
_TRADES = (
    "May mặc", "Xây dựng", "Thương mại", "Cơ khí", "Thực phẩm", "Vận tải", "Điện tử",
    "Dược phẩm", "Phần mềm", "Bao bì", "Thủy sản", "Nội thất",
)  # fmt: skip
_BRANDS = (
    "Hưng Thịnh", "Phú Gia", "Minh Long", "An Phát", "Sao Mai", "Thành Công", "Việt Tiến",
    "Hòa Bình", "Đông Á", "Tân Cảng", "Bình Minh", "Trường Sơn", "Hồng Hà", "Kim Ngân",
)  # fmt: skip
_PUBLIC = ("Ủy ban nhân dân {}", "Trường Tiểu học {}", "Trường Trung học cơ sở {}")
_WARD_KINDS = ("Phường ", "Xã ", "Đặc khu ")
_TAX_PREFIXES = ("01", "03", "04", "26", "47")


@dataclass(frozen=True, slots=True)
class _Employer:
    code: str
    name: str
    group: str  # the card group of its staff: DN (enterprise) or HC (public body)


@cache
def _units() -> tuple[dict[int, str], dict[int, str]]:
    """Province and ward names since 1 July 2025, by code."""
    data = json.loads(schema_path("admin-units-2025.json").read_text(encoding="utf-8"))
    provinces = {p["code"]: p["name"] for p in data["current"]["provinces"]}
    wards = {w["code"]: w["name"] for w in data["current"]["wards"]}
    return provinces, wards


def _tax_code(rng: random.Random) -> str:
    while True:
        first9 = rng.choice(_TAX_PREFIXES) + f"{rng.randrange(1, 10**7):07d}"
        code = first9 + mst.calc_check_digit(first9)
        if mst.is_valid(code):  # some prefixes would need a check digit of 10
            return code


def _employers(seed: int) -> list[_Employer]:
    """The employers of this world's insured, the same for the same seed."""
    rng = random.Random(f"{seed}:employers")
    wards = sorted(_units()[1].values())
    names: set[str] = set()
    employers: list[_Employer] = []
    while len(employers) < _EMPLOYERS:
        if rng.random() < _PUBLIC_SHARE:
            template, ward = rng.choice(_PUBLIC), rng.choice(wards)
            if template.startswith("Trường"):
                # A school takes the place's name: "Phường Ba Đình" -> "Ba Đình".
                for kind in _WARD_KINDS:
                    ward = ward.removeprefix(kind)
            name, group = template.format(ward), "HC"
        else:
            name = f"{rng.choice(_FORMS)} {rng.choice(_TRADES)} {rng.choice(_BRANDS)}"
            group = "DN"
        if name not in names:
            names.add(name)
            employers.append(_Employer(_tax_code(rng), name, group))
    return employers


# Months are counted as year * 12 + month - 1, so that they add and compare.


def _month(year: int, month: int) -> int:
    return year * 12 + month - 1


def _month_text(month: int) -> str:
    return f"{month % 12 + 1:02d}/{month // 12}"


def _first_day(month: int) -> dt.date:
    return dt.date(month // 12, month % 12 + 1, 1)


def _last_day(month: int) -> dt.date:
    year, number = month // 12, month % 12 + 1
    return dt.date(year, number, calendar.monthrange(year, number)[1])


def _day_text(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _register_date(compact: str) -> str:
    """``YYYYMMDD`` / ``YYYYMM`` / ``YYYY`` as this register writes it: ``dd/mm/yyyy`` ..."""
    parts = [compact[6:8], compact[4:6], compact[:4]]
    return "/".join(part for part in parts if part)


_NOW = _month(AS_OF.year, AS_OF.month)
# The last month with contributions paid: the one before AS_OF.
_LAST_PAID = _NOW - 1
_YEAR_START = dt.date(AS_OF.year, 1, 1)
_YEAR_END = dt.date(AS_OF.year, 12, 31)


@dataclass
class _Career:
    status: str
    periods: list[dict[str, Any]]
    months: int
    current: _Employer | None
    card_group: str | None
    card_until: dt.date


def _career(
    rng: random.Random, person: Person, employers: Sequence[_Employer], died: int | None
) -> _Career:
    """The periods, status and card group of a person old enough to work."""
    born = _month(int(person.date_of_birth[:4]), int(person.date_of_birth[4:6] or 7))
    age = (_NOW - born) // 12
    retired = age >= _RETIREMENT_AGE[person.sex]
    if retired:
        fate = "HUONG_LUONG_HUU" if rng.random() < _PENSIONERS else "DUNG_THAM_GIA"
    else:
        draw = rng.random()
        fate = next(name for share, name in _WORKING if draw < share)
    start = born + 12 * rng.randint(18, 25) + rng.randrange(12)
    if retired:
        end: int | None = born + 12 * _RETIREMENT_AGE[person.sex] - 1
    elif fate == "TAM_DUNG":
        end = _LAST_PAID - rng.randint(1, 6)
    elif fate == "DUNG_THAM_GIA":
        # Left before the last month paid; one who never started is not insured at all.
        end = rng.randint(start, _LAST_PAID - 1) if start < _LAST_PAID else start - 1
    else:
        end = None
    if died is not None and (end is None or died < end):
        end = died
    if fate == "CHI_BHYT" or start > min(end if end is not None else _LAST_PAID, _LAST_PAID):
        return _Career("CHI_BHYT", [], 0, None, "GD", _YEAR_END)
    periods, months, last = _periods(rng, start, end, employers, voluntary=fate == "voluntary")
    status = "DANG_THAM_GIA" if fate == "voluntary" else fate
    if died is not None:
        status = "DUNG_THAM_GIA"
    current = last if status in ("DANG_THAM_GIA", "TAM_DUNG") else None
    if status == "HUONG_LUONG_HUU":
        group: str | None = "HT"
    elif status == "DUNG_THAM_GIA":
        group = "GD" if rng.random() < 0.7 else None
    else:
        group = last.group if last is not None else "GD"
    until = _last_day(end) if status == "TAM_DUNG" and end is not None else _YEAR_END
    return _Career(status, periods, months, current, group, until)


def _periods(
    rng: random.Random,
    start: int,
    end: int | None,
    employers: Sequence[_Employer],
    *,
    voluntary: bool,
) -> tuple[list[dict[str, Any]], int, _Employer | None]:
    """One to four stints from ``start`` to ``end`` (None: still open), a month or more each.

    Returns the periods as the register writes them, the months paid, and the employer
    of the last stint (None when it is voluntary).
    """
    last_month = end if end is not None else _LAST_PAID
    stints = min(rng.randint(1, 4), last_month - start + 1)
    cuts = sorted(rng.sample(range(start + 1, last_month + 1), stints - 1))
    bounds = [start, *cuts, last_month + 1]
    periods = []
    months = 0
    employer: _Employer | None = None
    for k in range(stints):
        first, after = bounds[k], bounds[k + 1]
        # A short gap between jobs is not insured.
        gap = min(rng.randint(0, 3), after - first - 1) if k < stints - 1 else 0
        closing = after - 1 - gap
        is_last = k == stints - 1
        employer = None if voluntary and is_last else rng.choice(employers)
        periods.append(
            {
                "tuThang": _month_text(first),
                "denThang": None if is_last and end is None else _month_text(closing),
                "loaiHinh": "TU_NGUYEN" if employer is None else "BAT_BUOC",
                "donVi": _employer_wire(employer),
            }
        )
        months += closing - first + 1
    return periods, months, employer


def _employer_wire(employer: _Employer | None) -> dict[str, str] | None:
    if employer is None:
        return None
    return {"maSoThue": employer.code, "tenDonVi": employer.name}


_BENEFIT_LEVELS = {"TE": 1, "HS": 4, "DN": 4, "HC": 4, "GD": 4, "HT": 3}


def _card(
    rng: random.Random,
    number: str,
    person: Person,
    group: str,
    valid_from: dt.date,
    valid_until: dt.date,
) -> dict[str, Any] | None:
    if valid_until < valid_from:
        return None
    provinces, wards = _units()
    province = person.province if person.province in provinces else int(number[:2])
    facility = f"{province:02d}{rng.randint(1, 250):03d}"
    if person.ward in wards:
        facility_name = f"Trạm Y tế {wards[person.ward]}"
    else:
        facility_name = f"Trung tâm Y tế {provinces.get(province, 'khu vực')}"
    level = _BENEFIT_LEVELS[group]
    return {
        "maThe": f"{group}{level}{province:02d}{number}",
        "mucHuong": level,
        "giaTriTu": _day_text(valid_from),
        "giaTriDen": _day_text(valid_until),
        "noiDangKyKcb": {"ma": facility, "ten": facility_name},
    }


def _death(compact: str | None) -> tuple[int | None, dt.date | None]:
    """The month of a death, and its last day the register can vouch for."""
    if compact is None:
        return None, None
    year = int(compact[:4])
    if len(compact) == 4:
        return _month(year, 12), dt.date(year, 12, 31)
    month = _month(year, int(compact[4:6]))
    day = dt.date(year, int(compact[4:6]), int(compact[6:8])) if len(compact) == 8 else None
    return month, day or _last_day(month)


def _member_record(
    seed: int, number: str, person: Person, employers: Sequence[_Employer]
) -> dict[str, Any]:
    """A member's record as the register's service answers it."""
    rng = random.Random(f"{seed}:record:{person.national_id}")
    year = int(person.date_of_birth[:4])
    born_month = int(person.date_of_birth[4:6] or 7)
    died, last_day = _death(person.died)
    age = (_NOW - _month(year, born_month)) // 12
    if age < 6:
        career = _Career("CHI_BHYT", [], 0, None, "TE", _last_day(_month(year + 6, born_month) - 1))
    elif age < 18:
        career = _Career("CHI_BHYT", [], 0, None, "HS", _YEAR_END)
    else:
        career = _career(rng, person, employers, died)
    card = None
    if career.card_group is not None:
        valid_from = max(_YEAR_START, _first_day(_month(year, born_month)))
        valid_until = min(career.card_until, last_day) if last_day else career.card_until
        card = _card(rng, number, person, career.card_group, valid_from, valid_until)
    return {
        "maSoBhxh": number,
        "soDinhDanh": person.national_id,
        "hoTen": person.full_name,
        "ngaySinh": _register_date(person.date_of_birth),
        "gioiTinh": person.sex,
        # A death ends participation, of children and pupils too.
        "trangThai": "DUNG_THAM_GIA" if person.died else career.status,
        "ngayChet": _register_date(person.died) if person.died else None,
        "donViHienTai": _employer_wire(career.current),
        "quaTrinhThamGia": career.periods,
        "tongSoThangDong": career.months,
        "theBhyt": card,
    }


class Register:
    """The members of one world's register and their records, computed when first asked.

    It is the mock's world for `hub.testing.mock_app`: its seed and its samples.

    Args:
        seed: The world's seed.
        citizens: How many citizens the world holds.
        population: The population register of the same world.
    """

    #: The kinds `sample` gives keys of.
    sample_kinds = SAMPLE_KINDS

    def __init__(self, seed: int, citizens: int, population: Population) -> None:
        self.seed = seed
        self._size = min(citizens, MAX_SAMPLE)
        self._population = population
        self._employers = _employers(seed)
        self._members: list[str] = []
        self._by_number: dict[str, str] = {}
        self._by_national_id: dict[str, str] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._loading = asyncio.Lock()

    async def _load(self) -> None:
        async with self._loading:
            if self._members:
                return
            members = await self._population.national_ids(self._size)
            serials = random.Random(f"{self.seed}:serials").sample(range(10**8), len(members))
            for national_id, serial in zip(members, serials, strict=True):
                # The first two digits: the province where the birth was registered.
                number = f"{national_id[1:3]}{serial:08d}"
                self._by_number[number] = national_id
                self._by_national_id[national_id] = number
            self._members = members

    async def find(
        self, *, number: str | None = None, national_id: str | None = None
    ) -> dict[str, Any] | None:
        """A member's record by social-insurance number or national id, or None."""
        await self._load()
        if number is not None:
            national_id = self._by_number.get(number)
        if national_id is None or national_id not in self._by_national_id:
            return None
        return await self._record(national_id)

    async def sample(self, kind: str, n: int) -> list[str]:
        """Keys of ``n`` members of a kind (see `SAMPLE_KINDS`), the same for the same world.

        Raises:
            ValueError: the kind is unknown.
        """
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"one of {', '.join(SAMPLE_KINDS)}")
        await self._load()
        if kind == "insurance_number":
            return [self._by_national_id[key] for key in self._members[:n]]
        if kind == "national_id":
            return self._members[:n]
        keys: list[str] = []
        for national_id in self._members:
            if len(keys) == n:
                break
            answer = await self._record(national_id)
            if _is_kind(answer, kind):
                keys.append(national_id)
        return keys

    async def _record(self, national_id: str) -> dict[str, Any]:
        answer = self._records.get(national_id)
        if answer is None:
            person = await self._population.person(national_id)
            if person is None:
                raise LookupError("a member unknown to the population register")
            number = self._by_national_id[national_id]
            answer = _member_record(self.seed, number, person, self._employers)
            self._records[national_id] = answer
        return answer


def _is_kind(answer: dict[str, Any], kind: str) -> bool:
    if kind == "deceased":
        return answer["ngayChet"] is not None
    if kind == "voluntary":
        periods = answer["quaTrinhThamGia"]
        return bool(periods) and periods[-1]["loaiHinh"] == "TU_NGUYEN"
    return bool(answer["trangThai"] == _STATUS_KINDS[kind])
