"""What the driving-licence system answers: licences as JSON, and claims checked against them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from hub.mocks._world import Licence, World

MATCH = "match"
MISMATCH = "mismatch"
UNKNOWN = "unknown"
MAX_NAME_LENGTH = 200

_NUMBER = re.compile(r"[0-9]{12}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_VERIFY_FIELDS = frozenset({"number", "holder_name", "date_of_birth"})


class BadRequest(Exception):
    """A request the system refuses as malformed; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def licence_json(licence: Licence) -> dict[str, Any]:
    """A licence as the system publishes it (``hub/schemas/driving_licence/openapi.json``)."""
    return {
        "licence_number": licence.number,
        # Every holder in this register is a citizen of the population register.
        "holder": {
            "national_id": licence.holder_national_id,
            "full_name": licence.holder_name,
            "nationality": "VN",
        },
        "classes": [
            {"class": item.code, "issued_on": _day(item.issued), "expires_on": _day(item.expires)}
            for item in licence.classes
        ],
        "issued_on": _day(licence.issued),
        "expires_on": _day(licence.expires),
        "status": licence.status,
        "points_remaining": licence.points,
        "issuing_authority": licence.authority,
    }


def check_number(value: object, field: str) -> str:
    """A 12-digit number (a licence's, or a holder's national id), or `BadRequest`."""
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise BadRequest(field, f"{field} must be 12 digits")
    return value


def same_name(left: str, right: str) -> bool:
    """Names compared after NFC, whitespace collapsing and case folding."""

    def key(name: str) -> str:
        return " ".join(unicodedata.normalize("NFC", name).split()).casefold()

    return key(left) == key(right)


def compare_dates(register: str, claimed: str) -> str:
    """A full claimed date (digits YYYYMMDD) against the register's, which may be partial.

    The digits both give must agree; a register that knows only the year, or the year
    and month, can then neither confirm nor refute the claim.
    """
    common = min(len(register), len(claimed))
    if register[:common] != claimed[:common]:
        return MISMATCH
    return MATCH if len(register) >= len(claimed) else UNKNOWN


def _claimed_date(value: object) -> str:
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise BadRequest("date_of_birth", "date_of_birth must be a date as YYYY-MM-DD")
    try:
        dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise BadRequest("date_of_birth", "date_of_birth is not a calendar date") from None
    return "".join(match.groups())


def parse_claim(data: object) -> tuple[str, str | None, str | None]:
    """The verify request's number, name and date (as YYYYMMDD), or `BadRequest`."""
    if not isinstance(data, dict):
        raise BadRequest("body", "the body must be a JSON object")
    for name in data:
        if name not in _VERIFY_FIELDS:
            raise BadRequest(str(name)[:40], "unknown field")
    number = check_number(data.get("number"), "number")
    name = data.get("holder_name")
    if name is not None and (
        not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH
    ):
        raise BadRequest("holder_name", f"holder_name must be 1 to {MAX_NAME_LENGTH} characters")
    born = data.get("date_of_birth")
    claimed = None if born is None else _claimed_date(born)
    if name is None and claimed is None:
        raise BadRequest("holder_name", "give holder_name, date_of_birth or both")
    return number, name, claimed


def verify(world: World, licence: Licence, name: str | None, born: str | None) -> dict[str, Any]:
    """Each claimed fact against the licence's holder, and the licence's status.

    Only the fields claimed are answered, and nothing of the register's own values.
    """
    results: dict[str, str] = {}
    if name is not None:
        results["holder_name"] = MATCH if same_name(licence.holder_name, name) else MISMATCH
    if born is not None:
        holder = world.citizen(licence.index)
        results["date_of_birth"] = compare_dates(holder.date_of_birth, born)
    return {"results": results, "status": licence.status}
