"""The synthetic world every mock draws from: citizens and the registers derived from them.

Start from `World`; the records are frozen dataclasses. The catalogs (ethnic groups,
religions, nationalities, marital status, blood type) are the code lists the records
use, and the catalog mock serves.
"""

from hub.mocks._world._catalogs import (
    BLOOD_TYPES,
    MARITAL_STATUSES,
    CatalogEntry,
    ethnic_groups,
    nationalities,
    religions,
)
from hub.mocks._world._citizens import AS_OF, MAX_CITIZENS
from hub.mocks._world._places import Address, to_current
from hub.mocks._world._records import (
    Branch,
    BudgetUnit,
    BusinessLine,
    Citizen,
    Enterprise,
    LegalRepresentative,
    Licence,
    LicenceClass,
    PersonRef,
)
from hub.mocks._world._registers import LEGAL_FORMS, UNIT_TYPES
from hub.mocks._world._world import SAMPLE_KINDS, World

__all__ = [
    "AS_OF",
    "BLOOD_TYPES",
    "LEGAL_FORMS",
    "MARITAL_STATUSES",
    "MAX_CITIZENS",
    "SAMPLE_KINDS",
    "UNIT_TYPES",
    "Address",
    "Branch",
    "BudgetUnit",
    "BusinessLine",
    "CatalogEntry",
    "Citizen",
    "Enterprise",
    "LegalRepresentative",
    "Licence",
    "LicenceClass",
    "PersonRef",
    "World",
    "ethnic_groups",
    "nationalities",
    "religions",
    "to_current",
]
