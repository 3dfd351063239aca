"""Sending one e-mail over SMTP.

Settings: MAIL_SERVER, MAIL_PORT (25), MAIL_USERNAME, MAIL_PASSWORD,
MAIL_USE_TLS (STARTTLS), MAIL_FROM, MAIL_TIMEOUT (seconds).

Without MAIL_SERVER, development and tests write each message to the log in
full instead (and count it as sent); production cannot send at all, and the
outbox keeps every message until MAIL_SERVER is set.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

log = logging.getLogger(__name__)


class MailNotConfigured(RuntimeError):
    """There is no MAIL_SERVER, and this is not a place where the log stands in for it."""


def is_configured(config) -> bool:
    return bool(config.get("MAIL_SERVER"))


def logs_instead(config) -> bool:
    """Whether, without MAIL_SERVER, a message is written to the log in full and
    counted as sent: only in development and in tests."""
    return not is_configured(config) and config.get("BULKBUY_ENV") in ("development", "test")


def can_send(config) -> bool:
    """Whether a message handed to `send` can leave (by SMTP, or by the log where
    that stands in for it)."""
    return is_configured(config) or logs_instead(config)


def send(config, to_address: str, subject: str, body: str) -> None:
    """Deliver one message (or log it in full, see `logs_instead`). Raises on SMTP
    failure, and MailNotConfigured when it cannot be sent at all."""
    message = EmailMessage()
    message["From"] = config.get("MAIL_FROM", "bulkbuy <no-reply@bulkbuy.invalid>")
    message["To"] = to_address
    message["Subject"] = " ".join(subject.split())  # never a line break in a header
    message.set_content(body)
    if logs_instead(config):
        log.info("mail (no MAIL_SERVER set, not sent) to=%s subject=%s\n%s",
                 to_address, subject, body)
        return
    if not is_configured(config):
        raise MailNotConfigured("MAIL_SERVER is not set")
    with smtplib.SMTP(
        config["MAIL_SERVER"], int(config.get("MAIL_PORT", 25)),
        timeout=float(config.get("MAIL_TIMEOUT", 10)),
    ) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD", ""))
        smtp.send_message(message)
