"""Run Alembic migrations programmatically against a database URL."""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "migrations")


def alembic_config(url: str) -> Config:
    """An Alembic Config pointing at migrations/ and url."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    # ConfigParser interpolation would choke on % in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at url to revision."""
    command.upgrade(alembic_config(url), revision)
