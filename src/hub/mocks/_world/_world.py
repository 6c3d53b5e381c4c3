"""The world: one seed, every register, all computed on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

from hub.mocks._world._citizens import AS_OF, Population
from hub.mocks._world._random import Permutation
from hub.mocks._world._records import Branch, BudgetUnit, Citizen, Enterprise, Licence
from hub.mocks._world._registers import ENTERPRISE_SLOTS, BudgetUnits, Enterprises, Licences

SAMPLE_KINDS = (
    "budget_unit",
    "branch",
    "citizen",
    "deceased",
    "enterprise",
    "foreign_relative",
    "legacy_id",
    "licence",
    "licence_holder",
    "minor",
    "nfd_name",
    "old_address",
    "partial_dob",
    "representative",
    "vneid_level1",
    "vneid_level2",
)


class World:
    """A deterministic synthetic country: citizens and the registers derived from them.

    Record i is computed from (seed, i) when asked for; nothing is stored beyond small
    bounded caches, so a million citizens cost no more memory than ten, and citizen
    999,999 costs what citizen 0 does. Numbers map back to records without an index:
    each serial part of a number is a seeded bijection of the record's index.

    The registers (all as of `AS_OF`, 1 November 2025):

    - citizens: 12-digit national ids (3-digit birth-registration province of before
      2025, century-and-sex digit, two year digits, six-digit serial); some hold a
      9-digit legacy identity card number. See ``hub.mocks._world._citizens`` for the hard
      cases and their proportions (partial dates of birth, NFD names, the deceased,
      legacy ids, old-code addresses, foreign parents or spouses).
    - enterprises: represented by some living adults; 10-digit tax codes valid under
      ``stdnum.vn.mst``, branches ``NNNNNNNNNN-001``; statuses include dissolved and
      bankrupt ones.
    - driving licences: 12-digit numbers, old (pre-2025) or new classes, statuses valid,
      expired, suspended, revoked.
    - budget-relationship units: 7-digit codes, some closed on 1 July 2025.
    - VNeID: each citizen's account level (`Citizen.vneid_level`).

    Args:
        seed: Any integer; the same seed gives the same world.
        citizens: How many citizens, 2 to 1,000,000.
    """

    as_of: date = AS_OF
    #: The kinds `sample` gives keys of.
    sample_kinds: tuple[str, ...] = SAMPLE_KINDS

    def __init__(self, seed: int = 1, citizens: int = 10_000) -> None:
        self.seed = seed
        self.citizens = citizens
        self._population = Population(seed, citizens)
        self._enterprises = Enterprises(self._population)
        self._licences = Licences(self._population)
        self._budget_units = BudgetUnits(self._population)

    def __repr__(self) -> str:
        return f"World(seed={self.seed}, citizens={self.citizens})"

    @property
    def budget_units(self) -> int:
        """How many budget-relationship units the world holds."""
        return self._budget_units.count

    # Citizens.

    def citizen(self, index: int) -> Citizen:
        """Citizen ``index`` (0-based); IndexError outside the world."""
        return self._population.citizen(index)

    def index_of(self, national_id: str) -> int | None:
        """The index of the citizen with this 12-digit national id, or None."""
        return self._population.index_of(national_id)

    def find_citizen(self, national_id: str) -> Citizen | None:
        """The citizen with this 12-digit national id, or None."""
        index = self._population.index_of(national_id)
        return None if index is None else self._population.citizen(index)

    def find_by_legacy_id(self, legacy_id: str) -> Citizen | None:
        """The citizen with this 9-digit identity card number, or None."""
        index = self._population.index_of_legacy_id(legacy_id)
        return None if index is None else self._population.citizen(index)

    def vneid_level(self, national_id: str) -> int:
        """The VNeID account level of a citizen: 0 (no account, or no such citizen), 1 or 2."""
        citizen = self.find_citizen(national_id)
        return 0 if citizen is None else citizen.vneid_level

    # Enterprises.

    def enterprise(self, code: str) -> Enterprise | None:
        """The enterprise with this 10-digit tax code, or None."""
        index = self._enterprises.index_of(code)
        return None if index is None else self._enterprises.enterprise(index)

    def branch(self, code: str) -> Branch | None:
        """The branch with this 13-digit code (``0100233488-001`` or without the dash)."""
        digits = code.replace("-", "")
        if len(digits) != 13 or not digits.isdigit():
            return None
        parent = self.enterprise(digits[:10])
        number = int(digits[10:])
        if parent is None or not 1 <= number <= len(parent.branches):
            return None
        return parent.branches[number - 1]

    def enterprises_of(self, national_id: str) -> list[Enterprise]:
        """The enterprises whose legal representatives include this citizen (often none)."""
        index = self._population.index_of(national_id)
        return [] if index is None else self._enterprises.of_citizen(index)

    # Driving licences.

    def licence(self, number: str) -> Licence | None:
        """The driving licence with this 12-digit number, or None."""
        index = self._licences.index_of(number)
        return None if index is None else self._licences.licence(index)

    def licences_of(self, national_id: str) -> list[Licence]:
        """The driving licences of this citizen: none or one."""
        index = self._population.index_of(national_id)
        if index is None or not self._licences.holds(index):
            return []
        return [self._licences.licence(index)]

    # Budget units.

    def budget_unit(self, code: str) -> BudgetUnit | None:
        """The budget-relationship unit with this 7-digit code, or None."""
        index = self._budget_units.index_of(code)
        return None if index is None else self._budget_units.unit(index)

    # Samples.

    def sample(self, kind: str, n: int) -> list[str]:
        """Keys of ``n`` existing records of a kind, the same for the same world.

        Kinds and their keys: national ids of citizens for "citizen", "deceased",
        "partial_dob", "nfd_name", "legacy_id" (holding a 9-digit card), "minor",
        "old_address" (permanent address with pre-2025 codes), "foreign_relative" (a
        foreign parent or spouse), "vneid_level1", "vneid_level2", "representative"
        (of at least one enterprise) and "licence_holder"; tax codes for "enterprise";
        branch codes for "branch"; licence numbers for "licence"; unit codes for
        "budget_unit". Fewer than ``n`` when the world holds fewer.

        Args:
            kind: One of `SAMPLE_KINDS`.
            n: How many keys.
        """
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"unknown sample kind {kind!r}; one of {', '.join(SAMPLE_KINDS)}")
        keys: list[str] = []
        if kind == "budget_unit":
            order = Permutation(self.budget_units, self.seed, f"sample-{kind}")
            return [self._budget_units.code(order(k)) for k in range(min(n, self.budget_units))]
        for index in self._walk(kind):
            keys.extend(self._keys(kind, index))
            if len(keys) >= n:
                return keys[:n]
        return keys

    def _walk(self, kind: str) -> Iterator[int]:
        """Every citizen index once, in an order seeded by the kind."""
        order = Permutation(self.citizens, self.seed, f"sample-{kind}")
        return (order(k) for k in range(self.citizens))

    def _keys(self, kind: str, i: int) -> list[str]:
        population = self._population
        person = population.person(i)
        cheap: dict[str, Callable[[], bool]] = {
            "citizen": lambda: True,
            "deceased": lambda: person.died is not None,
            "partial_dob": lambda: person.shown_digits < 8,
            "nfd_name": lambda: person.nfd,
            "legacy_id": lambda: person.has_legacy_id,
            "minor": lambda: self.citizen(i).legal_representative is not None,
            "licence_holder": lambda: self._licences.holds(i),
            "representative": lambda: self._enterprises.count_of(i) > 0,
        }
        if kind in cheap:
            return [population.national_id(i)] if cheap[kind]() else []
        if kind == "licence":
            return [self._licences.licence(i).number] if self._licences.holds(i) else []
        if kind in ("enterprise", "branch"):
            enterprises = [
                self._enterprises.enterprise(i * ENTERPRISE_SLOTS + j)
                for j in range(self._enterprises.count_of(i))
            ]
            if kind == "enterprise":
                return [e.code for e in enterprises]
            return [b.code for e in enterprises for b in e.branches]
        citizen = self.citizen(i)
        wanted = {
            "old_address": citizen.permanent_residence.before_2025,
            "foreign_relative": any(
                ref is not None and ref.nationality != "VN"
                for ref in (citizen.father, citizen.mother, citizen.spouse)
            ),
            "vneid_level1": citizen.vneid_level == 1,
            "vneid_level2": citizen.vneid_level == 2,
        }
        return [citizen.national_id] if wanted[kind] else []
