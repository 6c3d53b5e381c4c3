"""Liên thông: one identity-and-lookup interface over Vietnam's national systems.

A look-up, made for a purpose and answered with its audit id::

    from hub import Hub, Purpose

    async with Hub.from_config("hub.toml") as hub:
        purpose = Purpose(client="portal-ninhbinh", officer="cb.0042",
                          procedure="1.001757", dossier="H37.22-240315-0001")
        result = await hub.lookup("population", {"national_id": "037090001234"},
                                  purpose=purpose)
        result.record, result.audit_id

The typed errors are in `hub.errors`, the uniform records in `hub.records`, the
connector interface in `hub.connector`, testing helpers in `hub.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub._config import HubSettings, load_settings
    from hub._hub import (
        AuthenticationResult,
        Hub,
        LookupResult,
        Profile,
        SourceInfo,
        SyncHub,
        VerificationResult,
    )
    from hub._logging import configure_logging
    from hub._purpose import Purpose

__version__ = "0.1.0"

__all__ = [
    "AuthenticationResult",
    "Hub",
    "HubSettings",
    "LookupResult",
    "Profile",
    "Purpose",
    "SourceInfo",
    "SyncHub",
    "VerificationResult",
    "__version__",
    "configure_logging",
    "load_settings",
]

# Imported on first use: a command such as `hub audit verify` needs none of the HTTP
# stack, and a portal importing one submodule should not pay for all of them.
_LAZY = {
    "AuthenticationResult": "hub._hub",
    "Hub": "hub._hub",
    "HubSettings": "hub._config",
    "LookupResult": "hub._hub",
    "Profile": "hub._hub",
    "Purpose": "hub._purpose",
    "SourceInfo": "hub._hub",
    "SyncHub": "hub._hub",
    "VerificationResult": "hub._hub",
    "configure_logging": "hub._logging",
    "load_settings": "hub._config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hub' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
