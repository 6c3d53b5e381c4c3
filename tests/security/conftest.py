"""The audit trail's fixtures serve the review's tests of it too."""

from tests.audit.conftest import (  # noqa: F401 (fixtures)
    data_dir,
    make_settings,
    postgres_schema,
    store_url,
)
