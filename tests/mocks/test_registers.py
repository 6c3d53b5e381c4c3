"""The registers derived from the citizens: enterprises, licences, budget units, catalogs."""

from __future__ import annotations

import json
import unicodedata

import pytest
from stdnum.vn import mst

from hub.mocks._world import (
    AS_OF,
    BLOOD_TYPES,
    LEGAL_FORMS,
    MARITAL_STATUSES,
    World,
    ethnic_groups,
    nationalities,
    religions,
)
from hub.mocks._world._registers import NEW_CLASSES_FROM
from hub.schemas import schema_path

NEW_CLASSES = {
    "A1",
    "A",
    "B1",
    "B",
    "C1",
    "C",
    "D1",
    "D2",
    "D",
    "BE",
    "C1E",
    "CE",
    "D1E",
    "D2E",
    "DE",
}
OLD_CLASSES = {"A1", "A2", "A3", "A4", "B1", "B2", "C", "D", "E", "FB2", "FC", "FD", "FE"}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.fixture(scope="module")
def enterprises(world):
    return [world.enterprise(code) for code in world.sample("enterprise", 150)]


@pytest.fixture(scope="module")
def licences(world):
    return [world.licence(number) for number in world.sample("licence", 300)]


def test_enterprise_codes_are_valid_tax_codes(enterprises):
    """Ten digits with a right check digit; branches are the code plus -001, -002..."""
    for enterprise in enterprises:
        assert mst.is_valid(enterprise.code)
        assert len(enterprise.code) == 10
        for number, branch in enumerate(enterprise.branches, 1):
            assert branch.code == f"{enterprise.code}-{number:03d}"
            assert mst.is_valid(branch.code)
            assert branch.parent == enterprise.code


def test_enterprises_name_their_representative_and_back(world, enterprises):
    """The first representative is a living citizen who lists the enterprise as theirs."""
    for enterprise in enterprises:
        first = enterprise.representatives[0]
        citizen = world.find_citizen(first.national_id)
        assert citizen is not None
        assert citizen.alive
        assert first.name == nfc(citizen.full_name)
        assert enterprise.code in [e.code for e in world.enterprises_of(first.national_id)]
        for other in enterprise.representatives[1:]:
            if other.national_id is None:
                assert other.nationality != "VN"
            else:
                assert enterprise.code in [e.code for e in world.enterprises_of(other.national_id)]


def test_enterprise_fields(enterprises):
    """Legal form, status, dates, capital and line of business are filled and plausible."""
    statuses = {e.status for e in enterprises}
    assert statuses <= {"active", "suspended", "dissolving", "dissolved", "bankrupt"}
    assert {"active", "dissolved"} <= statuses
    for enterprise in enterprises:
        assert enterprise.legal_form in LEGAL_FORMS
        assert enterprise.founded <= AS_OF
        assert enterprise.charter_capital >= 100_000_000
        assert len(enterprise.main_line.code) == 4
        assert enterprise.main_line.name
        assert enterprise.name.isupper()
        assert enterprise.name_en.isascii()
        assert not enterprise.address.before_2025


def test_most_citizens_represent_no_enterprise(world, citizens):
    """The look-up by representative is empty for most, and every code found resolves."""
    found = [world.enterprises_of(c.national_id) for c in citizens[:800]]
    assert sum(bool(f) for f in found) < 0.2 * len(found)
    assert any(found)
    for enterprise in (e for group in found for e in group):
        assert world.enterprise(enterprise.code) == enterprise


def test_enterprise_and_branch_misses(world, enterprises):
    """Valid-looking codes of nobody, and branch numbers past the last, are not found."""
    unknown = 0
    for serial in range(1, 200):
        number = f"01{serial:07d}"
        check = mst.calc_check_digit(number)
        if len(check) == 1 and world.enterprise(number + check) is None:
            unknown += 1
    assert unknown > 150
    code = enterprises[0].code
    assert world.enterprise(code[:-1] + str((int(code[-1]) + 1) % 10)) is None
    assert world.branch(f"{code}-{len(enterprises[0].branches) + 1:03d}") is None
    assert world.branch(f"{code}-000") is None
    assert world.enterprise("abc") is None
    assert world.enterprises_of("001099999999") == []


def test_licences_point_at_their_holder_and_back(world, licences):
    """The holder is a citizen of age whose national id lists this licence."""
    for licence in licences:
        assert len(licence.number) == 12
        assert licence.number.isdigit()
        holder = world.find_citizen(licence.holder_national_id)
        assert licence.holder_name == nfc(holder.full_name)
        assert world.licences_of(holder.national_id) == [licence]
        if not holder.alive:
            assert licence.status == "revoked"


def test_licence_classes_follow_the_law_of_their_card(licences):
    """Cards from 2025 carry the new classes; older cards the old ones; dates are ordered."""
    for licence in licences:
        codes = {c.code for c in licence.classes}
        assert codes <= (NEW_CLASSES if licence.issued >= NEW_CLASSES_FROM else OLD_CLASSES)
        for entry in licence.classes:
            assert entry.issued <= licence.issued
            assert entry.expires is None or entry.expires > entry.issued
        assert 0 <= licence.points <= 12
        if licence.status == "expired":
            assert licence.expires < AS_OF
        if licence.status == "valid":
            assert licence.expires is None or licence.expires >= AS_OF
    assert {lic.status for lic in licences} == {"valid", "expired", "suspended", "revoked"}


def test_licence_misses(world, licences):
    """A changed digit, or a citizen without a licence, finds nothing."""
    number = licences[0].number
    assert world.licence(number[:2] + str((int(number[2]) + 1) % 10) + number[3:]) is None
    assert world.licence("12345") is None
    without = next(
        c for c in (world.citizen(i) for i in range(100)) if not world.licences_of(c.national_id)
    )
    assert world.licences_of(without.national_id) == []


def test_budget_units(world):
    """Seven-digit codes that resolve, at each budget level, some closed in the 2025 merger."""
    units = [world.budget_unit(code) for code in world.sample("budget_unit", 200)]
    assert world.budget_units == 500
    for unit in units:
        assert len(unit.code) == 7
        assert unit.code.startswith("1")
        assert unit.name
        assert unit.authority
        assert (unit.status == "closed") == (unit.closed is not None)
        assert unit.address.before_2025 == (unit.status == "closed")
    assert {u.level for u in units} == {"central", "province", "district", "commune"}
    assert world.budget_unit("2000000") is None
    assert world.budget_unit("123") is None
    assert sum(world.budget_unit(f"1{n:06d}") is None for n in range(100)) > 90


def test_catalog_files_load_with_their_sources():
    """54 ethnic groups coded 01..54, the religions with 00 for none, each file with its source."""
    for name in ("ethnic-groups", "religions"):
        document = json.loads(schema_path(f"catalog/{name}.json").read_text(encoding="utf-8"))
        assert document["source"]
        assert document["entries"]
    assert list(ethnic_groups()) == [f"{k:02d}" for k in range(1, 55)]
    assert ethnic_groups()["01"].name == "Kinh"
    assert religions()["00"].name == "Không"
    assert len(religions()) == 17
    assert nationalities()["VN"].name == "Việt Nam"
    assert len(nationalities()) >= 249


def test_the_world_uses_only_catalog_codes(citizens):
    """Ethnicity, religion, nationality, marital status, blood type: entries of their lists."""
    for citizen in citizens:
        assert ethnic_groups()[citizen.ethnicity.code] == citizen.ethnicity
        assert religions()[citizen.religion.code] == citizen.religion
        assert nationalities()[citizen.nationality.code] == citizen.nationality
        assert citizen.marital_status in MARITAL_STATUSES.values()
        assert citizen.blood_type is None or citizen.blood_type in BLOOD_TYPES.values()
        for person in (citizen.father, citizen.mother, citizen.spouse, citizen.household_head):
            assert person is None or person.nationality in nationalities()
    assert len({c.ethnicity.code for c in citizens}) > 10
    assert len({c.religion.code for c in citizens}) > 4


def test_different_worlds_have_their_own_registers():
    """Another seed gives other enterprise codes and licence numbers."""
    first, second = World(seed=1, citizens=2000), World(seed=2, citizens=2000)
    assert set(first.sample("enterprise", 10)).isdisjoint(second.sample("enterprise", 10))
    assert set(first.sample("licence", 10)).isdisjoint(second.sample("licence", 10))
