"""Shared fixtures: an app on a real database (SQLite always, PostgreSQL when
TEST_DATABASE_URL is set), a test client, and a signed-in helper.

Integration tests that take `app` run once per database. The schema is
built by the real Alembic migrations, once per database per run; every test
then starts from empty tables.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from flask import g
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text

from bulkbuy import create_app, web
from bulkbuy.extensions import db
from bulkbuy.services import accounts
from config import TestConfig, database_url

_hash_once = functools.lru_cache(maxsize=None)(accounts.hash_secret)
_check_once = functools.lru_cache(maxsize=None)(accounts.check_secret)

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
_migrated: set[str] = set()


@pytest.fixture(autouse=True)
def _hash_once_per_password(monkeypatch):
    """Real hashes (Argon2id), but each password is hashed (and checked) once per run.

    A hash costs about 30 ms and test users share a password; hashing it afresh for
    each user would be much of the suite's run time.
    """
    monkeypatch.setattr(accounts, "hash_secret", _hash_once)
    monkeypatch.setattr(accounts, "check_secret", _check_once)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


@pytest.fixture(scope="session")
def postgresql_url() -> str:
    url = database_url(os.environ.get("TEST_DATABASE_URL"))
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_DATABASE_URL must be set in CI: PostgreSQL tests cannot run")
        pytest.skip("PostgreSQL not available: set TEST_DATABASE_URL (make test does)")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _database_of_worker(url, worker) if worker else url


def _database_of_worker(url: str, worker: str) -> str:
    """A database of its own for one pytest-xdist worker (`make test` runs two): the
    TEST_DATABASE_URL database's name with the worker's id ("gw0") after it, made on the
    same server when it is not there yet."""
    base = make_url(url)
    name = f"{base.database}_{worker}"
    server = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                           {"name": name}) is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def skip_reasons(terminalreporter) -> list[str]:
    """The messages of every skipped test of the run (workers' too, under pytest-xdist),
    for the loud notices at the end of a run that could not test everything."""
    reasons = []
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reasons.append(str(report.longrepr[2]))
    return reasons


def make_app(url: str, **overrides):
    """An app on `url` with the migrated schema and empty tables."""
    app = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": url, **overrides})
    web.clear_caches()  # ids repeat between tests on emptied tables

    @app.teardown_request
    def _forget_request_globals(_error):
        # Tests keep one app context pushed, which requests then share; a real
        # server gives each request a fresh `g`. Without this, the signed-in
        # user and a passed CSRF check would leak from one request to the next.
        for name in list(vars(g)):
            delattr(g, name)
    with app.app_context():
        if url not in _migrated:
            if db.engine.dialect.name == "postgresql":
                with db.engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
            upgrade(directory=MIGRATIONS)
            _migrated.add(url)
        empty_tables()
    return app


def empty_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def app(db_url):
    app = make_app(db_url)
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    ctx.pop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str = "password123"):
        return self.client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)
