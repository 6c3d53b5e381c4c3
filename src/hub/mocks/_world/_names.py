"""Personal names: Vietnamese ones in family-middle-given order, and a few foreign ones.

Given names extend Faker's ``vi_VN`` person lists with short lists of our own. Family
names follow the frequencies commonly cited for Vietnam (Nguyễn about 38%, Trần 12%,
Lê 9.5%, Phạm 7%, Hoàng/Huỳnh 5%, Phan 4.5%, Vũ/Võ 4%, Đặng 2%, Bùi 2%, Đỗ 1.4%,
Hồ 1.3%, Ngô 1.3%, Dương 1%, Lý 0.5%), the rest shared by a handful of others.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from faker.providers.person import de_DE, en_US, fr_FR, ja_JP, vi_VN, zh_CN, zh_TW

from hub.mocks._world._random import Weighted

MALE = 1
FEMALE = 2

FAMILY_NAMES = Weighted(
    [
        ("Nguyễn", 38.4),
        ("Trần", 12.1),
        ("Lê", 9.5),
        ("Phạm", 7.0),
        ("Hoàng", 2.6),
        ("Huỳnh", 2.5),
        ("Phan", 4.5),
        ("Vũ", 2.0),
        ("Võ", 1.9),
        ("Đặng", 2.1),
        ("Bùi", 2.0),
        ("Đỗ", 1.4),
        ("Hồ", 1.3),
        ("Ngô", 1.3),
        ("Dương", 1.0),
        ("Lý", 0.5),
        ("Đào", 1.0),
        ("Đinh", 1.0),
        ("Mai", 0.8),
        ("Trương", 0.8),
        ("Lâm", 0.6),
        ("Trịnh", 0.6),
        ("Đoàn", 0.6),
        ("Lương", 0.5),
        ("Hà", 0.5),
        ("Tạ", 0.4),
        ("Cao", 0.4),
        ("Phùng", 0.3),
    ]
)

# Middle names that mark sex, more common among older generations.
_MARKER = {MALE: "Văn", FEMALE: "Thị"}
_MIDDLE = {
    MALE: ("Đức", "Minh", "Quốc", "Hữu", "Công", "Thành", "Quang", "Xuân", "Ngọc", "Duy", "Gia"),
    FEMALE: ("Ngọc", "Thu", "Thanh", "Minh", "Phương", "Bảo", "Khánh", "Mai", "Hồng", "Kim"),
}
_GIVEN_EXTRA = {
    MALE: ("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hùng", "Long", "Mạnh", "Nghĩa"),
    FEMALE: ("Anh", "Dung", "Giang", "Hà", "Hằng", "Hoa", "Huyền", "Loan", "Nga", "Nhung"),
}


def _unique(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for group in groups for name in group))


@functools.cache
def _given(sex: int) -> tuple[str, ...]:
    provider = vi_VN.Provider
    own = provider.first_names_male if sex == MALE else provider.first_names_female
    return _unique(own, provider.first_names_unisex, _GIVEN_EXTRA[sex])


@dataclass(frozen=True, slots=True)
class VietnameseName:
    """A Vietnamese name in its three parts."""

    family: str
    middle: str
    given: str

    @property
    def full(self) -> str:
        """The name as written: family, middle, given."""
        return f"{self.family} {self.middle} {self.given}"


def vietnamese_name(rng: random.Random, sex: int, birth_year: int, family: str) -> VietnameseName:
    """A name for a person of ``sex`` born in ``birth_year`` into ``family``."""
    marker_rate = 0.6 if birth_year < 1980 else 0.25
    if sex == FEMALE:
        marker_rate += 0.15
    middle = _MARKER[sex] if rng.random() < marker_rate else rng.choice(_MIDDLE[sex])
    return VietnameseName(family, middle, rng.choice(_given(sex)))


# Korean names are not in Faker's Latin script; these are common romanised ones.
_KOREAN_FAMILY: Sequence[str] = (
    "Kim",
    "Lee",
    "Park",
    "Choi",
    "Jung",
    "Kang",
    "Cho",
    "Yoon",
    "Jang",
    "Lim",
)
_KOREAN_GIVEN: dict[int, Sequence[str]] = {
    MALE: ("Min-jun", "Seo-jun", "Ji-ho", "Hyun-woo", "Dong-hyun", "Sung-min", "Jae-won"),
    FEMALE: ("Seo-yeon", "Ji-woo", "Min-seo", "Ha-eun", "Su-bin", "Ye-jin", "Eun-ji"),
}


@functools.cache
def _foreign() -> dict[str, tuple[Sequence[str], dict[int, Sequence[str]], bool]]:
    """Per nationality: family names, given names by sex, and whether family comes first."""
    return {
        "KR": (_KOREAN_FAMILY, _KOREAN_GIVEN, True),
        "CN": (
            tuple(zh_CN.Provider.last_romanized_names),
            {
                MALE: zh_CN.Provider.first_romanized_names,
                FEMALE: zh_CN.Provider.first_romanized_names,
            },
            True,
        ),
        "TW": (
            tuple(zh_TW.Provider.last_romanized_names),
            {
                MALE: tuple(zh_TW.Provider.first_romanized_names_male),
                FEMALE: tuple(zh_TW.Provider.first_romanized_names_female),
            },
            True,
        ),
        "JP": (
            ja_JP.Provider.last_romanized_names,
            {
                MALE: ja_JP.Provider.first_romanized_names_male,
                FEMALE: ja_JP.Provider.first_romanized_names_female,
            },
            True,
        ),
        "US": (
            tuple(en_US.Provider.last_names),
            {
                MALE: tuple(en_US.Provider.first_names_male),
                FEMALE: tuple(en_US.Provider.first_names_female),
            },
            False,
        ),
        "FR": (
            fr_FR.Provider.last_names,
            {MALE: fr_FR.Provider.first_names_male, FEMALE: fr_FR.Provider.first_names_female},
            False,
        ),
        "DE": (
            de_DE.Provider.last_names,
            {MALE: de_DE.Provider.first_names_male, FEMALE: de_DE.Provider.first_names_female},
            False,
        ),
    }


FOREIGN_NATIONALITIES = Weighted(
    [("KR", 30.0), ("CN", 20.0), ("TW", 15.0), ("JP", 10.0), ("US", 10.0), ("FR", 8.0), ("DE", 7.0)]
)


def foreign_name(rng: random.Random, sex: int) -> tuple[str, str]:
    """A foreigner's name as on a passport, and the nationality (ISO 3166-1 alpha-2)."""
    nationality = FOREIGN_NATIONALITIES.draw(rng)
    families, given, family_first = _foreign()[nationality]
    family = rng.choice(families)
    first = rng.choice(given[sex])
    return (f"{family} {first}" if family_first else f"{first} {family}"), nationality
