"""The identifiers of the national systems, parsed and validated before any call.

Each parser takes the text a person typed and returns the canonical form, or raises
``ValueError`` with a message that names what is wrong and never repeats the value.
The ``Annotated`` types at the end plug the parsers into pydantic query models.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.vn import mst

from hub._admin_units import legacy_provinces

__all__ = [
    "BudgetUnitCode",
    "EnterpriseCode",
    "LegacyId",
    "LicenceNumber",
    "NationalId",
    "NationalIdInfo",
    "Sex",
    "check_national_id",
    "parse_budget_unit_code",
    "parse_enterprise_code",
    "parse_legacy_id",
    "parse_licence_number",
    "parse_national_id",
]

_DIGITS = {n: re.compile(rf"[0-9]{{{n}}}") for n in (7, 9, 12)}


class Sex(StrEnum):
    """Sex as the population register records it."""

    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class NationalIdInfo:
    """What a 12-digit personal identification number says about its holder."""

    province_code: int
    province_name: str
    sex: Sex
    birth_year: int

    def __repr__(self) -> str:  # the number itself is never kept here
        return f"NationalIdInfo(province_code={self.province_code}, sex={self.sex.value})"


def _digits(value: str, length: int, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string of digits")
    text = value.strip()
    if not _DIGITS[length].fullmatch(text):
        raise ValueError(f"{what} must be exactly {length} digits")
    return text


def parse_national_id(value: str) -> str:
    """Validate a 12-digit personal identification number; returns it trimmed.

    The number has no check digit, so what can be checked is its structure: a known
    birth-registration province (a code before the 2025 reorganisation, 001 to 096),
    a century-and-sex digit, and a birth year that is not in the future.
    """
    number = _digits(value, 12, "a national id")
    national_id_info(number)
    return number


def national_id_info(number: str) -> NationalIdInfo:
    """Decode province, sex and birth year from a national id (already 12 digits)."""
    province = int(number[:3])
    if province not in legacy_provinces():
        raise ValueError("a national id must start with a known province code (001-096)")
    century_sex = int(number[3])
    # 0/1: 1900s, 2/3: 2000s, 4/5: 2100s, 6/7: 2200s, 8/9: 2300s; even male, odd female.
    century = 1900 + 100 * (century_sex // 2)
    birth_year = century + int(number[4:6])
    if birth_year > dt.date.today().year:
        raise ValueError("a national id must not encode a birth year in the future")
    sex = Sex.MALE if century_sex % 2 == 0 else Sex.FEMALE
    return NationalIdInfo(province, legacy_provinces()[province], sex, birth_year)


def check_national_id(
    number: str, *, sex: Sex | None = None, birth_year: int | None = None
) -> NationalIdInfo:
    """Decode a national id and cross-check it against a claimed sex and birth year.

    Raises:
        ValueError: the number is malformed or disagrees with the claim.
    """
    info = national_id_info(parse_national_id(number))
    if sex is not None and sex != info.sex:
        raise ValueError("the national id does not agree with the sex given")
    if birth_year is not None and birth_year != info.birth_year:
        raise ValueError("the national id does not agree with the year of birth given")
    return info


def parse_legacy_id(value: str) -> str:
    """Validate a 9-digit legacy identity card number (CMND)."""
    return _digits(value, 9, "a legacy identity card number")


def parse_enterprise_code(value: str) -> str:
    """Validate an enterprise/tax code with python-stdnum's ``stdnum.vn.mst``.

    Returns the formatted code: ``0100233488`` or, for a branch, ``0100233488-001``.
    """
    if not isinstance(value, str):
        raise TypeError("an enterprise code must be a string")
    try:
        return str(mst.format(mst.validate(value)))
    except StdnumValidationError:
        raise ValueError(
            "an enterprise code must be 10 digits with a valid check digit, "
            "or 13 for a branch (NNNNNNNNNN-NNN)"
        ) from None


def parse_licence_number(value: str) -> str:
    """Validate a 12-digit driving-licence number (opaque: no check digit is known)."""
    return _digits(value, 12, "a driving-licence number")


def parse_budget_unit_code(value: str) -> str:
    """Validate a 7-digit budget-relationship unit code."""
    return _digits(value, 7, "a budget-unit code")


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


NationalId = Annotated[str, BeforeValidator(_strip), AfterValidator(parse_national_id)]
LegacyId = Annotated[str, BeforeValidator(_strip), AfterValidator(parse_legacy_id)]
EnterpriseCode = Annotated[str, AfterValidator(parse_enterprise_code)]
LicenceNumber = Annotated[str, BeforeValidator(_strip), AfterValidator(parse_licence_number)]
BudgetUnitCode = Annotated[str, BeforeValidator(_strip), AfterValidator(parse_budget_unit_code)]
