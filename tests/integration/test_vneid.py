"""The VNeID source end to end: the hub against the OpenID Connect mock over real HTTP.

A login is driven as a portal and a browser would: `Hub.authorization_request`, then
the authorize URL followed with ``login_hint`` (the mock's headless path) without
following its redirect, the code read from ``Location``, then `Hub.authenticate`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from lxml import html

from hub import Hub
from hub._registry import installed_mocks
from hub.connectors.vneid._connector import _token_error
from hub.errors import (
    ConfigError,
    DeadlineExceeded,
    HubError,
    InvalidQuery,
    Unauthenticated,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from hub.mocks._world import World
from hub.records import AuthorizationRequest, Citizen, VerifiedIdentity
from hub.testing import LeakCheck, ServedApp
from tests._helpers import FAST, PURPOSE, hub_settings, muted, population_source

# The same world as the population mock of tests/conftest.py: the same citizens.
SEED, CITIZENS = 1, 10_000
SOURCE = "vneid"
REDIRECT = "http://127.0.0.1:8000/callback"


@pytest.fixture(scope="module")
def vneid_mock() -> Iterator[ServedApp]:
    app = installed_mocks()[SOURCE].create_app(seed=SEED, citizens=CITIZENS)
    with ServedApp(app) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[httpx.Client]:
    """One client for the module: the citizen's browser (no redirect followed) and the admin's."""
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


class Provider:
    """The mock's admin surface: the shared one (as `MockAdmin`) and its own."""

    def __init__(self, served: ServedApp, http: httpx.Client, leaks: LeakCheck) -> None:
        self.url = served.url
        self._http = http
        self._leaks = leaks

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"{self.url}/_admin/{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def sample(self, n: int = 1, kind: str = "vneid_level2") -> list[str]:
        keys: list[str] = self._admin("GET", "sample", params={"n": n, "kind": kind})["keys"]
        self._leaks.add_values(keys)
        return keys

    def requests(self) -> int:
        count: int = self._admin("GET", "stats")["requests"]
        return count

    def fault(self, plan: dict[str, Any]) -> None:
        self._admin("PUT", "faults", json=plan)

    def move_clock(self, seconds: float) -> None:
        self._admin("PUT", "clock", json={"offset": seconds})

    def rotate_keys(self, *, drop_previous: bool) -> dict[str, Any]:
        answer: dict[str, Any] = self._admin(
            "POST", "rotate-keys", json={"drop_previous": drop_previous}
        )
        return answer

    def reset(self) -> None:
        self._admin("DELETE", "faults")
        self._admin("DELETE", "clock")


@pytest.fixture
def vneid(vneid_mock: ServedApp, browser: httpx.Client, leaks: LeakCheck) -> Iterator[Provider]:
    """The mock with no faults and its clock on time, before and after the test."""
    provider = Provider(vneid_mock, browser, leaks)
    provider.reset()
    yield provider
    provider.reset()


@pytest.fixture(scope="module")
def world() -> World:
    return World(SEED, CITIZENS)


def vneid_source(mock: ServedApp, **overrides: Any) -> dict[str, Any]:
    return {**installed_mocks()[SOURCE].hub_settings(mock.url), **FAST, **overrides}


@pytest.fixture
async def hub(tmp_path, vneid_mock):
    async with Hub(hub_settings(tmp_path, vneid=vneid_source(vneid_mock))) as h:
        yield h


class Login:
    """One login in progress: what the portal kept, and what came back to it."""

    def __init__(self, request: AuthorizationRequest, response: httpx.Response) -> None:
        self.request = request
        self.response = response
        self.back = httpx.URL(response.headers.get("location", ""))

    def credential(self, **overrides: Any) -> dict[str, Any]:
        """What the portal hands the hub: the code and the values it kept."""
        assert self.response.status_code == 302
        assert self.back.params["state"] == self.request.state
        return {
            "code": self.back.params["code"],
            "code_verifier": self.request.code_verifier,
            "nonce": self.request.nonce,
            "redirect_uri": self.request.redirect_uri,
            "level": int(self.request.level),
            **overrides,
        }


async def visit(browser: httpx.Client, method: str, url: str | httpx.URL, **kwargs: Any) -> Any:
    """A browser request, off the event loop the hub runs on, and out of the logs.

    The browser is not the hub: its URLs rightly carry the state, the nonce and the
    code, and the suite's leak check reads every line the HTTP library logs. The hub is
    idle meanwhile, so muting the library's loggers mutes only the browser.
    """
    with muted("httpx", "httpcore"):
        return await asyncio.to_thread(browser.request, method, url, **kwargs)


async def start_login(
    hub: Hub,
    browser: httpx.Client,
    leaks: LeakCheck,
    national_id: str,
    level: int = 2,
    redirect_uri: str = REDIRECT,
) -> Login:
    """The portal asks for the URL; the citizen's browser follows it (headless) once."""
    request = await hub.authorization_request(
        SOURCE, redirect_uri=redirect_uri, level=level, client=PURPOSE.client
    )
    url = httpx.URL(request.url).copy_add_param("login_hint", national_id)
    login = Login(request, await visit(browser, "GET", url))
    code = login.back.params.get("code")
    leaks.add_values(
        [request.state, request.nonce, request.code_verifier, *([code] if code else [])]
    )
    return login


async def test_a_citizen_logs_in_at_level_2(browser, hub, vneid, world, leaks):
    """The headless flow gives the citizen's verified identity, audited, at level 2."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    result = await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    identity = result.identity
    assert isinstance(identity, VerifiedIdentity)
    citizen = world.find_citizen(national_id)
    assert identity.national_id == national_id
    assert identity.level == 2
    assert identity.date_of_birth.compact() == citizen.date_of_birth
    assert identity.account_type == "CaNhan"
    assert identity.auth_time.tzinfo is not None
    assert national_id not in repr(identity)
    assert result.audit_id
    assert set(result.fields) == set(VerifiedIdentity.model_fields)


async def test_the_identity_is_the_population_registers_citizen(
    browser, tmp_path, vneid_mock, vneid, population_mock, world, leaks
):
    """Same seed, same world: the name and birth date agree with the population register."""
    settings = hub_settings(
        tmp_path,
        vneid=vneid_source(vneid_mock),
        population=population_source(population_mock),
    )
    # Some names come back in NFD from the registers on purpose; the hub gives NFC.
    nfd_names = vneid.sample(n=400, kind="nfd_name")
    national_id = next(key for key in nfd_names if world.vneid_level(key) == 2)
    async with Hub(settings) as hub:
        login = await start_login(hub, browser, leaks, national_id)
        identity = (await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)).identity
        looked_up = await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
    citizen = looked_up.record
    assert isinstance(citizen, Citizen)
    assert identity.full_name == citizen.full_name
    assert identity.date_of_birth == citizen.date_of_birth


async def test_a_partial_date_of_birth_stays_partial(browser, hub, vneid, world, leaks):
    """NgayThangNamSinh as YYYY or YYYYMM (the register knows no more) is not padded."""
    partial = vneid.sample(n=400, kind="partial_dob")
    national_id = next(key for key in partial if world.vneid_level(key) == 2)
    login = await start_login(hub, browser, leaks, national_id)
    identity = (await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)).identity
    assert identity.date_of_birth.day is None
    assert identity.date_of_birth.compact() == world.find_citizen(national_id).date_of_birth


async def test_the_subject_is_stable_across_logins(browser, hub, vneid, leaks):
    """Two logins of one citizen give one subject, which is not her number."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    subjects = []
    for _ in range(2):
        login = await start_login(hub, browser, leaks, national_id)
        result = await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
        subjects.append(result.identity.subject)
    assert subjects[0] == subjects[1]
    assert national_id not in subjects[0]


async def test_a_level_1_account_cannot_meet_level_2(browser, hub, vneid, leaks):
    """The provider grants LoA1; the hub refuses it for a level-2 procedure, audited."""
    (national_id,) = vneid.sample(kind="vneid_level1")
    login = await start_login(hub, browser, leaks, national_id, level=2)
    with pytest.raises(Unauthenticated, match="level 1; level 2 is required") as caught:
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert caught.value.audit_id


async def test_a_level_1_account_meets_level_1(browser, hub, vneid, leaks):
    """A level-1 procedure accepts the level-1 account."""
    (national_id,) = vneid.sample(kind="vneid_level1")
    login = await start_login(hub, browser, leaks, national_id, level=1)
    result = await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert result.identity.level == 1


async def test_a_level_2_procedure_refuses_a_level_1_login_of_a_level_2_account(
    browser, hub, vneid, leaks
):
    """The level required at authentication is checked, whatever the login asked for."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id, level=1)
    with pytest.raises(Unauthenticated, match="level 2 is required"):
        await hub.authenticate(SOURCE, login.credential(level=2), purpose=PURPOSE)


async def test_a_person_without_an_account_gets_no_code(browser, hub, vneid, world, leaks):
    """The deceased hold no VNeID account: the provider sends back access_denied."""
    deceased = [k for k in vneid.sample(n=50, kind="deceased") if world.vneid_level(k) == 0]
    login = await start_login(hub, browser, leaks, deceased[0])
    assert login.response.status_code == 302
    assert login.back.params["error"] == "access_denied"
    assert "code" not in login.back.params


async def test_the_authorization_request_carries_pkce_state_and_nonce(tmp_path, vneid_mock, vneid):
    """S256 challenge of the verifier, 32-byte state and nonce, fresh each time; metadata cached."""
    async with Hub(hub_settings(tmp_path, vneid=vneid_source(vneid_mock))) as hub:
        before = vneid.requests()
        first, second = [
            await hub.authorization_request(SOURCE, redirect_uri=REDIRECT, level=2, client="p")
            for _ in range(2)
        ]
        # The discovery document and the JWKS, each fetched once for both.
        assert vneid.requests() - before == 2
    params = httpx.URL(first.url).params
    digest = hashlib.sha256(first.code_verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert params["code_challenge_method"] == "S256"
    assert params["response_type"] == "code"
    assert params["scope"] == "openid"
    assert params["acr_values"] == "LoA2"
    assert params["redirect_uri"] == REDIRECT
    assert (params["state"], params["nonce"]) == (first.state, first.nonce)
    assert min(len(first.state), len(first.nonce)) >= 43  # 32 bytes in base64url
    assert {first.state, first.nonce, first.code_verifier}.isdisjoint(
        {second.state, second.nonce, second.code_verifier}
    )


async def test_an_authorization_request_for_level_3_is_refused(hub):
    """Levels are 1 and 2."""
    with pytest.raises(InvalidQuery) as caught:
        await hub.authorization_request(SOURCE, redirect_uri=REDIRECT, level=3, client="p")
    assert caught.value.fields == ["level"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code_verifier": "a-verifier-too-short"}, "query.code_verifier"),
        ({"level": 3}, "query.level"),
        ({"nonce": None}, "query.nonce"),
        ({"nonce": "short"}, "query.nonce"),
        ({"redirect_uri": "relative-redirect-uri"}, "query.redirect_uri"),
        ({"code": ""}, "query.code"),
        ({"code": "a b"}, "query.code"),
        ({"extra": "x"}, "query.extra"),
    ],
)
async def test_an_invalid_credential_never_reaches_the_provider(
    browser, hub, vneid, leaks, change, field
):
    """InvalidQuery naming the field, and the mock sees no request."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    credential = {
        name: value for name, value in login.credential(**change).items() if value is not None
    }
    before = vneid.requests()
    with pytest.raises(InvalidQuery) as caught:
        await hub.authenticate(SOURCE, credential, purpose=PURPOSE)
    assert field in caught.value.fields
    assert vneid.requests() == before


async def test_a_code_is_spent_once(browser, hub, vneid, leaks):
    """The second presentation of a code is refused."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    with pytest.raises(Unauthenticated, match="authorization code") as caught:
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert caught.value.audit_id


async def test_a_wrong_code_verifier_is_refused(browser, hub, vneid, leaks):
    """PKCE: another login's verifier does not open this code."""
    first, second = vneid.sample(n=2, kind="vneid_level2")
    login = await start_login(hub, browser, leaks, first)
    other = await start_login(hub, browser, leaks, second)
    credential = login.credential(code_verifier=other.request.code_verifier)
    with pytest.raises(Unauthenticated, match="authorization code"):
        await hub.authenticate(SOURCE, credential, purpose=PURPOSE)


async def test_an_expired_code_is_refused(browser, hub, vneid, leaks):
    """A code presented after its minute is refused.

    The mock's clock moves 75 s on: past the code's 60 s, within the 60 s (and 30 s of
    leeway) of the hub's client assertion, so that it is the code that is refused.
    """
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    vneid.move_clock(75)
    with pytest.raises(Unauthenticated, match="authorization code"):
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)


async def test_a_wrong_client_key_is_refused(browser, tmp_path, vneid_mock, vneid, leaks):
    """A hub signing its assertions with a key the provider does not know is refused."""
    stranger = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
    source = vneid_source(vneid_mock, private_key=stranger)
    (national_id,) = vneid.sample(kind="vneid_level2")
    async with Hub(hub_settings(tmp_path, vneid=source)) as hub:
        login = await start_login(hub, browser, leaks, national_id)
        with pytest.raises(UpstreamError, match="client credentials"):
            await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)


async def test_a_client_registered_for_rs256_logs_in_with_rs256_pinned(
    browser, tmp_path, vneid_mock, vneid, leaks
):
    """The client the provider signs RS256 ID tokens for, with RS256 pinned: the login succeeds."""
    source = vneid_source(vneid_mock, client_id="lienthong-demo-rs256", id_token_alg="RS256")
    (national_id,) = vneid.sample(kind="vneid_level2")
    async with Hub(hub_settings(tmp_path, vneid=source)) as hub:
        login = await start_login(hub, browser, leaks, national_id)
        result = await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert result.identity.national_id == national_id


@pytest.mark.parametrize(
    ("client_id", "pinned", "signed"),
    [("lienthong-demo-rs256", "ES256", "RS256"), ("lienthong-demo", "RS256", "ES256")],
)
async def test_an_id_token_in_another_algorithm_than_the_pinned_one_is_refused(
    browser, tmp_path, vneid_mock, vneid, leaks, client_id, pinned, signed
):
    """Each client accepts the one algorithm pinned in its settings, whatever the provider
    may also publish keys for."""
    source = vneid_source(vneid_mock, client_id=client_id, id_token_alg=pinned)
    (national_id,) = vneid.sample(kind="vneid_level2")
    async with Hub(hub_settings(tmp_path, vneid=source)) as hub:
        login = await start_login(hub, browser, leaks, national_id)
        with pytest.raises(Unauthenticated, match=f"not signed with {pinned}"):
            await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)


@pytest.mark.parametrize(
    "key", ["not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"]
)
async def test_a_client_key_that_is_no_ec_key_is_a_config_error(tmp_path, vneid_mock, key):
    """The setting is named; the value is not repeated."""
    source = vneid_source(vneid_mock, private_key=key)
    with pytest.raises(ConfigError, match=r"sources\.vneid: private_key") as caught:
        async with Hub(hub_settings(tmp_path, vneid=source)):
            pass
    assert key not in str(caught.value)


@pytest.mark.parametrize(
    "variant",
    [
        "alg_none",
        "unknown_key",
        "bad_signature",
        "expired",
        "wrong_audience",
        "wrong_nonce",
        "wrong_issuer",
        "malformed",
    ],
)
async def test_a_hostile_id_token_is_refused(browser, hub, vneid, leaks, variant):
    """Unsigned, foreign-key, badly signed, expired, misaddressed, replayed or garbled: refused."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    vneid.fault({"kind": "hostile_token", "variant": variant, "count": 1})
    with pytest.raises(Unauthenticated) as caught:
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert caught.value.audit_id
    leaks.add(str(caught.value))


async def test_an_unknown_kid_fetches_the_keys_again_once(browser, hub, vneid, leaks):
    """An ID token under an unpublished kid: one more JWKS fetch, then refused."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    vneid.fault({"kind": "hostile_token", "variant": "unknown_key", "count": 1})
    before = vneid.requests()
    with pytest.raises(Unauthenticated, match="does not publish"):
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert vneid.requests() - before == 2  # the token request, and the JWKS once


async def test_a_rotated_key_is_fetched_when_the_old_one_is_dropped(browser, hub, vneid, leaks):
    """After a rotation that drops the cached key, the new kid is fetched and the login succeeds."""
    first, second = vneid.sample(n=2, kind="vneid_level2")
    login = await start_login(hub, browser, leaks, first)
    await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    rotated = vneid.rotate_keys(drop_previous=True)
    assert rotated["published"] == rotated["current"]
    login = await start_login(hub, browser, leaks, second)
    before = vneid.requests()
    result = await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert result.identity.national_id == second
    assert vneid.requests() - before == 2  # the token request, and the new JWKS


async def test_a_503_at_the_token_endpoint_is_not_retried_and_the_code_survives(
    browser, hub, vneid, leaks
):
    """A one-time code is never presented twice by the hub; the portal may try again."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    vneid.fault({"kind": "status", "status": 503, "count": 2})
    before = vneid.requests()
    with pytest.raises(UpstreamUnavailable):
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert vneid.requests() - before == 1
    with pytest.raises(UpstreamUnavailable):
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    result = await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert result.identity.national_id == national_id


async def test_a_429_hands_its_retry_after_to_the_caller(browser, hub, vneid, leaks):
    """Not retried by the hub (the exchange is not idempotent): the caller learns when to return."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    vneid.fault({"kind": "status", "status": 429, "retry_after": 7, "count": 1})
    before = vneid.requests()
    with pytest.raises(UpstreamUnavailable) as caught:
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert caught.value.retry_after == 7
    assert vneid.requests() - before == 1


def test_a_token_request_refused_as_invalid_is_upstream_rejected():
    """invalid_request from the token endpoint is UpstreamRejected, still an InvalidQuery.

    The hub only sends well-formed exchanges, which the mock never refuses so: the
    provider's answer is built here.
    """
    error = _token_error(httpx.Response(400, json={"error": "invalid_request"}))
    assert type(error) is UpstreamRejected
    assert isinstance(error, InvalidQuery)
    assert error.status == 422


@pytest.mark.parametrize("kind", ["malformed", "wrong_content_type"])
async def test_an_unusable_token_answer_is_an_upstream_error(browser, hub, vneid, leaks, kind):
    """Garbage JSON or an HTML page from the token endpoint is UpstreamError."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(hub, browser, leaks, national_id)
    vneid.fault({"kind": kind, "count": 1})
    with pytest.raises(UpstreamError):
        await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)


async def test_a_provider_that_never_answers_is_cut_by_the_deadline(
    browser, tmp_path, vneid_mock, vneid, leaks
):
    """The token endpoint holds the request forever; the hub's deadline ends the call."""
    source = vneid_source(vneid_mock, deadline=1.0, attempt_timeout=0.4)
    (national_id,) = vneid.sample(kind="vneid_level2")
    async with Hub(hub_settings(tmp_path, vneid=source)) as hub:
        login = await start_login(hub, browser, leaks, national_id)
        vneid.fault({"kind": "timeout", "count": 1})
        with pytest.raises((DeadlineExceeded, UpstreamUnavailable)):
            await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)


async def test_the_login_page_leads_to_an_identity(browser, hub, vneid, world, leaks):
    """Without login_hint: the page's form, posted with a level-2 citizen, gives a usable code."""
    request = await hub.authorization_request(
        SOURCE, redirect_uri=REDIRECT, level=2, client=PURPOSE.client
    )
    leaks.add_values([request.state, request.nonce, request.code_verifier])
    page = await visit(browser, "GET", request.url)
    assert page.status_code == 200
    (form,) = html.fromstring(page.text).forms
    offered = [option.get("value") for option in form.xpath(".//select[@name='login_hint']/option")]
    chosen = next(key for key in offered if world.vneid_level(key) == 2)
    response = await visit(
        browser,
        "POST",
        httpx.URL(vneid.url).join(form.action),
        data={**dict(form.form_values()), "login_hint": chosen, "level": "LoA2"},
    )
    login = Login(request, response)
    leaks.add_values([login.back.params["code"]])
    result = await hub.authenticate(SOURCE, login.credential(), purpose=PURPOSE)
    assert result.identity.national_id == chosen


async def test_an_unregistered_redirect_uri_is_refused_by_the_provider(browser, hub, vneid, leaks):
    """The provider answers 400 and redirects nowhere."""
    (national_id,) = vneid.sample(kind="vneid_level2")
    login = await start_login(
        hub, browser, leaks, national_id, redirect_uri="https://evil.example/cb"
    )
    assert login.response.status_code == 400
    assert "location" not in login.response.headers


async def test_health_reports_the_provider_up(hub):
    """The discovery document answers."""
    assert (await hub.health())[SOURCE].status == "up"


async def test_errors_name_no_code_token_or_person(browser, hub, vneid, leaks):
    """The details of refused logins hold none of the login's values."""
    (national_id,) = vneid.sample(kind="vneid_level1")
    details: list[HubError] = []
    login = await start_login(hub, browser, leaks, national_id)
    for credential in (
        login.credential(),  # level 1 against level 2
        login.credential(),  # the code again
        login.credential(code="forged-code"),
    ):
        with pytest.raises(Unauthenticated) as caught:
            await hub.authenticate(SOURCE, credential, purpose=PURPOSE)
        details.append(caught.value)
    secrets = {
        national_id,
        login.back.params["code"],
        login.request.code_verifier,
        login.request.nonce,
    }
    for error in details:
        text = f"{error} {error!r}"
        leaks.add(text)
        assert not any(secret in text for secret in secrets)
