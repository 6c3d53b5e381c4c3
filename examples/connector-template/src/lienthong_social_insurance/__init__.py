"""Social insurance (bảo hiểm xã hội) for Liên thông: a connector from outside the hub.

Installed, it adds the source ``social_insurance`` through the ``hub.connectors`` entry
point; its mock (``lienthong_social_insurance_mock``) comes through ``hub.mocks``.
"""

from lienthong_social_insurance._connector import (
    InsuranceNumber,
    SocialInsuranceConnector,
    SocialInsuranceQuery,
    SocialInsuranceSettings,
    parse_insurance_number,
)
from lienthong_social_insurance._records import (
    CoverageStatus,
    Employer,
    HealthInsuranceCard,
    InsuredPeriod,
    Scheme,
    SocialInsurance,
)

__all__ = [
    "CoverageStatus",
    "Employer",
    "HealthInsuranceCard",
    "InsuranceNumber",
    "InsuredPeriod",
    "Scheme",
    "SocialInsurance",
    "SocialInsuranceConnector",
    "SocialInsuranceQuery",
    "SocialInsuranceSettings",
    "parse_insurance_number",
]
