"""The compose stack: it parses, every service runs a real `ews` command, every setting is read.

No Docker engine runs here, so this is what can be checked without one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.cli import _parser
from services.settings import Settings
from services.workers import ROLES, SINGLE_ROLES, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ({f"EWS_{name.upper()}" for name in Settings.model_fields}
            | {f"EWS_WORKER_{name.upper()}" for name in WorkerSettings.model_fields})


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env_file() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (ROOT / "deploy" / "ews.env").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {key: value for key, value in pairs}


def _ews_services() -> dict[str, dict]:
    return {name: service for name, service in _compose()["services"].items()
            if service.get("command", [""])[0] == "ews"}


def test_the_scaled_stack_has_its_servers_and_workers() -> None:
    services = _compose()["services"]
    assert {"kafka", "elasticsearch", "postgres", "mailpit", "api", *ROLES} <= set(services)
    for role in ROLES:
        assert services[role]["command"] == ["ews", "worker", role]
    assert "zookeeper" not in services
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    for name in ("kafka", "elasticsearch", "postgres", "mailpit", "api"):
        assert services[name]["healthcheck"]["test"], name


@pytest.mark.parametrize("name", ["normaliser", "detector", "alert-builder"])
def test_workers_can_be_scaled(name: str) -> None:
    service = _compose()["services"][name]
    assert "container_name" not in service and "ports" not in service
    assert set(service["depends_on"]) == {"kafka", "elasticsearch", "postgres", "mailpit"}


@pytest.mark.parametrize("name", SINGLE_ROLES)
def test_the_sweeper_and_the_notifier_run_once(name: str) -> None:
    """One container each: a fixed name makes `--scale` refuse them, and the file says why."""
    service = _compose()["services"][name]
    assert service["container_name"] and service["deploy"]["replicas"] == 1
    assert set(service["depends_on"]) == {"kafka", "elasticsearch", "postgres", "mailpit"}
    text = (ROOT / "docker-compose.yml").read_text()
    assert "SINGLE INSTANCE" in text.split(f"\n  {name}:")[0].rsplit("\n\n", 1)[-1]


def test_every_service_command_parses_as_an_ews_command() -> None:
    for name, service in _ews_services().items():
        _parser().parse_args(service["command"][1:]), name


def test_every_setting_passed_is_one_the_code_reads() -> None:
    assert set(_env_file()) <= SETTINGS, set(_env_file()) - SETTINGS
    for name, service in _ews_services().items():
        assert set(service.get("environment", {})) <= SETTINGS, name
        if "env_file" in service:
            assert service["env_file"] == "deploy/ews.env"


def test_the_environment_file_documents_every_setting_the_code_reads() -> None:
    lines = (ROOT / "deploy" / "ews.env").read_text().splitlines()
    assert SETTINGS <= set(_env_file()), SETTINGS - set(_env_file())
    for number, line in enumerate(lines):
        if line.startswith("EWS_"):  # each with a comment of its own just above it
            assert lines[number - 1].startswith("# "), line


def test_the_environment_file_builds_a_scaled_settings_object() -> None:
    from services.api.index.factory import index_from_url
    from streams.factory import transport_from_url

    env = _env_file()
    settings = Settings(**{key.removeprefix("EWS_").lower(): value for key, value in env.items()})
    assert settings.transport.startswith("kafka://") and settings.index.startswith("elasticsearch://")
    assert settings.store_url().startswith("postgresql://")
    assert settings.smtp_host == "mailpit" and settings.smtp_port == 1025  # the notifier's relay
    workers = WorkerSettings(**{key.removeprefix("EWS_WORKER_").lower(): value
                                for key, value in env.items() if key.startswith("EWS_WORKER_")})
    assert workers.session_timeout > workers.heartbeat_interval
    # The URLs are in the forms the factories accept (parsing only: nothing is connected).
    with pytest.raises(Exception) as info:
        transport_from_url("nonsense://x")
    assert "kafka://" in str(info.value)
    assert callable(index_from_url)


def test_dockerfile_builds_from_the_package_and_runs_ews() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    assert 'CMD ["ews", "up"]' in dockerfile
    for folder in ("chemistry", "streams", "services"):
        assert f"COPY {folder} ./{folder}" in dockerfile
