"""Structured logs (structlog) that never carry a national id, a name, a key or a token.

Whatever a developer passes to a logger goes through `redact` before it is rendered,
and so do the records of other libraries (httpx, zeep, uvicorn), which are routed
through the same processors:

- values under sensitive keys (``national_id``, ``full_name``, ``token``, ``password``,
  any key naming a secret ...) are replaced;
- in every other string, runs of 9 or more digits (national ids, legacy cards,
  enterprise codes, licence numbers), JWTs and bearer credentials are replaced;
- the values of the call in progress (its query and the record it returned, names
  and addresses included) are replaced wherever they appear, as are the secrets of the
  configuration.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from hub._config import LoggingSettings

__all__ = [
    "configure_logging",
    "get_logger",
    "quiet_http_clients",
    "redact",
    "redacting",
    "register_secret",
    "scrub",
]

REDACTED = "[redacted]"

_SENSITIVE_KEY = re.compile(
    r"national_id|legacy_id|full_name|^name$|_name$|^names?$|token|secret|password|passphrase|"
    r"api_?key|private|authorization|cookie|credential|^code$|verifier|^nonce$|^state$|"
    r"subject|dob|date_of_birth|address|phone|email",
    re.IGNORECASE,
)
# Bounded by non-alphanumerics, so that hex request ids and hashes are left alone.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{9,}(?:-[0-9]{3})?(?![0-9A-Za-z])")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")

# Values of the call in progress; set by the hub around each call.
_call_values: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "hub_sensitive_values", default=frozenset()
)
_secrets: set[str] = set()
# Testing seam: each installed `hub.testing.LeakCheck` collects the values the hub marks
# sensitive; several may be installed at once (the suite's own and a test's).
_observers: list[set[str]] = []

# Shorter values (a sex, a two-letter code) are not identifying, and replacing them
# would make every log line unreadable.
_MIN_SENSITIVE_LENGTH = 4


def _identifying(text: str) -> bool:
    """Whether a value could identify someone: not a short word, not a code-list value.

    Statuses and enumerations ("deceased", "revoked", "female") are lowercase ASCII
    words; names, addresses and numbers are not.
    """
    text = text.strip()
    if len(text) < _MIN_SENSITIVE_LENGTH:
        return False
    return not (text.isascii() and text.isalpha() and text.islower())


def register_secret(value: str) -> None:
    """Never let this value (a key, a password, a client secret) reach a log line."""
    if len(value) >= _MIN_SENSITIVE_LENGTH:
        _secrets.add(value)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside nested mappings and sequences.

    A loop over a stack, not recursion: the values come from callers, and a query
    nested a thousand deep must not exhaust the interpreter's stack.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


@contextlib.contextmanager
def redacting(*values: Any) -> Iterator[None]:
    """Within this block, the strings found in ``values`` are scrubbed from every log line.

    Accepts strings, mappings and sequences (e.g. ``query.model_dump()``), nested.
    """
    found = {
        form
        for value in values
        for text in _strings(value)
        if _identifying(text)
        for form in (text, text.strip(), unicodedata.normalize("NFD", text))
    }
    for observed in _observers:
        observed.update(text.strip() for text in found)
    token = _call_values.set(_call_values.get() | found)
    try:
        yield
    finally:
        _call_values.reset(token)


def observe_sensitive(value: Any) -> None:
    """Tell an installed `hub.testing.LeakCheck` about personal values (a record's)."""
    if not _observers:
        return
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list | tuple):
        value = [
            item.model_dump(mode="json") if hasattr(item, "model_dump") else item for item in value
        ]
    found = {text.strip() for text in _strings(value) if _identifying(text)}
    for observed in _observers:
        observed.update(found)


def scrub(text: str) -> str:
    """Remove identifiers, tokens, secrets and the current call's values from a text."""
    for value in sorted(_call_values.get() | _secrets, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _LONG_NUMBER.sub(REDACTED, text)


def _clean(key: str, value: Any) -> Any:
    if _SENSITIVE_KEY.search(key) and value is not None:
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(key, item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(repr(value))


# Keys whose values are safe as they are: added by structlog and the stdlib bridge, or
# identifiers of the call itself, which operations need intact to trace it.
_STRUCTURAL_KEYS = frozenset(
    {"level", "timestamp", "logger", "logger_name", "request_id", "audit_id"}
)


def redact(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """The structlog processor that makes a log line safe to write."""
    return {
        key: value if key in _STRUCTURAL_KEYS else _clean("event" if key == "event" else key, value)
        for key, value in event_dict.items()
    }


# Attributes of a stdlib LogRecord, which ``extra`` may not overwrite.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _to_stdlib(logger: WrappedLogger, method: str, event_dict: EventDict) -> Any:
    """Hand a redacted event to the stdlib logger: the event as message, the rest as extra."""
    event = str(event_dict.pop("event", ""))
    extra = {
        (f"{key}_" if key in _RECORD_ATTRIBUTES else key): value
        for key, value in event_dict.items()
    }
    return (event,), {"extra": extra}


def get_logger(name: str) -> Any:
    """A logger whose lines are redacted however the application configured logging.

    The hub's own events are redacted here, before they reach the stdlib logger, so
    that a portal that never calls `configure_logging` (Django and Flask set up
    logging themselves) still cannot leak through them.
    """
    return structlog.wrap_logger(
        logging.getLogger(name),
        # Filtering first: a debug line nobody will see costs no redaction.
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            redact,
            _to_stdlib,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


_HANDLER_NAME = "hub"
#: The HTTP clients under the connectors: httpx writes every request at INFO, its URL
#: (and so a licence number or an enterprise code in it) included; zeep writes SOAP
#: envelopes at DEBUG.
_CLIENT_LOGGERS = ("httpx", "httpcore", "zeep")


def quiet_http_clients() -> None:
    """Keep the HTTP clients' lines out of the application's logs, below WARNING.

    The hub calls it when it starts, because a portal that sets up logging itself (at
    INFO, as Django and Flask do) would otherwise write every upstream URL; their
    warnings and errors still pass. A level the application set above WARNING stays.
    """
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def formatter(fmt: str) -> logging.Formatter:
    """A stdlib formatter rendering redacted lines as "json" or for people ("console")."""
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        # Plain tracebacks: rich's pretty ones print local variables, personal data included.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ExtraAdder(),
            structlog.processors.format_exc_info,
            redact,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def configure_logging(settings: LoggingSettings | None = None, *, stream: Any = None) -> None:
    """Render every log line (the hub's and other libraries') as JSON or for people.

    Records of other libraries (httpx, zeep, uvicorn) pass through the same redaction.

    Args:
        settings: Format ("json", "console", or "auto": console on a terminal) and level.
        stream: Where lines go; standard error by default.
    """
    settings = settings or LoggingSettings()
    stream = stream or sys.stderr
    fmt = settings.format
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace our own handler only: the application's (or a test runner's) stay.
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(settings.level.upper())
    # Request lines carry URLs, and so identifiers.
    for noisy in (*_CLIENT_LOGGERS, "aiohttp.access", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
