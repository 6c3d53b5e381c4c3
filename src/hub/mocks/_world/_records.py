"""The records of the synthetic registers.

Field names are English; the docstrings name the register's own field where it has
one. Records hold personal data, so their ``repr`` shows only the world's internal
index (or, for non-personal records, the public code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hub.mocks._world._catalogs import CatalogEntry
from hub.mocks._world._places import Address


@dataclass(frozen=True, slots=True, repr=False)
class PersonRef:
    """A related person (father, mother, spouse, representative, head of household).

    ``national_id`` is present only when the person is a citizen of the register;
    ``nationality`` is an ISO 3166-1 alpha-2 code ("VN" for Vietnamese).
    """

    name: str
    national_id: str | None
    nationality: str

    def __repr__(self) -> str:
        return f"PersonRef(nationality={self.nationality})"


@dataclass(frozen=True, slots=True, repr=False)
class Citizen:
    """A citizen of the population register, with its 20 look-up fields.

    Register names: national_id SoDinhDanh, legacy_id SoCMND, full_name HoVaTen,
    date_of_birth NgayThangNamSinh (YYYYMMDD, or YYYYMM / YYYY when the register knows
    only part of it), sex GioiTinh (1 male, 2 female), birth_registration_place
    NoiDangKyKhaiSinh, hometown QueQuan, ethnicity DanToc, religion TonGiao, nationality
    QuocTich, marital_status TinhTrangHonNhan, blood_type NhomMau, permanent_residence
    ThuongTru, temporary_residence TamTru, current_residence NoiOHienNay, father Cha,
    mother Me, spouse VoChong, legal_representative NguoiDaiDien, household_head ChuHo
    and household_relation QuanHeVoiChuHo; alive / date_of_death are TrangThai / NgayMat.

    ``full_name`` is as the register returns it: NFD for some citizens on purpose.
    ``birth_date`` is the full date behind a partial ``date_of_birth``, for the other
    registers' consistency; the register itself never shows more than ``date_of_birth``.
    ``vneid_level`` is the citizen's VNeID account: 0 none, 1 or 2.
    """

    index: int
    national_id: str
    legacy_id: str | None
    full_name: str
    date_of_birth: str
    sex: int
    birth_registration_place: Address
    hometown: Address
    ethnicity: CatalogEntry
    religion: CatalogEntry
    nationality: CatalogEntry
    marital_status: CatalogEntry
    blood_type: CatalogEntry | None
    permanent_residence: Address
    temporary_residence: Address | None
    current_residence: Address
    father: PersonRef | None
    mother: PersonRef | None
    spouse: PersonRef | None
    legal_representative: PersonRef | None
    household_head: PersonRef
    household_relation: str
    alive: bool
    date_of_death: str | None
    birth_date: date
    vneid_level: int

    def __repr__(self) -> str:
        return f"Citizen(index={self.index})"


@dataclass(frozen=True, slots=True, repr=False)
class LegalRepresentative:
    """A legal representative of an enterprise; foreigners have no national id."""

    name: str
    national_id: str | None
    nationality: str
    title: str

    def __repr__(self) -> str:
        return f"LegalRepresentative(nationality={self.nationality}, title={self.title!r})"


@dataclass(frozen=True, slots=True)
class BusinessLine:
    """A line of business: a VSIC 2018 code and its name."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Branch:
    """A branch of an enterprise, coded ``NNNNNNNNNN-001`` after its parent."""

    code: str
    parent: str
    name: str
    address: Address
    status: str


@dataclass(frozen=True, slots=True, repr=False)
class Enterprise:
    """An enterprise of the business register.

    ``code`` is its 10-digit tax code; ``status`` one of active, suspended, dissolving,
    dissolved, bankrupt; ``legal_form`` a key of `LEGAL_FORMS`; ``charter_capital`` in VND.
    """

    index: int
    code: str
    name: str
    name_en: str
    short_name: str
    legal_form: str
    status: str
    founded: date
    address: Address
    charter_capital: int
    representatives: tuple[LegalRepresentative, ...]
    main_line: BusinessLine
    branches: tuple[Branch, ...]

    def __repr__(self) -> str:
        return f"Enterprise(code={self.code})"


@dataclass(frozen=True, slots=True)
class LicenceClass:
    """One class on a driving licence, with its own dates (no expiry for some classes)."""

    code: str
    issued: date
    expires: date | None


@dataclass(frozen=True, slots=True, repr=False)
class Licence:
    """A driving licence: 12-digit number, its holder, classes and state.

    ``status`` is one of valid, expired, suspended, revoked; ``points`` is 0..12;
    ``expires`` is the card's expiry (the earliest of its classes'), None when no class
    on it expires.
    """

    index: int
    number: str
    holder_name: str
    holder_national_id: str
    classes: tuple[LicenceClass, ...]
    issued: date
    expires: date | None
    status: str
    points: int
    authority: str

    def __repr__(self) -> str:
        return f"Licence(index={self.index}, status={self.status})"


@dataclass(frozen=True, slots=True)
class BudgetUnit:
    """A budget-relationship unit (đơn vị có quan hệ với ngân sách).

    ``code`` has 7 digits; ``level`` is central, province, district or commune (district
    only for units closed with the districts on 1 July 2025); ``status`` is active or
    closed.
    """

    index: int
    code: str
    name: str
    unit_type: CatalogEntry
    authority: str
    level: str
    status: str
    established: date
    closed: date | None
    address: Address
