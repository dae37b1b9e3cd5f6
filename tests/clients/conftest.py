"""The server under test is started by scripts/test-clients, which sets SIEVE_TEST_URL."""
import os

import pytest


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("SIEVE_TEST_URL")
    if not url:
        pytest.fail("SIEVE_TEST_URL is not set: run these tests through scripts/test-clients")
    return url.rstrip("/")
