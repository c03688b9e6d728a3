"""One frozen settings object, read once at start-up from `EWS_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable; the defaults run the embedded deployment with no configuration."""

    model_config = SettingsConfigDict(env_prefix="EWS_", frozen=True, extra="ignore")

    data_dir: Path = Field(default=Path(".ews"), description="Where the embedded log, store and index live.")
    transport: str = Field(default="", description="sqlite:///PATH (default: DATA_DIR/log.sqlite), "
                           "or kafka://HOST:9092[,HOST2:9092][?partitions=N] for Kafka.")
    index: str = Field(default="", description="tantivy:///PATH (default: DATA_DIR/index), or "
                       "elasticsearch://HOST:9200 / http(s)://[user:pw@]HOST:PORT for Elasticsearch.")
    database_url: SecretStr = Field(
        default=SecretStr(""), description="SQLAlchemy URL, may hold a password (default: sqlite "
        "DATA_DIR/ews.sqlite; postgresql://user:pw@host/db for the scaled deployment).")
    host: str = "127.0.0.1"
    port: int = 8000
    default_submitter: str = Field(
        default="default", description="Submitter of records when no accounts are configured."
    )
    max_upload_bytes: int = 50 * 1024 * 1024
    max_batch_records: int = 10_000
    ears_min_count: int = Field(
        default=3, description="Fewest reports in a week for an EARS exceedance to become a signal."
    )
    # Accounts and sign-in.
    secret_key: SecretStr = Field(
        default=SecretStr(""), description="Signs session cookies (default: a random key kept in "
        "DATA_DIR/secret_key, made on first start). Give every API replica the same key.")
    session_hours: float = Field(default=12.0, description="How long a sign-in lasts.")
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set it behind TLS).")
    public_url: str = Field(
        default="", description="The dashboard's address, for links in emails "
        "(default: http://HOST:PORT).")
    # Email: SMTP to a relay; without EWS_SMTP_HOST, messages go to DATA_DIR/outbox/*.eml.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_timeout_s: float = 30.0
    mail_from: str = "ews@localhost"
    digest_hour_utc: int = Field(
        default=6, ge=0, le=23, description="Hour (UTC) after which yesterday's digest is sent.")
    notify_interval_s: float = Field(
        default=2.0, description="How often the pipeline looks for alert emails to send.")
    # Rate limits of the API (per process; 0: none); 429 with Retry-After beyond them.
    rate_limit_per_minute: int = Field(
        default=1200, description="Requests a minute per API token, signed-in account, or "
        "open-mode client address.")
    auth_failures_per_minute: int = Field(
        default=120, description="Failed sign-ins and requests without valid credentials a "
        "minute per client address.")
    # Operations.
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one JSON object per line for a log shipper.")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    metrics_port: int = Field(
        default=0, description="Where `ews pipeline` serves Prometheus /metrics of its own "
        "(stage timings; 0: nowhere). The API serves /metrics itself.")

    def environment(self) -> dict[str, str]:
        """These settings as the `EWS_*` variables that give them to another process."""
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Path):
                value = value.resolve()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            out[f"EWS_{name.upper()}"] = str(value)
        return out

    def transport_path(self) -> Path:
        """Where the embedded log lives (only meaningful for a sqlite transport)."""
        return _sqlite_path(self.transport) if self.transport else self.data_dir / "log.sqlite"

    def index_path(self) -> Path:
        return Path(self.index.removeprefix("tantivy://")) if self.index else self.data_dir / "index"

    def swept_path(self) -> Path:
        """Where a sweeper process records what it swept (services/pipeline/swept.py)."""
        return self.data_dir / "sweeps.sqlite"

    def outbox_path(self) -> Path:
        """Where emails go when no SMTP host is configured (the embedded default and the demo)."""
        return self.data_dir / "outbox"

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def store_url(self) -> str:
        return (self.database_url.get_secret_value()
                or f"sqlite:///{(self.data_dir / 'ews.sqlite').resolve()}")


def _sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"EWS_TRANSPORT={url!r}: the embedded transport needs a sqlite:///PATH URL")
    return Path(url.removeprefix("sqlite:///"))
