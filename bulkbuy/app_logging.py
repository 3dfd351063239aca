"""Where the app's log lines go: standard error, one line per event.

Nothing else configures logging (gunicorn and `flask` leave the app's loggers
alone), so without this an INFO or WARNING line from the app went nowhere.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask

from bulkbuy.adapters import mail

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER = "bulkbuy-standard-error"


class _StandardError(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the moment of the event (a test runner
    swaps it between tests), never to a stream closed since the app was built."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(app: Flask) -> None:
    """Send events of the `bulkbuy` loggers at LOG_LEVEL or above to standard error.

    Building the app again (tests do) adds no second handler. When mail has no
    way out (production without MAIL_SERVER), says so at ERROR once at start.
    """
    logger = logging.getLogger("bulkbuy")
    logger.setLevel(str(app.config.get("LOG_LEVEL", "INFO")).upper())
    if not any(handler.get_name() == _HANDLER for handler in logger.handlers):
        handler = _StandardError()
        handler.set_name(_HANDLER)
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    if not mail.can_send(app.config):
        logger.error("MAIL_SERVER is not set: e-mails will wait in the outbox, unsent, "
                     "until it is (see docs/operations.md)")
