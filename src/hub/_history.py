"""What a citizen sees of the trail: every access to her data, read with a ticket.

A portal with the ``citizen-portal`` role gets a ticket with each VNeID login of a
citizen at the configured level; with it, and only as that portal, it reads her access
history: the entries of the trail about her pseudonym, newest first, without the
officers' codes (an inspector's business, not hers), each with its audit id and, on
request, its inclusion proof.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from pydantic import BaseModel, ConfigDict, Field

from hub._config import CitizenSettings
from hub.audit import InclusionProof
from hub.errors import Unauthenticated

__all__ = [
    "HISTORY_OPERATION",
    "HISTORY_SOURCE",
    "TICKET_KEY_LABEL",
    "AccessField",
    "AccessHistory",
    "AccessItem",
    "Ticket",
    "Tickets",
    "field_label",
    "source_title",
]

#: The label under which the ticket key is derived from the trail's MAC key.
TICKET_KEY_LABEL = b"lienthong/access-history-ticket/v1"
#: How a reading of the history is written in the trail: the trail is its source.
HISTORY_SOURCE = "audit"
HISTORY_OPERATION = "history"

_ALGORITHM = "HS256"
_TYPE = "access-history+jwt"
_SCOPE = "access-history"
_ISSUER = "lienthong"
# The levels of assurance as VNeID names them in ``acr``.
_LEVELS = {1: "LoA1", 2: "LoA2"}

# The names a citizen reads for the systems her data came from.
_SOURCE_TITLES = {
    "population": "Cơ sở dữ liệu quốc gia về dân cư",
    "business": "Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp",
    "vneid": "Hệ thống định danh và xác thực điện tử VNeID",
    "driving_licence": "Hệ thống quản lý giấy phép lái xe",
    "budget_unit": "Hệ thống mã số đơn vị có quan hệ với ngân sách",
    "catalog": "Hệ thống danh mục điện tử dùng chung",
    HISTORY_SOURCE: "Nhật ký truy cập của Liên thông",
}

# The disclosed fields' names in Vietnamese, as the population register and VNeID
# name them for citizens.
_FIELD_LABELS = {
    "national_id": "Số định danh cá nhân",
    "legacy_id": "Số chứng minh nhân dân",
    "full_name": "Họ, chữ đệm và tên",
    "date_of_birth": "Ngày, tháng, năm sinh",
    "sex": "Giới tính",
    "birth_registration_place": "Nơi đăng ký khai sinh",
    "hometown": "Quê quán",
    "ethnicity": "Dân tộc",
    "religion": "Tôn giáo",
    "nationality": "Quốc tịch",
    "marital_status": "Tình trạng hôn nhân",
    "blood_type": "Nhóm máu",
    "permanent_residence": "Nơi thường trú",
    "temporary_residence": "Nơi tạm trú",
    "current_residence": "Nơi ở hiện tại",
    "father": "Cha",
    "mother": "Mẹ",
    "spouse": "Vợ, chồng",
    "legal_representative": "Người đại diện hợp pháp",
    "household_head": "Chủ hộ",
    "household_relation": "Quan hệ với chủ hộ",
    "status": "Tình trạng (còn sống, đã mất)",
    "date_of_death": "Ngày mất",
    "level": "Mức định danh điện tử",
    "subject": "Mã tài khoản định danh điện tử",
    "auth_time": "Thời điểm đăng nhập",
    "account_type": "Loại tài khoản",
}


def source_title(name: str) -> str | None:
    """The Vietnamese name of a source, when it has one."""
    return _SOURCE_TITLES.get(name)


def field_label(name: str) -> str:
    """The Vietnamese label of a record field; its own name when none is known."""
    return _FIELD_LABELS.get(name, name)


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a valid access-history ticket says: whose history, for which client."""

    client: str
    subject: str
    level: int
    ticket_id: str
    expires: float

    def __repr__(self) -> str:
        # The pseudonym stays out of logs, like the identifier it stands for.
        return f"Ticket(client={self.client!r}, level={self.level}, ticket_id={self.ticket_id!r})"


class Tickets:
    """Issues and checks access-history tickets: JWTs (HS256) under a key of the hub.

    Only the hub reads a ticket (a portal passes it on opaque), so a MAC suffices; its
    key is derived from the trail's MAC key, which every node holds, so a ticket made
    by one replica is accepted by the others.

    Args:
        key: 32 bytes, the same on every node.
        settings: The ticket's lifetime and the level of assurance required.
    """

    def __init__(self, key: bytes, settings: CitizenSettings) -> None:
        self._key = OctKey.import_key(key)
        self._seconds = settings.ticket_seconds
        self._level = settings.level

    def __repr__(self) -> str:
        return f"Tickets(seconds={self._seconds}, level={self._level})"

    @property
    def level(self) -> int:
        """The level of assurance a login needs for a ticket."""
        return self._level

    def issue(self, client: str, subject: str, level: int) -> str:
        """A ticket for ``client`` to read the history of the pseudonym ``subject``.

        Args:
            client: The portal that authenticated the citizen.
            subject: Her pseudonym in the trail.
            level: The level of assurance of the login.
        """
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "aud": client,
            "sub": subject,
            "acr": _LEVELS[level],
            "scope": _SCOPE,
            "iat": now,
            "exp": now + round(self._seconds),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode({"alg": _ALGORITHM, "typ": _TYPE}, claims, self._key)

    def check(self, token: str, *, client: str) -> Ticket:
        """The ticket's content, if ``client`` may read a history with it now.

        Raises:
            Unauthenticated: the ticket is malformed or forged, has expired, was issued
                to another client, or for a login below the required level.
        """
        try:
            decoded = jwt.decode(token, self._key, algorithms=[_ALGORITHM])
        except (JoseError, ValueError, TypeError):
            raise Unauthenticated(
                "ticket: not a valid access-history ticket (malformed, or not signed by this hub)"
            ) from None
        claims = decoded.claims
        if decoded.header.get("typ") != _TYPE or claims.get("scope") != _SCOPE:
            raise Unauthenticated("ticket: not an access-history ticket")
        expires = claims.get("exp")
        if not isinstance(expires, int) or expires <= time.time():
            raise Unauthenticated("ticket: the access-history ticket has expired; log in again")
        if claims.get("aud") != client:
            raise Unauthenticated("ticket: this ticket was issued to another client")
        level = {name: number for number, name in _LEVELS.items()}.get(claims.get("acr", ""))
        if level is None or level < self._level:
            raise Unauthenticated(
                f"ticket: the login was not at the required level {_LEVELS[self._level]}"
            )
        subject, ticket_id = claims.get("sub"), claims.get("jti")
        if not isinstance(subject, str) or not isinstance(ticket_id, str):
            raise Unauthenticated("ticket: not an access-history ticket")
        return Ticket(client, subject, level, ticket_id, float(expires))


class AccessField(BaseModel):
    """A field disclosed: its name in the records, and its Vietnamese label."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str


class AccessItem(BaseModel):
    """One access to the citizen's data through the hub, as she may see it.

    The officer who asked is left out: that is for an inspector, who can hold a
    named official to account, to read in the trail.
    """

    model_config = ConfigDict(frozen=True)

    audit_id: str = Field(description="The entry's id in the trail, e.g. hue-1~42.")
    time: dt.datetime = Field(description="When, UTC.")
    client: str = Field(description="The calling system, as configured.")
    agency: str = Field(description="The agency's name ([clients.NAME] title).")
    by_you: bool = Field(description="Her own act: a VNeID login, or a reading of this history.")
    procedure: str | None = Field(description="The administrative procedure's code.")
    procedure_name: str | None = Field(description="Its name, where configured.")
    dossier: str | None
    source: str = Field(description="The national system asked.")
    source_title: str | None = Field(description="Its name in Vietnamese.")
    operation: str = Field(description="lookup, verify, authenticate or history.")
    fields: list[AccessField] = Field(description="The fields disclosed (names, never values).")
    outcome: str = Field(description="ok, denied, invalid, not_found or failed.")
    proof: InclusionProof | None = Field(
        default=None, description="With proofs: its inclusion proof against a signed checkpoint."
    )


class AccessHistory(BaseModel):
    """A page of a citizen's access history, newest first."""

    model_config = ConfigDict(frozen=True)

    items: list[AccessItem]
    total: int = Field(description="Accesses in the period asked, over every page.")
    page: int
    page_size: int
    audit_id: str = Field(description="The audit id of this reading of the history.")
