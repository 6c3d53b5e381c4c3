"""VNeID electronic identification, over OpenID Connect (code flow, PKCE, private_key_jwt)."""

from hub.connectors.vneid._connector import VneidConnector, VneidCredential, VneidSettings

__all__ = ["VneidConnector", "VneidCredential", "VneidSettings"]
