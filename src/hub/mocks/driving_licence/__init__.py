"""The driving-licence mock: signed REST + JSON look-up and verification of licences."""

from hub.mocks.driving_licence._app import create_app, hub_settings

__all__ = ["create_app", "hub_settings"]
