"""The driving-licence mock's contract: signed requests, answers valid against its OpenAPI."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import unicodedata
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hub._serving import ServedApp
from hub.mocks._world import World
from hub.mocks.driving_licence import create_app, hub_settings
from hub.mocks.driving_licence._answers import licence_json
from hub.mocks.driving_licence._signing import ApiKey, Authenticator, Refused, signature
from hub.schemas import schema_path

SEED, CITIZENS = 3, 2_000
DOC = json.loads(schema_path("driving_licence/openapi.json").read_text(encoding="utf-8"))
DOC_URI = "urn:driving-licence-openapi"
REGISTRY = Registry().with_resource(
    DOC_URI, Resource.from_contents(DOC, default_specification=DRAFT202012)
)
LICENCE = "/v1/licences/{number}"
LICENCES = "/v1/licences"
VERIFY = "/v1/licences/verify"
HEALTH = "/v1/health"


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a schema of the document, its references resolved within it."""
    ref = schema["$ref"]
    assert ref.startswith("#/")
    return Draft202012Validator(
        {"$ref": DOC_URI + ref},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def documented(path: str, method: str, status: int) -> Draft202012Validator:
    """The validator of the answer the document promises for this operation and status."""
    response = DOC["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return validator(response["content"]["application/json"]["schema"])


def conforms(response: httpx.Response, path: str) -> Any:
    """The answer's JSON, after checking it against the document."""
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    documented(path, response.request.method, response.status_code).validate(data)
    return data


class Signer:
    """Signs requests as the API description says, independently of the connector."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.key = settings["api_key"]
        self.secret = settings["api_secret"].encode()

    def headers(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(16)
        text = f"{method}\n{target}\n{stamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
        mac = hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()
        return {"X-Api-Key": self.key, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": mac}


class Mock:
    """A served driving-licence mock with a signing client."""

    def __init__(self, served: ServedApp) -> None:
        self.url = served.url
        self.http = httpx.Client(base_url=served.url, timeout=10)
        self.signer = Signer(hub_settings(served.url))

    def get(self, target: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(target, headers=self.signer.headers("GET", target, **kwargs))

    def verify(self, claim: object, **kwargs: Any) -> httpx.Response:
        body = json.dumps(claim).encode()
        headers = self.signer.headers("POST", VERIFY, body, **kwargs)
        headers["Content-Type"] = "application/json"
        return self.http.post(VERIFY, content=body, headers=headers)

    def sample(self, kind: str = "licence", n: int = 1) -> list[str]:
        params = {"n": n, "kind": kind}
        keys: list[str] = self.http.get("/_admin/sample", params=params).json()["keys"]
        return keys

    def fault(self, plan: object) -> httpx.Response:
        return self.http.put("/_admin/faults", json=plan)


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    with ServedApp(create_app(seed=SEED, citizens=CITIZENS), lifespan="off") as app:
        yield app


@pytest.fixture
def mock(served: ServedApp) -> Iterator[Mock]:
    client = Mock(served)
    client.http.delete("/_admin/faults")
    yield client
    client.http.delete("/_admin/faults")
    client.http.put(f"/_admin/keys/{client.signer.key}", json={"expires_at": None})
    client.http.close()


@pytest.fixture(scope="module")
def same_world() -> World:
    return World(SEED, CITIZENS)


def by_status(world: World, status: str) -> str:
    for number in world.sample("licence", 500):
        if world.licence(number).status == status:
            return number
    raise AssertionError(f"no {status} licence in the sample")


def holder_dob(world: World, number: str) -> str:
    return world.citizen(world.licence(number).index).date_of_birth


def with_birth_date(world: World, full: bool) -> str:
    for number in world.sample("licence", 500):
        if (len(holder_dob(world, number)) == 8) == full:
            return number
    raise AssertionError("no such holder in the sample")


# The document


def test_the_openapi_document_is_a_valid_3_1_contract():
    """Every schema is valid JSON Schema 2020-12 and every reference resolves."""
    assert DOC["openapi"].startswith("3.1.")
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    text = json.dumps(DOC)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        section, kind, name = ref.removeprefix("#/").split("/")
        assert name in DOC[section][kind], ref


def test_the_document_describes_every_route_and_the_signature_scheme():
    """The protocol routes are those documented; the four signature headers are schemes."""
    app = create_app(seed=SEED, citizens=10)
    served_paths = {
        route.path for route in app.router.routes if not route.path.startswith("/_admin")
    }
    assert served_paths == set(DOC["paths"])
    schemes = DOC["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == {
        "X-Api-Key",
        "X-Timestamp",
        "X-Nonce",
        "X-Signature",
    }
    assert DOC["security"] == [{name: [] for name in schemes}]
    assert "HMAC-SHA256" in DOC["info"]["description"]


# Look-ups


def test_a_licence_by_number_is_the_worlds_and_conforms(mock, same_world):
    """The answer validates against the document and carries the register's licence."""
    (number,) = mock.sample()
    data = conforms(mock.get(f"/v1/licences/{number}"), LICENCE)
    licence = same_world.licence(number)
    assert data["licence_number"] == number
    assert data["holder"]["national_id"] == licence.holder_national_id
    assert data["holder"]["full_name"] == licence.holder_name
    assert data["status"] == licence.status
    assert [c["class"] for c in data["classes"]] == [c.code for c in licence.classes]
    assert data["issued_on"] == licence.issued.isoformat()


@pytest.mark.parametrize("status", ["valid", "expired", "suspended", "revoked"])
def test_licences_of_every_status_answer_within_the_schema(same_world, status):
    """Licences of each status, old and new classes, build answers valid against the document."""
    check = validator({"$ref": "#/components/schemas/Licence"})
    found = 0
    for number in same_world.sample("licence", 300):
        licence = same_world.licence(number)
        if licence.status == status:
            check.validate(licence_json(licence))
            found += 1
    assert found


def test_the_holders_licences_are_listed(mock, same_world):
    """A holder's national id lists her licence; a minor's lists none."""
    (holder,) = mock.sample("licence_holder")
    data = conforms(mock.get(f"/v1/licences?holder={holder}"), LICENCES)
    assert [item["licence_number"] for item in data["licences"]] == [
        licence.number for licence in same_world.licences_of(holder)
    ]
    assert data["licences"][0]["holder"]["national_id"] == holder
    (minor,) = mock.sample("minor")
    assert conforms(mock.get(f"/v1/licences?holder={minor}"), LICENCES) == {"licences": []}


def test_an_unknown_number_is_404(mock):
    """A well-formed number without a licence: 404 not_found."""
    response = mock.get("/v1/licences/000000000001")
    assert response.status_code == 404
    assert conforms(response, LICENCE)["error"] == "not_found"


@pytest.mark.parametrize(
    ("target", "path", "field"),
    [
        ("/v1/licences/12345", LICENCE, "number"),
        ("/v1/licences/not-a-number", LICENCE, "number"),
        ("/v1/licences?holder=12345", LICENCES, "holder"),
        ("/v1/licences", LICENCES, "holder"),
        ("/v1/licences?holder=037090001234&status=valid", LICENCES, "holder"),
    ],
)
def test_a_malformed_request_is_400_naming_the_field(mock, target, path, field):
    """Bad numbers and parameters are refused, the field named."""
    response = mock.get(target)
    assert response.status_code == 400
    data = conforms(response, path)
    assert (data["error"], data["field"]) == ("invalid_request", field)


# Verification


def test_verify_answers_per_field_with_the_status_and_nothing_else(mock, same_world):
    """A true name and full birth date match; the status comes back; no register value does."""
    number = with_birth_date(same_world, full=True)
    licence = same_world.licence(number)
    dob = holder_dob(same_world, number)
    claim = {
        "number": number,
        "holder_name": licence.holder_name,
        "date_of_birth": f"{dob[:4]}-{dob[4:6]}-{dob[6:]}",
    }
    response = mock.verify(claim)
    data = conforms(response, VERIFY)
    assert data == {
        "results": {"holder_name": "match", "date_of_birth": "match"},
        "status": licence.status,
    }
    assert licence.holder_national_id not in response.text


def test_names_compare_after_nfc_whitespace_and_case(mock, same_world):
    """NFD, upper case and doubled spaces still match; another name does not."""
    (number,) = mock.sample()
    name = same_world.licence(number).holder_name
    typed = "  " + "  ".join(unicodedata.normalize("NFD", name).upper().split()) + " "
    assert conforms(mock.verify({"number": number, "holder_name": typed}), VERIFY)["results"] == {
        "holder_name": "match"
    }
    other = conforms(mock.verify({"number": number, "holder_name": name + " Anh"}), VERIFY)
    assert other["results"] == {"holder_name": "mismatch"}


def test_a_partial_birth_date_of_the_register_is_unknown(mock, same_world):
    """Agreeing with the part the register knows: unknown; another year: mismatch."""
    number = with_birth_date(same_world, full=False)
    year = int(holder_dob(same_world, number)[:4])
    month = holder_dob(same_world, number)[4:6] or "01"
    agreeing = mock.verify({"number": number, "date_of_birth": f"{year}-{month}-01"})
    assert conforms(agreeing, VERIFY)["results"] == {"date_of_birth": "unknown"}
    other = mock.verify({"number": number, "date_of_birth": f"{year + 1}-{month}-01"})
    assert conforms(other, VERIFY)["results"] == {"date_of_birth": "mismatch"}


def test_verify_gives_the_status_of_a_revoked_licence(mock, same_world):
    """A wrong name on a revoked licence: mismatch, and revoked."""
    number = by_status(same_world, "revoked")
    data = conforms(mock.verify({"number": number, "holder_name": "Tên Khác Hẳn"}), VERIFY)
    assert data == {"results": {"holder_name": "mismatch"}, "status": "revoked"}


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        ([], "body"),
        ({"holder_name": "Lê Văn A"}, "number"),
        ({"number": "12", "holder_name": "Lê Văn A"}, "number"),
        ({"number": "012345678901"}, "holder_name"),
        ({"number": "012345678901", "holder_name": " "}, "holder_name"),
        ({"number": "012345678901", "date_of_birth": "1990"}, "date_of_birth"),
        ({"number": "012345678901", "date_of_birth": "1990-02-30"}, "date_of_birth"),
        ({"number": "012345678901", "holder_name": "A", "sex": "male"}, "sex"),
    ],
)
def test_a_malformed_claim_is_400_naming_the_field(mock, claim, field):
    """Each malformed verification request names its culprit."""
    response = mock.verify(claim)
    assert response.status_code == 400
    assert conforms(response, VERIFY)["field"] == field


def test_a_verify_body_that_is_not_json_is_400(mock):
    """A signed body that does not parse, or of another content type, is refused."""
    body = b"number=012345678901"
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        headers = {**mock.signer.headers("POST", VERIFY, body), "Content-Type": content_type}
        response = mock.http.post(VERIFY, content=body, headers=headers)
        assert response.status_code == 400
        assert conforms(response, VERIFY)["field"] == "body"


def test_a_huge_body_is_refused(mock):
    """More than 16 KiB of body: 413, before any signature work."""
    body = b"{" + b" " * 20_000 + b"}"
    headers = {**mock.signer.headers("POST", VERIFY, body), "Content-Type": "application/json"}
    response = mock.http.post(VERIFY, content=body, headers=headers)
    assert response.status_code == 413
    assert conforms(response, VERIFY)["error"] == "too_large"


# Signatures


def refusal(response: httpx.Response, path: str = HEALTH) -> str:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("GPLX-HMAC-SHA256")
    code: str = conforms(response, path)["error"]
    return code


def test_a_correctly_signed_request_is_accepted_within_the_window(mock):
    """Timestamps up to 300 s off either way are accepted."""
    now = int(time.time())
    for timestamp in (now - 290, now, now + 290):
        assert conforms(mock.get(HEALTH, timestamp=timestamp), HEALTH) == {"status": "ok"}


@pytest.mark.parametrize("offset", [-301 - 60, 301 + 60])
def test_a_stale_timestamp_is_refused(mock, offset):
    """More than 300 s in the past or the future: stale_timestamp, the value not echoed."""
    timestamp = int(time.time()) + offset
    response = mock.get(HEALTH, timestamp=timestamp)
    assert refusal(response) == "stale_timestamp"
    assert str(timestamp) not in response.text


def test_a_reused_nonce_is_refused(mock):
    """The same signed request twice: the second is replayed_nonce."""
    headers = mock.signer.headers("GET", HEALTH)
    assert mock.http.get(HEALTH, headers=headers).status_code == 200
    response = mock.http.get(HEALTH, headers=headers)
    assert refusal(response) == "replayed_nonce"
    assert headers["X-Nonce"] not in response.text


def test_a_bad_signature_is_refused_and_does_not_spend_the_nonce(mock):
    """A wrong signature is bad_signature; the nonce stays usable by the rightful signer."""
    headers = mock.signer.headers("GET", HEALTH)
    forged = {**headers, "X-Signature": "0" * 64}
    response = mock.http.get(HEALTH, headers=forged)
    assert refusal(response) == "bad_signature"
    assert headers["X-Signature"] not in response.text
    assert mock.http.get(HEALTH, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("method", "signed", "sent", "path"),
    [
        ("GET", "/v1/licences?holder=037090001234", "/v1/licences?holder=037090001235", LICENCES),
        ("GET", "/v1/licences/012345678901", "/v1/licences/012345678902", LICENCE),
        ("POST", HEALTH, HEALTH, HEALTH),
    ],
)
def test_the_signature_covers_method_path_and_query(mock, method, signed, sent, path):
    """A signature made for one request does not pass for another (all sent as GET)."""
    response = mock.http.get(sent, headers=mock.signer.headers(method, signed))
    assert refusal(response, path) == "bad_signature"


def test_the_signature_covers_the_body(mock):
    """A body changed after signing is bad_signature."""
    signed = json.dumps({"number": "012345678901", "holder_name": "Lê Văn A"}).encode()
    sent = json.dumps({"number": "012345678901", "holder_name": "Lê Văn B"}).encode()
    headers = {**mock.signer.headers("POST", VERIFY, signed), "Content-Type": "application/json"}
    response = mock.http.post(VERIFY, content=sent, headers=headers)
    assert refusal(response, VERIFY) == "bad_signature"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"X-Api-Key": "no-such-key"}, "unknown_key"),
        ({"X-Timestamp": "yesterday"}, "invalid_timestamp"),
        ({"X-Nonce": "short"}, "invalid_nonce"),
        ({"X-Signature": "not hex at all, and not ascii either: đ"}, "bad_signature"),
    ],
)
def test_malformed_credentials_are_refused_by_name(mock, change, code):
    """Each malformed part is named; its value is not echoed."""
    headers = {**mock.signer.headers("GET", HEALTH), **change}
    response = mock.http.get(HEALTH, headers={k: v.encode() for k, v in headers.items()})
    assert refusal(response) == code
    for value in change.values():
        assert value not in response.text


@pytest.mark.parametrize("header", ["X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature"])
def test_a_missing_header_is_named(mock, header):
    """missing_credentials, with the header's name in the message."""
    headers = mock.signer.headers("GET", HEALTH)
    del headers[header]
    response = mock.http.get(HEALTH, headers=headers)
    assert refusal(response) == "missing_credentials"
    assert header in response.json()["message"]


def test_an_expired_key_is_refused_until_renewed(mock):
    """The admin surface expires the demo key: expired_key; renewed, it works again."""
    key = mock.signer.key
    changed = mock.http.put(f"/_admin/keys/{key}", json={"expires_at": int(time.time()) - 1})
    assert changed.status_code == 200
    assert refusal(mock.get(HEALTH)) == "expired_key"
    mock.http.put(f"/_admin/keys/{key}", json={"expires_at": None}).raise_for_status()
    assert mock.get(HEALTH).status_code == 200


@pytest.mark.parametrize(
    ("key", "body", "status", "field"),
    [
        ("no-such-key", {"expires_at": None}, 404, "api_key"),
        (None, {"expires_at": "tomorrow"}, 422, "expires_at"),
        (None, {"expires_at": True}, 422, "expires_at"),
        (None, {}, 422, "expires_at"),
    ],
)
def test_the_keys_admin_refuses_bad_changes(mock, key, body, status, field):
    """Unknown keys and bad expiries are refused, the field named."""
    response = mock.http.put(f"/_admin/keys/{key or mock.signer.key}", json=body)
    assert response.status_code == status
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_drifted_clock_refuses_good_signatures(mock):
    """The clock_skew fault puts the system's clock off: good requests become stale."""
    mock.fault({"kind": "clock_skew", "seconds": -900}).raise_for_status()
    assert refusal(mock.get(HEALTH)) == "stale_timestamp"
    mock.http.delete("/_admin/faults")
    assert mock.get(HEALTH).status_code == 200


def test_a_clock_skew_beyond_a_day_is_an_invalid_plan(mock):
    """The fault's own field is validated and named."""
    response = mock.fault({"kind": "clock_skew", "seconds": 100_000})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["faults[0].seconds"]


def test_key_changes_are_not_protocol_requests(mock):
    """The keys admin route is not counted with the protocol requests."""
    mock.http.delete("/_admin/stats")
    mock.http.put(f"/_admin/keys/{mock.signer.key}", json={"expires_at": None})
    mock.get(HEALTH)
    assert mock.http.get("/_admin/stats").json() == {"requests": 1}


def test_the_malformed_fault_is_json_that_does_not_parse(mock):
    """The shared malformed fault answers in this API's content type, unparsable."""
    mock.fault({"kind": "malformed"}).raise_for_status()
    response = mock.get(HEALTH)
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(response.content)


# The nonce memory


def test_nonces_are_forgotten_once_their_timestamp_leaves_the_window():
    """Accepted nonces are kept for the window and then dropped, so memory stays bounded."""
    now = [1_800_000_000.0]
    secret = b"k" * 32
    auth = Authenticator({"key": ApiKey(secret)}, clock=lambda: now[0])

    def headers(nonce: str, at: int) -> dict[str, str | None]:
        mac = signature(secret, "GET", HEALTH, str(at), nonce, b"")
        return {"X-Api-Key": "key", "X-Timestamp": str(at), "X-Nonce": nonce, "X-Signature": mac}

    first = headers("a" * 16, int(now[0]))
    auth.check("GET", HEALTH, first, b"")
    with pytest.raises(Refused, match="replayed_nonce"):
        auth.check("GET", HEALTH, first, b"")
    now[0] += 301
    auth.check("GET", HEALTH, headers("b" * 16, int(now[0])), b"")
    assert auth.remembered == 1
    with pytest.raises(Refused, match="stale_timestamp"):
        auth.check("GET", HEALTH, first, b"")
