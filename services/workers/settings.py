"""How a stream worker runs: group timings and batch sizes (`EWS_WORKER_*`), read once at start."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["normaliser", "detector", "alert-builder", "sweeper", "notifier"]
# Faust apps, one consumer group each; the notifier reads the store, not a topic.
STREAM_ROLES: tuple[Role, ...] = ("normaliser", "detector", "alert-builder", "sweeper")
ROLES: tuple[Role, ...] = (*STREAM_ROLES, "notifier")
# Roles that must run as one process: the sweeper's windows span every area (all partitions of
# `events` in one memory), and one notifier is enough (a second would be safe, not useful).
SINGLE_ROLES: tuple[Role, ...] = ("sweeper", "notifier")


class WorkerSettings(BaseSettings):
    """The worker's own knobs; where the system lives comes from `services.settings.Settings`."""

    model_config = SettingsConfigDict(env_prefix="EWS_WORKER_", frozen=True, extra="ignore")

    session_timeout: float = Field(
        default=10.0, gt=0, description="Seconds without a heartbeat before the group gives a "
        "dead worker's partitions to the others (what a kill -9 costs in delay).")
    heartbeat_interval: float = Field(default=3.0, gt=0)
    rebalance_timeout: float = Field(default=60.0, gt=0)
    commit_interval: float = Field(
        default=2.8, gt=0, description="Seconds between offset commits: what a restarted "
        "worker may see again (handled idempotently).")
    recovery_delay: float = Field(
        default=0.0, ge=0, description="Seconds to wait after a rebalance before restoring "
        "tables (more members may be about to join).")
    batch: int = Field(default=500, ge=1, description="Most records per normaliser, alert "
                       "builder or sweeper batch.")
    batch_wait: float = Field(default=0.2, gt=0, description="Seconds a batch waits to fill.")
    standby_replicas: int = Field(
        default=0, ge=0, description="Other detector workers that keep a warm copy of each table "
        "partition. None by default: with in-memory tables faust drops standby copies at every "
        "rebalance and restores from the changelog's start anyway.")
    log_level: str = "info"
