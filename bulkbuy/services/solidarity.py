"""The group's solidarity pot: donations in, help out at close, to the penny.

The pot is a ledger (`SolidarityEntry`: positive in, negative out) whose sum, the
balance, is never negative: money only goes out at close (`apply_at_close`), which
locks the group's row and reads the balance again under that lock, so two rounds of
one group closing at once never spend the same pence (SQLite serialises writers).

At close, supported households' bills are shared the pot by `domain.solidarity` (fees
first, then a share of goods up to a cap, largest remainder when the pot is short). The
help is paid onto each bill as credit is (`statements.paid_pence`, and how much of that
came from the pot in `statements.pot_pence`): a bill the pot covers whole is paid. The
household pays total − pot. Who is supported is private to staff and the household.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from bulkbuy.domain.money import format_pence
from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.domain.pot_gifts import (
    FIXED,
    GIFT_KINDS,
    ROUND_UP,
    GiftChoice,
    check_gift_amount,
    gift_within,
)
from bulkbuy.domain.solidarity import Claim, PotRule, share_pot
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import (
    Group,
    Household,
    Round,
    SolidarityEntry,
    SolidaritySettings,
    Statement,
    SupportedHousehold,
    User,
)
from bulkbuy.services import ServiceError, audit, writes

#: The most one donation may be (£100,000): a typing slip, not a grant.
MAX_DONATION_PENCE = 10_000_000
#: Entries shown on the pot page, newest first.
SHOWN_ENTRIES = 200


@dataclass(frozen=True)
class PotTotals:
    """What went into the pot, what went out (a positive number), and what is left."""

    in_pence: int
    out_pence: int

    @property
    def balance_pence(self) -> int:
        return self.in_pence - self.out_pence


@dataclass(frozen=True)
class PotPage:
    """Everything the organiser's pot page shows."""

    totals: PotTotals
    entries: list[SolidarityEntry]
    goods_share_percent: int
    cap_pence: int | None
    #: The group's households (removed ones left out), by name, and whether each is
    #: supported.
    households: list[tuple[Household, bool]]


def totals(group_id: int) -> PotTotals:
    """The pot's money in and out, one query."""
    money_in, money_out = db.session.execute(
        select(func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.amount_pence > 0), 0),
               func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.amount_pence < 0), 0))
        .where(SolidarityEntry.group_id == group_id)).one()
    return PotTotals(int(money_in), -int(money_out))


def totals_of(group_ids) -> dict[int, PotTotals]:
    """Each of these groups' pot totals (as `totals`), one query for them all (none for
    no groups); a group whose pot never had an entry is left out. For members: sums
    only, never who was helped."""
    ids = sorted(set(group_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(SolidarityEntry.group_id,
               func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.amount_pence > 0), 0),
               func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.amount_pence < 0), 0))
        .where(SolidarityEntry.group_id.in_(ids))
        .group_by(SolidarityEntry.group_id))
    return {group_id: PotTotals(int(money_in), -int(money_out))
            for group_id, money_in, money_out in rows}


def balance(group_id: int) -> int:
    """The pot's balance in pence (never negative)."""
    return int(db.session.scalar(
        select(func.coalesce(func.sum(SolidarityEntry.amount_pence), 0))
        .where(SolidarityEntry.group_id == group_id)) or 0)


def rule(group_id: int) -> PotRule:
    """The group's rule: its share of goods as an exact fraction and its cap (no
    settings yet: fees only, no cap)."""
    settings = db.session.get(SolidaritySettings, group_id)
    if settings is None:
        return PotRule(goods_share=Fraction(0))
    return PotRule(goods_share=Fraction(settings.goods_share_percent, 100),
                   cap_pence=settings.cap_pence)


def supported_ids(group_id: int) -> set[int]:
    """Ids of the households the group's pot supports now."""
    return set(db.session.scalars(
        select(SupportedHousehold.household_id)
        .where(SupportedHousehold.group_id == group_id,
               SupportedHousehold.unmarked_at.is_(None))))


def pot_page(group: Group) -> PotPage:
    """The balance, totals, latest entries, rule and households of the group's pot."""
    settings = db.session.get(SolidaritySettings, group.id)
    entries = list(db.session.scalars(
        select(SolidarityEntry).where(SolidarityEntry.group_id == group.id)
        .order_by(SolidarityEntry.recorded_at.desc(), SolidarityEntry.id.desc())
        .limit(SHOWN_ENTRIES)))
    supported = supported_ids(group.id)
    homes = db.session.scalars(
        select(Household).where(Household.group_id == group.id,
                                Household.removed_at.is_(None))
        .order_by(Household.label_key, Household.id))
    return PotPage(
        totals=totals(group.id), entries=entries,
        goods_share_percent=settings.goods_share_percent if settings else 0,
        cap_pence=settings.cap_pence if settings else None,
        households=[(h, h.id in supported) for h in homes])


def record_donation(group: Group, amount_pence: int, note: str | None, *, actor: User,
                    now: datetime) -> SolidarityEntry:
    """Put a donation into the group's pot. Audited. ServiceError for an amount that is
    not above 0 or is over MAX_DONATION_PENCE."""
    if amount_pence <= 0:
        raise ServiceError(_l("Enter an amount above £0.00."), field="amount")
    if amount_pence > MAX_DONATION_PENCE:
        raise ServiceError(_l("That is more than £100,000. Check the amount."),
                           field="amount")
    entry = SolidarityEntry(group_id=group.id, amount_pence=amount_pence, reason="donation",
                            note=note, recorded_by_id=actor.id, recorded_at=now)
    db.session.add(entry)
    db.session.flush()
    audit.record("solidarity.donation", actor=actor, group_id=group.id, subject=entry,
                 amount_pence=amount_pence, note=note)
    return entry


def save_rule(group: Group, goods_share_percent: int, cap_pence: int | None, *,
              actor: User, now: datetime) -> SolidaritySettings:
    """Set how much the pot pays a supported household in a round: a share of its goods
    (0–100 %) after its fee, and a cap per round (None: no cap). Audited."""
    if not 0 <= goods_share_percent <= 100:
        raise ServiceError(_l("The share of goods must be from 0 to 100."), field="share")
    if cap_pence is not None and cap_pence < 0:
        raise ServiceError(_l("The most per household cannot be below £0.00."), field="cap")
    settings = db.session.get(SolidaritySettings, group.id)
    before = (settings.goods_share_percent, settings.cap_pence) if settings else (0, None)
    if settings is None:
        settings = SolidaritySettings(group_id=group.id)
        db.session.add(settings)
    settings.goods_share_percent = goods_share_percent
    settings.cap_pence = cap_pence
    settings.updated_by_id = actor.id
    settings.updated_at = now
    db.session.flush()
    audit.record("solidarity.rule_changed", actor=actor, group_id=group.id,
                 share_before=before[0], cap_before_pence=before[1],
                 share_after=goods_share_percent, cap_after_pence=cap_pence)
    return settings


def set_supported(group: Group, household: Household, supported: bool, *, actor: User,
                  now: datetime) -> bool:
    """Mark the household as one the pot supports, or no longer. Returns whether anything
    changed (marking twice changes nothing). Audited when it changes."""
    if household.group_id != group.id or household.removed_at is not None:
        raise ServiceError(_l("That household is not in this group."))
    row = db.session.scalar(select(SupportedHousehold).where(
        SupportedHousehold.household_id == household.id).with_for_update())
    is_now = row is not None and row.unmarked_at is None
    if is_now == supported:
        return False
    if supported:
        if row is None:
            row = SupportedHousehold(group_id=group.id, household_id=household.id)
            db.session.add(row)
        row.marked_by_id, row.marked_at, row.unmarked_at = actor.id, now, None
    else:
        row.unmarked_at = now
    db.session.flush()
    audit.record("solidarity.supported" if supported else "solidarity.unsupported",
                 actor=actor, group_id=group.id, household_id=household.id)
    return True


def _locked_balance(group_id: int) -> int:
    """The balance, read while this transaction holds the group's row."""
    # FOR NO KEY UPDATE: closes wait for each other, but not for rows that merely refer
    # to the group (their KEY SHARE locks), which a close already holds.
    db.session.execute(select(Group.id).where(Group.id == group_id)
                       .with_for_update(key_share=True))
    return balance(group_id)


def apply_at_close(rnd: Round, now: datetime) -> int:
    """At close, before credit: the pot pays towards the new bills of `rnd` of the
    households it supports, as `domain.solidarity.share_pot` shares its balance. Each
    bill's help is paid onto it (paid_pence and pot_pence); a bill covered whole moves
    to paid. One ledger entry out per bill. Returns the pence spent (never more than the
    balance, read under a lock of the group's row)."""
    supported = supported_ids(rnd.group_id)
    if not supported:
        return 0  # one query for a group whose pot supports nobody
    statements = {s.household_id: s for s in db.session.scalars(
        select(Statement).where(Statement.round_id == rnd.id,
                                Statement.household_id.in_(supported),
                                Statement.payment_status == StatementStatus.DUE))}
    if not statements:
        return 0
    held = _locked_balance(rnd.group_id)
    if held <= 0:
        return 0
    # The fee share left after time credits (services.time_credits, applied first).
    claims = [Claim(s.household_id, s.position, s.fee_pence - s.time_credit_pence,
                    s.goods_pence)
              for s in statements.values()]
    share = share_pot(held, claims, rule(rnd.group_id))
    for household_id in sorted(share.helps):
        help_ = share.helps[household_id].total_pence
        if help_ <= 0:
            continue
        statement = statements[household_id]
        statement.pot_pence += help_
        statement.paid_pence += help_
        if statement.paid_pence == statement.total_pence:
            statement.payment_status = STATEMENT.move(statement.payment_status,
                                                      "pot_pays_rest")
        db.session.add(SolidarityEntry(
            group_id=rnd.group_id, amount_pence=-help_, reason="round_help",
            statement_id=statement.id, household_id=household_id, recorded_at=now))
        audit.record("solidarity.help", actor=None, group_id=rnd.group_id,
                     household_id=household_id, subject=statement, amount_pence=help_,
                     fee_help_pence=share.helps[household_id].fee_pence)
    db.session.flush()
    return share.spent_pence


def pay_write_off(statement: Statement, *, actor: User, now: datetime) -> int:
    """An organiser pays what a household still owes from the group's pot, instead of
    writing it off as the round's deficit: the pot pays the rest onto the bill as it
    pays help at close (paid_pence and pot_pence; the bill is then paid), with one
    'write_off' entry out of the pot for the bill. Only while the bill is due (not while
    a card is being charged or waits for the household), and only when the pot's
    balance, read under a lock of the group's row, covers it all: the pot never goes
    below zero. Once (a guarded UPDATE). Audited. Returns the pence paid.

    When the bill shrinks on delivery or the round is cancelled, the pot gets it back
    as it gets its help back (delivery: 'help_given_back'; `give_back_help`)."""
    db.session.refresh(statement)
    if statement.payment_status != StatementStatus.DUE:
        if statement.payment_status == StatementStatus.CHARGING:
            raise ServiceError(_l("A card payment is being taken for this right now. "
                                  "Look again in a minute."))
        if statement.payment_status == StatementStatus.NEEDS_ACTION:
            raise ServiceError(_l("The pot cannot pay this while the card payment waits "
                                  "for the household. Write it off without the pot."))
        raise ServiceError(_l("Nothing is owed on this any more."))
    owed = statement.total_pence - statement.paid_pence
    if owed <= 0:
        raise ServiceError(_l("Nothing is owed on this any more."))
    group_id = statement.round.group_id
    held = _locked_balance(group_id)
    if held < owed:
        raise ServiceError(_l("The solidarity pot has %(held)s, not enough to pay %(owed)s.",
                              held=format_pence(held), owed=format_pence(owed)))
    moved = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id,
               Statement.payment_status.in_(STATEMENT.sources("pot_pays_rest")),
               Statement.paid_pence == statement.paid_pence,
               Statement.total_pence == statement.total_pence)
        .values(paid_pence=Statement.paid_pence + owed,
                pot_pence=Statement.pot_pence + owed,
                payment_status=STATEMENT.target("pot_pays_rest"), needs_action_reason=None)
        .execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        raise ServiceError(_l("This changed a moment ago. Look at it again."))
    entry = SolidarityEntry(group_id=group_id, amount_pence=-owed, reason="write_off",
                            statement_id=statement.id, household_id=statement.household_id,
                            recorded_by_id=actor.id, recorded_at=now)
    db.session.add(entry)
    db.session.flush()
    db.session.refresh(statement)
    drop_unpaid_card_gift(statement)  # paid without the card: no card gift to come
    audit.record("solidarity.write_off", actor=actor, group_id=group_id,
                 household_id=statement.household_id, subject=statement,
                 amount_pence=owed, pot_entry_id=entry.id)
    return owed


def give_back_help(rnd: Round, now: datetime) -> int:
    """A closed round was cancelled: what the pot paid on its bills goes back into the
    pot (one entry in per bill, of the same pence). To be called once, by the cancel
    (itself a guarded, once-only move). Returns the pence given back."""
    helped = db.session.execute(
        select(SolidarityEntry.statement_id, SolidarityEntry.household_id,
               func.sum(SolidarityEntry.amount_pence))
        .join(Statement, SolidarityEntry.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id,
               SolidarityEntry.reason.in_(("round_help", "write_off", "help_given_back")))
        .group_by(SolidarityEntry.statement_id, SolidarityEntry.household_id)).all()
    given = 0
    for statement_id, household_id, total in helped:
        if not total or total >= 0:
            continue
        db.session.add(SolidarityEntry(group_id=rnd.group_id, amount_pence=-total,
                                       reason="help_given_back", statement_id=statement_id,
                                       household_id=household_id, recorded_at=now))
        audit.record("solidarity.help_given_back", actor=None, group_id=rnd.group_id,
                     household_id=household_id, amount_pence=-total,
                     statement_id=statement_id)
        given += -total
    db.session.flush()
    return given


# --- gifts from households ----------------------------------------------------------------
#
# A household chooses a gift ("round my bill up to the next pound" or a fixed amount)
# when it agrees its card maximum (kept on its CardConsent, whose maximum includes it)
# or hands it over with cash. `statements.gift_pence` is the gift on the bill: what was
# received, plus a card gift decided at close and still to come with the card charge.
# The pot receives a gift only with money actually paid: one 'gift' entry per card
# charge or cash payment (unique on the payment), so an answer seen twice adds it once.
# When that money goes back (the round is cancelled after close, or the cash is handed
# back or reversed), the gift goes back too, as far as the pot's balance goes: the pot
# is never negative, so a gift it has already spent stays given (and, for a card, that
# part of the charge is not refunded).


def gift_cap_pence() -> int:
    """The largest gift one bill may carry (config POT_GIFT_MAX_PENCE, £20 by default)."""
    return int(current_app.config.get("POT_GIFT_MAX_PENCE", 2000))


def gift_choice(kind: str | None, fixed_pence: int | None) -> GiftChoice | None:
    """The household's choice from a form: None for no gift. ServiceError (nothing
    changes) for an unknown kind, a fixed amount of 0 or less, or over the cap."""
    if not kind or kind == "none":
        return None
    if kind == ROUND_UP:
        return GiftChoice(ROUND_UP)
    if kind != FIXED:
        raise ServiceError(_l("Choose a gift from the list."), field="gift")
    if fixed_pence is None or fixed_pence <= 0:
        raise ServiceError(_l("Enter a gift above £0.00, or choose no gift."), field="gift")
    check_cash_gift(fixed_pence)
    return GiftChoice(FIXED, fixed_pence)


def check_cash_gift(gift_pence: int) -> None:
    """ServiceError for a gift below 0 or over the cap; nothing changes."""
    problem = check_gift_amount(gift_pence, gift_cap_pence())
    if problem == "negative":
        raise ServiceError(_l("A gift cannot be below £0.00."), field="gift")
    if problem == "over_cap":
        raise ServiceError(_l("A gift can be at most %(most)s. Thank you all the same!",
                              most=format_pence(gift_cap_pence())), field="gift")


def choice_of(consent) -> GiftChoice | None:
    """The gift choice kept on a card consent, or None."""
    if consent is None or consent.gift_kind not in GIFT_KINDS:
        return None
    if consent.gift_kind == ROUND_UP:
        return GiftChoice(ROUND_UP)
    return GiftChoice(FIXED, consent.gift_fixed_pence or 0) if consent.gift_fixed_pence \
        else None


def gift_received_pence(statement_id: int) -> int:
    """What the pot holds of this bill's gifts (gifts less gifts given back)."""
    return gifts_received([statement_id]).get(statement_id, 0)


def gifts_received(statement_ids) -> dict[int, int]:
    """gift_received_pence of each of these bills, one query (none for no bills); a bill
    whose gifts came to nothing is left out."""
    ids = sorted(set(statement_ids))
    if not ids:
        return {}
    return {statement_id: int(total) for statement_id, total in db.session.execute(
        select(SolidarityEntry.statement_id, func.sum(SolidarityEntry.amount_pence))
        .where(SolidarityEntry.statement_id.in_(ids),
               SolidarityEntry.reason.in_(("gift", "gift_given_back")))
        .group_by(SolidarityEntry.statement_id)) if total}


def card_gift_kept_pence(card_payment_id: int) -> int:
    """Of a card charge, what the pot keeps as a gift (received less given back)."""
    return int(db.session.scalar(
        select(func.coalesce(func.sum(SolidarityEntry.amount_pence), 0))
        .where(SolidarityEntry.card_payment_id == card_payment_id,
               SolidarityEntry.reason.in_(("gift", "gift_given_back")))) or 0)


def card_gifts_kept(card_payment_ids) -> dict[int, int]:
    """`card_gift_kept_pence` of each of these card payments, one query (none for no
    payments); a payment that carried no gift is left out."""
    ids = sorted(set(card_payment_ids))
    if not ids:
        return {}
    return {payment_id: int(kept) for payment_id, kept in db.session.execute(
        select(SolidarityEntry.card_payment_id, func.sum(SolidarityEntry.amount_pence))
        .where(SolidarityEntry.card_payment_id.in_(ids),
               SolidarityEntry.reason.in_(("gift", "gift_given_back")))
        .group_by(SolidarityEntry.card_payment_id))}


def cash_gift_pence(cash_payment_id: int) -> int:
    """The gift the pot received with this cash payment (0 when none)."""
    entry = _gift_entry_of("gift", cash_payment_id=cash_payment_id)
    return entry.amount_pence if entry is not None else 0


def _gift_entry_of(reason: str, *, card_payment_id: int | None = None,
                   cash_payment_id: int | None = None) -> SolidarityEntry | None:
    query = select(SolidarityEntry).where(SolidarityEntry.reason == reason)
    if card_payment_id is not None:
        query = query.where(SolidarityEntry.card_payment_id == card_payment_id)
    else:
        query = query.where(SolidarityEntry.cash_payment_id == cash_payment_id)
    return db.session.scalar(query)


def apply_gifts_at_close(rnd: Round, now: datetime) -> int:
    """At close, after the pot's help and credit: the card gift on each bill still owed
    (at least Stripe's minimum) whose household chose one with its card consent, within
    that consent (trimmed to fit, audited as trimmed). Sets `statements.gift_pence`; the
    pot receives it only with the charge. Returns the pence of gifts to come."""
    from bulkbuy.adapters.stripe_gateway import MINIMUM_CHARGE_PENCE
    from bulkbuy.models import CardConsent

    consents = {c.household_id: c for c in db.session.scalars(
        select(CardConsent).where(CardConsent.round_id == rnd.id,
                                  CardConsent.gift_kind.is_not(None)))}
    if not consents:
        return 0
    total = 0
    for statement in db.session.scalars(
            select(Statement).where(Statement.round_id == rnd.id,
                                    Statement.household_id.in_(consents),
                                    Statement.payment_status == StatementStatus.DUE)
            .order_by(Statement.id)):
        owed = statement.total_pence - statement.paid_pence
        if owed < MINIMUM_CHARGE_PENCE:
            continue
        consent = consents[statement.household_id]
        gift = gift_within(choice_of(consent), owed, consent.max_pence - owed)
        statement.gift_pence = gift.pence
        total += gift.pence
        if gift.trimmed:
            audit.record("solidarity.gift_trimmed", actor=None, group_id=rnd.group_id,
                         household_id=statement.household_id, subject=statement,
                         wanted_pence=gift.wanted_pence, gift_pence=gift.pence)
    db.session.flush()
    return total


def card_gift_to_take(statement: Statement, owed_pence: int, consent_max: int | None,
                      card_kept_pence: int) -> int:
    """The gift to add to a card charge of `owed_pence` now: the bill's card gift when
    no gift of the bill has been received yet, trimmed so the charge stays within the
    household's consent (what its cards paid before counts against it)."""
    if statement.gift_pence <= 0 or consent_max is None:
        return 0
    if gift_received_pence(statement.id) > 0:
        return 0
    room = consent_max - owed_pence - card_kept_pence
    return max(0, min(statement.gift_pence, room))


def receive_card_gift(statement: Statement, card_payment_id: int, gift_pence: int,
                      now: datetime) -> int:
    """A card charge that paid the rest of `statement` took `gift_pence` beyond it: the
    pot receives it, once per charge (a second answer for the same charge adds nothing).
    The bill's gift becomes what was received. Returns the pence received now."""
    if gift_pence <= 0 or _gift_entry_of("gift", card_payment_id=card_payment_id):
        return 0
    group_id = statement.round.group_id
    entry = SolidarityEntry(group_id=group_id, amount_pence=gift_pence, reason="gift",
                            statement_id=statement.id, household_id=statement.household_id,
                            card_payment_id=card_payment_id, recorded_at=now)
    if not writes.inserted(entry):  # the same answer recorded at this moment elsewhere
        return 0
    statement.gift_pence = gift_received_pence(statement.id)
    audit.record("solidarity.gift", actor=None, group_id=group_id,
                 household_id=statement.household_id, subject=statement,
                 amount_pence=gift_pence, card_payment_id=card_payment_id)
    db.session.flush()
    return gift_pence


def receive_cash_gift(statement: Statement, cash_payment_id: int, gift_pence: int, *,
                      actor: User, now: datetime) -> int:
    """Cash handed over with a gift (recorded with the cash payment, `record_cash`): the
    pot receives it. A card gift planned at close is then not taken (one gift a bill)."""
    if gift_pence <= 0:
        return 0
    group_id = statement.round.group_id
    db.session.add(SolidarityEntry(
        group_id=group_id, amount_pence=gift_pence, reason="gift", statement_id=statement.id,
        household_id=statement.household_id, cash_payment_id=cash_payment_id,
        recorded_by_id=actor.id, recorded_at=now))
    db.session.flush()
    statement.gift_pence = gift_received_pence(statement.id)
    audit.record("solidarity.gift", actor=actor, group_id=group_id,
                 household_id=statement.household_id, subject=statement,
                 amount_pence=gift_pence, cash_payment_id=cash_payment_id)
    db.session.flush()
    return gift_pence


def drop_unpaid_card_gift(statement: Statement) -> None:
    """The bill was paid or settled without the gift (cash, a write-off, the pot, or a
    card charge of the bill alone): a card gift still to come is dropped, so the bill
    shows only gifts received."""
    received = gift_received_pence(statement.id)
    if statement.gift_pence != received:
        statement.gift_pence = received
        db.session.flush()


def _give_back_gift(gift: SolidarityEntry, now: datetime, *, actor: User | None) -> int:
    """Take one gift back out of the pot (its money went back), as far as the balance
    (read under the group's lock) goes; once per gift. Returns the pence the pot keeps
    (already spent)."""
    kind = {"card_payment_id": gift.card_payment_id} if gift.card_payment_id else {
        "cash_payment_id": gift.cash_payment_id}
    if _gift_entry_of("gift_given_back", **kind) is not None:
        return 0
    back = min(gift.amount_pence, _locked_balance(gift.group_id))
    if back > 0:
        db.session.add(SolidarityEntry(
            group_id=gift.group_id, amount_pence=-back, reason="gift_given_back",
            statement_id=gift.statement_id, household_id=gift.household_id,
            recorded_by_id=getattr(actor, "id", None), recorded_at=now, **kind))
        db.session.flush()
        statement = db.session.get(Statement, gift.statement_id)
        statement.gift_pence = gift_received_pence(statement.id)
    audit.record("solidarity.gift_given_back", actor=actor, group_id=gift.group_id,
                 household_id=gift.household_id, statement_id=gift.statement_id,
                 amount_pence=back, kept_pence=gift.amount_pence - back)
    db.session.flush()
    return gift.amount_pence - back


def give_back_card_gifts(rnd: Round, now: datetime, *, actor: User | None = None
                         ) -> dict[int, int]:
    """A closed round was cancelled and its card charges are refunded: their gifts leave
    the pot first, as far as its balance goes. Returns, per card payment, the pence the
    pot keeps (already spent): that part of the charge is not refunded."""
    kept: dict[int, int] = {}
    for gift in db.session.scalars(
            select(SolidarityEntry)
            .join(Statement, SolidarityEntry.statement_id == Statement.id)
            .where(Statement.round_id == rnd.id, SolidarityEntry.reason == "gift",
                   SolidarityEntry.card_payment_id.is_not(None))
            .order_by(SolidarityEntry.id)):
        kept[gift.card_payment_id] = _give_back_gift(gift, now, actor=actor)
    return kept


def cash_gift_spent_pence(cash_payment_id: int) -> int:
    """Of the gift that came with this cash payment (and is not given back), what the pot
    has spent meanwhile and so could not give back now (balance read under the group's
    lock); 0 when none."""
    gift = _gift_entry_of("gift", cash_payment_id=cash_payment_id)
    if gift is None or _gift_entry_of("gift_given_back", cash_payment_id=cash_payment_id):
        return 0
    return max(0, gift.amount_pence - _locked_balance(gift.group_id))


def give_back_cash_gift(cash_payment_id: int, now: datetime, *, actor: User) -> int:
    """Cash is handed back (or its entry reversed): its gift leaves the pot as far as the
    balance goes. Returns the pence of the gift given back (to hand back as well)."""
    gift = _gift_entry_of("gift", cash_payment_id=cash_payment_id)
    if gift is None:
        return 0
    return gift.amount_pence - _give_back_gift(gift, now, actor=actor)
