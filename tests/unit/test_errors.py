"""The error contract: each class documented, the upstream's refusal an InvalidQuery."""

from __future__ import annotations

import inspect

import pytest

import hub.errors
from hub.errors import ConfigError, HubError, InvalidQuery, UpstreamRejected

CLASSES = [
    value for name in hub.errors.__all__ if inspect.isclass(value := getattr(hub.errors, name))
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_has_a_docstring_of_its_own(cls: type) -> None:
    """A subclass does not pass for documented by inheriting its parent's docstring."""
    assert (vars(cls).get("__doc__") or "").strip()


def test_an_upstream_refusal_looks_like_an_invalid_query_to_callers() -> None:
    """Same status, kind and title: problem types and audit entries do not change."""
    error = UpstreamRejected("the upstream refused the query as invalid", source="population")
    assert isinstance(error, InvalidQuery)
    assert (error.status, error.kind, error.title) == (422, "invalid_query", "Invalid query")
    assert error.errors == []
    assert not error.retryable


def test_a_config_error_is_a_hub_error_of_its_own_kind() -> None:
    """ConfigError keeps the kind and title it had in hub._config."""
    assert issubclass(ConfigError, HubError)
    assert (ConfigError.kind, ConfigError.title) == ("config", "Invalid configuration")
