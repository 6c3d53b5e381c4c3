"""Authlib, as a portal's relying party would use it, against the VNeID mock.

The relying party is Authlib's own: its framework-independent app classes (the ones its
Flask and Django integrations are made of) on its requests session, so that discovery,
PKCE, the ``private_key_jwt`` assertion and the ID token's checks are all Authlib's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OAuthError, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jws
from joserfc.jwk import ECKey

from hub.mocks.vneid import create_app, hub_settings
from hub.testing import LeakCheck, ServedApp

REDIRECT = "http://127.0.0.1:8765/callback"
ES256_CLIENT = "lienthong-demo"
RS256_CLIENT = "lienthong-demo-rs256"


class _NoFramework:
    """Authlib's apps hand refreshed tokens to their web framework; here nobody keeps them."""

    def update_token(self, token: Any, refresh_token: Any = None, access_token: Any = None) -> None:
        return None


class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):  # type: ignore[misc]
    """Authlib's OpenID Connect client app, as its Flask integration composes it."""

    client_cls = OAuth2Session


@pytest.fixture(scope="module")
def provider() -> Iterator[ServedApp]:
    with ServedApp(create_app(seed=5, citizens=2_000), lifespan="off") as served:
        yield served


def relying_party(provider: ServedApp, client_id: str = ES256_CLIENT) -> RelyingParty:
    """A relying party registered at the mock, with the demo client's key.

    The one setting beyond the defaults is the assertion's algorithm: Authlib signs
    RS256 by default, and the demo client's key is an EC P-256 key.
    """
    key = ECKey.import_key(hub_settings(provider.url)["private_key"])
    return RelyingParty(
        _NoFramework(),
        name="vneid",
        client_id=client_id,
        client_secret=key,
        server_metadata_url=f"{provider.url}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "private_key_jwt",
        },
        client_auth_methods=[PrivateKeyJWT(alg="ES256")],
    )


def sample(provider: ServedApp, leaks: LeakCheck, kind: str = "vneid_level2") -> str:
    answer = httpx.get(f"{provider.url}/_admin/sample", params={"kind": kind}).json()
    leaks.add_values(answer["keys"])
    national_id: str = answer["keys"][0]
    return national_id


def log_in(rp: RelyingParty, national_id: str, **params: str) -> tuple[dict[str, Any], str]:
    """The authorization request Authlib makes, followed as the citizen's browser would."""
    started = rp.create_authorization_url(redirect_uri=REDIRECT, login_hint=national_id, **params)
    location = httpx.get(started["url"], follow_redirects=False).headers["location"]
    back = httpx.URL(location).params
    assert back["state"] == started["state"]
    return started, back["code"]


def test_the_discovery_document_passes_authlibs_validation(provider):
    """OIDC Discovery 1.0 as Authlib checks it: RS256 among the ID token algorithms, and more."""
    rp = relying_party(provider)
    metadata = {k: v for k, v in rp.load_server_metadata().items() if k != "_loaded_at"}
    OpenIDProviderMetadata(metadata).validate()


def test_a_login_end_to_end_with_authlibs_defaults(provider, leaks):
    """PKCE S256, Authlib's private_key_jwt assertion (it lives an hour) and its ID token checks."""
    rp = relying_party(provider)
    national_id = sample(provider, leaks)
    started, code = log_in(rp, national_id, acr_values="LoA2")
    assert httpx.URL(started["url"]).params["code_challenge_method"] == "S256"
    token = rp.fetch_access_token(
        redirect_uri=REDIRECT, code=code, code_verifier=started["code_verifier"]
    )
    claims = rp.parse_id_token(token, nonce=started["nonce"])
    assert jws.extract_compact(token["id_token"].encode()).headers()["alg"] == "ES256"
    assert claims["SoDinhDanh"] == national_id
    assert claims["acr"] == "LoA2"


def test_a_client_registered_for_rs256_gets_rs256_id_tokens(provider, leaks):
    """A client whose registered id_token_signed_response_alg is RS256 gets RS256 tokens,
    under an RSA key the JWKS publishes, and Authlib validates them."""
    rp = relying_party(provider, RS256_CLIENT)
    national_id = sample(provider, leaks)
    started, code = log_in(rp, national_id)
    token = rp.fetch_access_token(
        redirect_uri=REDIRECT, code=code, code_verifier=started["code_verifier"]
    )
    claims = rp.parse_id_token(token, nonce=started["nonce"])
    assert jws.extract_compact(token["id_token"].encode()).headers()["alg"] == "RS256"
    assert claims["SoDinhDanh"] == national_id


def test_unknown_acr_values_are_a_voluntary_request(provider, leaks):
    """acr_values the provider does not know are no error: the citizen logs in at the best
    level her account has, and acr says which."""
    rp = relying_party(provider)
    national_id = sample(provider, leaks)
    started, code = log_in(rp, national_id, acr_values="urn:example:loa:substantial")
    token = rp.fetch_access_token(
        redirect_uri=REDIRECT, code=code, code_verifier=started["code_verifier"]
    )
    assert rp.parse_id_token(token, nonce=started["nonce"])["acr"] == "LoA2"


def test_a_client_that_tried_http_basic_is_challenged_with_basic(provider, leaks):
    """RFC 6749 5.2: the 401 of a client that authenticated with HTTP Basic names Basic."""
    rp = relying_party(provider)
    national_id = sample(provider, leaks)
    started, code = log_in(rp, national_id)
    answers: list[Any] = []
    with OAuth2Session(
        ES256_CLIENT, "not-a-secret", token_endpoint_auth_method="client_secret_basic"
    ) as session:
        session.hooks["response"].append(lambda response, **_: answers.append(response))
        with pytest.raises(OAuthError) as refused:
            session.fetch_token(
                f"{provider.url}/token",
                code=code,
                redirect_uri=REDIRECT,
                code_verifier=started["code_verifier"],
            )
    assert refused.value.error == "invalid_client"
    (answer,) = answers
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].split()[0] == "Basic"
