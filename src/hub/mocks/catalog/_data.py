"""The catalogs the mock serves, built once per process from the same sources as the world.

The units (in force since 1 July 2025 and before it) and the official conversion come
from ``src/hub/schemas/admin-units-2025.json``, a snapshot of `vietnam-provinces`; the code
lists are the world's own (`hub.mocks._world`). Every entry is serialised once here, so
that a request only slices and joins bytes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.mocks._world import (
    BLOOD_TYPES,
    MARITAL_STATUSES,
    CatalogEntry,
    ethnic_groups,
    nationalities,
    religions,
)
from hub.schemas import schema_path

CURRENT = "hien_hanh"
BEFORE_2025 = "truoc_2025"


@dataclass
class Catalog:
    """One catalog: its entries in code order, serialised, indexed by code and by parent.

    Args:
        name: The catalog's name in the API (``wards``).
        title: Its Vietnamese title.
        filter_level: The level of the parent ``parent`` filters by (``tinh``, ``huyen``),
            or None when the catalog cannot be filtered.
    """

    name: str
    title: str
    filter_level: str | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    by_code: dict[str, int] = field(default_factory=dict)
    by_parent: dict[str, list[bytes]] = field(default_factory=dict)

    def fill(self, entries: Iterable[dict[str, Any]]) -> Catalog:
        """Take ``entries`` in code order; returns the catalog, filled."""
        for entry in sorted(entries, key=lambda e: e["ma"]):
            data = orjson.dumps(entry)
            self.by_code[entry["ma"]] = len(self.entries)
            self.entries.append(entry)
            self.encoded.append(data)
            if self.filter_level is not None:
                self.by_parent.setdefault(entry["maCapTren"], []).append(data)
        return self


@dataclass(frozen=True)
class Successor:
    """A unit in force that took over (part of) one from before 2025."""

    code: str
    name: str
    partly: bool


@dataclass
class Tables:
    """Every catalog by name, and the conversion of units before 2025 to units in force."""

    catalogs: dict[str, Catalog]
    #: (level, old code) -> the successors in force, in the table's order.
    successors: dict[tuple[str, str], list[Successor]]


def _unit(
    code: str, name: str, level: str, kind: str, parent: str | None, period: str
) -> dict[str, Any]:
    return {
        "ma": code,
        "ten": name,
        "cap": level,
        "loai": kind,
        "maCapTren": parent,
        "thoiKy": period,
    }


def _entries(entries: Iterable[CatalogEntry]) -> list[dict[str, str]]:
    return [{"ma": entry.code, "ten": entry.name} for entry in entries]


@functools.cache
def tables() -> Tables:
    """The catalogs, built on first use."""
    snapshot: dict[str, Any] = json.loads(
        schema_path("admin-units-2025.json").read_text(encoding="utf-8")
    )
    legacy = snapshot["legacy"]
    current = snapshot["current"]
    provinces = [
        _unit(f"{p['code']:02d}", p["name"], "tinh", p["type"], None, CURRENT)
        for p in current["provinces"]
    ]
    wards = [
        _unit(f"{w['code']:05d}", w["name"], "xa", w["type"], f"{w['province']:02d}", CURRENT)
        for w in current["wards"]
    ]
    old_provinces = [
        _unit(f"{p['code']:02d}", p["name"], "tinh", p["type"], None, BEFORE_2025)
        for p in legacy["provinces"]
    ]
    old_districts = [
        _unit(
            f"{d['code']:03d}", d["name"], "huyen", d["type"], f"{d['province']:02d}", BEFORE_2025
        )
        for d in legacy["districts"]
    ]
    old_wards = [
        _unit(f"{w['code']:05d}", w["name"], "xa", w["type"], f"{w['district']:03d}", BEFORE_2025)
        for w in legacy["wards"]
    ]
    catalogs = [
        Catalog("provinces", "Tỉnh, thành phố trực thuộc trung ương (từ 01/7/2025)").fill(
            provinces
        ),
        Catalog("wards", "Xã, phường, đặc khu (từ 01/7/2025)", "tinh").fill(wards),
        Catalog(
            "provinces_before_2025", "Tỉnh, thành phố trực thuộc trung ương (trước 01/7/2025)"
        ).fill(old_provinces),
        Catalog(
            "districts_before_2025",
            "Quận, huyện, thị xã, thành phố thuộc tỉnh (trước 01/7/2025)",
            "tinh",
        ).fill(old_districts),
        Catalog("wards_before_2025", "Xã, phường, thị trấn (trước 01/7/2025)", "huyen").fill(
            old_wards
        ),
        Catalog("ethnic_groups", "Danh mục các dân tộc Việt Nam").fill(
            _entries(ethnic_groups().values())
        ),
        Catalog("religions", "Danh mục tôn giáo").fill(_entries(religions().values())),
        Catalog("nationalities", "Danh mục quốc tịch").fill(_entries(nationalities().values())),
        Catalog("marital_statuses", "Tình trạng hôn nhân").fill(
            _entries(MARITAL_STATUSES.values())
        ),
        Catalog("blood_types", "Nhóm máu").fill(_entries(BLOOD_TYPES.values())),
    ]
    by_name = {catalog.name: catalog for catalog in catalogs}
    return Tables(by_name, _successors(snapshot["conversion"], by_name))


def _successors(
    conversion: dict[str, Any], catalogs: dict[str, Catalog]
) -> dict[tuple[str, str], list[Successor]]:
    """The conversion table by (level, old code)."""
    found: dict[tuple[str, str], list[Successor]] = {}
    provinces, wards = catalogs["provinces"], catalogs["wards"]
    for old, new in conversion["provinces"].items():
        # The province table lists the successors only: a province split between
        # several of them went partly to each.
        codes = [f"{code:02d}" for code in new]
        found[("province", f"{int(old):02d}")] = _named(provinces, codes, len(new) > 1)
    for row in conversion["wards"]:
        codes = [f"{code:05d}" for code in row["new"]]
        found[("ward", f"{row['old']:05d}")] = _named(wards, codes, row["partly"])
    return found


def _named(current: Catalog, codes: list[str], partly: bool) -> list[Successor]:
    """The successors the catalog in force holds; the table names a few it does not."""
    return [
        Successor(code, current.entries[current.by_code[code]]["ten"], partly)
        for code in codes
        if code in current.by_code
    ]
