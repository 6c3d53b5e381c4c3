"""The business mock: the national business registration database's REST API on the world."""

from hub.mocks.business._app import create_app, hub_settings

__all__ = ["create_app", "hub_settings"]
