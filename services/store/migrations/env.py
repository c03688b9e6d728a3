"""Alembic environment: the store's models are the target; SQLite is altered in batch mode.

Two ways in: `services.store.migrate.upgrade` hands over an open connection (in
`config.attributes["connection"]`, inside its transaction and lock); the `alembic` command line
names the database with `-x url=...` (see services/store/alembic.ini). Either way every
revision runs in one transaction, under the lock that serialises schema changes.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from services.store.db import make_engine
from services.store.migrate import lock
from services.store.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (context.get_x_argument(as_dictionary=True).get("url")
           or config.get_main_option("sqlalchemy.url"))
    if not url:
        raise SystemExit("which database? pass -x url=postgresql://... or -x url=sqlite:///PATH")
    return url


def render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes the store's own types as plain SQLAlchemy: a revision must not import
    the models, which will have moved on by the time it runs."""
    if kind != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, sa.JSON) and "postgresql" in getattr(obj, "_variant_mapping", {}):
        autogen.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def run_offline() -> None:
    """Write the SQL instead of running it (`--sql`)."""
    url = make_url(_url())
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite", render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # migrate.upgrade: its transaction, its lock
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as connection:
            lock(connection)
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
