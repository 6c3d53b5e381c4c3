"""The uniform records: partial dates, redacted reprs, verdicts, schemas on disk."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub._schemas import RECORD_SCHEMAS, render
from hub.records import Citizen, Match, PartialDate, Verdict, Verification
from hub.schemas import SCHEMAS_DIR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990", PartialDate(1990)),
        ("1990-05", PartialDate(1990, 5)),
        ("199005", PartialDate(1990, 5)),
        ("1990-05-01", PartialDate(1990, 5, 1)),
        ("19900501", PartialDate(1990, 5, 1)),
    ],
)
def test_partial_dates_parse_in_both_forms(text, expected):
    """ISO-like and register forms read the same; a partial date stays partial."""
    assert PartialDate.parse(text) == expected
    assert str(expected) in {"1990", "1990-05", "1990-05-01"}


@pytest.mark.parametrize(
    "text", ["1990-13", "1990-02-30", "90", "1990-5-1", "", "1990-05-01T00:00"]
)
def test_impossible_or_malformed_dates_are_refused(text):
    """Month 13, 30 February and two-digit years are errors."""
    with pytest.raises(ValueError):
        PartialDate.parse(text)


@given(st.dates(min_value=dt.date(1, 1, 1)))
def test_full_dates_round_trip(day):
    """A full date survives str() and parse()."""
    assert PartialDate.parse(str(PartialDate.parse(day))).as_date() == day


def test_partial_comparison_is_unknown_not_a_match():
    """1990 neither confirms nor refutes 1990-05-01; 1991 refutes it."""
    full = PartialDate(1990, 5, 1)
    assert PartialDate(1990).compare(full) is Match.UNKNOWN
    assert PartialDate(1991).compare(full) is Match.MISMATCH
    assert PartialDate(1990, 5, 1).compare(full) is Match.MATCH


def test_record_repr_shows_no_values():
    """A citizen's repr names fields and hides the national id and name."""
    citizen = Citizen(
        national_id="037090001234", full_name="Nguyễn Văn An", date_of_birth="1990", sex="male"
    )
    for text in (repr(citizen), str(citizen)):
        assert "037090001234" not in text
        assert "Nguyễn" not in text
        assert "national_id" in text


def test_verdict_follows_the_worst_field():
    """One mismatch refutes; an unknown leaves it inconclusive; all matches confirm."""
    assert Verification(matches={"a": Match.MATCH}).verdict is Verdict.CONFIRMED
    assert (
        Verification(matches={"a": Match.MATCH, "b": Match.UNKNOWN}).verdict is Verdict.INCONCLUSIVE
    )
    assert (
        Verification(matches={"a": Match.UNKNOWN, "b": Match.MISMATCH}).verdict is Verdict.REFUTED
    )


@pytest.mark.parametrize("name", sorted(RECORD_SCHEMAS))
def test_checked_in_schemas_match_the_models(name):
    """hub/schemas/records/ is regenerated with `python -m hub._schemas` when a model changes."""
    on_disk = (SCHEMAS_DIR / name).read_text(encoding="utf-8")
    assert on_disk == render(RECORD_SCHEMAS[name]), f"{name} drifted; run python -m hub._schemas"
