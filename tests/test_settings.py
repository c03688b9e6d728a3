"""Settings handed to another process (`ews up`'s pipeline child) arrive whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.settings import Settings


def test_settings_as_environment_give_the_same_settings(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("EWS_")]:
        monkeypatch.delenv(name)
    given = Settings(data_dir=tmp_path / "data", database_url=SecretStr("postgresql://u:pw@h/db"),
                     smtp_starttls=True, smtp_port=2525, log_format="json", ears_min_count=5,
                     notify_interval_s=0.25, secret_key=SecretStr("k" * 32),
                     index="elasticsearch://127.0.0.1:9200")
    environment = given.environment()
    assert set(environment) == {f"EWS_{name.upper()}" for name in Settings.model_fields}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings() == given
    assert Settings().database_url.get_secret_value() == "postgresql://u:pw@h/db"
