"""A connector's type arguments and the class variables the hub validates with agree."""

from __future__ import annotations

from typing import Any, Never, get_args, get_origin

import pytest

from hub._registry import installed_connectors
from hub.connector import Connector, Health, HealthStatus, Query, SourceSettings
from hub.connectors.population import PopulationConnector


class KeySettings(SourceSettings):
    api_key: str = "k"


class StricterKeySettings(KeySettings):
    agency_code: str = "000.00.00.H00"


class NumberQuery(Query):
    number: str


class _Healthy:
    async def health(self) -> Health:
        return Health(status=HealthStatus.UP)


def test_settings_other_than_the_type_argument_are_refused() -> None:
    """Settings that are not the declared settings type fail when the class is defined."""
    with pytest.raises(TypeError, match=r"Mismatched\.Settings is SourceSettings.*KeySettings"):

        class Mismatched(_Healthy, Connector[KeySettings, NumberQuery]):
            Query = NumberQuery


def test_a_query_type_without_its_query_model_is_refused() -> None:
    """A connector declared with a query type must set ``Query`` to it."""
    with pytest.raises(TypeError, match=r"NoQuery\.Query is not set.*NumberQuery"):

        class NoQuery(_Healthy, Connector[KeySettings, NumberQuery]):
            Settings = KeySettings


def test_a_subclass_is_held_to_its_ancestors_declaration() -> None:
    """A subclass of a declared connector cannot widen its settings back."""
    with pytest.raises(TypeError, match=r"Widened\.Settings is SourceSettings"):

        class Widened(PopulationConnector):
            Settings = SourceSettings


def test_narrower_models_and_undeclared_connectors_are_accepted() -> None:
    """Subclasses of the declared models, Never for no look-ups, and no arguments at all."""

    class Narrower(_Healthy, Connector[KeySettings, NumberQuery]):
        Settings = StricterKeySettings
        Query = NumberQuery

    class LoginOnly(_Healthy, Connector[KeySettings, Never]):
        Settings = KeySettings

    class Undeclared(_Healthy, Connector):
        Settings = SourceSettings

    class Generic(_Healthy, Connector[Any, Any]):
        pass

    assert Narrower.Settings is StricterKeySettings
    assert LoginOnly.Settings is KeySettings
    assert Undeclared.Settings is SourceSettings
    assert Generic.Settings is SourceSettings


@pytest.mark.parametrize("source", sorted(installed_connectors()))
def test_every_bundled_connector_declares_its_models(source: str) -> None:
    """Each bundled connector's type arguments are its Settings and Query (Never: none)."""
    cls = installed_connectors()[source]
    (declared,) = [base for base in cls.__orig_bases__ if get_origin(base) is Connector]
    assert get_args(declared) == (cls.Settings, getattr(cls, "Query", Never))
