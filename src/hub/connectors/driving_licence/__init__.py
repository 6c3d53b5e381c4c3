"""The driving-licence system (GPLX), over signed REST + JSON."""

from hub.connectors.driving_licence._connector import (
    DrivingLicenceConnector,
    DrivingLicenceSettings,
    LicenceClaim,
    LicenceQuery,
)

__all__ = ["DrivingLicenceConnector", "DrivingLicenceSettings", "LicenceClaim", "LicenceQuery"]
