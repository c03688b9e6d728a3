"""The compose file parses, and every service runs a real `ews` command with settings the code reads.

No Docker engine runs here, so this is what can be checked without one.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from services.cli import _parser
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_command_parses_as_an_ews_command() -> None:
    for name, service in _compose()["services"].items():
        command = service["command"]
        assert command[0] == "ews", name
        _parser().parse_args(command[1:])


def test_every_environment_variable_is_a_setting() -> None:
    known = {f"EWS_{field.upper()}" for field in Settings.model_fields}
    for name, service in _compose()["services"].items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name}: {unknown} are read by nothing"


def test_dockerfile_builds_from_the_package_and_runs_ews() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    assert 'CMD ["ews", "up"]' in dockerfile
    for folder in ("chemistry", "streams", "services"):
        assert f"COPY {folder} ./{folder}" in dockerfile
