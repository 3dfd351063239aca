"""Messages to households, written to the outbox in the same transaction as their cause.

The mail sweep sends them after the commit (`sweeps.send_outbox`). Every message has
a unique key, so queueing the same news twice is harmless. Their words are templates
under bulkbuy/templates/email/, rendered by `emails` (see there).

Each e-mail is written in its reader's language: to a household's people, the
household's language (households.locale), else the person's (users.locale), else
English; to a person outside a household (an account's own news, a join link), the
person's language, else the request's. Readers are grouped by language, so a template
renders under `flask_babel.force_locale` once per language, not once per reader.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import flask_babel
from flask import current_app
from sqlalchemy import and_, exists, insert, select, update

from bulkbuy import i18n
from bulkbuy.adapters import mail
from bulkbuy.domain.savings import saving
from bulkbuy.extensions import db
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
from bulkbuy.services import drop_ins, emails

log = logging.getLogger(__name__)
REMINDER_BEFORE = timedelta(hours=24)
#: How many drop-in times an e-mail telling people to pay in cash names.
EMAIL_DROP_INS = 2
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


def household_language(household_locale: str | None, user_locale: str | None) -> str:
    """The language of an e-mail to a household's member: the household's, else the
    person's, else English."""
    return i18n.normalise(household_locale) or i18n.normalise(user_locale) or i18n.DEFAULT


def person_language(user: User | None) -> str:
    """The language of an e-mail to a person outside a household (their account's news,
    a join link): theirs, else the request's (English outside a request)."""
    return i18n.normalise(getattr(user, "locale", None)) or i18n.current()


def by_language(rows: Iterable[tuple], household_locale_at: int = -2,
                user_locale_at: int = -1) -> dict[str, list[tuple]]:
    """`rows` grouped by `household_language` of the household's and the person's
    locales found at those places in each row; each group keeps the rows' order (all
    English: one group, in order)."""
    groups: dict[str, list[tuple]] = {}
    known: dict[tuple, str] = {}
    for row in rows:
        pair = (row[household_locale_at], row[user_locale_at])
        code = known.get(pair)
        if code is None:
            code = known[pair] = household_language(*pair)
        groups.setdefault(code, []).append(row)
    return groups


def _people_by_language(household_ids) -> dict[str, list[tuple[int, User]]]:
    """`_people`, grouped by the language their e-mails are written in (see
    `household_language`): {code: [(household id, user), ...]}."""
    if not household_ids:
        return {}
    rows = db.session.execute(
        select(Membership.household_id, User, Household.locale)
        .join(User, Membership.user_id == User.id)
        .join(Household, Household.id == Membership.household_id)
        .where(Membership.household_id.in_(list(household_ids)))
        .order_by(User.id)
    ).all()
    grouped = by_language((household_id, user, household_locale, user.locale)
                          for household_id, user, household_locale in rows)
    return {code: [(row[0], row[1]) for row in group] for code, group in grouped.items()}


def queue_round_results(rnd: Round) -> None:
    """Tell each pledging household with an e-mail what it gets and what it owes.

    Written for big rounds: plain rows rather than ORM objects, the e-mail template
    (email/round_results.txt) compiled once and its body rendered per household, and
    the messages added with one bulk INSERT (keys already in the outbox are skipped,
    as `_queue` does).
    """
    statements = {
        household_id: (fee_pence, total_pence)
        for household_id, fee_pence, total_pence in db.session.execute(
            select(Statement.household_id, Statement.fee_pence, Statement.total_pence)
            .where(Statement.round_id == rnd.id)
        )
    }
    lines: dict[int, list[tuple[str, int, int, int]]] = {}
    # What each bill saved against shop prices: the statement page's sum
    # (bulkbuy.domain.savings, as statements.savings_of), from the same rows.
    priced: dict[int, list[tuple[int, int, int | None]]] = {}
    for household_id, item_name, quantity, units, amount_pence, shop_pence in db.session.execute(
        select(Statement.household_id, RoundItem.name, StatementLine.quantity,
               StatementLine.units, StatementLine.amount_pence, RoundItem.retail_price_pence)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .join(RoundItem, StatementLine.round_item_id == RoundItem.id)
        .where(Statement.round_id == rnd.id)
        .order_by(RoundItem.name)
    ):
        lines.setdefault(household_id, []).append((item_name, quantity, units, amount_pence))
        priced.setdefault(household_id, []).append((units, amount_pence, shop_pence))
    savings = {household_id: saving(rows) for household_id, rows in priced.items()}
    people = db.session.execute(
        select(Membership.household_id, User.id, User.name, User.email, Household.locale,
               User.locale)
        .join(User, Membership.user_id == User.id)
        .join(Statement, Statement.household_id == Membership.household_id)
        .join(Household, Household.id == Membership.household_id)
        .where(Statement.round_id == rnd.id)
        .order_by(User.id)
    ).all()
    prefix = f"round-result:{rnd.id}:"
    taken = set(db.session.scalars(
        select(OutboxMessage.key).where(OutboxMessage.key.startswith(prefix, autoescape=True))
    ))
    # The template is compiled once and its body rendered per household, in each
    # language in turn.
    results = emails.template("round_results")
    shared = {"round_title": rnd.title, "url": _round_url(rnd)}
    messages = []
    for code, readers in by_language(people).items():
        with flask_babel.force_locale(code):
            subject = results.subject(**shared)
            for household_id, user_id, user_name, email, _h, _u in readers:
                key = f"{prefix}{user_id}"
                if key in taken:
                    continue
                taken.add(key)
                fee_pence, total_pence = statements[household_id]
                body = results.body(name=user_name, lines=lines.get(household_id, ()),
                                    fee_pence=fee_pence, total_pence=total_pence,
                                    saving=savings.get(household_id), **shared)
                messages.append({"key": key, "to_address": email, "subject": subject,
                                 "body": body, "created_at": rnd.closed_at, "attempts": 0})
    if messages:
        db.session.execute(insert(OutboxMessage.__table__), messages)


def queue_round_failed(rnd: Round, household_ids) -> None:
    """Tell every pledging household with an e-mail that the round did not go ahead."""
    failed = emails.template("round_failed")
    for code, people in _people_by_language(household_ids).items():
        with flask_babel.force_locale(code):
            for _household_id, user in people:
                subject, body = failed.render(name=user.name, round_title=rnd.title,
                                              min_order_pence=rnd.min_order_pence or 0,
                                              url=_round_url(rnd))
                _queue(f"round-failed:{rnd.id}:{user.id}", user.email, subject, body,
                       rnd.closed_at)


def queue_round_cancelled(rnd: Round, now: datetime) -> None:
    """Tell every household with an e-mail that ordered in the round that it is cancelled."""
    pledgers = db.session.scalars(
        select(PledgeLine.household_id).where(PledgeLine.round_id == rnd.id).distinct()
    ).all()
    cancelled = emails.template("round_cancelled")
    # Where cash paid is handed back.
    times = drop_ins.upcoming(rnd.group_id, now, limit=EMAIL_DROP_INS) if pledgers else []
    for code, people in _people_by_language(pledgers).items():
        with flask_babel.force_locale(code):
            for _household_id, user in people:
                subject, body = cancelled.render(name=user.name, round_title=rnd.title,
                                                 url=_round_url(rnd), drop_ins=times,
                                                 timezone=rnd.group.timezone)
                _queue(f"round-cancelled:{rnd.id}:{user.id}", user.email, subject, body, now)


def queue_round_ordered(rnd: Round, now: datetime) -> None:
    """Tell the people (with an e-mail) of every household that gets something from the
    round that it is ordered and the day delivery is expected. Keyed by round, day, the
    round's version (a day moved away and back is news again), household and person: a
    retry sends nothing twice, each change of day is sent once."""
    getting = db.session.scalars(
        select(Statement.household_id).where(
            Statement.round_id == rnd.id,
            exists().where(and_(StatementLine.statement_id == Statement.id,
                                StatementLine.units > 0)),
        )
    ).all()
    ordered = emails.template("round_ordered")
    day = rnd.expected_delivery_on
    for code, people in _people_by_language(getting).items():
        with flask_babel.force_locale(code):
            for household_id, user in people:
                subject, body = ordered.render(name=user.name, round_title=rnd.title,
                                               expected_on=day, url=_round_url(rnd))
                _queue(f"round-ordered:{rnd.id}:{day.isoformat()}:v{rnd.version}:"
                       f"{household_id}:{user.id}",
                       user.email, subject, body, now)


def queue_delivery_changed(rnd: Round, bills: dict, versions: dict[int, int],
                           now: datetime) -> None:
    """Tell the people (with an e-mail) of each household in `bills` what changed on its
    bill when the delivery was saved. `bills` maps household id to a dict of the
    template's values (changes, total_pence, card_back_pence, owed_back_pence,
    still_to_pay_pence); `versions` maps it to the newest save (delivery_version) the
    news covers. Keyed by round, save, household and person: a retry sends nothing
    twice, and each later save that changes a bill is news."""
    changed = emails.template("delivery_changed")
    url = _round_url(rnd)
    prefix = f"delivery-changed:{rnd.id}:"
    # One look for keys already queued (a retry) and one bulk INSERT, as
    # queue_round_results does: a big round changes thousands of bills at once.
    queued = set(db.session.scalars(select(OutboxMessage.key).where(
        OutboxMessage.key.startswith(prefix, autoescape=True))))
    rows = []
    for code, people in _people_by_language(bills).items():
        with flask_babel.force_locale(code):
            for household_id, user in people:
                key = f"{prefix}v{versions[household_id]}:{household_id}:{user.id}"
                if key in queued:
                    continue
                subject, body = changed.render(name=user.name, round_title=rnd.title,
                                               url=url, **bills[household_id])
                rows.append({"key": key, "to_address": user.email, "subject": subject,
                             "body": body, "created_at": now})
    if rows:
        db.session.execute(insert(OutboxMessage.__table__), rows)


def queue_reminders(now: datetime) -> int:
    """Queue, once per round, a reminder 24 hours before the deadline to households
    of the group that have not ordered yet; none for a round that opened (`opens_at`,
    set by rounds.open_round) less than 24 hours before its deadline. Returns how
    many rounds were handled."""
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
        opened = rnd.opens_at or rnd.created_at
        if rnd.closes_at - opened < REMINDER_BEFORE:
            continue  # it opened less than a day before its deadline: no "last day" mail
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
        reminder = emails.template("reminder")
        # The next drop-in before the deadline, where they can order in person.
        drop_in = next(iter(drop_ins.upcoming(rnd.group_id, now, until=rnd.closes_at,
                                              limit=1)), None)
        for code, people in _people_by_language(quiet).items():
            with flask_babel.force_locale(code):
                for _household_id, user in people:
                    subject, body = reminder.render(
                        name=user.name, round_title=rnd.title, closes_at=rnd.closes_at,
                        timezone=rnd.group.timezone, url=_round_url(rnd), drop_in=drop_in)
                    _queue(f"reminder:{rnd.id}:{user.id}", user.email, subject, body, now)
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
    if not mail.can_send(current_app.config):
        # Not one attempt used up: each message goes once MAIL_SERVER is set.
        log.warning("%d or more e-mails wait in the outbox: MAIL_SERVER is not set",
                    len(messages))
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
    needs_action = emails.template("payment_needs_action")
    # Where to pay in cash instead.
    times = drop_ins.upcoming(rnd.group_id, now, limit=EMAIL_DROP_INS)
    for code, people in _people_by_language([statement.household_id]).items():
        with flask_babel.force_locale(code):
            for _household_id, user in people:
                subject, body = needs_action.render(
                    name=user.name, round_title=rnd.title, reason=reason,
                    url=_pay_url(statement),
                    owed_pence=statement.total_pence - statement.paid_pence,
                    drop_ins=times, timezone=rnd.group.timezone)
                _queue(f"payment-needs-action:{statement.id}:{reason}:{user.id}", user.email,
                       subject, body, now)


def queue_join_link(group, pending, url: str, now: datetime) -> None:
    """The link that makes a new account and its household (see services.joining), in
    the language of the request it was asked for in (there is no account yet)."""
    subject, body = emails.render_email(
        "join_link", name=pending.name, group_name=group.name,
        household=pending.household_label, url=url)
    _queue(f"join-link:{pending.id}", pending.email, subject, body, now)


def queue_join_existing(group, user: User, url: str, now: datetime) -> None:
    """Someone asked to join `group` with the address of an existing account: tell its
    owner (at most once a day per group), and how to join with the account, in the
    owner's language (see `person_language`)."""
    with flask_babel.force_locale(person_language(user)):
        subject, body = emails.render_email(
            "join_existing", name=user.name, group_name=group.name, url=url)
    _queue(f"join-existing:{group.id}:{user.id}:{now:%Y-%m-%d}", user.email, subject, body,
           now)
