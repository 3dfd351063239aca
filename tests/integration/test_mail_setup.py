"""Where log lines and unsendable mail go (docs/operations.md, settings).

Before, nothing configured logging, so the "no mail server" line (at INFO) went
nowhere, and without MAIL_SERVER every message was marked sent: a missing
setting silently lost every notice.
"""

from __future__ import annotations

import logging

import pytest

from bulkbuy import sweeps
from bulkbuy.extensions import db
from tests.conftest import make_app
from tests.integration.test_mail import AFTER, closed_round, outbox


@pytest.fixture
def app_in(db_url):
    """make_app(**settings), pushed, closed afterwards."""
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


def test_the_apps_log_lines_go_to_standard_error_one_line_per_event(app_in, capfd):
    app_in(LOG_LEVEL="INFO")
    logging.getLogger("bulkbuy.somewhere").info("a round closed")
    logging.getLogger("bulkbuy.somewhere").debug("not shown at INFO")

    lines = [line for line in capfd.readouterr().err.splitlines() if "bulkbuy.somewhere" in line]
    assert len(lines) == 1
    assert lines[0].endswith(" INFO bulkbuy.somewhere: a round closed")


def test_building_the_app_again_adds_no_second_log_line(app_in, capfd):
    app_in(LOG_LEVEL="INFO")
    app_in(LOG_LEVEL="INFO")
    logging.getLogger("bulkbuy.somewhere").warning("once")

    assert capfd.readouterr().err.count("bulkbuy.somewhere: once") == 1


def test_in_development_each_email_is_shown_in_full_and_counted_sent(app_in, capfd):
    app_in(BULKBUY_ENV="development", LOG_LEVEL="INFO")
    assert "MAIL_SERVER is not set" not in capfd.readouterr().err
    closed_round()

    assert sweeps.sweep_notifications(AFTER) == 2

    shown = capfd.readouterr().err
    assert "to=r2@oak.test" in shown and "What you get from Test round" in shown
    assert "You owe £5.33." in shown
    assert all(m.sent_at == AFTER for m in outbox())


def test_in_production_without_a_mail_server_mail_waits_and_the_start_says_so(app_in, capfd):
    app = app_in(BULKBUY_ENV="production")
    assert not app.config["MAIL_SERVER"]
    assert "ERROR bulkbuy: MAIL_SERVER is not set" in capfd.readouterr().err
    closed_round()

    assert sweeps.sweep_notifications(AFTER) == 0
    assert sweeps.sweep_notifications(AFTER) == 0

    waiting = outbox()
    assert len(waiting) == 2
    assert all(m.sent_at is None and m.attempts == 0 and m.last_error is None for m in waiting)
    assert "e-mails wait in the outbox: MAIL_SERVER is not set" in capfd.readouterr().err
