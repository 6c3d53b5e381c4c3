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

# The public names and the modules they live in. Each is imported on first use: a
# command such as `hub audit verify` needs none of the HTTP stack, and a portal
# importing one submodule should not pay for all of them.
_EXPORTS = {
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

# The same names for type checkers and IDEs, which cannot see through `__getattr__`.
# Each is re-exported by its `as` alias, as `__all__` is computed and they do not read
# it; tests/unit/test_exported_members.py holds this block and `_EXPORTS` to each other.
if TYPE_CHECKING:
    from hub._config import HubSettings as HubSettings
    from hub._config import load_settings as load_settings
    from hub._hub import AuthenticationResult as AuthenticationResult
    from hub._hub import Hub as Hub
    from hub._hub import LookupResult as LookupResult
    from hub._hub import Profile as Profile
    from hub._hub import SourceInfo as SourceInfo
    from hub._hub import SyncHub as SyncHub
    from hub._hub import VerificationResult as VerificationResult
    from hub._logging import configure_logging as configure_logging
    from hub._purpose import Purpose as Purpose

    __version__: str

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # Read from the installed distribution, so that pyproject.toml is the only
        # place the version is written; importlib.metadata is itself loaded lazily.
        from importlib.metadata import version

        value: Any = version("lienthong")
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'hub' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
