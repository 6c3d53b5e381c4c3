"""Vietnamese text: normalisation for storage, and comparison as a person would.

Registers and desks do not type alike. A name keyed in NFD on one desk ("Nguye\u0302\u0303n")
must match the NFC record of the register ("Nguyễn"); doubled spaces and case must
not matter; and the two tone-mark placements that both styles of Vietnamese spelling
allow ("Hoà" and "Hòa", "Thuý" and "Thúy") are the same name. Diacritics themselves
do matter: "Nguyễn" is not "Nguyên".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

__all__ = ["PersonName", "comparison_key", "has_invisible", "normalize", "same_text"]

_SPACES = re.compile(r"\s+")

# The five tone marks, as combining characters (NFD). Every other combining mark used
# in Vietnamese (circumflex, breve, horn, the stroke of đ is a letter) belongs to the
# letter and stays where it is.
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


def normalize(text: str) -> str:
    """NFC, with runs of whitespace collapsed to one space and the ends trimmed.

    This is the form records are kept in: ``normalize("  Nguye\u0302\u0303n   Văn An ")``
    is ``"Nguyễn Văn An"``.
    """
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def comparison_key(text: str) -> str:
    """A key that is equal for two spellings a person would call the same.

    Case-folded, whitespace-collapsed, and with each word's tone mark moved to the end
    of the word, so that old-style and new-style tone placement compare equal.
    """
    words = []
    for word in normalize(text).casefold().split(" "):
        decomposed = unicodedata.normalize("NFD", word)
        tones = "".join(sorted(ch for ch in decomposed if ch in _TONE_MARKS))
        letters = "".join(ch for ch in decomposed if ch not in _TONE_MARKS)
        words.append(unicodedata.normalize("NFC", letters) + tones)
    return " ".join(words)


def same_text(left: str, right: str) -> bool:
    """Whether two texts are the same to a reader: see `comparison_key`."""
    return comparison_key(left) == comparison_key(right)


# Control and format characters (bidi overrides, zero-width ones), line and paragraph
# separators, surrogates, private-use and unassigned code points: nothing a reader sees,
# everything that can disguise a text in a report.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def has_invisible(text: str) -> bool:
    """Whether the text holds characters that do not show, or break lines."""
    return any(unicodedata.category(ch) in _INVISIBLE for ch in text)


def _person_name(value: str) -> str:
    name = normalize(value)
    if not name:
        raise ValueError("a name must not be blank")
    if any(ch.isdigit() for ch in name) or has_invisible(name):
        raise ValueError("a name must not contain digits or invisible characters")
    return name


#: A person's name as typed at a desk: NFC, spaces collapsed, 1 to 100 characters.
PersonName = Annotated[str, StringConstraints(max_length=100), AfterValidator(_person_name)]
