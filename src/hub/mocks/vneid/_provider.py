"""The OpenID Connect provider: authorization, code exchange, ID tokens, user info.

What VNeID checks, the mock checks: PKCE with S256 only, client authentication by
``private_key_jwt`` with single-use assertions, single-use short-lived codes bound to
their client, redirect URI and code challenge. Errors are those of RFC 6749. ID tokens
are signed with the algorithm the client registered (``id_token_signed_response_alg``:
ES256, as VNeID does, or RS256, which OpenID Connect requires a provider to offer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from starlette.datastructures import URL

from hub.mocks._world import Citizen, World
from hub.mocks.vneid._keys import (
    DEMO_CLIENT_ID,
    DEMO_RS256_CLIENT_ID,
    ID_TOKEN_ALGORITHMS,
    SigningKeys,
    demo_client_key,
    rogue_key,
)

V = TypeVar("V")

#: The provider's levels of assurance, as ``acr`` values.
LEVELS = {"LoA1": 1, "LoA2": 2}
#: LoaiTaiKhoan of a citizen's own account (as opposed to an organisation's).
ACCOUNT_TYPE = "CaNhan"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CODE_SECONDS = 60
ID_TOKEN_SECONDS = 600
ACCESS_TOKEN_SECONDS = 600
#: A client assertion may live this long at most (RFC 7523 lets a server refuse an expiry
#: unreasonably far ahead), which bounds the memory of used jtis. An hour is what
#: Authlib, among others, signs by default.
MAX_ASSERTION_SECONDS = 3600
ASSERTION_LEEWAY = 30
DEMO_REDIRECT_URIS = (
    "https://dichvucong.example.vn/vneid/callback",
    "http://127.0.0.1/callback",
    "http://localhost/callback",
    # The access-history page that `hub serve --mocks` serves under /demo/.
    "http://127.0.0.1/demo/callback",
    "http://localhost/demo/callback",
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_NATIONAL_ID = re.compile(r"[0-9]{12}")
_MAX_PARAMETER = 512
_STORE_CAP = 200_000
_METADATA_CACHE = 16


class OidcError(Exception):
    """An error answered as RFC 6749 says: an error code, a description, an HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class AuthorizationError(OidcError):
    """An authorization error sent back to the client's redirect URI."""

    def __init__(
        self, error: str, description: str, *, redirect_uri: str, state: str | None
    ) -> None:
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state

    def location(self) -> str:
        return redirect_location(self.redirect_uri, {**self.body(), "state": self.state})


class Refusal(Exception):
    """An authorization request that must not be redirected: unknown client or redirect URI."""


def redirect_location(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """The redirect URI with ``params`` added to its query (None values left out)."""
    kept = {name: value for name, value in params.items() if value is not None}
    return str(URL(redirect_uri).include_query_params(**kept))


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of a verifier (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Client:
    """A registered client: its id, the public key of its assertions, its redirect URIs,
    and the algorithm of its ID tokens (its ``id_token_signed_response_alg``)."""

    client_id: str
    key: ECKey
    redirect_uris: tuple[str, ...]
    id_token_alg: str = "ES256"  # noqa: S105 - an algorithm's name

    def accepts(self, redirect_uri: str) -> bool:
        """An exact match; a loopback URI may name any port (RFC 8252, 7.3)."""
        if redirect_uri in self.redirect_uris:
            return True
        try:
            url = urlsplit(redirect_uri)
            url.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            return False
        host = url.hostname or ""
        if url.scheme != "http" or host not in _LOOPBACK or url.fragment:
            return False
        netloc = f"[{host}]" if ":" in host else host
        return urlunsplit(("http", netloc, url.path, url.query, "")) in self.redirect_uris


@dataclass(frozen=True)
class AuthRequest:
    """A validated authorization request."""

    client: Client
    redirect_uri: str
    state: str | None
    nonce: str
    code_challenge: str
    level: int

    def error(self, error: str, description: str) -> AuthorizationError:
        return AuthorizationError(
            error, description, redirect_uri=self.redirect_uri, state=self.state
        )


@dataclass
class Grant:
    """What an authorization code stands for, until it is exchanged (once)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    index: int
    level: int
    auth_time: int
    access_token: str | None = None


class _Expiring(Generic[V]):
    """Entries that lapse: purged oldest first, and never more than a fixed number."""

    def __init__(self, cap: int = _STORE_CAP) -> None:
        self._items: dict[str, tuple[float, V]] = {}
        self._cap = cap

    def put(self, key: str, value: V, expires: float, now: float) -> None:
        while self._items:
            oldest = next(iter(self._items))
            if self._items[oldest][0] > now and len(self._items) < self._cap:
                break
            del self._items[oldest]
        self._items[key] = (expires, value)

    def get(self, key: str, now: float) -> V | None:
        item = self._items.get(key)
        if item is None or item[0] <= now:
            return None
        return item[1]

    def discard(self, key: str) -> None:
        self._items.pop(key, None)


def _single(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    return value


class Provider:
    """The provider's state and rules; the HTTP layer is in ``_app``.

    Args:
        world: The citizens who may hold accounts (`Citizen.vneid_level`).
        clock: Seconds since the epoch; the admin surface can shift it to age codes.
    """

    def __init__(self, world: World, clock: Callable[[], float] = time.time) -> None:
        self.world = world
        self.keys = SigningKeys(world.seed)
        self.clock_offset = 0.0
        self._clock = clock
        demo = ECKey.import_key(demo_client_key().as_dict(private=False))
        self.clients = {
            DEMO_CLIENT_ID: Client(DEMO_CLIENT_ID, demo, DEMO_REDIRECT_URIS),
            DEMO_RS256_CLIENT_ID: Client(DEMO_RS256_CLIENT_ID, demo, DEMO_REDIRECT_URIS, "RS256"),
        }
        self._subject_key = hashlib.sha256(f"vneid-subject:{world.seed}".encode()).digest()
        self._codes: _Expiring[Grant] = _Expiring()
        self._access: _Expiring[int] = _Expiring()
        self._jtis: _Expiring[bool] = _Expiring()
        self._metadata: dict[str, dict[str, Any]] = {}
        self._accounts: list[tuple[Citizen, int]] | None = None

    def now(self) -> float:
        return self._clock() + self.clock_offset

    # Discovery.

    def metadata(self, issuer: str) -> dict[str, Any]:
        """The discovery document of the provider at ``issuer``."""
        document = self._metadata.get(issuer)
        if document is None:
            document = {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks",
                "scopes_supported": ["openid"],
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGORITHMS),
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
                "code_challenge_methods_supported": ["S256"],
                "acr_values_supported": list(LEVELS),
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "nonce",
                    "acr",
                    "SoDinhDanh",
                    "HoVaTen",
                    "NgayThangNamSinh",
                    "LoaiTaiKhoan",
                ],
                "claims_parameter_supported": False,
                "request_parameter_supported": False,
            }
            if len(self._metadata) < _METADATA_CACHE:
                self._metadata[issuer] = document
        return document

    # Authorization.

    def authorization(self, params: Mapping[str, str]) -> AuthRequest:
        """Validate an authorization request.

        Raises:
            Refusal: the client or its redirect URI is unknown: nothing may be redirected.
            AuthorizationError: any other fault, to be sent back to the redirect URI.
        """
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise Refusal("client_id names no registered client")
        redirect_uri = params.get("redirect_uri", "")
        if not client.accepts(redirect_uri):
            raise Refusal("redirect_uri is not registered for this client")
        state = _single(params, "state")
        request = AuthRequest(client, redirect_uri, state, "", "", 1)
        if state is not None and len(state) > _MAX_PARAMETER:
            raise request.error("invalid_request", "state is too long")
        if params.get("response_type") != "code":
            raise request.error("unsupported_response_type", "response_type must be code")
        if "openid" not in params.get("scope", "").split():
            raise request.error("invalid_scope", "scope must include openid")
        if params.get("code_challenge_method") != "S256":
            raise request.error(
                "invalid_request", "PKCE is required with code_challenge_method S256 (not plain)"
            )
        challenge = params.get("code_challenge", "")
        if not _CHALLENGE.fullmatch(challenge):
            raise request.error("invalid_request", "code_challenge must be an S256 challenge")
        nonce = _single(params, "nonce")
        if nonce is None or len(nonce) > _MAX_PARAMETER:
            raise request.error("invalid_request", "nonce is required")
        # A voluntary request (OIDC Core 3.1.2.1): values the provider does not know are
        # ignored, and with none it knows the citizen logs in at the best level she can.
        values = params.get("acr_values", "LoA1").split()
        asked = [LEVELS[value] for value in values if value in LEVELS] or list(LEVELS.values())
        return AuthRequest(client, redirect_uri, state, nonce, challenge, max(asked))

    def login(self, request: AuthRequest, national_id: str, level: int) -> str:
        """A citizen logs in at ``level`` (or her account's, if lower); the redirect with a code.

        Raises:
            AuthorizationError: ``access_denied`` for a person without an account.
        """
        citizen = None
        if _NATIONAL_ID.fullmatch(national_id):
            citizen = self.world.find_citizen(national_id)
        if citizen is None or citizen.vneid_level == 0:
            raise request.error("access_denied", "this person has no VNeID account")
        now = self.now()
        code = secrets.token_urlsafe(32)
        grant = Grant(
            client_id=request.client.client_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            nonce=request.nonce,
            index=citizen.index,
            level=min(level, citizen.vneid_level),
            auth_time=int(now),
        )
        self._codes.put(code, grant, now + CODE_SECONDS, now)
        return redirect_location(request.redirect_uri, {"code": code, "state": request.state})

    def accounts(self) -> list[tuple[Citizen, int]]:
        """The citizens offered on the login page, with their account level (0: none)."""
        if self._accounts is None:
            keys = [
                *self.world.sample("vneid_level2", 3),
                *self.world.sample("vneid_level1", 2),
                *self.world.sample("deceased", 1),
            ]
            citizens = [self.world.find_citizen(key) for key in keys]
            self._accounts = [(c, c.vneid_level) for c in citizens if c is not None]
        return self._accounts

    # The token endpoint.

    def exchange(
        self, issuer: str, form: Mapping[str, str], *, hostile: str | None = None
    ) -> dict[str, Any]:
        """Exchange an authorization code for tokens.

        Args:
            issuer: The provider's issuer (its base URL as the client reached it).
            form: The token request's parameters.
            hostile: A variant of the ``hostile_token`` fault: the ID token to spoil.

        Raises:
            OidcError: ``invalid_client``, ``invalid_grant``, ``invalid_request`` or
                ``unsupported_grant_type``.
        """
        now = self.now()
        client = self._authenticate_client(f"{issuer}/token", form, now)
        if form.get("grant_type") != "authorization_code":
            raise OidcError("unsupported_grant_type", "grant_type must be authorization_code")
        code = form.get("code", "")
        grant = self._codes.get(code, now) if code else None
        if grant is None or grant.client_id != client.client_id:
            raise OidcError("invalid_grant", "the code is unknown, expired or not this client's")
        if grant.access_token is not None:
            # A code presented twice: refuse it, and revoke what it gave (RFC 6749, 4.1.2).
            self._access.discard(grant.access_token)
            raise OidcError("invalid_grant", "the code has already been used")
        if form.get("redirect_uri") != grant.redirect_uri:
            self._codes.discard(code)
            raise OidcError("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), grant.code_challenge
        ):
            self._codes.discard(code)
            raise OidcError("invalid_grant", "code_verifier does not match the code_challenge")
        access_token = secrets.token_urlsafe(32)
        grant.access_token = access_token
        self._access.put(access_token, grant.index, now + ACCESS_TOKEN_SECONDS, now)
        citizen = self.world.citizen(grant.index)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": "openid",
            "id_token": self._id_token(issuer, client, grant, citizen, now, hostile),
        }

    def _authenticate_client(
        self, token_endpoint: str, form: Mapping[str, str], now: float
    ) -> Client:
        """The client that signed the request's assertion (``private_key_jwt``).

        Its failures are 400s: the client used no HTTP authentication scheme that a 401
        could name in its challenge (RFC 6749, 5.2).
        """
        if form.get("client_assertion_type") != JWT_BEARER:
            raise OidcError("invalid_client", "client authentication must be private_key_jwt")
        assertion = form.get("client_assertion", "")
        try:
            claimed = json.loads(jws.extract_compact(assertion.encode()).payload)
        except (JoseError, ValueError):
            raise OidcError("invalid_client", "client_assertion is not a signed JWT") from None
        issuer = claimed.get("iss") if isinstance(claimed, dict) else None
        client = self.clients.get(issuer) if isinstance(issuer, str) else None
        if client is None or form.get("client_id", client.client_id) != client.client_id:
            raise OidcError("invalid_client", "client_assertion names no registered client")
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=ASSERTION_LEEWAY,
            iss={"essential": True, "value": client.client_id},
            sub={"essential": True, "value": client.client_id},
            aud={"essential": True, "value": token_endpoint},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            token = jwt.decode(assertion, client.key, algorithms=["ES256"])
            registry.validate(token.claims)
        except (JoseError, ValueError):
            raise OidcError("invalid_client", "client_assertion does not verify") from None
        if token.claims["exp"] > now + MAX_ASSERTION_SECONDS + ASSERTION_LEEWAY:
            raise OidcError("invalid_client", "client_assertion must expire within an hour")
        jti = f"{client.client_id}:{token.claims['jti']}"
        if self._jtis.get(jti, now):
            raise OidcError("invalid_client", "client_assertion has been used before")
        self._jtis.put(jti, True, float(token.claims["exp"]) + ASSERTION_LEEWAY, now)
        return client

    def subject(self, national_id: str) -> str:
        """The citizen's stable pseudonymous ``sub``: it reveals nothing of her number."""
        return hmac.new(self._subject_key, national_id.encode(), hashlib.sha256).hexdigest()[:32]

    def _id_token(
        self,
        issuer: str,
        client: Client,
        grant: Grant,
        citizen: Citizen,
        now: float,
        hostile: str | None,
    ) -> str:
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": self.subject(citizen.national_id),
            "aud": client.client_id,
            "exp": issued + ID_TOKEN_SECONDS,
            "iat": issued,
            "auth_time": grant.auth_time,
            "nonce": grant.nonce,
            "acr": f"LoA{grant.level}",
            **personal_claims(citizen),
        }
        algorithm = client.id_token_alg
        key = self.keys.current[algorithm]
        header: dict[str, Any] = {"alg": algorithm, "kid": key.kid, "typ": "JWT"}
        if hostile == "alg_none":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # joserfc warns that "none" is insecure: we know
                return jwt.encode({"alg": "none", "typ": "JWT"}, claims, None, algorithms=["none"])  # type: ignore[arg-type]
        if hostile == "unknown_key":
            key = rogue_key(algorithm)
            header["kid"] = key.kid
        elif hostile == "bad_signature":
            key = rogue_key(algorithm)
        elif hostile == "expired":
            claims.update(iat=issued - 2 * ID_TOKEN_SECONDS, exp=issued - ID_TOKEN_SECONDS)
        elif hostile == "wrong_audience":
            claims["aud"] = "another-portal"
        elif hostile == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(32)
        elif hostile == "wrong_issuer":
            claims["iss"] = "https://vneid.invalid"
        token = jwt.encode(header, claims, key, algorithms=[algorithm])
        if hostile == "malformed":
            head, _, signature = token.split(".")
            return f"{head}.not*base64.{signature}"
        return token

    # User info.

    def userinfo(self, authorization: str | None) -> dict[str, Any]:
        """The personal claims for a bearer access token.

        Raises:
            OidcError: ``invalid_token`` (401) for a missing, unknown or expired token.
        """
        scheme, _, token = (authorization or "").partition(" ")
        index = None
        if scheme.lower() == "bearer" and token.strip():
            index = self._access.get(token.strip(), self.now())
        if index is None:
            raise OidcError("invalid_token", "the access token is missing, unknown or expired", 401)
        citizen = self.world.citizen(index)
        return {"sub": self.subject(citizen.national_id), **personal_claims(citizen)}


def personal_claims(citizen: Citizen) -> dict[str, str]:
    """The provider's own claims, named as it names them.

    NgayThangNamSinh is YYYYMMDD, or YYYYMM / YYYY where the population register knows
    only part of the date; HoVaTen is as the register holds it (NFD for some citizens).
    """
    return {
        "SoDinhDanh": citizen.national_id,
        "HoVaTen": citizen.full_name,
        "NgayThangNamSinh": citizen.date_of_birth,
        "LoaiTaiKhoan": ACCOUNT_TYPE,
    }
