"""Alembic migrations of the system of record (env.py, versions/); applied by `migrate.upgrade`."""
