"""Vietnamese text is compared as a person reads it."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from hub.text import PersonName, comparison_key, normalize, same_text


def test_nfd_name_with_odd_spacing_and_case_matches_the_register():
    """'Nguyễn  văn AN' typed in NFD matches 'Nguyễn Văn An'."""
    typed = unicodedata.normalize("NFD", "  Nguyễn  văn AN ")
    assert typed != "Nguyễn Văn An"
    assert same_text(typed, "Nguyễn Văn An")


def test_normalize_gives_nfc_with_single_spaces():
    """The stored form is NFC, trimmed, one space between words."""
    assert normalize(unicodedata.normalize("NFD", " Trần\tThị  Bích ")) == "Trần Thị Bích"


@pytest.mark.parametrize(("old", "new"), [("Hoà", "Hòa"), ("Thuý", "Thúy"), ("Khoẻ", "Khỏe")])
def test_old_and_new_tone_placement_compare_equal(old, new):
    """Both accepted placements of a tone mark are the same word."""
    assert old != new
    assert same_text(old, new)


@pytest.mark.parametrize(("left", "right"), [("Nguyễn", "Nguyên"), ("Lê", "Le"), ("Đức", "Duc")])
def test_diacritics_still_matter(left, right):
    """A different letter or tone is a different name."""
    assert not same_text(left, right)


@given(st.text(alphabet=st.characters(categories=["L", "Zs", "Mn"]), max_size=30))
def test_comparison_key_ignores_normal_form(text):
    """NFC and NFD spellings of any text have the same key."""
    assert comparison_key(unicodedata.normalize("NFC", text)) == comparison_key(
        unicodedata.normalize("NFD", text)
    )


def test_person_name_type_normalises_and_refuses_digits():
    """A name is stored normalised; digits and blanks are refused."""
    adapter = TypeAdapter(PersonName)
    assert adapter.validate_python(unicodedata.normalize("NFD", " Lê  Văn Tám ")) == "Lê Văn Tám"
    for bad in ("   ", "Lê Văn 8", "Lê\x00Văn"):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
