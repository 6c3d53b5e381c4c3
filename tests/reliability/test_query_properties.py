"""Properties of every query model of every connector, and of the purpose.

- Validation of anything (JSON-like values, in the model's fields or others) raises
  nothing but a pydantic ValidationError, which the hub turns into an InvalidQuery
  naming fields under ``query``.
- A valid query round-trips: dumped to JSON and read back, it is the same query.
- An accepted identifier is canonical: whatever spacing or separators it came with, the
  model holds the one form the registers use, and reading that form again keeps it.

Examples are derandomized and bounded, so that the suite stays fast and replays.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from stdnum.vn import mst

from hub import Purpose
from hub._admin_units import legacy_provinces
from hub._registry import installed_connectors
from hub.errors import InvalidQuery
from hub.identifiers import BudgetUnitCode, EnterpriseCode, LegacyId, LicenceNumber, NationalId

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TODAY = dt.date.today()


def query_models() -> list[Any]:
    """Every connector's models: Query for look-ups, Claim for verify, Credential."""
    models = []
    for name, connector in sorted(installed_connectors().items()):
        for attribute in ("Query", "Claim", "Credential"):
            model = getattr(connector, attribute, None)
            # A source without look-ups may leave the interface's base model in place.
            if model is not None and model.model_fields:
                models.append(pytest.param(model, id=f"{name}.{attribute}"))
    return models


MODELS = query_models()
ALL_MODELS = [*MODELS, pytest.param(Purpose, id="Purpose")]

# Identifiers, valid by construction.


@st.composite
def national_id_parts(draw: st.DrawFn) -> tuple[str, str, int]:
    """A national id, its holder's sex and birth year."""
    province = draw(st.sampled_from(sorted(legacy_provinces())))
    century = draw(st.sampled_from([0, 1] if TODAY.year < 2000 else [0, 1, 2, 3]))
    first_year = 1900 + 100 * (century // 2)
    year = draw(st.integers(first_year, min(first_year + 99, TODAY.year)))
    serial = draw(st.integers(0, 999_999))
    number = f"{province:03d}{century}{year % 100:02d}{serial:06d}"
    return number, "male" if century % 2 == 0 else "female", year


national_ids = national_id_parts().map(lambda parts: parts[0])
legacy_ids = st.from_regex(r"[0-9]{9}", fullmatch=True)
licence_numbers = st.from_regex(r"[0-9]{12}", fullmatch=True)
budget_codes = st.from_regex(r"[0-9]{7}", fullmatch=True)


@st.composite
def enterprise_codes(draw: st.DrawFn) -> str:
    """A tax code that stdnum accepts: 10 digits, or 13 with a branch suffix."""
    digits = draw(st.from_regex(r"[0-9]{9}", fullmatch=True).filter(lambda d: d[2:] != "0000000"))
    check = mst.calc_check_digit(digits)
    if len(check) != 1:  # the weights leave some prefixes without a check digit
        digits, check = "010023348", "8"
    code = digits + check
    if draw(st.booleans()):
        code += "-" + draw(st.from_regex(r"[0-9]{3}", fullmatch=True).filter(lambda b: b != "000"))
    return code


SYLLABLES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Văn", "Thị", "Hòa", "Thúy", "Đức"]
SYLLABLES += ["Ánh", "Ngọc", "An", "Bình", "Quỳnh", "Dương", "Khoa", "Mỹ", "Tuấn", "Yến"]
names = st.builds(
    lambda words, nfd: unicodedata.normalize("NFD" if nfd else "NFC", " ".join(words)),
    st.lists(st.sampled_from(SYLLABLES), min_size=2, max_size=4),
    st.booleans(),
)


def partial_dates(first: int = 1900, last: int = TODAY.year, full: bool = False) -> Any:
    dates = st.dates(dt.date(first, 1, 1), dt.date(last, 12, 28))
    precision = st.just(10) if full else st.sampled_from([4, 7, 10])
    return st.builds(lambda day, cut: day.isoformat()[:cut], dates, precision)


# Valid queries of each model.


@st.composite
def citizen_queries(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"national_id": draw(national_ids)}
    return {
        "legacy_id": draw(legacy_ids),
        "full_name": draw(names),
        "date_of_birth": draw(partial_dates()),
    }


@st.composite
def citizen_claims(draw: st.DrawFn) -> dict[str, Any]:
    number, sex, year = draw(national_id_parts())
    facts = {
        "full_name": draw(names),
        "date_of_birth": draw(partial_dates(year, year)),
        "sex": sex,
        "legacy_id": draw(legacy_ids),
    }
    kept = draw(st.lists(st.sampled_from(sorted(facts)), min_size=1, unique=True))
    return {"national_id": number, **{name: facts[name] for name in kept}}


enterprise_queries = st.one_of(
    st.builds(lambda code: {"code": code}, enterprise_codes()),
    st.builds(lambda nid: {"legal_representative": nid}, national_ids),
)
licence_queries = st.one_of(
    st.builds(lambda number: {"number": number}, licence_numbers),
    st.builds(lambda nid: {"holder_national_id": nid}, national_ids),
)


@st.composite
def licence_claims(draw: st.DrawFn) -> dict[str, Any]:
    facts = {"full_name": draw(names), "date_of_birth": draw(partial_dates(full=True))}
    kept = draw(st.lists(st.sampled_from(sorted(facts)), min_size=1, unique=True))
    return {"number": draw(licence_numbers), **{name: facts[name] for name in kept}}


# The catalogs' code shapes, and what a page can be filtered by (the connector's contract).
CATALOG_CODES = {
    "provinces": r"[0-9]{2}",
    "wards": r"[0-9]{5}",
    "provinces_before_2025": r"[0-9]{2}",
    "districts_before_2025": r"[0-9]{3}",
    "wards_before_2025": r"[0-9]{5}",
    "ethnic_groups": r"[0-9]{2}",
    "religions": r"[0-9]{2}",
    "nationalities": r"[A-Z]{2}",
    "marital_statuses": r"[0-9]",
    "blood_types": r"[0-9]",
}
CATALOG_PARENTS = {
    "wards": r"[0-9]{2}",
    "districts_before_2025": r"[0-9]{2}",
    "wards_before_2025": r"[0-9]{3}",
}


@st.composite
def catalog_queries(draw: st.DrawFn) -> dict[str, Any]:
    question = draw(st.sampled_from(["entry", "page", "successors"]))
    if question == "successors":
        level = draw(st.sampled_from(["province", "ward"]))
        pattern = r"[0-9]{2}" if level == "province" else r"[0-9]{5}"
        return {"successors_of": draw(st.from_regex(pattern, fullmatch=True)), "level": level}
    catalog = draw(st.sampled_from(sorted(CATALOG_CODES)))
    if question == "entry":
        return {
            "catalog": catalog,
            "code": draw(st.from_regex(CATALOG_CODES[catalog], fullmatch=True)),
        }
    query: dict[str, Any] = {"catalog": catalog}
    if draw(st.booleans()):
        query["page"] = draw(st.integers(1, 1_000_000))
    if draw(st.booleans()):
        query["page_size"] = draw(st.integers(1, 1000))
    if catalog in CATALOG_PARENTS and draw(st.booleans()):
        query["parent"] = draw(st.from_regex(CATALOG_PARENTS[catalog], fullmatch=True))
    return query


PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
credentials = st.fixed_dictionaries(
    {
        "code": st.text(PRINTABLE, min_size=1, max_size=64),
        "code_verifier": st.from_regex(r"[A-Za-z0-9._~-]{43,128}", fullmatch=True),
        "nonce": st.text(PRINTABLE, min_size=16, max_size=64),
        "redirect_uri": st.from_regex(
            r"https?://[a-z0-9.-]{1,30}(:[0-9]{1,5})?(/[a-z0-9._~-]*){0,3}", fullmatch=True
        ),
        "level": st.sampled_from([1, 2]),
    }
)
# Printable text: no control, format, separator (other than space) or unassigned code point.
WORDS = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=100,
).filter(str.strip)
purposes = st.fixed_dictionaries(
    {"client": WORDS, "officer": WORDS, "procedure": WORDS, "dossier": WORDS}
)

VALID = {
    "population.Query": citizen_queries(),
    "population.Claim": citizen_claims(),
    "business.Query": enterprise_queries,
    "driving_licence.Query": licence_queries,
    "driving_licence.Claim": licence_claims(),
    "budget_unit.Query": st.builds(lambda code: {"code": code}, budget_codes),
    "catalog.Query": catalog_queries(),
    "vneid.Credential": credentials,
    "Purpose": purposes,
}

# Anything a caller could send: JSON-like values, and text that looks like identifiers.
NEAR_IDENTIFIERS = st.one_of(
    national_ids, enterprise_codes(), legacy_ids, st.text("0123456789 -.\t\u00a0", max_size=16)
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    NEAR_IDENTIFIERS,
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def model_id(model: type[BaseModel]) -> str:
    for name, connector in installed_connectors().items():
        for attribute in ("Query", "Claim", "Credential"):
            if getattr(connector, attribute, None) is model:
                return f"{name}.{attribute}"
    return model.__name__


def test_every_model_has_a_strategy() -> None:
    """A connector added later must get its valid-query strategy here too."""
    assert {model_id(param.values[0]) for param in ALL_MODELS} == VALID.keys()


@pytest.mark.parametrize("model", ALL_MODELS)
def test_validation_raises_nothing_but_validation_errors(model: type[BaseModel]) -> None:
    """Any JSON-like input, in the model's fields or others: valid, or a ValidationError."""
    fields = sorted(model.model_fields)
    valid = VALID[model_id(model)]

    @PROPERTY
    @given(
        base=st.one_of(st.just({}), valid),
        changes=st.dictionaries(
            st.one_of(st.sampled_from(fields), st.text(max_size=8)), JSON_VALUES, max_size=3
        ),
    )
    def check(base: dict[str, Any], changes: dict[str, Any]) -> None:
        try:
            model.model_validate({**base, **changes})
        except ValidationError as exc:
            invalid = InvalidQuery.from_validation(exc, "query")
            assert invalid.fields
            assert all(field.split(".")[0] == "query" for field in invalid.fields)

    check()


@pytest.mark.parametrize("model", ALL_MODELS)
def test_a_valid_query_round_trips(model: type[BaseModel]) -> None:
    """Valid input is accepted; dumped to JSON and read back, it is the same value."""

    @PROPERTY
    @given(payload=VALID[model_id(model)])
    def check(payload: dict[str, Any]) -> None:
        parsed = model.model_validate(payload)
        assert model.model_validate(parsed.model_dump(mode="json")) == parsed
        assert model.model_validate_json(parsed.model_dump_json()) == parsed

    check()


# Each identifier type, its canonical form, and canonical values to disguise.
IDENTIFIERS = [
    pytest.param(NationalId, r"[0-9]{12}", national_ids, id="national id"),
    pytest.param(LegacyId, r"[0-9]{9}", legacy_ids, id="legacy id"),
    pytest.param(EnterpriseCode, r"[0-9]{10}(-[0-9]{3})?", enterprise_codes(), id="enterprise"),
    pytest.param(LicenceNumber, r"[0-9]{12}", licence_numbers, id="licence"),
    pytest.param(BudgetUnitCode, r"[0-9]{7}", budget_codes, id="budget unit"),
]
NOISE = st.text(" \t\n\u00a0\u3000-.", max_size=3)


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


@st.composite
def disguised(draw: st.DrawFn, canonical: st.SearchStrategy[str]) -> str:
    """A canonical value with noise around it and, sometimes, inside it."""
    value = draw(canonical)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(NOISE) + value[at:]
    return draw(NOISE) + value + draw(NOISE)


@pytest.mark.parametrize(("kind", "pattern", "canonical"), IDENTIFIERS)
def test_an_accepted_identifier_is_canonical(
    kind: Any, pattern: str, canonical: st.SearchStrategy[str]
) -> None:
    """Whatever the spacing or separators, an accepted identifier holds its canonical form."""
    adapter: TypeAdapter[str] = TypeAdapter(kind)
    shape = re.compile(pattern)

    @PROPERTY
    @given(text=st.one_of(disguised(canonical), NEAR_IDENTIFIERS, st.text(max_size=16)))
    def check(text: str) -> None:
        try:
            value = adapter.validate_python(text)
        except ValidationError:
            return
        assert shape.fullmatch(value), "an accepted identifier is not in canonical form"
        assert adapter.validate_python(value) == value
        # The digits are those typed (full-width ones read as such): none made up or lost.
        assert digits(value) == digits(unicodedata.normalize("NFKC", text))

    check()

    @PROPERTY
    @given(value=canonical)
    def accepted(value: str) -> None:
        assert adapter.validate_python(f" {value} ") == adapter.validate_python(value)

    accepted()
