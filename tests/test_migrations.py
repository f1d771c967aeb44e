"""The migrations build exactly the tables the models describe (a column added to one and not the other fails here)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from plugin.store.db import database_url as to_sqlalchemy_url
from plugin.store.models import Base


def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(to_sqlalchemy_url(database_url, ""))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
