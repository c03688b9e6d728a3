"""Fixtures of the API tests: one account per role on the test system, and a client of its app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.pipeline import EmbeddedSystem
from tests.api.helpers import Accounts, make_accounts


@pytest.fixture
def accounts(system: EmbeddedSystem) -> Accounts:
    return make_accounts(system)


@pytest.fixture
def api(system: EmbeddedSystem, accounts: Accounts) -> Iterator[TestClient]:
    with TestClient(create_app(system), base_url="http://testserver") as client:
        yield client
