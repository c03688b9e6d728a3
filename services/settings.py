"""One frozen settings object, read once at start-up from `EWS_*` environment variables."""

from __future__ import annotations

from pathlib import Path

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

    def transport_path(self) -> Path:
        """Where the embedded log lives (only meaningful for a sqlite transport)."""
        return _sqlite_path(self.transport) if self.transport else self.data_dir / "log.sqlite"

    def index_path(self) -> Path:
        return Path(self.index.removeprefix("tantivy://")) if self.index else self.data_dir / "index"

    def store_url(self) -> str:
        return (self.database_url.get_secret_value()
                or f"sqlite:///{(self.data_dir / 'ews.sqlite').resolve()}")


def _sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"EWS_TRANSPORT={url!r}: the embedded transport needs a sqlite:///PATH URL")
    return Path(url.removeprefix("sqlite:///"))
