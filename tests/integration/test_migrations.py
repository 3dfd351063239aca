"""Every schema change is a migration that goes down and up again, and the migrated
schema is exactly what the models describe (on SQLite and on PostgreSQL, each in a
database of its own, so the other tests' schema is untouched)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bulkbuy import create_app
from bulkbuy.extensions import db
from config import TestConfig
from tests.conftest import MIGRATIONS

#: The last revision before this session's changes: each later one is tried down and up.
GO_BACK_TO = "0006_write_offs"


@pytest.fixture(params=["sqlite", "postgresql"])
def spare_database(request, tmp_path):
    """The URL of an empty database of the given kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    url = make_url(request.getfixturevalue("postgresql_url"))
    name = f"{url.database}_migrations"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def test_the_migrations_go_down_and_up_and_match_the_models(spare_database):
    app = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": spare_database})
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        downgrade(directory=MIGRATIONS, revision=GO_BACK_TO)
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert differences == []
