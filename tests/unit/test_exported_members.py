"""The public API, pinned: what each public module exports is the documented set.

A name added to or removed from a module's ``__all__`` fails here until its set below
changes in the same commit, so that the public API changes only on purpose.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import hub

#: The documented public names of each public module.
PUBLIC: dict[str, frozenset[str]] = {
    "hub": frozenset(
        {
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
        }
    ),
    "hub.errors": frozenset(
        {
            "AuditUnavailable",
            "CircuitOpen",
            "ConfigError",
            "DeadlineExceeded",
            "FieldError",
            "Forbidden",
            "HubError",
            "InvalidQuery",
            "NotFound",
            "TooManyAttempts",
            "Unauthenticated",
            "UnknownSource",
            "UpstreamError",
            "UpstreamRejected",
            "UpstreamUnavailable",
        }
    ),
    "hub.records": frozenset(
        {
            "Address",
            "AdministrativeUnit",
            "AssuranceLevel",
            "AuthorizationRequest",
            "Branch",
            "BudgetUnit",
            "BusinessLine",
            "CatalogEntry",
            "CatalogItem",
            "CatalogPage",
            "Citizen",
            "DrivingLicence",
            "Enterprise",
            "EnterpriseStatus",
            "LicenceClass",
            "LicenceStatus",
            "LifeStatus",
            "Match",
            "PartialDate",
            "PersonRef",
            "Record",
            "Sex",
            "UnitMapping",
            "UnitSuccessor",
            "Verdict",
            "Verification",
            "VerifiedIdentity",
        }
    ),
    "hub.connector": frozenset(
        {
            "Call",
            "Connector",
            "Health",
            "HealthStatus",
            "Operation",
            "PrivateModel",
            "Query",
            "Record",
            "SecretRef",
            "SourceSettings",
            "check_status",
            "json_body",
            "retry_after_seconds",
        }
    ),
    "hub.testing": frozenset(
        {
            "Captured",
            "ConnectionDropped",
            "ConnectorContract",
            "FaultCall",
            "FaultEntry",
            "LeakCheck",
            "MockProfile",
            "MockWorld",
            "PlanError",
            "ServedApp",
            "mock_app",
            "no_retries",
            "problem",
        }
    ),
}

MODULES = sorted(PUBLIC)
NAMES = [(module, name) for module in MODULES for name in sorted(PUBLIC[module])]


def public(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("module", MODULES)
def test_all_is_the_documented_set(module: str) -> None:
    """``__all__`` names exactly the documented names: none missing, none extra."""
    assert set(public(module).__all__) == PUBLIC[module]


@pytest.mark.parametrize("module", MODULES)
def test_all_is_sorted_and_names_each_once(module: str) -> None:
    """One place to look a name up, in order."""
    exported = list(public(module).__all__)
    assert exported == sorted(set(exported))


@pytest.mark.parametrize(("module", "name"), NAMES)
def test_every_public_name_resolves_and_is_listed(module: str, name: str) -> None:
    """Each name is an attribute of its module, and dir() shows it to IDEs and help()."""
    found = public(module)
    assert getattr(found, name) is not None
    assert name in dir(found)


@pytest.mark.parametrize(("module", "name"), NAMES)
def test_every_public_class_and_function_has_its_own_docstring(module: str, name: str) -> None:
    """The API reference is built from docstrings: none is missing or only inherited."""
    value = getattr(importlib.import_module(module), name)
    if inspect.isclass(value):
        assert value.__dict__.get("__doc__")
    elif inspect.isfunction(value):
        assert value.__doc__


@pytest.mark.parametrize("name", sorted(hub._EXPORTS))
def test_a_lazy_name_of_hub_is_the_object_of_its_module(name: str) -> None:
    """``hub.X`` is the very object its private module defines, not a copy."""
    assert getattr(hub, name) is getattr(importlib.import_module(hub._EXPORTS[name]), name)


def test_the_type_checking_imports_of_hub_are_its_lazy_names() -> None:
    """What type checkers see of ``hub`` is what it exports at run time, name for name."""
    tree = ast.parse(Path(hub.__file__).read_text(encoding="utf-8"))
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    ]
    imported = {
        alias.name: (node.module, alias.asname)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    # `X as X` marks a re-export for type checkers.
    assert imported == {name: (module, name) for name, module in hub._EXPORTS.items()}


def test_an_unknown_name_of_hub_is_an_attribute_error() -> None:
    """The lazy lookup answers for the public names only."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = hub.no_such_name


def test_the_version_is_the_installed_distributions() -> None:
    """``hub.__version__`` is read from the package metadata, written once in pyproject."""
    assert hub.__version__ == importlib.metadata.version("lienthong")


def test_importing_hub_loads_no_http_stack() -> None:
    """The version, the settings and the errors come without httpx or the hub itself."""
    code = (
        "import sys, hub, hub.errors\n"
        "hub.__version__, hub.load_settings, hub.HubSettings, hub.Purpose\n"
        "print(sorted(m for m in ('aiohttp', 'httpx', 'hub._hub') if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert loaded.strip() == "[]"
