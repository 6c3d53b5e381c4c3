"""The VNeID connector honours the contract kit (its look-up checks skip themselves)."""

from hub.connectors.vneid import VneidConnector
from hub.testing import ConnectorContract


class TestVneidContract(ConnectorContract):
    connector = VneidConnector
    sample_kind = "vneid_level2"
