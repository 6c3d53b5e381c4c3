"""The social-insurance connector honours the hub's contract kit."""

from typing import Any, ClassVar

from hub.testing import ConnectorContract

from lienthong_social_insurance import SocialInsuranceConnector


class TestSocialInsuranceContract(ConnectorContract):
    connector = SocialInsuranceConnector
    sample_kind = "insurance_number"
    # Well-formed numbers that no member holds: the first two digits name no province.
    missing_query: ClassVar[dict[str, Any]] = {"insurance_number": "0000000000"}
    invalid_queries: ClassVar[list[dict[str, Any]]] = [
        {"insurance_number": "123456789"},
        {"insurance_number": "12345678901"},
        {"insurance_number": "79O1234567"},
        {"national_id": "12"},
        {"insurance_number": "7912345678", "national_id": "079090001234"},
        {},
    ]

    def lookup_query(self, key: str) -> dict[str, Any]:
        return {"insurance_number": key}
