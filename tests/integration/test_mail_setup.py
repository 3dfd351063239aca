"""Where log lines and unsendable mail go (docs/operations.md, settings).

Before, nothing configured logging, so the "no mail server" line (at INFO) went
nowhere, and without MAIL_SERVER every message was marked sent: a missing
setting silently lost every notice.
"""

from __future__ import annotations

import logging
import re

from bulkbuy import sweeps
from tests.integration.test_mail import AFTER, closed_round, outbox

#: A line in the app's own format (bulkbuy/app_logging.py). A test process may have
#: other handlers too (Alembic's, once the test schema was migrated in it).
OURS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) ([\w.]+): (.*)$")


def our_lines(err: str, logger: str) -> list[tuple[str, str]]:
    """(level, message) of each line our handler wrote for `logger`."""
    found = (OURS.match(line) for line in err.splitlines())
    return [(m.group(1), m.group(3)) for m in found if m and m.group(2) == logger]


def test_the_apps_log_lines_go_to_standard_error_one_line_per_event(app_with_settings, capfd):
    app_with_settings(LOG_LEVEL="INFO")
    logging.getLogger("bulkbuy.somewhere").info("a round closed")
    logging.getLogger("bulkbuy.somewhere").debug("not shown at INFO")

    assert our_lines(capfd.readouterr().err, "bulkbuy.somewhere") == [
        ("INFO", "a round closed")]


def test_building_the_app_again_adds_no_second_log_line(app_with_settings, capfd):
    app_with_settings(LOG_LEVEL="INFO")
    app_with_settings(LOG_LEVEL="INFO")
    logging.getLogger("bulkbuy.somewhere").warning("once")

    assert our_lines(capfd.readouterr().err, "bulkbuy.somewhere") == [("WARNING", "once")]


def test_in_development_each_email_is_shown_in_full_and_counted_sent(app_with_settings, capfd):
    app_with_settings(BULKBUY_ENV="development", LOG_LEVEL="INFO")
    assert "MAIL_SERVER is not set" not in capfd.readouterr().err
    closed_round()

    assert sweeps.sweep_notifications(AFTER) == 2

    shown = capfd.readouterr().err
    assert "to=r2@oak.test" in shown and "What you get from Test round" in shown
    assert "You owe £5.33." in shown
    assert all(m.sent_at == AFTER for m in outbox())


def test_in_production_without_a_mail_server_mail_waits_and_the_start_says_so(
        app_with_settings, capfd):
    app = app_with_settings(BULKBUY_ENV="production")
    assert not app.config["MAIL_SERVER"]
    assert "ERROR bulkbuy: MAIL_SERVER is not set" in capfd.readouterr().err
    closed_round()

    assert sweeps.sweep_notifications(AFTER) == 0
    assert sweeps.sweep_notifications(AFTER) == 0

    waiting = outbox()
    assert len(waiting) == 2
    assert all(m.sent_at is None and m.attempts == 0 and m.last_error is None for m in waiting)
    assert "e-mails wait in the outbox: MAIL_SERVER is not set" in capfd.readouterr().err
