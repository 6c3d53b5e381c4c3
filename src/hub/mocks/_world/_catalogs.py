"""The shared code lists: ethnic groups, religions, nationalities, marital status, blood type.

Ethnic groups and religions are read from ``src/hub/schemas/catalog/`` (the catalog mock serves
the same files); nationalities come from pycountry, named in Vietnamese with pycountry's
own ``iso3166-1`` translations.
"""

from __future__ import annotations

import functools
import gettext
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pycountry

from hub.schemas import schema_path


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One entry of a code list: its code and its Vietnamese name."""

    code: str
    name: str


# The register's own small lists; its codes are not published, these are the project's.
MARITAL_STATUSES = MappingProxyType(
    {
        "single": CatalogEntry("1", "Chưa kết hôn"),
        "married": CatalogEntry("2", "Đã kết hôn"),
        "divorced": CatalogEntry("3", "Đã ly hôn"),
        "widowed": CatalogEntry("4", "Góa"),
    }
)
BLOOD_TYPES = MappingProxyType(
    {
        "O": CatalogEntry("1", "O"),
        "A": CatalogEntry("2", "A"),
        "B": CatalogEntry("3", "B"),
        "AB": CatalogEntry("4", "AB"),
    }
)


def _load(name: str) -> tuple[CatalogEntry, ...]:
    document: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return tuple(CatalogEntry(entry["code"], entry["name"]) for entry in document["entries"])


@functools.cache
def ethnic_groups() -> MappingProxyType[str, CatalogEntry]:
    """The 54 ethnic groups by code (``src/hub/schemas/catalog/ethnic-groups.json``)."""
    return MappingProxyType({e.code: e for e in _load("catalog/ethnic-groups.json")})


@functools.cache
def religions() -> MappingProxyType[str, CatalogEntry]:
    """The religions by code, ``"00"`` for none (``src/hub/schemas/catalog/religions.json``)."""
    return MappingProxyType({e.code: e for e in _load("catalog/religions.json")})


@functools.cache
def nationalities() -> MappingProxyType[str, CatalogEntry]:
    """Every ISO 3166-1 country by alpha-2 code, named in Vietnamese where pycountry can."""
    vietnamese = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["vi"])
    return MappingProxyType(
        {
            country.alpha_2: CatalogEntry(country.alpha_2, vietnamese.gettext(country.name))
            for country in pycountry.countries
        }
    )
