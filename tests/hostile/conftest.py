"""An API over an embedded system with an account of every role and a few alerts, shared by
the hostile-input tests of one module (rate limits off: the generated calls come fast)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from tests.api.helpers import BIRMINGHAM, HARTLEPOOL, Accounts, make_accounts, seed_alert

SMALL_UPLOAD_BYTES = 64 * 1024  # small, so the limits tests send little to go past it


@dataclass
class Api:
    system: EmbeddedSystem
    client: TestClient
    accounts: Accounts
    alert_ids: list[str]

    def headers(self, role: str) -> dict[str, str]:
        return self.accounts.headers(role)


def open_api(data_dir: Path, **settings: object) -> Iterator[Api]:
    system = EmbeddedSystem(Settings(data_dir=data_dir, rate_limit_per_minute=0,
                                     auth_failures_per_minute=0, **settings))
    accounts = make_accounts(system)
    alert_ids = [seed_alert(system, status="new", areas=(BIRMINGHAM,)),
                 seed_alert(system, status="published", areas=(HARTLEPOOL,))]
    with TestClient(create_app(system), raise_server_exceptions=False) as client:
        yield Api(system, client, accounts, alert_ids)
    system.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from open_api(tmp_path_factory.mktemp("hostile") / "ews",
                        max_upload_bytes=SMALL_UPLOAD_BYTES)
