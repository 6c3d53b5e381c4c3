"""The business mock's REST contract: OAuth 2.0 client credentials, enterprises, faults."""

from __future__ import annotations

import base64
import json
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
from hub.mocks.business import create_app, hub_settings
from hub.mocks.business._oauth import TokenStore
from hub.schemas import schema_path

SEED, CITIZENS = 3, 2_000
SETTINGS = hub_settings("http://127.0.0.1:1")
CLIENT = (SETTINGS["client_id"], SETTINGS["client_secret"])
_DOCUMENT = "urn:lienthong:business:openapi"


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(schema_path("business/openapi.json").read_text("utf-8"))
    return document


@pytest.fixture(scope="module")
def schemas(openapi: dict[str, Any]) -> dict[str, Draft202012Validator]:
    """A validator per component schema of the published contract, references resolved."""
    resource = Resource.from_contents(openapi, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_DOCUMENT, resource)
    return {
        name: Draft202012Validator(
            {"$ref": f"{_DOCUMENT}#/components/schemas/{name}"},
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        for name in openapi["components"]["schemas"]
    }


@pytest.fixture(scope="module")
def world() -> World:
    """The served mock's world."""
    return World(SEED, CITIZENS)


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    with ServedApp(create_app(seed=SEED, citizens=CITIZENS), lifespan="off") as served:
        yield served


class Register:
    """The served business mock: a client with a token, and the admin surfaces."""

    def __init__(self, served: ServedApp) -> None:
        self.http = httpx.Client(base_url=served.url, timeout=10)
        self.token = ""

    def issue(self, auth: Any = CLIENT, **form: str) -> httpx.Response:
        return self.http.post(
            "/oauth/token", data=form or {"grant_type": "client_credentials"}, auth=auth
        )

    def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.http.get(path, params=params, headers=headers)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/_admin/{path}", **kwargs)

    def sample(self, kind: str, n: int = 1) -> list[str]:
        keys: list[str] = self.admin("GET", "sample", params={"kind": kind, "n": n}).json()["keys"]
        return keys


@pytest.fixture(scope="module")
def client(served: ServedApp) -> Iterator[Register]:
    register = Register(served)
    yield register
    register.http.close()


@pytest.fixture
def register(client: Register) -> Iterator[Register]:
    """The served mock with a fresh token, no fault plans and the default token lifetime."""
    client.token = client.issue().json()["access_token"]
    yield client
    for path in ("faults", "tokens/faults"):
        client.admin("DELETE", path).raise_for_status()
    client.admin("PUT", "tokens", json={"ttl": 300}).raise_for_status()


def assert_valid(schemas: dict[str, Draft202012Validator], name: str, data: Any) -> None:
    errors = [error.message for error in schemas[name].iter_errors(data)]
    assert errors == [], errors


# The published contract


def test_the_contract_is_valid_json_schema(openapi):
    """Every component schema is valid JSON Schema 2020-12, as OpenAPI 3.1 requires."""
    assert openapi["openapi"].startswith("3.1.")
    for schema in openapi["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_the_contract_names_every_endpoint_the_mock_serves(openapi):
    """The token endpoint, both look-ups and the health check are documented."""
    assert set(openapi["paths"]) == {
        "/oauth/token",
        "/v1/enterprises/{ma_so}",
        "/v1/enterprises",
        "/v1/health",
    }


# The authorization server


def test_client_credentials_get_a_bearer_token(register, schemas):
    """Basic-authenticated client_credentials -> a Bearer token with its lifetime, not cached."""
    response = register.issue()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    token = response.json()
    assert_valid(schemas, "Token", token)
    assert token["expires_in"] == 300
    assert token["access_token"] != register.token


def test_the_client_id_and_secret_are_form_decoded(register):
    """RFC 6749 encodes them before Basic: an encoded id still authenticates."""
    client_id, secret = CLIENT
    encoded = base64.b64encode(f"{client_id.replace('-', '%2D')}:{secret}".encode()).decode()
    response = register.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {encoded}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "auth",
    [
        (CLIENT[0], "wrong-secret"),
        ("someone-else", CLIENT[1]),
        None,
    ],
    ids=["wrong secret", "unknown client", "no credentials"],
)
def test_bad_client_credentials_are_invalid_client(register, schemas, auth):
    """401 invalid_client with a Basic challenge; no token is issued."""
    issued = register.admin("GET", "tokens").json()["issued"]
    response = register.issue(auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert_valid(schemas, "OAuthError", response.json())
    assert response.json()["error"] == "invalid_client"
    assert register.admin("GET", "tokens").json()["issued"] == issued


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"scope": "x"}, "invalid_request"),
    ],
)
def test_other_grants_are_refused(register, schemas, form, error):
    """Only client_credentials is granted; a missing grant_type is a malformed request."""
    response = register.issue(**form)
    assert response.status_code == 400
    assert_valid(schemas, "OAuthError", response.json())
    assert response.json()["error"] == error


def test_a_body_that_is_not_a_form_is_refused(register):
    """The token request must be form-encoded."""
    response = register.http.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, auth=CLIENT
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# The register


def test_an_enterprise_by_code_is_the_worlds(register, schemas, world):
    """The answer follows the contract and carries the world's enterprise."""
    for code in register.sample("enterprise", 5):
        response = register.get(f"/v1/enterprises/{code}")
        assert response.status_code == 200
        data = response.json()
        assert_valid(schemas, "DoanhNghiep", data)
        record = world.enterprise(code)
        assert data["ma_so_doanh_nghiep"] == code
        assert data["ten_tieng_viet"] == record.name
        assert data["ngay_thanh_lap"] == record.founded.isoformat()
        assert data["von_dieu_le"] == record.charter_capital
        assert [p["so_dinh_danh"] for p in data["nguoi_dai_dien"]] == [
            p.national_id for p in record.representatives
        ]
        assert [b["ma_chi_nhanh"] for b in data["chi_nhanh"]] == [b.code for b in record.branches]
        assert "chi_nhanh_tra_cuu" not in data


def test_representatives_are_citizens_of_the_same_world(register, world):
    """Each representative with a national id is that citizen, under the same name."""
    for code in register.sample("enterprise", 10):
        for person in register.get(f"/v1/enterprises/{code}").json()["nguoi_dai_dien"]:
            if person["so_dinh_danh"] is None:
                assert person["quoc_tich"] != "VN"
                continue
            citizen = world.find_citizen(person["so_dinh_danh"])
            assert citizen is not None
            assert unicodedata.normalize("NFC", citizen.full_name) == person["ho_ten"]


def test_a_branch_code_finds_its_parent_with_the_branch_marked(register, schemas):
    """NNNNNNNNNN-001 answers the parent enterprise, naming the branch asked for."""
    (branch,) = register.sample("branch")
    data = register.get(f"/v1/enterprises/{branch}").json()
    assert_valid(schemas, "DoanhNghiep", data)
    assert data["ma_so_doanh_nghiep"] == branch[:10]
    assert data["chi_nhanh_tra_cuu"] == branch
    assert branch in [item["ma_chi_nhanh"] for item in data["chi_nhanh"]]


def test_the_register_keeps_dissolved_enterprises(register, world):
    """A dissolved enterprise is still answered, with its status."""
    codes = register.sample("enterprise", 200)
    dissolved = next(code for code in codes if world.enterprise(code).status == "dissolved")
    data = register.get(f"/v1/enterprises/{dissolved}").json()
    assert data["tinh_trang"] == {"ma": "da_giai_the", "ten": "Đã giải thể"}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("0100233488", 404),  # valid, but not registered in this world
        ("0100233488-001", 404),
        ("0100233489", 400),  # wrong check digit
        ("01002334", 400),
        ("0100233488001", 400),
    ],
)
def test_codes_that_find_nothing(register, schemas, code, status):
    """A malformed code is 400; a valid one not registered is 404; both with the error body."""
    response = register.get(f"/v1/enterprises/{code}")
    assert response.status_code == status
    assert_valid(schemas, "Loi", response.json())


def test_a_branch_number_past_the_last_branch_is_not_found(register, world):
    """An enterprise with k branches has no branch k+1."""
    (branch,) = register.sample("branch")
    count = len(world.enterprise(branch[:10]).branches)
    response = register.get(f"/v1/enterprises/{branch[:10]}-{count + 1:03d}")
    assert response.status_code == 404


def test_the_enterprises_of_a_representative(register, schemas, world):
    """The list is the world's, for a representative; empty for most citizens."""
    (representative,) = register.sample("representative")
    data = register.get("/v1/enterprises", legal_representative=representative).json()
    assert_valid(schemas, "DanhSachDoanhNghiep", data)
    expected = [record.code for record in world.enterprises_of(representative)]
    assert [item["ma_so_doanh_nghiep"] for item in data["ket_qua"]] == expected
    assert data["so_luong"] == len(expected) >= 1
    for item in data["ket_qua"]:
        assert representative in [p["so_dinh_danh"] for p in item["nguoi_dai_dien"]]
    (minor,) = register.sample("minor")
    assert register.get("/v1/enterprises", legal_representative=minor).json() == {
        "ket_qua": [],
        "so_luong": 0,
    }


@pytest.mark.parametrize(
    "params",
    [
        [],
        [("legal_representative", "12345")],
        [("legal_representative", "037090001234"), ("x", "1")],
        [("legal_representative", "037090001234"), ("legal_representative", "037090001235")],
    ],
    ids=["none", "short", "extra", "twice"],
)
def test_a_malformed_search_is_refused(register, params):
    """The search takes exactly one 12-digit legal_representative."""
    response = register.http.get(
        "/v1/enterprises", params=params, headers={"Authorization": f"Bearer {register.token}"}
    )
    assert response.status_code == 400
    assert response.json()["ma_loi"] == "yeu_cau_khong_hop_le"


def test_health_needs_no_token(register, schemas):
    """The health check answers without Authorization."""
    response = register.http.get("/v1/health")
    assert response.status_code == 200
    assert_valid(schemas, "TrangThai", response.json())


# Tokens at the register


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token-we-issued", "Basic dXNlcjpwYXNz"],
    ids=["missing", "unknown", "wrong scheme"],
)
def test_a_request_without_a_valid_token_is_refused(register, schemas, authorization):
    """401 with WWW-Authenticate: Bearer error="invalid_token", and the error body."""
    (code,) = register.sample("enterprise")
    headers = {"Authorization": authorization} if authorization else {}
    response = register.http.get(f"/v1/enterprises/{code}", headers=headers)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert_valid(schemas, "Loi", response.json())
    assert response.json()["ma_loi"] == "token_khong_hop_le"


def test_revoking_refuses_every_issued_token(register):
    """DELETE /_admin/tokens revokes them all; a new token works again."""
    (code,) = register.sample("enterprise")
    other = register.issue().json()["access_token"]
    revoked = register.admin("DELETE", "tokens").json()
    assert revoked["revoked"] >= 2
    assert revoked["active"] == 0
    for token in (register.token, other):
        assert register.get(f"/v1/enterprises/{code}", token=token).status_code == 401
    fresh = register.issue().json()["access_token"]
    assert register.get(f"/v1/enterprises/{code}", token=fresh).status_code == 200


def test_the_token_lifetime_is_set_at_run_time(register):
    """PUT /_admin/tokens {"ttl": 7}: new tokens say so; GET reports it."""
    response = register.admin("PUT", "tokens", json={"ttl": 7})
    assert response.status_code == 200
    assert response.json()["ttl"] == 7
    assert register.issue().json()["expires_in"] == 7
    assert register.admin("GET", "tokens").json()["ttl"] == 7


@pytest.mark.parametrize(
    ("body", "field"),
    [({"ttl": 0}, "ttl"), ({"ttl": "soon"}, "ttl"), ({}, "ttl"), ({"ttl": 5, "x": 1}, "x")],
)
def test_an_invalid_token_setting_names_the_field(register, body, field):
    """422 naming the field; the lifetime stays as it was."""
    response = register.admin("PUT", "tokens", json=body)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert register.admin("GET", "tokens").json()["ttl"] == 300


def test_create_app_takes_a_token_lifetime():
    """create_app(token_ttl=...) sets the lifetime from the start."""
    with ServedApp(create_app(seed=SEED, citizens=100, token_ttl=42), lifespan="off") as app:
        response = httpx.post(
            f"{app.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=CLIENT
        )
    assert response.json()["expires_in"] == 42


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tokens_expire_after_their_lifetime():
    """A token is valid until its lifetime has passed; a new lifetime applies to new tokens."""
    clock = Clock()
    store = TokenStore(ttl=10, clock=clock)
    first, lifetime = store.issue()
    assert lifetime == 10
    store.ttl = 100
    second, _ = store.issue()
    clock.now += 9.9
    assert store.valid(first)
    assert store.valid(second)
    clock.now += 0.2
    assert not store.valid(first)
    assert store.valid(second)
    assert store.active() == 1
    assert not store.valid("never-issued")


def test_expired_tokens_do_not_pile_up():
    """A client that never reuses its tokens costs bounded memory."""
    clock = Clock()
    store = TokenStore(ttl=1, clock=clock)
    for _ in range(5000):
        store.issue()
        clock.now += 2
    assert len(store.held()) <= 1024
    assert store.issued == 5000


# Faults


def test_register_faults_spare_the_token_endpoint(register):
    """A 503 plan answers the register; the token endpoint keeps issuing; counts are apart."""
    (code,) = register.sample("enterprise")
    register.admin("DELETE", "stats")
    before = register.admin("GET", "tokens").json()["requests"]
    register.admin("PUT", "faults", json={"kind": "status", "status": 503}).raise_for_status()
    assert register.issue().status_code == 200
    assert register.get(f"/v1/enterprises/{code}").status_code == 503
    assert register.admin("GET", "stats").json()["requests"] == 1
    assert register.admin("GET", "tokens").json()["requests"] == before + 1


def test_token_endpoint_faults_spare_the_register(register):
    """The token endpoint's own plan: 503 with Retry-After there, the register untouched."""
    (code,) = register.sample("enterprise")
    plan = {"kind": "status", "status": 503, "retry_after": 2, "count": 1}
    register.admin("PUT", "tokens/faults", json=plan).raise_for_status()
    assert register.admin("GET", "tokens/faults").json()["faults"][0]["remaining"] == 1
    assert register.get(f"/v1/enterprises/{code}").status_code == 200
    refused = register.issue()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert register.issue().status_code == 200


@pytest.mark.parametrize(
    ("plan", "field"),
    [({"kind": "status"}, "faults[0].status"), ({"kind": "unicorn"}, "faults[0].kind")],
)
def test_an_invalid_token_fault_plan_names_the_field(register, plan, field):
    """The token endpoint's plan is validated as the shared one is."""
    response = register.admin("PUT", "tokens/faults", json=plan)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]


def test_a_malformed_token_answer_is_garbage_json(register):
    """The malformed fault on the token endpoint sends JSON that does not parse."""
    register.admin("PUT", "tokens/faults", json={"kind": "malformed"}).raise_for_status()
    response = register.issue()
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_the_invalid_token_fault_refuses_any_token(register, schemas):
    """{"kind": "invalid_token"}: 401 invalid_token on the register, fresh tokens too."""
    (code,) = register.sample("enterprise")
    register.admin("PUT", "faults", json={"kind": "invalid_token"}).raise_for_status()
    fresh = register.issue().json()["access_token"]
    response = register.get(f"/v1/enterprises/{code}", token=fresh)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert_valid(schemas, "Loi", response.json())
    register.admin("DELETE", "faults")
    assert register.get(f"/v1/enterprises/{code}", token=fresh).status_code == 200


def test_the_malformed_register_answer_is_garbage_json(register):
    """The shared malformed fault, in JSON."""
    (code,) = register.sample("enterprise")
    register.admin("PUT", "faults", json={"kind": "malformed"}).raise_for_status()
    response = register.get(f"/v1/enterprises/{code}")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
