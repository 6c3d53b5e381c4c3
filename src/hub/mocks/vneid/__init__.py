"""The VNeID mock: an OpenID Connect provider (code flow, PKCE, private_key_jwt, ES256/RS256)."""

from hub.mocks.vneid._app import create_app, hub_settings

__all__ = ["create_app", "hub_settings"]
