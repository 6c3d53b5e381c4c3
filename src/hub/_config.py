"""The hub's configuration and every default, in one place.

A configuration is a TOML file plus ``HUB_``-prefixed environment variables, the
environment winning (``HUB_AUDIT__NODE=hue-1``, ``HUB_SOURCES__POPULATION__URL=...``).
Secrets are written as ``env:NAME`` or ``file:PATH`` and resolved at load time into
``SecretStr`` values, so that they never show in a repr, a log line or an error.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
import warnings
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub._patterns import NODE_PATTERN

# Under a private name, so that the old path `hub._config.ConfigError` reaches the
# module's __getattr__ and its deprecation warning.
from hub.errors import ConfigError as _ConfigError

__all__ = [
    "AuditSettings",
    "BreakerSettings",
    "CacheSettings",
    "ClientSettings",
    "HubSettings",
    "LimitSettings",
    "LoggingSettings",
    "RetrySettings",
    "SecretRef",
    "SidecarSettings",
    "SourceRule",
    "SourceSettings",
    "TlsSettings",
    "VerificationSettings",
    "load_settings",
]

#: Where the embedded default keeps its state (audit database, development keys).
DEFAULT_DATA_DIR = Path("var")
DEFAULT_CONFIG_FILE = Path("hub.toml")
CONFIG_ENV = "HUB_CONFIG"

# Defaults that are not settings: each bounds the hub's own machinery, not an upstream
# or a deployment, so no operator has a reason to tune it. Named here, beside the
# settings, so that every default is in one place.

#: Seconds a source's health check may take before the source is reported down. Only
#: reports (``hub sources``, /readyz's ``degraded``) read it; traffic does not wait on it.
HEALTH_TIMEOUT = 2.0
#: Seconds /readyz waits for the audit store's check; past it the store is reported
#: down and the sidecar not ready, so that a probe never hangs on a hanging store.
READINESS_TIMEOUT = 1.0
#: Seconds a retry needs, at least, before the call's deadline: one that could not
#: finish is not started, and the call ends with the error of the last attempt.
MIN_ATTEMPT_SECONDS = 0.05
#: Seconds a caller is told to wait (Retry-After) when the breaker is half open and
#: its ``half_open_probes`` are all in flight; their outcome decides what it then finds.
PROBE_RETRY_AFTER = 1.0
#: Batches of audit entries handed to the store and not yet committed, at most: the
#: next batch is sent while one commits, and a slow store holds no longer queue.
AUDIT_COMMITS_IN_FLIGHT = 2
#: Seconds a closing trail gives its witnesses to cosign the final checkpoint (a quorum
#: of them). A stop waits no longer for a witness that is down: it gets the checkpoint
#: at the next start.
FINAL_COSIGN_SECONDS = 5.0


def resolve_secret(value: object) -> object:
    """Resolve ``env:NAME`` and ``file:PATH`` references; other values pass unchanged."""
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        return value
    if value.startswith("env:"):
        name = value.removeprefix("env:")
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return SecretStr(os.environ[name])
    if value.startswith("file:"):
        path = Path(value.removeprefix("file:")).expanduser()
        try:
            return SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    return SecretStr(value)


#: A secret given inline, as ``env:NAME`` or as ``file:PATH``; always held as SecretStr.
SecretRef = Annotated[SecretStr, BeforeValidator(resolve_secret)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySettings(_Section):
    """Retries of idempotent reads: exponential backoff with full jitter."""

    #: Attempts of one call at most, the first included; 1 means no retry.
    attempts: int = Field(default=4, ge=1, le=20)
    #: Seconds: the scale of the random wait before the first retry, doubling with each.
    backoff_initial: float = Field(default=0.1, gt=0)
    #: Seconds: the longest random wait between two attempts.
    backoff_max: float = Field(default=2.0, gt=0)
    #: The longest Retry-After the hub will honour; a longer one ends the retries.
    retry_after_max: float = Field(default=5.0, ge=0)


class BreakerSettings(_Section):
    """The circuit breaker: failure rate over a sliding time window."""

    window: float = Field(default=30.0, gt=0, description="seconds of history")
    min_calls: int = Field(default=10, ge=1, description="calls before the rate counts")
    #: The share of failed calls in the window (connect errors, timeouts, unusable
    #: answers; not a not-found or a refused query) that opens the breaker.
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    open_for: float = Field(default=15.0, gt=0, description="seconds before a probe")
    #: Calls let through once ``open_for`` has passed; a failure reopens the breaker,
    #: that many successes close it.
    half_open_probes: int = Field(default=2, ge=1)


class LimitSettings(_Section):
    """Concurrency and size limits of one source."""

    concurrency: int = Field(default=64, ge=1, description="calls in flight at once")
    max_wait: float = Field(default=1.0, ge=0, description="seconds to wait for a slot")
    #: Connections to the upstream open at once, in use or idle.
    max_connections: int = Field(default=100, ge=1)
    #: Idle connections kept open for reuse.
    max_keepalive: int = Field(default=32, ge=0)
    #: The largest answer body read (after decompression); a larger one is an
    #: UpstreamError, cut off before it fills memory.
    max_response_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)


class TlsSettings(_Section):
    """TLS towards one upstream: a private CA, and a client certificate for mutual TLS."""

    #: Check the upstream's certificate; false is for a test bed only.
    verify: bool = True
    #: CA certificates (PEM) to check the upstream's certificate with, instead of the
    #: system's.
    ca_file: Path | None = None
    #: The hub's client certificate (PEM), for upstreams that require mutual TLS.
    client_cert: Path | None = None
    #: The private key (PEM) of ``client_cert``, when it is not in the same file.
    client_key: Path | None = None
    #: The password of ``client_key``, when it is encrypted.
    client_key_password: SecretRef | None = None


class SourceSettings(_Section):
    """What every source is configured with; a connector's ``Settings`` adds its own."""

    #: The upstream's endpoint or base URL (http:// or https://).
    url: str
    #: A disabled source keeps its table but is not opened: it is as if not configured.
    enabled: bool = True
    #: The whole call, retries and their waits included.
    deadline: float = Field(default=10.0, gt=0)
    #: One attempt; a slow attempt is cut and retried while the deadline allows.
    attempt_timeout: float = Field(default=4.0, gt=0)
    #: Seconds to open a connection, within an attempt.
    connect_timeout: float = Field(default=2.0, gt=0)
    #: "aiohttp" (httpx over the aiohttp transport, the default) or httpx's "native" one.
    transport: Literal["aiohttp", "native"] = "aiohttp"
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    limits: LimitSettings = LimitSettings()
    tls: TlsSettings = TlsSettings()

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value


class WitnessSettings(_Section):
    """One witness of the trail (``[audit.witnesses.NAME]``): where it is, how to check it."""

    #: Its submission prefix: ``POST <url>/add-checkpoint``.
    url: str = Field(pattern=r"^https?://")
    #: Its verifier key (vkey, type 0x04), as ``hub audit witness vkey`` prints it.
    public_key: str

    @field_validator("public_key")
    @classmethod
    def _cosigner_vkey(cls, value: str) -> str:
        from hub.audit.note import COSIGNATURE, NoteError, Verifier

        try:
            kind = Verifier.from_vkey(value).kind
        except NoteError as exc:
            raise ValueError(str(exc)) from None
        if kind != COSIGNATURE:
            raise ValueError("a witness's vkey is a cosignature key (type 0x04)")
        return value


class AuditSettings(_Section):
    """The audit trail. Without an ``[audit]`` section the embedded default applies."""

    #: ``sqlite:///path/to/audit.db`` or ``postgresql://...``; None means audit.db in
    #: the data directory (``data_dir``).
    #: A secret: a DSN may hold a password.
    store: SecretRef | None = None
    #: Ed25519 private key (PEM); None means a development key under the data dir.
    signing_key: SecretRef | None = None
    #: Key of the HMAC that pseudonymises subjects; None means a development key.
    pseudonym_key: SecretRef | None = None
    #: Key of the HMAC chained over every entry, so that an entry no checkpoint covers
    #: yet is still provably the hub's; None means a development key.
    mac_key: SecretRef | None = None
    #: Public keys (PEM, or ``file:``/``env:``) whose checkpoints `hub audit verify`
    #: accepts; the key of ``signing_key`` is always trusted.
    trusted_keys: list[SecretRef] = Field(default_factory=list)
    #: Allow development keys (made under the data directory) on a shared PostgreSQL
    #: trail, where every replica must hold the same keys. For trials only.
    development: bool = False
    #: A signed checkpoint is made after this many new entries ...
    checkpoint_every: int = Field(default=1000, ge=1)
    #: ... or, when there are new entries, this many seconds after the one before.
    checkpoint_seconds: float = Field(default=10.0, gt=0)
    #: This replica's name; each node keeps its own tree. Defaults to the host name.
    node: str = Field(default_factory=socket.gethostname, pattern=NODE_PATTERN)
    #: Development only: answer even when the trail cannot take the entry (logged loudly).
    fail_open: bool = False
    #: The longest a caller waits for its entry to be durable before AuditUnavailable.
    append_timeout: float = Field(default=5.0, gt=0)
    #: Entries committed together at most, in one transaction.
    batch_max: int = Field(default=1024, ge=1)
    #: Checkpoints are C2SP signed notes whose origin (and key name) is this prefix,
    #: a slash and the node: one origin per writer.
    origin_prefix: str = Field(
        default="lienthong.example.gov.vn/audit", pattern=r"^[^\s+]+[^\s+/]$"
    )
    #: Witnesses each new checkpoint is submitted to (in the background), by name.
    witnesses: dict[str, WitnessSettings] = Field(default_factory=dict)
    #: Cosignatures that make a checkpoint witnessed; None means every witness's.
    witness_quorum: int | None = Field(default=None, ge=1)
    #: Seconds a signed checkpoint may wait for its cosignatures before an alarm.
    witness_max_lag: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _quorum(self) -> AuditSettings:
        if self.witness_quorum is not None and self.witness_quorum > len(self.witnesses):
            raise ValueError("witness_quorum is larger than the number of witnesses")
        return self

    @property
    def quorum(self) -> int:
        """The cosignatures a witnessed checkpoint needs."""
        return self.witness_quorum if self.witness_quorum is not None else len(self.witnesses)


class CacheSettings(_Section):
    """The optional look-up cache: records encrypted (AES-GCM) under keyed-hash keys."""

    #: Keep answered records for reuse by later look-ups of the same query.
    enabled: bool = False
    #: Seconds a record stays; keep it short, registers change.
    ttl: float = Field(default=60.0, gt=0, le=3600)
    #: At least 32 bytes of secret (any text); required when the cache is enabled.
    #: Replicas sharing a Redis cache must share it.
    key: SecretRef | None = None
    #: Entries kept in memory when there is no Redis.
    max_entries: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _key_when_enabled(self) -> CacheSettings:
        if self.enabled and (self.key is None or len(self.key.get_secret_value()) < 32):
            raise ValueError("an enabled cache needs a key of at least 32 characters")
        return self


class VerificationSettings(_Section):
    """Bounds on verification, so that it cannot be used to guess a fact field by field.

    The verifications of one subject by one client that the register refutes are counted
    over a sliding window; once ``max_mismatches`` are counted, that client's further
    verifications of that subject are refused (429, with Retry-After) until the oldest
    leaves the window. An attempt counts while it is in flight, so that concurrent
    guesses cannot slip past the bound.
    """

    #: Apply the bound; false lets a client verify without limit.
    enabled: bool = True
    #: Refuted verifications of one subject by one client counted before refusing.
    max_mismatches: int = Field(default=5, ge=1)
    #: Seconds over which refuted verifications are counted.
    window: float = Field(default=3600.0, gt=0)


class SidecarSettings(_Section):
    """The sidecar service (``hub serve``)."""

    #: The address to listen on; "0.0.0.0" listens on every IPv4 interface.
    host: str = "127.0.0.1"
    #: The port to listen on; 0 lets the system choose one.
    port: int = Field(default=8080, ge=0, le=65535)
    #: Request bodies above this are refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    #: TLS for the service itself; with ``tls_client_ca`` clients present certificates
    #: signed by that CA, and a client is known by its certificate's common name.
    tls_cert: Path | None = None
    #: The private key (PEM) of ``tls_cert``, when it is not in the same file.
    tls_key: Path | None = None
    #: CA certificates (PEM) that sign the clients' certificates. A client may then
    #: authenticate with a certificate instead of a key.
    tls_client_ca: Path | None = None
    #: Readiness results are reused this long, so probes never storm the upstreams.
    readiness_cache_seconds: float = Field(default=5.0, ge=0)
    #: Seconds a request's headers may take to arrive (from its first byte, or from the
    #: connection's opening); a client still sending them then gets 408.
    header_timeout: float = Field(default=10.0, gt=0)
    #: Seconds a request's body may take to arrive after its headers; then 408.
    body_timeout: float = Field(default=10.0, gt=0)
    #: Connections (and requests in progress) one worker serves at once; a request
    #: beyond them is answered 503 at once.
    max_connections: int = Field(default=1000, ge=1)
    #: In-flight requests get this long to finish on shutdown.
    shutdown_grace: float = Field(default=10.0, ge=0)
    #: Worker processes sharing the listening socket, each with its own hub and audit
    #: writer slot; "auto" means one per core. Without ``redis_url``, rate limits,
    #: breakers and the cache are per worker (each client's rate is divided among them).
    #: At most 256, the writer slots a host has.
    workers: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] = 1

    @property
    def worker_count(self) -> int:
        """The number of worker processes ``workers`` asks for."""
        if self.workers == "auto":
            return min(os.cpu_count() or 1, 256)
        return self.workers


class LoggingSettings(_Section):
    """The hub's log lines: structured, and never holding personal data or secrets."""

    #: "json" for production, "console" for people; "auto" picks console on a terminal.
    format: Literal["auto", "json", "console"] = "auto"
    #: The least severe level written.
    level: Literal["debug", "info", "warning", "error"] = "info"


#: An absolute http(s) URL of printable ASCII, without a fragment (RFC 6749, 3.1.2).
_REDIRECT_URI = re.compile(r"^https?://[\x21-\x22\x24-\x7e]{1,2040}$")


class SourceRule(_Section):
    """What one client may do with one source."""

    #: The operations the client may call on the source; none by default.
    operations: list[Literal["lookup", "verify", "authenticate"]] = Field(default_factory=list)
    #: The record fields the client may see; None (omitted) means every field.
    fields: list[str] | None = None
    #: For a source that authenticates (vneid): the only ``redirect_uri`` values this
    #: client may name in an authorization request, compared exactly. Default: none.
    redirect_uris: list[str] = Field(default_factory=list)

    @field_validator("redirect_uris")
    @classmethod
    def _absolute_urls(cls, uris: list[str]) -> list[str]:
        if not all(_REDIRECT_URI.fullmatch(uri) for uri in uris):
            raise ValueError("each must be an absolute http(s) URL of printable ASCII, no fragment")
        return uris


class ClientSettings(_Section):
    """A client of the hub (a portal), and what it may do. Default deny."""

    #: SHA-256 (hex) of the client's API key; the key itself is never stored. One
    #: client per key.
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    #: For mutual TLS: the common name of the client's certificate, whose subject must
    #: hold exactly one CN, equal to this. One client per name.
    certificate_cn: str | None = None
    #: "inspector" may read audit proofs; "citizen-portal" gets an access-history
    #: ticket with each VNeID login of a citizen, and may read her history with it.
    roles: list[Literal["inspector", "citizen-portal"]] = Field(default_factory=list)
    #: The agency's name as a citizen reads it in her access history, e.g.
    #: "UBND xã Gia Viễn"; None shows the client's name.
    title: str | None = Field(default=None, min_length=1, max_length=200)
    sources: dict[str, SourceRule] = Field(default_factory=dict)
    #: Token bucket: sustained requests per second and burst; None means unlimited.
    rate: float | None = Field(default=None, gt=0)
    #: The requests the bucket holds: how many may come at once after a quiet spell.
    #: None (with ``rate`` set) means ``rate``, rounded up.
    burst: int | None = Field(default=None, ge=1)
    #: A revoked client keeps its rules on record but cannot authenticate.
    revoked: bool = False


class CitizenSettings(_Section):
    """What a citizen sees of the trail: her access history, read with a ticket."""

    #: Seconds an access-history ticket is valid after the login that made it.
    ticket_seconds: float = Field(default=600.0, gt=0, le=86_400)
    #: The VNeID level of assurance a login needs to yield a ticket (and a ticket to
    #: be accepted): 2 by default, the level of an identity checked in person.
    level: int = Field(default=2, ge=1, le=2)


class HubSettings(BaseSettings):
    """The whole configuration of one hub (library, command line or sidecar)."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    #: Where the hub keeps its own files: the default SQLite audit trail, development
    #: keys, each audit writer's newest checkpoint (``audit-state/``).
    data_dir: Path = DEFAULT_DATA_DIR
    #: Per source: the table validated by that connector's ``Settings`` when the hub
    #: starts. The values its ``Settings`` declares secret are held as SecretStr from
    #: here; ``env:`` and ``file:`` references are resolved when the hub starts.
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    audit: AuditSettings = AuditSettings()
    logging: LoggingSettings = LoggingSettings()
    #: The clients and their rules. With none configured, a library caller may use
    #: every configured source (it is its own only client); the sidecar needs them.
    clients: dict[str, ClientSettings] = Field(default_factory=dict)
    #: Redis, shared by replicas: breaker state, the cache, rate limits, verification
    #: bounds. None: memory. A secret: the URL may hold a password.
    redis_url: SecretRef | None = None
    cache: CacheSettings = CacheSettings()
    verification: VerificationSettings = VerificationSettings()
    sidecar: SidecarSettings = SidecarSettings()
    citizen: CitizenSettings = CitizenSettings()
    #: Administrative procedures' names by code, shown in a citizen's access history:
    #: ``"1.001757" = "Đăng ký thường trú"``.
    procedures: dict[str, str] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _source_secrets(cls, sources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # The hub never imports a concrete connector: its Settings come by entry point.
        from hub._registry import installed_connectors

        connectors = installed_connectors() if sources else {}
        typed = {}
        for name, table in sources.items():
            connector = connectors.get(name)
            # A source not installed is refused when the hub starts, naming it.
            typed[name] = table if connector is None else _secrets_typed(table, connector.Settings)
        return typed

    @field_validator("clients")
    @classmethod
    def _one_client_per_credential(
        cls, clients: dict[str, ClientSettings]
    ) -> dict[str, ClientSettings]:
        # Otherwise the client a credential stands for would depend on the file's order.
        for credential in ("key_sha256", "certificate_cn"):
            holders: dict[str, str] = {}
            for name, client in clients.items():
                value = getattr(client, credential)
                if value is None:
                    continue
                if value in holders:
                    raise ValueError(
                        f"clients {holders[value]} and {name} have the same {credential}"
                    )
                holders[value] = name
        return clients

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init values; the environment overrides them.
        return (env_settings, init_settings)


def _secrets_typed(table: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The table with each value that ``model`` declares a secret held as a SecretStr.

    An ``env:`` or ``file:`` reference names a secret without being one: it stays as
    written and is resolved when the hub starts, so that a command that never opens
    the source (``hub audit verify``) does not need its secrets. Nested tables (``tls``)
    are followed into the models their fields declare; every other value is left for
    ``model`` to validate when the hub starts.
    """
    typed = dict(table)
    for name, field in model.model_fields.items():
        value = typed.get(name)
        kinds = _kinds(field.annotation)
        if SecretStr in kinds:
            if isinstance(value, str) and not value.startswith(("env:", "file:")):
                typed[name] = SecretStr(value)
            continue
        nested = [kind for kind in kinds if isinstance(kind, type) and issubclass(kind, BaseModel)]
        if nested and isinstance(value, dict):
            typed[name] = _secrets_typed(value, nested[0])
    return typed


def _kinds(annotation: Any) -> list[Any]:
    """The types an annotation admits: the members of a union, without their metadata."""
    if get_origin(annotation) is Annotated:
        return _kinds(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return [kind for member in get_args(annotation) for kind in _kinds(member)]
    return [annotation]


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> HubSettings:
    """Load the TOML file at ``path`` (or ``$HUB_CONFIG``, or ./hub.toml if present).

    Args:
        path: The configuration file; None looks in the usual places and falls back
            to the embedded default (no sources, SQLite audit under ./var).
        overrides: Top-level values that replace the file's (used by tests and tools).

    Raises:
        ConfigError: the file is unreadable or a value is invalid; the message names
            the setting, never a secret.
    """
    file = _find_config(path)
    values: dict[str, Any] = {}
    if file is not None:
        try:
            values = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise _ConfigError(f"cannot read {file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise _ConfigError(f"{file} is not valid TOML: {exc}") from None
        base = file.parent
        if "data_dir" in values and not Path(values["data_dir"]).is_absolute():
            values["data_dir"] = str(base / values["data_dir"])
    values.update(overrides)
    try:
        return HubSettings(**values)
    except ValidationError as exc:
        raise _ConfigError(
            describe_validation_error(exc, where=str(file or "configuration"))
        ) from None


def describe_validation_error(exc: ValidationError, *, where: str) -> str:
    """A one-line summary naming each invalid setting, never echoing its value."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    return f"{where}: " + "; ".join(problems)


def _find_config(path: str | os.PathLike[str] | None) -> Path | None:
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise _ConfigError(f"configuration file {file} does not exist")
        return file
    if env := os.environ.get(CONFIG_ENV):
        return _find_config(env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def __getattr__(name: str) -> Any:
    # ConfigError moved to hub.errors; its old path keeps working for one release.
    if name == "ConfigError":
        warnings.warn(
            "hub._config.ConfigError is deprecated: import ConfigError from hub.errors",
            DeprecationWarning,
            stacklevel=2,
        )
        return _ConfigError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
