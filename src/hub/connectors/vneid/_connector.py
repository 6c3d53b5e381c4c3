"""Translate between the hub and VNeID's OpenID Connect provider.

The flow is the authorization code flow with PKCE (S256). The portal sends the citizen
to the URL of `VneidConnector.authorization_request` and keeps its state, nonce and
code verifier; when she comes back with a code, `VneidConnector.authenticate`
exchanges it (the hub authenticating itself with ``private_key_jwt``) and checks the
ID token before anything in it is believed. The discovery document and the JWKS are
cached; an ID token under an unknown ``kid`` makes the JWKS be fetched again, once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, Never, TypeVar

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from hub._config import SecretRef
from hub.connector import (
    Call,
    Connector,
    Health,
    HealthStatus,
    Operation,
    Query,
    SourceSettings,
    check_status,
    json_body,
)
from hub.connectors.vneid._id_token import (
    ASSERTION_ALGORITHM,
    SOURCE,
    IdTokenAlgorithm,
    SigningKey,
    identity,
    signing_key_id,
    verify_id_token,
)
from hub.errors import HubError, Unauthenticated, UpstreamError, UpstreamRejected
from hub.records import AssuranceLevel, AuthorizationRequest, VerifiedIdentity

__all__ = ["VneidConnector", "VneidCredential", "VneidSettings"]

T = TypeVar("T")

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# A client assertion is used once, at once: it needs to live no longer than this.
_ASSERTION_SECONDS = 60
# Statuses that mean "come back later", whatever the endpoint.
_RETRY_LATER = frozenset({429, 502, 503, 504})
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")
# Per ID token algorithm: what its JWKS entries are, and their public members.
_KEY_KINDS: dict[str, tuple[dict[str, str], tuple[str, ...], type[ECKey] | type[RSAKey]]] = {
    "ES256": ({"kty": "EC", "crv": "P-256"}, ("kty", "crv", "x", "y", "kid"), ECKey),
    "RS256": ({"kty": "RSA"}, ("kty", "n", "e", "kid"), RSAKey),
}
# RSA keys shorter than this are refused (NIST SP 800-131A).
_MIN_RSA_BITS = 2048
_JSON = {"Accept": "application/json"}


def _absolute_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an absolute http(s) URL")
    return value


_Url = Annotated[str, AfterValidator(_absolute_url)]


def load_client_key(pem: SecretStr) -> ECKey:
    """The hub's client key, from PEM; ``ValueError`` (without the key) if it is not one.

    Args:
        pem: An EC P-256 private key, PEM (PKCS#8 or SEC 1).
    """
    message = "must be an EC P-256 private key in PEM"
    try:
        key = ECKey.import_key(pem.get_secret_value())
    except (JoseError, ValueError, TypeError):
        raise ValueError(message) from None
    if not key.is_private or key.curve_name != "P-256":
        raise ValueError(message)
    key.ensure_kid()
    return key


class VneidSettings(SourceSettings):
    """``[sources.vneid]``: the provider's issuer (``url``) and the hub's registered client.

    Args:
        url: The issuer; its discovery document is at ``{url}/.well-known/openid-configuration``.
        client_id: The hub's client id at the provider.
        private_key: The client's EC P-256 private key (PEM), for ``private_key_jwt``.
        id_token_alg: The algorithm of the ID tokens, as the client is registered at the
            provider (its ``id_token_signed_response_alg``): ES256 (VNeID's) or RS256.
            Only that one is accepted.
        clock_skew: Seconds of clock difference tolerated on the ID token's times.
        metadata_ttl: Seconds the discovery document and the JWKS are kept.
    """

    client_id: str = Field(min_length=1, max_length=255)
    private_key: SecretRef
    id_token_alg: IdTokenAlgorithm = "ES256"  # noqa: S105 - an algorithm's name
    clock_skew: int = Field(default=60, ge=0, le=300)
    metadata_ttl: float = Field(default=3600.0, gt=0)

    @field_validator("private_key")
    @classmethod
    def _an_ec_key(cls, value: SecretStr) -> SecretStr:
        load_client_key(value)
        return value


# A URL on the wire is printable ASCII: no spaces, line breaks or NULs to carry along.
_URL_CHARACTERS = re.compile(r"[\x21-\x7e]+")


def _redirect_uri(value: str) -> str:
    if (
        not value.startswith(("https://", "http://"))
        or "#" in value
        or not _URL_CHARACTERS.fullmatch(value)
    ):
        raise ValueError("must be an absolute http(s) URL without a fragment or spaces")
    return value


class VneidCredential(Query):
    """What the portal hands back after the citizen's login: the code and what it kept.

    ``code_verifier``, ``nonce`` and ``redirect_uri`` are those of the
    `AuthorizationRequest` the login started from; ``level`` is the level of assurance
    the procedure requires (1 or 2).
    """

    code: str = Field(min_length=1, max_length=2048, pattern=r"^[\x21-\x7e]+$")
    code_verifier: str = Field(pattern=r"^[A-Za-z0-9._~-]{43,128}$")
    nonce: str = Field(min_length=16, max_length=512, pattern=r"^[\x21-\x7e]+$")
    redirect_uri: Annotated[str, Field(max_length=2048), AfterValidator(_redirect_uri)]
    level: AssuranceLevel

    @field_validator("level", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: object) -> object:
        # Left to pydantic, true would pass for 1: a wrong type must not pick a level.
        if isinstance(value, bool):
            raise ValueError("must be 1 or 2")
        return value

    def subject(self) -> str | None:
        """Nobody yet: the person is known once the ID token is checked."""
        return None


class _ProviderMetadata(BaseModel):
    """The parts of the discovery document the flow needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    issuer: _Url
    authorization_endpoint: _Url
    token_endpoint: _Url
    jwks_uri: _Url
    id_token_signing_alg_values_supported: list[str]


class _TokenAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id_token: str = Field(min_length=1, max_length=16_384)
    token_type: str


@dataclass(frozen=True, slots=True)
class _Cached(Generic[T]):
    value: T
    expires: float

    def fresh(self) -> bool:
        return time.monotonic() < self.expires


def _s256(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _signing_keys(data: Any, algorithm: IdTokenAlgorithm) -> list[SigningKey]:
    """The provider's signing keys for ``algorithm`` in a JWKS (public halves only); others
    are ignored."""
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UpstreamError("the provider's JWKS is malformed", source=SOURCE)
    kind, members, key_class = _KEY_KINDS[algorithm]
    keys: list[SigningKey] = []
    for entry in entries:
        if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in kind.items()):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", algorithm) != algorithm:
            continue
        public = {name: entry[name] for name in members if name in entry}
        try:
            key = key_class.import_key(public)
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, RSAKey) and key.raw_value.key_size < _MIN_RSA_BITS:
            continue
        keys.append(key)
    return keys


def _pick(keys: list[SigningKey], kid: str | None) -> SigningKey | None:
    if kid is None:
        # A provider with a single key may leave the kid out (OIDC Core 10.1).
        return keys[0] if len(keys) == 1 else None
    return next((key for key in keys if key.kid == kid), None)


def _token_error(response: httpx.Response) -> HubError:
    """The typed error for a token endpoint's 400 or 401 (RFC 6749, 5.2)."""
    error = None
    try:
        body = json_body(response, source=SOURCE)
    except UpstreamError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error = body["error"] if _OAUTH_ERROR.fullmatch(body["error"]) else "unknown"
    if error == "invalid_grant":
        return Unauthenticated(
            "the provider refused the authorization code: used, expired, "
            "or not issued for this redirect URI and code verifier",
            source=SOURCE,
        )
    if error in ("invalid_client", "unauthorized_client"):
        # The hub's own client, not the citizen: a bad answer from upstream for the portal.
        return UpstreamError("the provider refused the hub's client credentials", source=SOURCE)
    if error == "invalid_request":
        return UpstreamRejected("the provider refused the token request as invalid", source=SOURCE)
    return UpstreamError(
        f"the provider refused the token request ({error or response.status_code})",
        source=SOURCE,
    )


class VneidConnector(Connector[VneidSettings, Never]):
    """VNeID: electronic identification of a citizen at level 1 or 2, by OpenID Connect."""

    name: ClassVar[str] = SOURCE
    title: ClassVar[str] = "VNeID electronic identification"
    operations = frozenset({Operation.AUTHENTICATE})
    Settings = VneidSettings
    Record = VerifiedIdentity
    Credential = VneidCredential

    def __init__(self, settings: VneidSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._issuer = settings.url.rstrip("/")
        self._discovery_url = self._issuer + DISCOVERY_PATH
        self._key = load_client_key(settings.private_key)
        self._metadata: _Cached[_ProviderMetadata] | None = None
        self._jwks: _Cached[list[SigningKey]] | None = None
        # One fetch at a time: concurrent logins share it instead of each fetching.
        self._metadata_lock = asyncio.Lock()
        self._jwks_lock = asyncio.Lock()

    async def authorization_request(
        self, redirect_uri: str, level: AssuranceLevel
    ) -> AuthorizationRequest:
        """Where to send the citizen, with fresh state, nonce and PKCE verifier.

        The JWKS is fetched here too, so that the keys are at hand (or their absence
        known) before the citizen logs in and her one-time code is spent.

        Args:
            redirect_uri: The portal's address the provider sends the citizen back to.
            level: The level of assurance the procedure requires.
        """
        provider = await self._provider()
        await self._key_set()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": _s256(verifier),
            "code_challenge_method": "S256",
            "acr_values": f"LoA{level.value}",
        }
        url = httpx.URL(provider.authorization_endpoint).copy_merge_params(params)
        return AuthorizationRequest(
            url=str(url),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            level=level,
        )

    async def authenticate(self, credential: VneidCredential, call: Call) -> VerifiedIdentity:
        # The discovery document and the keys first: a failure there leaves the code unspent.
        provider = await self._provider()
        await self._key_set()
        token = await self._exchange(provider, credential)
        algorithm = self.settings.id_token_alg
        key = await self._signing_key(signing_key_id(token, algorithm))
        claims = verify_id_token(
            token,
            key,
            algorithm=algorithm,
            issuer=provider.issuer,
            client_id=self.settings.client_id,
            nonce=credential.nonce,
            skew=self.settings.clock_skew,
            now=int(time.time()),
        )
        return identity(claims, credential.level)

    async def health(self) -> Health:
        response = await self.http.get(self._discovery_url, headers=_JSON)
        if response.status_code != 200:
            return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")
        try:
            document = json_body(response, source=SOURCE)
        except UpstreamError:
            return Health(status=HealthStatus.DOWN, detail="the discovery document is not JSON")
        issuer = document.get("issuer") if isinstance(document, dict) else None
        if not isinstance(issuer, str) or issuer.rstrip("/") != self._issuer:
            return Health(
                status=HealthStatus.DOWN, detail="the discovery document names another issuer"
            )
        return Health(status=HealthStatus.UP)

    # The provider's metadata and keys.

    async def _get_json(self, url: str, what: str) -> Any:
        response = await self.http.get(url, headers=_JSON)
        if response.status_code in _RETRY_LATER:
            check_status(response, source=SOURCE)
        if response.status_code != 200:
            raise UpstreamError(
                f"the provider answered {response.status_code} for its {what}", source=SOURCE
            )
        return json_body(response, source=SOURCE)

    async def _provider(self) -> _ProviderMetadata:
        cached = self._metadata
        if cached is not None and cached.fresh():
            return cached.value
        async with self._metadata_lock:
            cached = self._metadata
            if cached is not None and cached.fresh():
                return cached.value
            data = await self._get_json(self._discovery_url, "discovery document")
            try:
                metadata = _ProviderMetadata.model_validate(data)
            except ValidationError:
                raise UpstreamError(
                    "the provider's discovery document is invalid", source=SOURCE
                ) from None
            if metadata.issuer.rstrip("/") != self._issuer:
                raise UpstreamError(
                    "the provider's discovery document names another issuer", source=SOURCE
                )
            algorithm = self.settings.id_token_alg
            if algorithm not in metadata.id_token_signing_alg_values_supported:
                raise UpstreamError(
                    f"the provider does not sign ID tokens with {algorithm}", source=SOURCE
                )
            self._metadata = _Cached(metadata, time.monotonic() + self.settings.metadata_ttl)
            return metadata

    async def _key_set(self, *, stale: list[SigningKey] | None = None) -> list[SigningKey]:
        """The provider's signing keys, cached; ``stale``: a set known to lack a key."""
        cached = self._jwks
        if cached is not None and cached.fresh() and cached.value is not stale:
            return cached.value
        provider = await self._provider()
        async with self._jwks_lock:
            # Another login may have fetched them while this one waited.
            cached = self._jwks
            if cached is not None and cached.fresh() and cached.value is not stale:
                return cached.value
            data = await self._get_json(provider.jwks_uri, "JWKS")
            keys = _signing_keys(data, self.settings.id_token_alg)
            self._jwks = _Cached(keys, time.monotonic() + self.settings.metadata_ttl)
            return keys

    async def _signing_key(self, kid: str | None) -> SigningKey:
        keys = await self._key_set()
        key = _pick(keys, kid)
        if key is None:
            # The provider may have rotated its keys since they were fetched: fetch once more.
            key = _pick(await self._key_set(stale=keys), kid)
        if key is None:
            raise Unauthenticated(
                "the ID token is signed with a key the provider does not publish", source=SOURCE
            )
        return key

    # The code exchange.

    def _client_assertion(self, audience: str) -> str:
        """A single-use ``private_key_jwt`` assertion for the token endpoint (RFC 7523)."""
        now = int(time.time())
        client_id = self.settings.client_id
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + _ASSERTION_SECONDS,
            "jti": secrets.token_urlsafe(24),
        }
        header = {"alg": ASSERTION_ALGORITHM, "typ": "JWT", "kid": self._key.kid}
        return jwt.encode(header, claims, self._key, algorithms=[ASSERTION_ALGORITHM])

    async def _exchange(self, provider: _ProviderMetadata, credential: VneidCredential) -> str:
        """Spend the code; return the ID token of the answer."""
        form = {
            "grant_type": "authorization_code",
            "code": credential.code,
            "redirect_uri": credential.redirect_uri,
            "code_verifier": credential.code_verifier,
            "client_id": self.settings.client_id,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": self._client_assertion(provider.token_endpoint),
        }
        response = await self.http.post(provider.token_endpoint, data=form, headers=_JSON)
        status = response.status_code
        if status in (400, 401):
            raise _token_error(response)
        if status in _RETRY_LATER:
            check_status(response, source=SOURCE)
        if status != 200:
            raise UpstreamError(f"the provider's token endpoint answered {status}", source=SOURCE)
        try:
            answer = _TokenAnswer.model_validate(json_body(response, source=SOURCE))
        except ValidationError:
            raise UpstreamError(
                "the provider's token answer carries no usable ID token", source=SOURCE
            ) from None
        if answer.token_type.lower() != "bearer":
            raise UpstreamError("the provider's token answer is not of type Bearer", source=SOURCE)
        return answer.id_token
