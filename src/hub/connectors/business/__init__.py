"""The national business registration database (CSDLQG về đăng ký doanh nghiệp), over REST."""

from hub.connectors.business._connector import BusinessConnector, BusinessSettings, EnterpriseQuery

__all__ = ["BusinessConnector", "BusinessSettings", "EnterpriseQuery"]
