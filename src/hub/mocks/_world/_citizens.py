"""The population register: citizen i computed from (seed, i), and back from its numbers.

Families are mild but consistent: citizens 2k and 2k+1 form a pair, and a share of the
pairs are married couples (opposite sex, both of marriageable age, sharing a household).
A citizen's parents, when the register holds them, are a couple found by a seeded search
whose husband has the citizen's family name.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from hub.mocks._world import _catalogs, _names, _places
from hub.mocks._world._names import FEMALE, MALE, VietnameseName
from hub.mocks._world._random import Permutation, Weighted, stream, uniforms
from hub.mocks._world._records import Citizen, PersonRef

AS_OF = date(2025, 11, 1)
"""The world's today: ages, statuses and expiries are as of this date, whatever the clock says."""

MAX_CITIZENS = 1_000_000

# The hard cases, in stable proportions.
COUPLE_RATE = 0.40
"""Share of pairs (2k, 2k+1) that are married couples."""
PARTIAL_DOB_BEFORE = 1975
"""Only citizens born before this year have a partial date of birth, as paper records had."""
YEAR_ONLY_RATE = 0.12
"""Share of citizens born before `PARTIAL_DOB_BEFORE` whose date of birth is a year only."""
MONTH_YEAR_RATE = 0.06
"""Share of citizens born before `PARTIAL_DOB_BEFORE` whose date of birth is month and year."""
NFD_RATE = 0.05
"""Share of citizens whose name the register returns in NFD."""
LEGACY_ID_BORN_BY = 1999
"""Only citizens born in or before this year can hold a 9-digit identity card number."""
LEGACY_ID_RATE = 0.60
"""Share of citizens born by `LEGACY_ID_BORN_BY` who hold a 9-digit identity card number."""
DEATH_RATES = {
    1930: 0.45,
    1940: 0.25,
    1950: 0.10,
    1960: 0.04,
    1970: 0.02,
    1980: 0.01,
    1990: 0.01,
    2000: 0.005,
    2010: 0.003,
    2020: 0.003,
}
"""Share of deceased citizens by decade of birth."""
OLD_ADDRESS_RATE = 0.30
"""Share of households whose permanent address was recorded before 1 July 2025 (old codes)."""
TEMPORARY_RESIDENCE_RATE = 0.12
"""Share of living adults registered at a temporary residence."""
FOREIGN_FATHER_RATE = 0.03
"""Share of citizens whose parents are not in the register with a foreign father."""
FOREIGN_MOTHER_RATE = 0.02
"""Share of citizens whose parents are not in the register with a foreign mother."""

# Birth years by decade, roughly the shape of the 2019 census population pyramid.
_DECADE_WEIGHTS = (
    (1930, 1.0),
    (1940, 3.0),
    (1950, 6.0),
    (1960, 10.0),
    (1970, 13.0),
    (1980, 15.0),
    (1990, 16.0),
    (2000, 14.0),
    (2010, 15.0),
    (2020, 7.0),
)
_DECADES = Weighted(_DECADE_WEIGHTS)
_ADULT_DECADES = Weighted([(d, w) for d, w in _DECADE_WEIGHTS if d <= 2000])
_FIRST_BIRTH_YEAR = 1930
_LAST_BIRTH_YEAR = 2024

# Ethnic groups by the 2019 census shares (percent), by 1979 code; 37 small groups share
# the rest equally.
_ETHNIC_SHARES = {
    "01": 85.3,
    "02": 1.9,
    "03": 1.9,
    "06": 1.5,
    "08": 1.5,
    "05": 1.4,
    "07": 1.1,
    "09": 0.9,
    "04": 0.8,
    "10": 0.5,
    "12": 0.4,
    "13": 0.3,
    "14": 0.2,
    "15": 0.2,
    "16": 0.2,
    "17": 0.2,
    "18": 0.2,
}
# Religions by the 2019 census shares (percent); the smaller ones share a little.
_RELIGION_SHARES = {"00": 86.3, "02": 6.1, "01": 4.8, "08": 1.0, "03": 1.0, "05": 0.6}
_BLOOD_SHARES = Weighted([("O", 42.0), ("B", 31.0), ("A", 21.0), ("AB", 6.0)])
_BLOOD_RECORDED_RATE = 0.45
_PARENT_TRIES = 24


@dataclass(frozen=True, slots=True)
class Pair:
    """The facts shared by citizens 2k and 2k+1: whether they are a married couple."""

    couple: bool
    husband: int
    """Which member (0 or 1) is the husband, when a couple."""
    years: tuple[int, int]
    """The birth years of members 0 and 1, when a couple."""


@dataclass(frozen=True, slots=True, repr=False)
class Person:
    """The cheap facts of citizen i, which other records depend on."""

    index: int
    sex: int
    birth: date
    shown_digits: int
    """How much of the date of birth the register shows: 8, 6 or 4 digits."""
    birth_province: int
    name: VietnameseName
    nfd: bool
    died: date | None
    has_legacy_id: bool

    @property
    def date_of_birth(self) -> str:
        """The date of birth as the register shows it (YYYYMMDD, YYYYMM or YYYY)."""
        return self.birth.strftime("%Y%m%d")[: self.shown_digits]

    def __repr__(self) -> str:
        return f"Person(index={self.index})"


def age(birth: date, on: date) -> int:
    """Whole years between ``birth`` and ``on``."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _year_in(decade: int, u: float, last: int) -> int:
    span = min(decade + 9, last) - decade + 1
    return decade + int(u * span)


class Population:
    """Citizens computed on demand; nothing is stored but small bounded caches.

    Args:
        seed: The world seed.
        size: The number of citizens, at most `MAX_CITIZENS`.
    """

    def __init__(self, seed: int, size: int) -> None:
        if not 2 <= size <= MAX_CITIZENS:
            raise ValueError(f"a world holds 2 to {MAX_CITIZENS:,} citizens")
        self.seed = seed
        self.size = size
        self._serial = Permutation(MAX_CITIZENS, seed, "national-id")
        self._legacy_serial = Permutation(MAX_CITIZENS, seed, "legacy-id")
        self._provinces = Weighted(
            [(code, {79: 4.0, 1: 3.0}.get(code, 1.0)) for code in _places.legacy_province_codes()]
        )
        catalog = _catalogs.ethnic_groups()
        rest = (100.0 - sum(_ETHNIC_SHARES.values())) / (len(catalog) - len(_ETHNIC_SHARES))
        self._ethnicities = Weighted(
            [(entry, _ETHNIC_SHARES.get(code, rest)) for code, entry in catalog.items()]
        )
        religions = _catalogs.religions()
        rest = (100.0 - sum(_RELIGION_SHARES.values())) / (len(religions) - len(_RELIGION_SHARES))
        self._religions = Weighted(
            [(entry, _RELIGION_SHARES.get(code, rest)) for code, entry in religions.items()]
        )
        self._vietnam = _catalogs.nationalities()["VN"]
        # Parents, spouses and household heads are the same few people many times over.
        self.person = functools.lru_cache(maxsize=4096)(self._person)
        self.pair = functools.lru_cache(maxsize=4096)(self._pair)

    # The cheap facts.

    def _pair(self, k: int) -> Pair:
        if 2 * k + 1 >= self.size:
            return Pair(False, 0, (0, 0))
        u = uniforms(self.seed, "pair", k)
        if u[0] >= COUPLE_RATE:
            return Pair(False, 0, (0, 0))
        # Both are of marriageable age (20 and 18) whatever their birthday; wives are
        # mostly a few years younger.
        husband_year = _year_in(_ADULT_DECADES.at(u[1]), u[2], AS_OF.year - 21)
        wife_year = husband_year + int(u[3] * 12) - 3
        wife_year = min(max(wife_year, _FIRST_BIRTH_YEAR), AS_OF.year - 19)
        husband = 0 if u[4] < 0.5 else 1
        years = (husband_year, wife_year) if husband == 0 else (wife_year, husband_year)
        return Pair(True, husband, years)

    def family_name(self, i: int) -> str:
        """The family name of citizen i, cheaply (for the search for parents)."""
        return _names.FAMILY_NAMES.at(uniforms(self.seed, "family", i)[0])

    def _person(self, i: int) -> Person:
        if not 0 <= i < self.size:
            raise IndexError(f"no citizen {i} in a world of {self.size}")
        pair = self.pair(i >> 1)
        rng = stream(self.seed, "person", i)
        if pair.couple:
            sex = MALE if (i & 1) == pair.husband else FEMALE
            year = pair.years[i & 1]
        else:
            sex = MALE if rng.random() < 0.5 else FEMALE
            year = _year_in(_DECADES.at(rng.random()), rng.random(), _LAST_BIRTH_YEAR)
        birth = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        shown = 8
        if year < PARTIAL_DOB_BEFORE:
            u = rng.random()
            shown = 4 if u < YEAR_ONLY_RATE else 6 if u < YEAR_ONLY_RATE + MONTH_YEAR_RATE else 8
        province = self._provinces.draw(rng)
        name = _names.vietnamese_name(rng, sex, year, self.family_name(i))
        nfd = rng.random() < NFD_RATE
        died = None
        if rng.random() < DEATH_RATES[year // 10 * 10]:
            # A married citizen died after reaching the age of marriage.
            married_at = (20 if sex == MALE else 18) if pair.couple else 0
            start = max(date(year + married_at, 1, 1), birth + timedelta(days=1), date(1980, 1, 1))
            died = start + timedelta(days=rng.randrange((AS_OF - start).days))
        has_legacy_id = year <= LEGACY_ID_BORN_BY and rng.random() < LEGACY_ID_RATE
        return Person(i, sex, birth, shown, province, name, nfd, died, has_legacy_id)

    # Numbers, and back.

    def national_id(self, i: int) -> str:
        """The 12-digit personal identification number of citizen i."""
        person = self.person(i)
        year = person.birth.year
        century_sex = (year // 100 - 19) * 2 + (0 if person.sex == MALE else 1)
        return f"{person.birth_province:03d}{century_sex}{year % 100:02d}{self._serial(i):06d}"

    def legacy_id(self, i: int) -> str | None:
        """The 9-digit identity card number of citizen i, if any."""
        if not self.person(i).has_legacy_id:
            return None
        prefix = 10 + int(uniforms(self.seed, "legacy-prefix", i)[0] * 380)
        return f"{prefix:03d}{self._legacy_serial(i):06d}"

    def index_of(self, national_id: str) -> int | None:
        """The index of the citizen with this national id, or None."""
        if len(national_id) != 12 or not national_id.isdigit():
            return None
        i = self._serial.invert(int(national_id[6:]))
        return i if i < self.size and self.national_id(i) == national_id else None

    def index_of_legacy_id(self, legacy_id: str) -> int | None:
        """The index of the citizen with this 9-digit identity card number, or None."""
        if len(legacy_id) != 9 or not legacy_id.isdigit():
            return None
        i = self._legacy_serial.invert(int(legacy_id[3:]))
        return i if i < self.size and self.legacy_id(i) == legacy_id else None

    # Relations.

    def spouse_of(self, i: int) -> int | None:
        """The index of citizen i's spouse in the register, if any."""
        return i ^ 1 if self.pair(i >> 1).couple else None

    def household_head_of_couple(self, k: int) -> int:
        """The head of couple k's household: the husband, or the wife if he has died."""
        pair = self.pair(k)
        husband = 2 * k + pair.husband
        return husband if self.person(husband).died is None else husband ^ 1

    def parents_of(self, i: int) -> tuple[int, int] | None:
        """The indexes of citizen i's father and mother, when the register holds them."""
        person = self.person(i)
        year = person.birth.year
        rng = stream(self.seed, "parents", i)
        couples = self.size // 2
        for _ in range(_PARENT_TRIES):
            k = rng.randrange(couples)
            pair = self.pair(k)
            if k == i >> 1 or not pair.couple:
                continue
            husband_year, wife_year = pair.years[pair.husband], pair.years[1 - pair.husband]
            if not (year - 45 <= wife_year <= year - 18 and husband_year <= year - 20):
                continue
            husband = 2 * k + pair.husband
            if self.family_name(husband) != person.name.family:
                continue
            father, mother = self.person(husband), self.person(husband ^ 1)
            if (father.died and father.died.year < year) or (
                mother.died and mother.died < person.birth
            ):
                continue
            return husband, husband ^ 1
        return None

    def reference(self, i: int) -> PersonRef:
        """Citizen i as a related person on someone else's record."""
        return PersonRef(self.person(i).name.full, self.national_id(i), "VN")

    # The whole record.

    def citizen(self, i: int) -> Citizen:
        """The full record of citizen i."""
        person = self.person(i)
        alive = person.died is None
        years = age(person.birth, person.died or AS_OF)
        adult = years >= 18
        rng = stream(self.seed, "citizen", i)
        seed = self.seed

        spouse_index = self.spouse_of(i)
        spouse: PersonRef | None = None
        status = "single"
        if spouse_index is not None:
            spouse = self.reference(spouse_index)
            partner_died = self.person(spouse_index).died is not None
            status = "widowed" if alive and partner_died else "married"
        elif adult:
            u = rng.random()
            if u < 0.70:
                status = "single"
            elif u < 0.85:
                status = "divorced"
            elif u < 0.92:
                status = "widowed"
            else:
                status = "married"
                foreigner, nationality = _names.foreign_name(rng, FEMALE + MALE - person.sex)
                spouse = PersonRef(foreigner, None, nationality)

        parents = self.parents_of(i)
        father: PersonRef | None = None
        mother: PersonRef | None = None
        if parents is not None:
            father, mother = self.reference(parents[0]), self.reference(parents[1])
        elif person.birth.year >= 1960 or rng.random() >= 0.4:
            father = self._outside_parent(rng, MALE, person, FOREIGN_FATHER_RATE)
            mother = self._outside_parent(rng, FEMALE, person, FOREIGN_MOTHER_RATE)

        # The household: a couple lives together; children with their parents.
        head_key: object
        if spouse_index is not None:
            head = self.household_head_of_couple(i >> 1)
            relation = "Chủ hộ" if head == i else "Chồng" if person.sex == MALE else "Vợ"
            household_head, head_key = self.reference(head), head
        elif parents is not None and (
            not adult or (years < 30 and status == "single" and rng.random() < 0.5)
        ):
            head = self.household_head_of_couple(parents[0] >> 1)
            relation = "Con"
            household_head, head_key = self.reference(head), head
        elif not adult and father is not None:
            relation = "Con"
            household_head, head_key = father, ("child", i)
        else:
            relation = "Chủ hộ"
            household_head, head_key = self.reference(i), i
        home = stream(seed, "home", head_key)
        if home.random() < OLD_ADDRESS_RATE:
            permanent = _places.legacy_address(home)
        else:
            permanent = _places.current_address(home)
        temporary = None
        if alive and adult and rng.random() < TEMPORARY_RESIDENCE_RATE:
            temporary = _places.current_address(stream(seed, "temporary", i))
        current = temporary or _places.to_current(permanent)

        hometown_rng = stream(seed, "hometown", i)
        hometown_province = person.birth_province if hometown_rng.random() < 0.7 else None

        blood = None
        if rng.random() < _BLOOD_RECORDED_RATE:
            blood = _catalogs.BLOOD_TYPES[_BLOOD_SHARES.draw(rng)]
        vneid = 0
        if alive and years >= 14:
            u = rng.random()
            vneid = 2 if u < 0.80 else 1 if u < 0.92 else 0

        name = person.name.full
        return Citizen(
            index=i,
            national_id=self.national_id(i),
            legacy_id=self.legacy_id(i),
            full_name=unicodedata.normalize("NFD", name) if person.nfd else name,
            date_of_birth=person.date_of_birth,
            sex=person.sex,
            birth_registration_place=_places.legacy_address(
                stream(seed, "birthplace", i), person.birth_province
            ),
            hometown=_places.legacy_address(hometown_rng, hometown_province),
            ethnicity=self._ethnicities.draw(rng),
            religion=self._religions.draw(rng),
            nationality=self._vietnam,
            marital_status=_catalogs.MARITAL_STATUSES[status],
            blood_type=blood,
            permanent_residence=permanent,
            temporary_residence=temporary,
            current_residence=current,
            father=father,
            mother=mother,
            spouse=spouse,
            legal_representative=None if adult else father or mother,
            household_head=household_head,
            household_relation=relation,
            alive=alive,
            date_of_death=person.died.strftime("%Y%m%d") if person.died else None,
            birth_date=person.birth,
            vneid_level=vneid,
        )

    def _outside_parent(
        self, rng: random.Random, sex: int, child: Person, foreign_rate: float
    ) -> PersonRef:
        """A parent the register knows by name only: no national id."""
        if rng.random() < foreign_rate:
            name, nationality = _names.foreign_name(rng, sex)
            return PersonRef(name, None, nationality)
        family = child.name.family if sex == MALE else _names.FAMILY_NAMES.draw(rng)
        parent = _names.vietnamese_name(rng, sex, child.birth.year - 28, family)
        return PersonRef(parent.full, None, "VN")
