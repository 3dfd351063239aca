"""Messages to households, written to the outbox in the same transaction as their cause.

The mail sweep sends them after the commit (`sweeps.send_outbox`). Every message has
a unique key, so queueing the same news twice is harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, exists, insert, select, update

from bulkbuy.adapters import mail
from bulkbuy.domain.money import format_pence
from bulkbuy.extensions import db
from bulkbuy.formatting import when
from bulkbuy.models import (
    Household,
    Membership,
    OutboxMessage,
    PledgeLine,
    Round,
    RoundItem,
    Statement,
    StatementLine,
    User,
)

log = logging.getLogger(__name__)
REMINDER_BEFORE = timedelta(hours=24)
MAX_ATTEMPTS = 10


def _round_url(rnd: Round) -> str:
    base = current_app.config.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    return f"{base}/rounds/{rnd.id}"


def _queue(key: str, to_address: str, subject: str, body: str, now: datetime) -> None:
    already = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key))
    if already is None:
        db.session.add(
            OutboxMessage(key=key, to_address=to_address, subject=subject, body=body,
                          created_at=now)
        )


def _people(household_ids) -> list[tuple[int, User]]:
    """(household id, user) for every user with an e-mail in these households."""
    if not household_ids:
        return []
    rows = db.session.execute(
        select(Membership.household_id, User)
        .join(User, Membership.user_id == User.id)
        .where(Membership.household_id.in_(list(household_ids)))
        .order_by(User.id)
    ).all()
    return [(household_id, user) for household_id, user in rows]


def queue_round_results(rnd: Round) -> None:
    """Tell each pledging household with an e-mail what it gets and what it owes.

    Written for big rounds: plain rows rather than ORM objects, each template
    translated once, and the messages added with one bulk INSERT (keys already
    in the outbox are skipped, as `_queue` does).
    """
    statements = {
        household_id: (fee_pence, total_pence)
        for household_id, fee_pence, total_pence in db.session.execute(
            select(Statement.household_id, Statement.fee_pence, Statement.total_pence)
            .where(Statement.round_id == rnd.id)
        )
    }
    lines: dict[int, list[tuple[str, int, int, int]]] = {}
    for household_id, item_name, quantity, units, amount_pence in db.session.execute(
        select(Statement.household_id, RoundItem.name, StatementLine.quantity,
               StatementLine.units, StatementLine.amount_pence)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .join(RoundItem, StatementLine.round_item_id == RoundItem.id)
        .where(Statement.round_id == rnd.id)
        .order_by(RoundItem.name)
    ):
        lines.setdefault(household_id, []).append((item_name, quantity, units, amount_pence))
    people = db.session.execute(
        select(Membership.household_id, User.id, User.name, User.email)
        .join(User, Membership.user_id == User.id)
        .join(Statement, Statement.household_id == Membership.household_id)
        .where(Statement.round_id == rnd.id)
        .order_by(User.id)
    ).all()
    prefix = f"round-result:{rnd.id}:"
    taken = set(db.session.scalars(
        select(OutboxMessage.key).where(OutboxMessage.key.startswith(prefix, autoescape=True))
    ))
    # gettext() without variables returns the translated template, unformatted.
    hello = _("Hello %(name)s,")
    closed = _("Orders for %(round)s are closed. This is what you get:") % {"round": rnd.title}
    line_text = _("%(item)s: you asked for %(asked)s, you get %(units)s, %(amount)s")
    fee_text = _("Your share of delivery: %(fee)s")
    owe_text = _("You owe %(total)s.")
    details = _("See the details: %(url)s") % {"url": _round_url(rnd)}
    subject = _("What you get from %(round)s") % {"round": rnd.title}
    messages = []
    for household_id, user_id, user_name, email in people:
        key = f"{prefix}{user_id}"
        if key in taken:
            continue
        taken.add(key)
        fee_pence, total_pence = statements[household_id]
        body = [hello % {"name": user_name}, "", closed, ""]
        for item_name, quantity, units, amount_pence in lines.get(household_id, []):
            body.append(line_text % {"item": item_name, "asked": quantity, "units": units,
                                     "amount": format_pence(amount_pence)})
        if fee_pence:
            body.append(fee_text % {"fee": format_pence(fee_pence)})
        body += ["", owe_text % {"total": format_pence(total_pence)}, "", details]
        messages.append({"key": key, "to_address": email, "subject": subject,
                         "body": "\n".join(body), "created_at": rnd.closed_at, "attempts": 0})
    if messages:
        db.session.execute(insert(OutboxMessage.__table__), messages)


def queue_round_failed(rnd: Round, household_ids) -> None:
    """Tell every pledging household with an e-mail that the round did not go ahead."""
    for _household_id, user in _people(household_ids):
        body = "\n".join([
            _("Hello %(name)s,", name=user.name), "",
            _("%(round)s did not go ahead. The orders did not reach %(min)s.",
              round=rnd.title, min=format_pence(rnd.min_order_pence or 0)),
            _("Nobody pays anything, and nothing will be delivered."), "",
            _round_url(rnd),
        ])
        _queue(f"round-failed:{rnd.id}:{user.id}", user.email,
               _("%(round)s did not go ahead", round=rnd.title), body, rnd.closed_at)


def queue_round_cancelled(rnd: Round, now: datetime) -> None:
    """Tell every household with an e-mail that ordered in the round that it is cancelled."""
    pledgers = db.session.scalars(
        select(PledgeLine.household_id).where(PledgeLine.round_id == rnd.id).distinct()
    ).all()
    for _household_id, user in _people(pledgers):
        body = "\n".join([
            _("Hello %(name)s,", name=user.name), "",
            _("%(round)s was cancelled. Nobody pays anything, and nothing will be delivered.",
              round=rnd.title),
            _("If you already paid, you get all of it back: to your card, or in cash at a "
              "drop-in session."), "",
            _round_url(rnd),
        ])
        _queue(f"round-cancelled:{rnd.id}:{user.id}", user.email,
               _("%(round)s was cancelled", round=rnd.title), body, now)


def queue_reminders(now: datetime) -> int:
    """Queue, once per round, a reminder 24 hours before the deadline to households
    of the group that have not ordered yet. Returns how many rounds were handled."""
    due = db.session.scalars(
        select(Round).where(
            Round.status == "open",
            Round.reminder_queued_at.is_(None),
            Round.closes_at > now,
            Round.closes_at <= now + REMINDER_BEFORE,
        )
    ).all()
    handled = 0
    for rnd in due:
        claimed = db.session.execute(
            update(Round)
            .where(Round.id == rnd.id, Round.reminder_queued_at.is_(None))
            .values(reminder_queued_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            continue
        quiet = db.session.scalars(
            select(Household.id).where(
                Household.group_id == rnd.group_id,
                ~exists().where(
                    and_(PledgeLine.round_id == rnd.id, PledgeLine.household_id == Household.id)
                ),
            )
        ).all()
        for _household_id, user in _people(quiet):
            body = "\n".join([
                _("Hello %(name)s,", name=user.name), "",
                _("%(round)s closes %(when)s. You have not ordered anything yet.",
                  round=rnd.title, when=when(rnd.closes_at, rnd.group.timezone)),
                _("Order here: %(url)s", url=_round_url(rnd)),
            ])
            _queue(f"reminder:{rnd.id}:{user.id}", user.email,
                   _("Last day to order: %(round)s", round=rnd.title), body, now)
        handled += 1
    return handled


def send_batch(now: datetime, tried: set[int], batch: int = 20) -> int | None:
    """Send up to `batch` queued messages not in `tried` (their ids are added); returns
    how many were sent, or None when none was waiting. The caller commits the batch.

    A message that fails keeps its error and is tried again by a later sweep, up
    to MAX_ATTEMPTS times. On PostgreSQL the batch's rows stay locked until the
    commit (SKIP LOCKED), so two sweepers never take the same message. A crash
    after the SMTP hand-over but before the commit can send a message twice: mail
    is at-least-once, never lost.
    """
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.attempts < MAX_ATTEMPTS,
            OutboxMessage.id.not_in(tried) if tried else True,
        )
        .order_by(OutboxMessage.id)
        .limit(batch)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    messages = db.session.scalars(query).all()
    if not messages:
        return None
    sent = 0
    for message in messages:
        tried.add(message.id)
        message.attempts += 1
        try:
            mail.send(current_app.config, message.to_address, message.subject, message.body)
        except Exception as error:  # noqa: BLE001 - any failure means "try later"
            message.last_error = f"{type(error).__name__}: {error}"[:500]
            log.warning("sending mail %s failed: %s", message.id, message.last_error)
        else:
            message.sent_at = now
            sent += 1
    return sent


def _pay_url(statement: Statement) -> str:
    base = current_app.config.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    return f"{base}/pay/{statement.id}"


def queue_payment_needs_action(statement: Statement, reason: str, now: datetime) -> None:
    """Tell a household's people that their card payment needs them, with our page's link.

    Keyed by statement and reason, so a repeat of the same news is not sent twice.
    """
    rnd = statement.round
    owed = format_pence(statement.total_pence - statement.paid_pence)
    why = {
        "authentication": _("Your bank wants you to confirm the payment."),
        "declined": _("Your card did not work."),
        "over_consent": _("It is more than you agreed we could take from your card."),
    }.get(reason, _("We could not take the payment from your card."))
    for _household_id, user in _people([statement.household_id]):
        body = "\n".join([
            _("Hello %(name)s,", name=user.name), "",
            _("You owe %(owed)s for %(round)s.", owed=owed, round=rnd.title),
            why,
            _("Please pay on this page. You can use another card there:"), "",
            _pay_url(statement), "",
            _("Or pay in cash at a drop-in session."),
        ])
        _queue(f"payment-needs-action:{statement.id}:{reason}:{user.id}", user.email,
               _("Please pay for %(round)s", round=rnd.title), body, now)
