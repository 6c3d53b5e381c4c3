"""The shared electronic catalogs (cơ sở dữ liệu danh mục dùng chung), over REST."""

from hub.connectors.catalog._connector import (
    CatalogConnector,
    CatalogName,
    CatalogQuery,
    CatalogSettings,
)

__all__ = ["CatalogConnector", "CatalogName", "CatalogQuery", "CatalogSettings"]
