"""The catalog mock: the shared electronic catalogs over REST + JSON."""

from hub.mocks.catalog._app import create_app, hub_settings

__all__ = ["create_app", "hub_settings"]
