"""The synthetic world: determinism, numbers and their reverse look-ups, the hard cases."""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable
from datetime import date

import pytest

from hub.mocks._world import AS_OF, SAMPLE_KINDS, Citizen, World
from hub.mocks._world import _citizens as rules
from hub.mocks._world._random import Permutation
from hub.schemas import schema_path

SNAPSHOT = json.loads(schema_path("admin-units-2025.json").read_text(encoding="utf-8"))
LEGACY = SNAPSHOT["legacy"]
CURRENT_WARDS = {w["code"]: w for w in SNAPSHOT["current"]["wards"]}
LEGACY_PROVINCES = {p["code"] for p in LEGACY["provinces"]}
LEGACY_DISTRICTS = {d["code"]: d["province"] for d in LEGACY["districts"]}
LEGACY_WARDS = {w["code"]: w["district"] for w in LEGACY["wards"]}


def assert_rate(outcomes: Iterable[tuple[bool, float]]) -> None:
    """Observed successes are within four standard deviations of the expected rates."""
    pairs = list(outcomes)
    assert pairs, "no cases to measure"
    observed = sum(hit for hit, _ in pairs)
    expected = sum(p for _, p in pairs)
    spread = math.sqrt(sum(p * (1 - p) for _, p in pairs))
    assert abs(observed - expected) <= 4 * spread + 1, (observed, expected)


def age(citizen: Citizen) -> int:
    """Age today, or at death."""
    died = citizen.date_of_death
    end = AS_OF if died is None else date(int(died[:4]), int(died[4:6]), int(died[6:]))
    return rules.age(citizen.birth_date, end)


@pytest.mark.parametrize("size", [1, 2, 3, 10, 97, 1000, 4097])
def test_permutation_is_a_bijection_with_its_inverse(size):
    """Every index has its own serial, and the serial maps back to it."""
    permutation = Permutation(size, seed=5, name="test")
    images = [permutation(i) for i in range(size)]
    assert sorted(images) == list(range(size))
    assert [permutation.invert(n) for n in images] == list(range(size))


def test_same_seed_same_citizens():
    """Two worlds of one seed compute identical records."""
    first, second = World(seed=9, citizens=500), World(seed=9, citizens=500)
    for i in (0, 1, 250, 499):
        assert first.citizen(i) == second.citizen(i)
    assert first.sample("citizen", 20) == second.sample("citizen", 20)


def test_another_seed_another_world():
    """A different seed gives different people."""
    first, second = World(seed=1, citizens=500), World(seed=2, citizens=500)
    differing = sum(
        first.citizen(i).national_id != second.citizen(i).national_id for i in range(50)
    )
    assert differing >= 48
    names = sum(first.citizen(i).full_name != second.citizen(i).full_name for i in range(50))
    assert names >= 40


def test_world_bounds_are_enforced():
    """Outside 2..1,000,000 citizens is refused; an index outside the world is an IndexError."""
    with pytest.raises(ValueError, match="citizens"):
        World(citizens=1_000_001)
    with pytest.raises(IndexError):
        World(citizens=10).citizen(10)


def test_national_ids_round_trip(world, citizens):
    """Each national id finds its own citizen, and ids are unique."""
    ids = [c.national_id for c in citizens]
    assert len(set(ids)) == len(ids)
    for citizen in citizens[:500]:
        assert world.index_of(citizen.national_id) == citizen.index
    assert world.find_citizen(citizens[7].national_id) == citizens[7]


def test_national_id_misses(world, citizens):
    """Numbers of the right shape that no citizen holds are not found."""
    national_id = citizens[0].national_id
    other_province = f"{(int(national_id[:3]) + 1) % 100:03d}" + national_id[3:]
    other_sex = national_id[:3] + str(int(national_id[3]) ^ 1) + national_id[4:]
    for miss in (other_province, other_sex, "001099999999", national_id[:-1], "abcdefghijkl", ""):
        assert world.find_citizen(miss) is None
    small = World(seed=1, citizens=10)
    assert small.find_citizen(World(seed=1, citizens=1000).citizen(500).national_id) is None


def test_legacy_ids_round_trip_and_miss(world, citizens):
    """A 9-digit card finds its holder; a changed digit or a cardless citizen does not."""
    holders = [c for c in citizens if c.legacy_id is not None]
    assert holders
    for citizen in holders[:200]:
        assert world.find_by_legacy_id(citizen.legacy_id) == citizen
        changed = (
            citizen.legacy_id[:2]
            + str((int(citizen.legacy_id[2]) + 1) % 10)
            + citizen.legacy_id[3:]
        )
        assert world.find_by_legacy_id(changed) is None
    assert world.find_by_legacy_id("12345678") is None


def test_national_ids_encode_province_sex_and_year(citizens):
    """Province of birth registration (pre-2025 code), century-and-sex digit, year digits."""
    for citizen in citizens:
        national_id = citizen.national_id
        year = citizen.birth_date.year
        assert len(national_id) == 12
        assert national_id.isdigit()
        assert int(national_id[:3]) in LEGACY_PROVINCES
        assert national_id[1:3] == citizen.birth_registration_place.province
        assert int(national_id[3]) == (year // 100 - 19) * 2 + (citizen.sex - 1)
        assert national_id[4:6] == f"{year % 100:02d}"
        assert (
            citizen.date_of_birth
            == citizen.birth_date.strftime("%Y%m%d")[: len(citizen.date_of_birth)]
        )


def test_addresses_carry_codes_of_their_time(citizens):
    """Current addresses use the 2025 units; old ones the province, district and ward of before."""
    for citizen in citizens[:1500]:
        places = [citizen.permanent_residence, citizen.current_residence, citizen.hometown]
        places += [citizen.birth_registration_place, citizen.temporary_residence]
        for address in filter(None, places):
            if address.before_2025:
                assert LEGACY_WARDS[int(address.ward)] == int(address.district)
                assert LEGACY_DISTRICTS[int(address.district)] == int(address.province)
            else:
                ward = CURRENT_WARDS[int(address.ward)]
                assert ward["province"] == int(address.province)
                assert ward["name"] in address.text
        assert not citizen.current_residence.before_2025
        assert citizen.birth_registration_place.before_2025


def test_names_are_vietnamese_with_diacritics(citizens):
    """Three or more words, Nguyễn the most common family name, diacritics present."""
    names = [unicodedata.normalize("NFC", c.full_name) for c in citizens]
    assert all(len(name.split()) >= 3 for name in names)
    families = [name.split()[0] for name in names]
    assert max(set(families), key=families.count) == "Nguyễn"
    assert 0.30 < families.count("Nguyễn") / len(families) < 0.46
    assert sum(name != unicodedata.normalize("NFD", name) for name in names) > 0.9 * len(names)


def test_hard_cases_come_in_their_documented_proportions(citizens):
    """Deaths, partial dates, NFD names, legacy cards, old addresses, foreign parents."""
    assert_rate((not c.alive, rules.DEATH_RATES[c.birth_date.year // 10 * 10]) for c in citizens)
    early = [c for c in citizens if c.birth_date.year < rules.PARTIAL_DOB_BEFORE]
    assert_rate((len(c.date_of_birth) == 4, rules.YEAR_ONLY_RATE) for c in early)
    assert_rate((len(c.date_of_birth) == 6, rules.MONTH_YEAR_RATE) for c in early)
    late = [c for c in citizens if c.birth_date.year >= rules.PARTIAL_DOB_BEFORE]
    assert all(len(c.date_of_birth) == 8 for c in late)
    assert_rate(
        (not unicodedata.is_normalized("NFC", c.full_name), rules.NFD_RATE) for c in citizens
    )
    old_enough = [c for c in citizens if c.birth_date.year <= rules.LEGACY_ID_BORN_BY]
    assert_rate((c.legacy_id is not None, rules.LEGACY_ID_RATE) for c in old_enough)
    young = [c for c in citizens if c.birth_date.year > rules.LEGACY_ID_BORN_BY]
    assert all(c.legacy_id is None for c in young)
    heads = [c for c in citizens if c.household_head.national_id == c.national_id]
    assert_rate((c.permanent_residence.before_2025, rules.OLD_ADDRESS_RATE) for c in heads)
    living_adults = [c for c in citizens if c.alive and age(c) >= 18]
    assert_rate(
        (c.temporary_residence is not None, rules.TEMPORARY_RESIDENCE_RATE) for c in living_adults
    )
    outside = [c for c in citizens if c.father is not None and c.father.national_id is None]
    assert_rate((c.father.nationality != "VN", rules.FOREIGN_FATHER_RATE) for c in outside)
    outside = [c for c in citizens if c.mother is not None and c.mother.national_id is None]
    assert_rate((c.mother.nationality != "VN", rules.FOREIGN_MOTHER_RATE) for c in outside)


def test_the_deceased_have_a_date_of_death_after_birth(citizens):
    """TrangThai and NgayMat agree; death is after birth and before the world's today."""
    for citizen in citizens:
        if citizen.alive:
            assert citizen.date_of_death is None
        else:
            assert citizen.birth_date.strftime("%Y%m%d") < citizen.date_of_death
            assert citizen.date_of_death < AS_OF.strftime("%Y%m%d")
            assert citizen.vneid_level == 0


def test_couples_are_married_adults_of_opposite_sex_sharing_a_home(world, citizens):
    """Spouses i and i^1 name each other, differ in sex, are of age and live together."""
    couples = [c for c in citizens if c.spouse is not None and c.spouse.national_id is not None]
    assert all(world.index_of(c.spouse.national_id) == c.index ^ 1 for c in couples)
    married = {c.index for c in couples}
    firsts = citizens[::2]  # one member per pair: pairs are drawn independently
    assert_rate((c.index in married, rules.COUPLE_RATE) for c in firsts)
    for citizen in couples:
        partner = world.citizen(citizen.index ^ 1)
        assert partner.spouse.national_id == citizen.national_id
        assert partner.sex != citizen.sex
        assert age(citizen) >= 18
        assert age(partner) >= 18
        assert citizen.permanent_residence == partner.permanent_residence
        status = citizen.marital_status.name
        assert status == ("Góa" if citizen.alive and not partner.alive else "Đã kết hôn")
    foreign = [c for c in citizens if c.spouse is not None and c.spouse.national_id is None]
    assert foreign
    assert all(c.spouse.nationality != "VN" for c in foreign)


def test_parents_in_the_register_are_consistent(world, citizens):
    """A father with a national id is a male citizen of the child's family name, older by 20+."""
    children = [c for c in citizens if c.father is not None and c.father.national_id]
    assert len(children) > 0.1 * len(citizens)
    for child in children[:300]:
        father = world.find_citizen(child.father.national_id)
        mother = world.find_citizen(child.mother.national_id)
        assert father.sex == 1
        assert mother.sex == 2
        assert father.spouse.national_id == mother.national_id
        nfc = unicodedata.normalize("NFC", child.full_name)
        assert nfc.split()[0] == unicodedata.normalize("NFC", father.full_name).split()[0]
        assert father.birth_date.year <= child.birth_date.year - 20


def test_minors_have_a_representative_and_a_household(citizens):
    """Under 18 (or at death): a representative and the status of a child; adults have none."""
    for citizen in citizens:
        if age(citizen) < 18:
            assert citizen.legal_representative is not None
            assert citizen.household_relation == "Con"
            assert citizen.marital_status.name == "Chưa kết hôn"
        elif age(citizen) >= 18:
            assert citizen.legal_representative is None


def test_vneid_levels(citizens):
    """Most living adults hold level 2, some level 1; the dead and young children none."""
    adults = [c for c in citizens if c.alive and age(c) >= 18]
    levels = [c.vneid_level for c in adults]
    assert levels.count(2) > 0.7 * len(levels)
    assert levels.count(1) > 0.05 * len(levels)
    assert all(c.vneid_level == 0 for c in citizens if not c.alive or age(c) < 14)


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_samples_are_existing_records_of_their_kind(world, kind):
    """Every kind samples keys that resolve, and the sample repeats."""
    keys = world.sample(kind, 4)
    assert len(keys) == 4
    assert len(set(keys)) == 4
    assert keys == world.sample(kind, 4)
    for key in keys:
        if kind == "enterprise":
            assert world.enterprise(key).code == key
        elif kind == "branch":
            assert world.branch(key).code == key
        elif kind == "licence":
            assert world.licence(key).number == key
        elif kind == "budget_unit":
            assert world.budget_unit(key).code == key
        else:
            citizen = world.find_citizen(key)
            checks = {
                "deceased": not citizen.alive,
                "partial_dob": len(citizen.date_of_birth) < 8,
                "nfd_name": not unicodedata.is_normalized("NFC", citizen.full_name),
                "legacy_id": citizen.legacy_id is not None,
                "minor": age(citizen) < 18,
                "old_address": citizen.permanent_residence.before_2025,
                "foreign_relative": any(
                    r is not None and r.nationality != "VN"
                    for r in (citizen.father, citizen.mother, citizen.spouse)
                ),
                "vneid_level1": citizen.vneid_level == 1,
                "vneid_level2": citizen.vneid_level == 2,
                "representative": bool(world.enterprises_of(key)),
                "licence_holder": bool(world.licences_of(key)),
            }
            assert checks.get(kind, True)


def test_an_unknown_sample_kind_is_refused(world):
    """The error names the kinds there are."""
    with pytest.raises(ValueError, match="citizen"):
        world.sample("unicorn", 1)


def test_a_small_world_samples_what_it_has():
    """A sample larger than the world is the whole world, once."""
    small = World(seed=4, citizens=6)
    keys = small.sample("citizen", 50)
    assert sorted(keys) == sorted(small.citizen(i).national_id for i in range(6))


def test_records_do_not_show_personal_data_in_their_repr(citizens):
    """repr of a citizen shows no id, name or address."""
    citizen = citizens[0]
    text = repr(citizen) + repr(citizen.permanent_residence) + repr(citizen.household_head)
    assert citizen.national_id not in text
    assert citizen.full_name.split()[0] not in text
    assert citizen.permanent_residence.line not in text
