"""The contracts: WSDL/XSD, OpenAPI and JSON Schema files, shipped with the package.

The connectors and the mocks both read them from here, and share nothing else.
"""

from pathlib import Path

SCHEMAS_DIR = Path(__file__).parent


def schema_path(name: str) -> Path:
    """The path of a bundled contract file, e.g. ``schema_path("population/population.wsdl")``."""
    path = SCHEMAS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no bundled schema named {name!r}")
    return path
