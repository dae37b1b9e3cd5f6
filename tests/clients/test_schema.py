"""Schemathesis against /openapi.json: no 5xx, and every response matches the schema."""
import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

schema = schemathesis.openapi.from_url(os.environ.get("SIEVE_TEST_URL", "http://127.0.0.1:9") +
                                       "/openapi.json")


@schema.parametrize()
@settings(max_examples=int(os.environ.get("SIEVE_SCHEMA_EXAMPLES", "25")), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance], timeout=60)
