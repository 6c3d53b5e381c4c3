"""schemathesis against the sidecar's own OpenAPI: no 5xx, every answer matches its schema."""

from __future__ import annotations

import logging

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from hub.schemas import SCHEMAS_DIR
from tests.sidecar.conftest import KEYS


@pytest.fixture(autouse=True)
def quiet_test_client(caplog):
    """The generated requests' own client (urllib3) logs their URLs, generated junk
    included; those lines are the test harness's, not the sidecar's."""
    caplog.set_level(logging.WARNING, logger="urllib3")


# The checked-in document; test_sidecar.py proves it is the app's own.
schema = schemathesis.openapi.from_path(SCHEMAS_DIR / "sidecar.openapi.json")


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_the_api_honours_its_own_contract(case, sidecar):
    """Generated requests (an inspector's key, so every route is reachable) never get a 5xx
    and every answer conforms to the documented schema.

    A schema-valid request may still be refused: the query's shape depends on the source
    (a national id's province, an enterprise code's check digit), which no generic schema
    says; so acceptance of schema-valid data is not among the checks.
    """
    case.call_and_validate(
        base_url=sidecar.url,
        headers={"Authorization": f"Bearer {KEYS['inspector']}"},
        excluded_checks=[positive_data_acceptance],
    )
