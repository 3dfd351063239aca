"""Fixtures for tests that talk to localstripe over real HTTP.

`localstripe`: one server for the whole run (started on first use). When
localstripe is not installed, tests using it are skipped with a loud notice
at the end of the run, and fail instead when CI=true.
`stripe_config`: an empty localstripe and the settings that point at it.
"""

from __future__ import annotations

import os

import pytest

from devtools import localstripe_server
from tests.conftest import skip_reasons

_NOT_INSTALLED = (
    "LOCALSTRIPE NOT INSTALLED: Stripe payment tests did NOT run. "
    "Install the dev requirements (pip install -r requirements-dev.txt)."
)


@pytest.fixture(scope="session")
def localstripe():
    """Base URL of the one localstripe of this test run."""
    if not localstripe_server.is_installed():
        if os.environ.get("CI") == "true":
            pytest.fail(_NOT_INSTALLED + " It must be installed in CI.")
        pytest.skip(_NOT_INSTALLED)
    with localstripe_server.LocalstripeServer() as base_url:
        yield base_url


@pytest.fixture
def stripe_config(localstripe) -> dict[str, str]:
    """Settings for bulkbuy.adapters.stripe_gateway, pointing at a freshly wiped localstripe."""
    localstripe_server.wipe(localstripe)
    return {
        "STRIPE_SECRET_KEY": localstripe_server.TEST_KEY,
        "STRIPE_API_BASE": localstripe,
    }


@pytest.fixture
def card_app(db_url, stripe_config, localstripe):
    """An app (SQLite and PostgreSQL) whose Stripe is a freshly wiped localstripe."""
    from bulkbuy.extensions import db
    from tests.conftest import make_app
    from tests.stripe_helpers import app_settings

    app = make_app(db_url, **app_settings(localstripe))
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    ctx.pop()
    with app.app_context():
        db.engine.dispose()


def pytest_terminal_summary(terminalreporter):
    if any(_NOT_INSTALLED in reason for reason in skip_reasons(terminalreporter)):
        terminalreporter.section("localstripe", sep="!", red=True, bold=True)
        terminalreporter.write_line(_NOT_INSTALLED, red=True, bold=True)


@pytest.fixture
def app_with_settings(db_url):
    """make_app(**settings), its context pushed, for a test that needs settings of its
    own (each app closed afterwards)."""
    from bulkbuy.extensions import db
    from tests.conftest import make_app

    opened = []

    def build(**settings):
        app = make_app(db_url, **settings)
        context = app.app_context()
        context.push()
        opened.append((app, context))
        return app

    yield build
    for app, context in reversed(opened):
        db.session.remove()
        context.pop()
        with app.app_context():
            db.engine.dispose()
