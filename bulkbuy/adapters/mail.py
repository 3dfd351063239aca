"""Sending one e-mail over SMTP, or writing it to the log when SMTP is not set up.

Settings: MAIL_SERVER, MAIL_PORT (25), MAIL_USERNAME, MAIL_PASSWORD,
MAIL_USE_TLS (STARTTLS), MAIL_FROM, MAIL_TIMEOUT (seconds).
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

log = logging.getLogger(__name__)


def is_configured(config) -> bool:
    return bool(config.get("MAIL_SERVER"))


def send(config, to_address: str, subject: str, body: str) -> None:
    """Deliver one message, or log it when no MAIL_SERVER is set. Raises on SMTP failure."""
    message = EmailMessage()
    message["From"] = config.get("MAIL_FROM", "bulkbuy <no-reply@bulkbuy.invalid>")
    message["To"] = to_address
    message["Subject"] = " ".join(subject.split())  # never a line break in a header
    message.set_content(body)
    if not is_configured(config):
        log.info("mail (no MAIL_SERVER set, not sent) to=%s subject=%s\n%s",
                 to_address, subject, body)
        return
    with smtplib.SMTP(
        config["MAIL_SERVER"], int(config.get("MAIL_PORT", 25)),
        timeout=float(config.get("MAIL_TIMEOUT", 10)),
    ) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD", ""))
        smtp.send_message(message)
