"""The population mock: SOAP 1.1 look-up and authentication on the synthetic citizens."""

from hub.mocks.population._app import create_app, hub_settings

__all__ = ["create_app", "hub_settings"]
