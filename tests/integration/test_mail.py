"""E-mail from the outbox to a real SMTP server on loopback (aiosmtpd), on both databases.

The app sends with smtplib to 127.0.0.1 on a free port; the server keeps what it receives.
"""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import OutboxMessage
from bulkbuy.services import closing, notifications
from tests import factories
from tests.conftest import make_app
from tests.integration.helpers.closing_checks import pledge

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
AFTER = T0 + timedelta(days=3, minutes=1)


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"

    def body(self, index: int) -> str:
        return self.messages[index][1].get_body().get_content()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPServer:
    def __init__(self, port: int):
        self.port = port
        self.inbox = Inbox()
        self.controller = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None



@pytest.fixture
def smtp():
    server = SMTPServer(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_app(db_url, smtp):
    """The app pointed at the loopback SMTP server (which each test starts when it wants)."""
    app = make_app(db_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_TIMEOUT=5,
                   MAIL_FROM="bulkbuy <no-reply@bulkbuy.test>")
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    ctx.pop()
    with app.app_context():
        db.engine.dispose()


def closed_round() -> factories.World:
    """Two households pledge for a case of tomatoes of 12; the round is closed and committed."""
    w = factories.world(residents=3, now=T0, closes_in=timedelta(days=3))
    w.round.delivery_fee_pence = 600
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 8, now=T0)
    pledge(w, 1, "Tinned tomatoes", 4, now=T0)
    pledge(w, 1, "Rice", 3, now=T0)
    assert closing.close_round(w.round.id, AFTER).status == "closed"
    db.session.commit()
    return w


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_the_round_result_email_reaches_the_smtp_server_with_lines_and_total(mail_app, smtp):
    smtp.start()
    w = closed_round()

    assert sweeps.sweep_notifications(AFTER) == 2

    by_address = {tuple(rcpt): i for i, (rcpt, _) in enumerate(smtp.inbox.messages)}
    assert set(by_address) == {("r1@oak.test",), ("r2@oak.test",)}
    second = smtp.inbox.messages[by_address[("r2@oak.test",)]][1]
    assert second["Subject"] == "What you get from Test round"
    assert second["From"] == "bulkbuy <no-reply@bulkbuy.test>"
    assert second["To"] == "r2@oak.test"
    body = smtp.inbox.body(by_address[("r2@oak.test",)])
    # £10 for a case of 12 shared 8:4 -> 667p and 333p; no case of rice; £6 delivery
    # shared by goods value over those who get something -> 400p and 200p.
    assert "Tinned tomatoes: you asked for 4, you get 4, £3.33" in body
    assert "Rice: you asked for 3, you get 0, £0" in body
    assert "Your share of delivery: £2" in body
    assert "You owe £5.33." in body
    assert f"/rounds/{w.round.id}" in body
    first_body = smtp.inbox.body(by_address[("r1@oak.test",)])
    assert "Tinned tomatoes: you asked for 8, you get 8, £6.67" in first_body
    assert "You owe £10.67." in first_body
    assert all(m.sent_at == AFTER and m.attempts == 1 and m.last_error is None
               for m in outbox())


def test_a_message_is_sent_once_however_many_sweeps_run(mail_app, smtp):
    smtp.start()
    closed_round()
    assert sweeps.sweep_notifications(AFTER) == 2

    assert sweeps.sweep_notifications(AFTER + timedelta(seconds=30)) == 0
    assert sweeps.send_outbox(AFTER + timedelta(minutes=1)) == 0

    assert len(smtp.inbox.messages) == 2
    assert [m.attempts for m in outbox()] == [1, 1]


def test_when_the_smtp_server_is_down_mail_stays_queued_and_a_later_sweep_sends_it(
    mail_app, smtp
):
    closed_round()  # nothing listens on the port yet

    assert sweeps.sweep_notifications(AFTER) == 0

    queued = outbox()
    assert len(queued) == 2
    for message in queued:
        assert (message.sent_at, message.attempts) == (None, 1)
        assert message.last_error.startswith("ConnectionRefusedError")

    smtp.start()
    later = AFTER + timedelta(seconds=30)
    assert sweeps.sweep_notifications(later) == 2

    assert sorted(rcpt for rcpt, _ in smtp.inbox.messages) == [["r1@oak.test"], ["r2@oak.test"]]
    assert [(m.sent_at, m.attempts) for m in outbox()] == [(later, 2), (later, 2)]
    assert sweeps.sweep_notifications(later + timedelta(seconds=30)) == 0
    assert len(smtp.inbox.messages) == 2


def test_a_message_that_keeps_failing_is_given_up_after_max_attempts(mail_app, smtp):
    closed_round()
    for message in outbox():
        message.attempts = notifications.MAX_ATTEMPTS - 1
    db.session.commit()

    assert sweeps.sweep_notifications(AFTER) == 0
    assert [m.attempts for m in outbox()] == [notifications.MAX_ATTEMPTS] * 2

    smtp.start()
    assert sweeps.sweep_notifications(AFTER + timedelta(minutes=1)) == 0
    assert smtp.inbox.messages == []
    assert all(m.sent_at is None for m in outbox())


def test_without_a_mail_server_messages_are_logged_and_marked_sent(app, caplog, monkeypatch):
    assert not app.config.get("MAIL_SERVER")
    # migrations/env.py calls logging.config.fileConfig(), which disables every logger
    # that exists when the test schema is migrated in this process; undo that here.
    monkeypatch.setattr(logging.getLogger("bulkbuy.adapters.mail"), "disabled", False)
    closed_round()

    with caplog.at_level(logging.INFO, logger="bulkbuy.adapters.mail"):
        assert sweeps.sweep_notifications(AFTER) == 2

    logged = [r.getMessage() for r in caplog.records if r.name == "bulkbuy.adapters.mail"]
    assert len(logged) == 2
    assert any("to=r2@oak.test" in line and "What you get from Test round" in line
               and "You owe £5.33." in line for line in logged)
    assert all(m.sent_at == AFTER and m.attempts == 1 for m in outbox())
    assert sweeps.sweep_notifications(AFTER + timedelta(seconds=30)) == 0
