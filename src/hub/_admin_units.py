"""Administrative units the hub itself needs: the 63 provinces before 1 July 2025.

They come from hub.schemas/admin-units-2025.json, a snapshot of the `vietnam-provinces`
package (see the generator beside it for why a snapshot). The units before the
reorganisation matter still: a national id's first three digits are the province
where the birth was registered, as it was then.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from hub.schemas import schema_path

__all__ = ["legacy_provinces"]


@cache
def _snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        schema_path("admin-units-2025.json").read_text(encoding="utf-8")
    )
    return data


@cache
def legacy_provinces() -> dict[int, str]:
    """The 63 provinces before 1 July 2025, by code."""
    return {p["code"]: p["name"] for p in _snapshot()["legacy"]["provinces"]}
