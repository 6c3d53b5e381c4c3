"""The national population database (CSDLQG về dân cư), over SOAP 1.1."""

from hub.connectors.population._connector import (
    CitizenClaim,
    CitizenQuery,
    PopulationConnector,
    PopulationSettings,
)

__all__ = ["CitizenClaim", "CitizenQuery", "PopulationConnector", "PopulationSettings"]
