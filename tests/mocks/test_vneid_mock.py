"""The VNeID mock's OpenID Connect contract: discovery, keys, login, code exchange, faults."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, DecodeError
from joserfc.jwk import ECKey, KeySet
from jsonschema import Draft202012Validator
from lxml import html
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hub._serving import ServedApp
from hub.mocks._world import World
from hub.mocks.vneid import create_app, hub_settings
from hub.mocks.vneid._provider import s256
from hub.schemas import schema_path

SEED, CITIZENS = 5, 2_000
REDIRECT = "http://127.0.0.1:8765/callback"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ID = "lienthong-demo"


@pytest.fixture(scope="module")
def world() -> World:
    """The served mock's world."""
    return World(seed=SEED, citizens=CITIZENS)


@pytest.fixture(scope="module")
def contract() -> Callable[[str, Any], None]:
    """Validate an instance against a component schema of src/hub/schemas/vneid/openapi.json."""
    document = json.loads(schema_path("vneid/openapi.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        "urn:vneid", Resource(contents=document, specification=DRAFT202012)
    )
    validators = {
        name: Draft202012Validator(
            {"$ref": f"urn:vneid#/components/schemas/{name}"}, registry=registry
        )
        for name in document["components"]["schemas"]
    }

    def validate(name: str, instance: Any) -> None:
        validators[name].validate(instance)

    return validate


class Provider:
    """The served mock, driven as a client and a browser would."""

    def __init__(self, served: ServedApp) -> None:
        self.url = served.url
        self.http = httpx.Client(base_url=served.url, timeout=10)
        self.key = ECKey.import_key(hub_settings(served.url)["private_key"])

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/_admin/{path}", **kwargs)

    def sample(self, kind: str, n: int = 1) -> list[str]:
        keys: list[str] = self.admin("GET", "sample", params={"kind": kind, "n": n}).json()["keys"]
        return keys

    def requests(self) -> int:
        count: int = self.admin("GET", "stats").json()["requests"]
        return count

    def authorize(self, verifier: str, **overrides: str | None) -> httpx.Response:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "st-1",
            "nonce": "nonce-of-this-login",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            "acr_values": "LoA2",
        }
        params.update(overrides)
        return self.http.get(
            "/authorize", params={k: v for k, v in params.items() if v is not None}
        )

    def code(self, national_id: str, verifier: str, **overrides: str | None) -> str:
        response = self.authorize(verifier, login_hint=national_id, **overrides)
        assert response.status_code == 302
        code: str = httpx.URL(response.headers["location"]).params["code"]
        return code

    def assertion(self, key: ECKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": f"{self.url}/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
            **claims,
        }
        return jwt.encode({"alg": "ES256"}, payload, key or self.key)

    def token(
        self, code: str, verifier: str, assertion: str | None = None, **overrides: str
    ) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion or self.assertion(),
            **overrides,
        }
        return self.http.post("/token", data=form)

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(self.http.get("/jwks").json())


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    """A VNeID mock of 2,000 citizens, served for this module."""
    with ServedApp(create_app(seed=SEED, citizens=CITIZENS), lifespan="off") as app:
        yield app


@pytest.fixture(scope="module")
def client(served: ServedApp) -> Iterator[Provider]:
    """One client of the served mock for the module (building an HTTP client is not free)."""
    driver = Provider(served)
    yield driver
    driver.http.close()


@pytest.fixture
def provider(client: Provider) -> Iterator[Provider]:
    """The served mock with no fault plan and its own clock, before and after the test."""
    for path in ("faults", "clock"):
        client.admin("DELETE", path)
    yield client
    for path in ("faults", "clock"):
        client.admin("DELETE", path)


def verifier() -> str:
    return secrets.token_urlsafe(48)


def claims_of(id_token: str, keys: KeySet) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, keys, algorithms=["ES256"]).claims
    return claims


def test_the_discovery_document_follows_the_contract(provider, contract):
    """The metadata validates; the issuer is the base URL; PKCE S256; ID tokens in ES256
    and RS256; clients authenticate with ES256 assertions only."""
    document = provider.http.get("/.well-known/openid-configuration").json()
    contract("ProviderMetadata", document)
    assert document["issuer"] == provider.url
    assert document["token_endpoint"] == f"{provider.url}/token"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]


def test_the_jwks_publishes_a_public_key_per_algorithm(provider, contract):
    """The JWKS validates: an EC P-256 key for ES256 and an RSA key for RS256, nothing private."""
    keys = provider.http.get("/jwks").json()
    contract("JsonWebKeySet", keys)
    assert [(key["kty"], key["alg"]) for key in keys["keys"]] == [("EC", "ES256"), ("RSA", "RS256")]
    assert all(not {"d", "p", "q"} & set(key) for key in keys["keys"])


def test_rotation_keeps_the_previous_key_unless_dropped(provider):
    """A rotation publishes the new keys beside the old; dropping leaves the new ones alone."""
    before = [key["kid"] for key in provider.http.get("/jwks").json()["keys"]]
    kept = provider.admin("POST", "rotate-keys").json()
    assert kept["published"] == [*kept["current"], *before]
    dropped = provider.admin("POST", "rotate-keys", json={"drop_previous": True}).json()
    assert dropped["published"] == dropped["current"]
    assert not set(dropped["current"]) & {*kept["current"], *before}
    published = [key["kid"] for key in provider.http.get("/jwks").json()["keys"]]
    assert published == dropped["current"]


def test_the_same_seed_gives_the_same_keys():
    """Keys are derived from the seed, so a failing run replays; another seed differs."""
    first = create_app(seed=7, citizens=10).state.provider.keys.jwks()
    again = create_app(seed=7, citizens=10).state.provider.keys.jwks()
    other = create_app(seed=8, citizens=10).state.provider.keys.jwks()
    assert first == again
    assert first != other


def test_the_headless_flow_issues_a_verifiable_id_token(provider, contract, world):
    """login_hint -> code -> tokens; the ID token is ES256 under a published kid, as specified."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    code = provider.code(national_id, secret)
    response = provider.token(code, secret)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    contract("TokenResponse", answer)
    header = jws.extract_compact(answer["id_token"].encode()).headers()
    contract("IdTokenHeader", header)
    claims = claims_of(answer["id_token"], provider.jwks())
    contract("IdTokenClaims", claims)
    citizen = world.find_citizen(national_id)
    assert claims["iss"] == provider.url
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == "nonce-of-this-login"
    assert claims["acr"] == "LoA2"
    assert claims["SoDinhDanh"] == national_id
    assert claims["HoVaTen"] == citizen.full_name
    assert claims["NgayThangNamSinh"] == citizen.date_of_birth
    assert claims["iat"] <= claims["exp"]
    assert national_id not in claims["sub"]


def test_userinfo_answers_the_same_claims(provider, contract):
    """The access token opens /userinfo, with the ID token's personal claims."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    answer = provider.token(provider.code(national_id, secret), secret).json()
    response = provider.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {answer['access_token']}"}
    )
    assert response.status_code == 200
    info = response.json()
    contract("UserInfo", info)
    claims = claims_of(answer["id_token"], provider.jwks())
    assert info == {name: claims[name] for name in info}


def test_userinfo_without_a_valid_token_is_401(provider, contract):
    """No token or an unknown one: invalid_token with a Bearer challenge."""
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eA=="}):
        response = provider.http.get("/userinfo", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        contract("OAuthError", response.json())
        assert response.json()["error"] == "invalid_token"


def test_the_subject_is_stable_and_pseudonymous(provider):
    """The same citizen gets the same sub at every login; two citizens get two."""
    first, second = provider.sample("vneid_level2", 2)
    subjects = []
    for national_id in (first, first, second):
        secret = verifier()
        answer = provider.token(provider.code(national_id, secret), secret).json()
        subjects.append(claims_of(answer["id_token"], provider.jwks())["sub"])
    assert subjects[0] == subjects[1] != subjects[2]


@pytest.mark.parametrize(
    ("kind", "asked", "granted"),
    [
        ("vneid_level1", "LoA2", "LoA1"),
        ("vneid_level2", "LoA1", "LoA1"),
        ("vneid_level1", "LoA1", "LoA1"),
        ("vneid_level2", "urn:example:high", "LoA2"),
        ("vneid_level1", "urn:example:high", "LoA1"),
        ("vneid_level2", "urn:example:high LoA1", "LoA1"),
    ],
)
def test_the_level_granted_is_at_most_the_accounts(provider, kind, asked, granted):
    """A level-1 account asking LoA2 is granted LoA1; nobody gets more than asked; unknown
    values are ignored, and with no known one the account's best level is granted."""
    (national_id,) = provider.sample(kind)
    secret = verifier()
    code = provider.code(national_id, secret, acr_values=asked)
    claims = claims_of(provider.token(code, secret).json()["id_token"], provider.jwks())
    assert claims["acr"] == granted


@pytest.mark.parametrize("kind", ["deceased", "minor"])
def test_people_without_an_account_cannot_log_in(provider, world, kind):
    """Citizens without VNeID (the deceased, the young) are sent back with access_denied."""
    candidates = [
        key for key in provider.sample(kind, 40) if world.find_citizen(key).vneid_level == 0
    ]
    assert candidates, "the sample holds nobody without an account"
    response = provider.authorize(verifier(), login_hint=candidates[0])
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert location.params["error"] == "access_denied"
    assert location.params["state"] == "st-1"
    assert "code" not in location.params


def test_an_unknown_number_cannot_log_in(provider):
    """A number of nobody in the world is access_denied too."""
    response = provider.authorize(verifier(), login_hint="001099999999")
    assert httpx.URL(response.headers["location"]).params["error"] == "access_denied"


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "someone-else"},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1:8765/other"},
        {"redirect_uri": "http://127.0.0.1.evil.example/callback"},
        {"redirect_uri": "https://dichvucong.example.vn/vneid/callback#x"},
        {"redirect_uri": None},
    ],
)
def test_an_unknown_client_or_redirect_uri_is_refused_without_a_redirect(provider, overrides):
    """400 and no Location: nothing is sent to an address the client did not register."""
    response = provider.authorize(verifier(), login_hint="001099999999", **overrides)
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:1/callback",
        "http://localhost:50000/callback",
        "https://dichvucong.example.vn/vneid/callback",
    ],
)
def test_registered_and_loopback_redirect_uris_are_accepted(provider, redirect_uri):
    """The registered URI, and the loopback ones on any port (RFC 8252)."""
    (national_id,) = provider.sample("vneid_level2")
    response = provider.authorize(verifier(), login_hint=national_id, redirect_uri=redirect_uri)
    assert response.status_code == 302
    assert response.headers["location"].startswith(redirect_uri + "?code=")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_a_faulty_authorization_request_is_sent_back_with_its_error(provider, overrides, error):
    """PKCE S256 and a nonce are required; errors go back to the redirect URI with the state."""
    (national_id,) = provider.sample("vneid_level2")
    response = provider.authorize(verifier(), login_hint=national_id, **overrides)
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert location.params["error"] == error
    assert location.params["state"] == "st-1"
    assert "code" not in location.params


def test_the_login_page_renders_and_its_form_logs_in(provider, world):
    """Without login_hint a page offers citizens; posting its form redirects with a code."""
    secret = verifier()
    page = provider.authorize(secret)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    (form,) = html.fromstring(page.text).forms
    values = dict(form.form_values())
    assert values["state"] == "st-1"
    assert values["code_challenge"] == s256(secret)
    offered = [option.get("value") for option in form.xpath(".//select[@name='login_hint']/option")]
    level2 = [key for key in offered if world.find_citizen(key).vneid_level == 2]
    assert level2, "the page offers no level-2 account"
    response = provider.http.post(
        form.action, data={**values, "login_hint": level2[0], "level": "LoA2"}
    )
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert location.params["state"] == "st-1"
    claims = claims_of(
        provider.token(location.params["code"], secret).json()["id_token"], provider.jwks()
    )
    assert claims["SoDinhDanh"] == level2[0]
    assert claims["acr"] == "LoA2"


def test_the_login_page_offers_someone_who_cannot_log_in(provider, world):
    """The page also lists a person without an account, who is refused on posting."""
    secret = verifier()
    (form,) = html.fromstring(provider.authorize(secret).text).forms
    offered = [option.get("value") for option in form.xpath(".//select[@name='login_hint']/option")]
    without = [key for key in offered if world.find_citizen(key).vneid_level == 0]
    assert without
    response = provider.http.post(
        form.action, data={**dict(form.form_values()), "login_hint": without[0], "level": "LoA1"}
    )
    assert httpx.URL(response.headers["location"]).params["error"] == "access_denied"


def test_a_code_is_single_use_and_its_second_use_revokes_the_first_token(provider, contract):
    """The second exchange is invalid_grant, and the access token of the first stops working."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    code = provider.code(national_id, secret)
    first = provider.token(code, secret).json()
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert provider.http.get("/userinfo", headers=bearer).status_code == 200
    again = provider.token(code, secret)
    assert again.status_code == 400
    contract("OAuthError", again.json())
    assert again.json()["error"] == "invalid_grant"
    assert provider.http.get("/userinfo", headers=bearer).status_code == 401


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_verifier": "x" * 43},
        {"code_verifier": "short"},
        {"redirect_uri": "http://127.0.0.1:8765/other"},
        {"code": "no-such-code"},
    ],
)
def test_a_code_with_the_wrong_verifier_or_redirect_uri_is_refused(provider, contract, overrides):
    """PKCE and the redirect URI are checked: invalid_grant, and the code is burnt."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    code = provider.code(national_id, secret)
    changes = dict(overrides)
    response = provider.token(changes.pop("code", code), secret, **changes)
    assert response.status_code == 400
    contract("OAuthError", response.json())
    assert response.json()["error"] == "invalid_grant"
    if "code" not in overrides:
        assert provider.token(code, secret).json()["error"] == "invalid_grant"


def test_a_code_expires_after_a_minute(provider):
    """With the provider's clock 61 seconds on, the code is invalid_grant."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    code = provider.code(national_id, secret)
    provider.admin("PUT", "clock", json={"offset": 61}).raise_for_status()
    # The assertion is dated on the provider's clock, so that only the code is late.
    assertion = provider.assertion(iat=int(time.time()) + 61, exp=int(time.time()) + 121)
    response = provider.token(code, secret, assertion=assertion)
    assert response.json()["error"] == "invalid_grant"


def test_a_client_assertion_is_single_use(provider):
    """Presenting the same assertion twice is invalid_client (400) the second time."""
    (first, second) = provider.sample("vneid_level2", 2)
    assertion = provider.assertion()
    secret = verifier()
    assert (
        provider.token(provider.code(first, secret), secret, assertion=assertion).status_code == 200
    )
    response = provider.token(provider.code(second, secret), secret, assertion=assertion)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.assertion(aud="https://elsewhere.example/token"),
        lambda p: p.assertion(iss="someone-else", sub="someone-else"),
        lambda p: p.assertion(sub="someone-else"),
        lambda p: p.assertion(exp=int(time.time()) - 120),
        lambda p: p.assertion(exp=int(time.time()) + 3600 + 60),
        lambda p: p.assertion(key=ECKey.generate_key("P-256", private=True)),
        lambda p: "not-a-jwt",
    ],
    ids=["audience", "issuer", "subject", "expired", "too-long", "other-key", "garbage"],
)
def test_a_bad_client_assertion_is_invalid_client(provider, contract, make):
    """Audience, issuer, subject, expiry, lifetime and signature of the assertion are checked."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    response = provider.token(provider.code(national_id, secret), secret, assertion=make(provider))
    assert response.status_code == 400
    assert "www-authenticate" not in response.headers
    contract("OAuthError", response.json())
    assert response.json()["error"] == "invalid_client"


def test_client_authentication_other_than_private_key_jwt_is_refused(provider):
    """A client secret instead of an assertion is invalid_client."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    code = provider.code(national_id, secret)
    response = provider.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": secret,
            "client_id": CLIENT_ID,
            "client_secret": "x",
        },
    )
    assert response.json()["error"] == "invalid_client"


def test_a_malformed_token_request_is_invalid_request(provider):
    """A JSON body and repeated parameters are refused as invalid_request."""
    assert (
        provider.http.post("/token", json={"grant_type": "x"}).json()["error"] == "invalid_request"
    )
    repeated = provider.http.post(
        "/token",
        content="grant_type=authorization_code&grant_type=authorization_code",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.json()["error"] == "invalid_request"


def test_another_grant_type_is_unsupported(provider):
    """Only the authorization code grant is served."""
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    response = provider.token(provider.code(national_id, secret), secret, grant_type="password")
    assert response.json()["error"] == "unsupported_grant_type"


def _hostile(provider: Provider, variant: str) -> tuple[str, dict[str, Any]]:
    (national_id,) = provider.sample("vneid_level2")
    secret = verifier()
    code = provider.code(national_id, secret)
    provider.admin("PUT", "faults", json={"kind": "hostile_token", "variant": variant, "count": 1})
    answer = provider.token(code, secret)
    assert answer.status_code == 200
    return answer.json()["id_token"], answer.json()


@pytest.mark.parametrize(
    ("variant", "spoiled"),
    [
        ("expired", lambda claims, p: claims["exp"] < time.time() - 60),
        ("wrong_audience", lambda claims, p: claims["aud"] != CLIENT_ID),
        ("wrong_nonce", lambda claims, p: claims["nonce"] != "nonce-of-this-login"),
        ("wrong_issuer", lambda claims, p: claims["iss"] != p.url),
    ],
)
def test_hostile_tokens_with_spoiled_claims(provider, variant, spoiled):
    """Validly signed tokens whose claims a client must refuse: expiry, audience, nonce, issuer."""
    token, _ = _hostile(provider, variant)
    assert spoiled(claims_of(token, provider.jwks()), provider)


def test_a_hostile_unsigned_token(provider):
    """alg_none: no signature at all, and a header that says so."""
    token, _ = _hostile(provider, "alg_none")
    assert jws.extract_compact(token.encode()).headers()["alg"] == "none"
    assert token.endswith(".")


def test_a_hostile_token_under_an_unpublished_key(provider):
    """unknown_key: its kid is not in the JWKS."""
    token, _ = _hostile(provider, "unknown_key")
    kid = jws.extract_compact(token.encode()).headers()["kid"]
    assert kid not in [key.kid for key in provider.jwks()]


def test_a_hostile_token_with_a_bad_signature(provider):
    """bad_signature: a published kid, but the signature does not verify under it."""
    token, _ = _hostile(provider, "bad_signature")
    assert jws.extract_compact(token.encode()).headers()["kid"] in [k.kid for k in provider.jwks()]
    with pytest.raises(BadSignatureError):
        jwt.decode(token, provider.jwks(), algorithms=["ES256"])


def test_a_hostile_malformed_token(provider):
    """malformed: not a compact JWS that decodes."""
    token, _ = _hostile(provider, "malformed")
    with pytest.raises(DecodeError):
        jws.extract_compact(token.encode())


def test_a_hostile_token_fault_leaves_other_endpoints_alone(provider, contract):
    """Held until cleared, it spoils token answers only: discovery and keys are served as ever."""
    provider.admin("PUT", "faults", json={"kind": "hostile_token", "variant": "malformed"})
    contract("ProviderMetadata", provider.http.get("/.well-known/openid-configuration").json())
    contract("JsonWebKeySet", provider.http.get("/jwks").json())


def test_an_unknown_hostile_variant_is_refused_naming_the_field(provider):
    """The plan is validated: 422 naming faults[0].variant."""
    response = provider.admin("PUT", "faults", json={"kind": "hostile_token", "variant": "nice"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "faults[0].variant"


def test_the_shared_faults_apply_to_the_token_endpoint(provider):
    """A 503 burst and a malformed body, as every mock serves them."""
    provider.admin("PUT", "faults", json={"kind": "status", "status": 503, "count": 1})
    assert provider.http.post("/token", data={}).status_code == 503
    provider.admin("PUT", "faults", json={"kind": "malformed", "count": 1})
    response = provider.http.post("/token", data={})
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


def test_the_mocks_own_admin_requests_are_not_counted(provider):
    """Rotating keys and moving the clock are admin requests, outside the protocol count."""
    provider.admin("DELETE", "stats")
    provider.admin("POST", "rotate-keys")
    provider.admin("PUT", "clock", json={"offset": 5})
    provider.http.get("/jwks")
    assert provider.requests() == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "clock", {"offset": "soon"}, "offset"),
        ("PUT", "clock", {"offset": True}, "offset"),
        ("POST", "rotate-keys", {"drop_previous": "yes"}, "drop_previous"),
    ],
)
def test_invalid_admin_requests_name_the_field(provider, method, path, body, field):
    """422 naming the offending field."""
    response = provider.admin(method, path, json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_hub_settings_point_at_the_issuer_with_the_demo_client(served):
    """The table names the base URL as issuer, the demo client and its private key."""
    table = hub_settings(served.url)
    assert table["url"] == served.url
    assert table["client_id"] == CLIENT_ID
    assert ECKey.import_key(table["private_key"]).is_private
