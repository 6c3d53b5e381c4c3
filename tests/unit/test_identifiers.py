"""Identifiers are validated in the hub, before any upstream call."""

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum.vn import mst

from hub._admin_units import legacy_provinces
from hub.identifiers import (
    Sex,
    check_national_id,
    national_id_info,
    parse_budget_unit_code,
    parse_enterprise_code,
    parse_legacy_id,
    parse_licence_number,
    parse_national_id,
)

PROVINCES = sorted(legacy_provinces())


def make_id(province: int, century_sex: int, year: int, serial: int) -> str:
    return f"{province:03d}{century_sex}{year % 100:02d}{serial:06d}"


@given(
    province=st.sampled_from(PROVINCES),
    female=st.booleans(),
    year=st.integers(1900, dt.date.today().year),
    serial=st.integers(0, 999_999),
)
def test_a_well_formed_national_id_decodes_to_its_parts(province, female, year, serial):
    """Province, sex and birth year come back out of the number."""
    century_sex = 2 * ((year - 1900) // 100) + int(female)
    number = make_id(province, century_sex, year, serial)
    info = national_id_info(parse_national_id(number))
    assert info.province_code == province
    assert info.sex == (Sex.FEMALE if female else Sex.MALE)
    assert info.birth_year == year


@given(
    st.text(max_size=20).filter(
        lambda s: not (len(s.strip()) == 12 and s.strip().isascii() and s.strip().isdigit())
    )
)
def test_anything_but_twelve_digits_is_refused(text):
    """Only 12 ASCII digits can be a national id."""
    with pytest.raises(ValueError, match="12 digits"):
        parse_national_id(text)


def test_unicode_digits_are_not_digits_here():
    """Arabic-Indic digits pass str.isdigit() but are not a national id."""
    with pytest.raises(ValueError):
        parse_national_id("٠٣٧٠٩٠٠٠١٢٣٤")


@pytest.mark.parametrize("province", [0, 3, 97, 999])
def test_unknown_province_code_is_refused(province):
    """003 and 097 are not province codes."""
    with pytest.raises(ValueError, match="province code"):
        parse_national_id(make_id(province, 0, 1990, 1234))


def test_future_birth_year_is_refused():
    """A century digit for the 2100s cannot belong to anyone alive."""
    with pytest.raises(ValueError, match="future"):
        parse_national_id(make_id(37, 4, 2190, 1))


def test_error_messages_never_repeat_the_value():
    """The message names the problem, not the number."""
    number = "99909000123"
    with pytest.raises(ValueError) as caught:
        parse_national_id(number)
    assert number not in str(caught.value)


def test_cross_check_against_claimed_sex_and_year():
    """A claim that contradicts the number's sex or year is refused."""
    number = make_id(37, 1, 1990, 1234)  # female, 1990
    assert check_national_id(number, sex=Sex.FEMALE, birth_year=1990).sex == Sex.FEMALE
    with pytest.raises(ValueError, match="sex"):
        check_national_id(number, sex=Sex.MALE)
    with pytest.raises(ValueError, match="year"):
        check_national_id(number, birth_year=1991)


def test_surrounding_spaces_are_trimmed():
    """Spaces around a number typed at a desk do not matter."""
    assert parse_national_id(" 037090001234 ") == "037090001234"


@given(st.integers(0, 999_999_999))
def test_enterprise_codes_with_their_check_digit_pass(body):
    """Every 9-digit body with a one-digit check digit is a valid code, branches too."""
    digits = f"{body:09d}"
    check = mst.calc_check_digit(digits)
    assume(len(check) == 1 and digits[2:] != "0000000")
    code = digits + check
    assert parse_enterprise_code(code) == code
    assert parse_enterprise_code(code + "001") == f"{code}-001"
    assert parse_enterprise_code(f"{code}-001") == f"{code}-001"


def test_enterprise_code_with_a_wrong_check_digit_is_refused():
    """0100233489 differs from the valid 0100233488 in its check digit."""
    assert parse_enterprise_code("0100233488") == "0100233488"
    with pytest.raises(ValueError, match="check digit"):
        parse_enterprise_code("0100233489")


@pytest.mark.parametrize(
    ("parser", "length"),
    [(parse_legacy_id, 9), (parse_licence_number, 12), (parse_budget_unit_code, 7)],
)
def test_fixed_length_numbers(parser, length):
    """Legacy ids, licence and budget-unit numbers are digits of a fixed length."""
    assert parser("1" * length) == "1" * length
    for bad in ("1" * (length - 1), "1" * (length + 1), "a" * length, ""):
        with pytest.raises(ValueError, match=f"{length} digits"):
            parser(bad)
