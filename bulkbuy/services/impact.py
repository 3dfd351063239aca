"""The impact report: what the group did over a period, for funders and the council.

Each closed round's totals are kept in `round_impact` (bulkbuy.models.impact): written
by `record` when the round closes (closing.close_round), brought up to date when what
arrived is saved (delivery.record_delivery) and when the round is cancelled after
closing (refunds.cancel_closed_round). Rounds closed before that table existed are filled
in by `backfill` (`flask --app bulkbuy impact-backfill`). So the report (`report`) reads
one short row per round and never adds up pledge lines: besides those rows it asks the
bills of the period for the households taking part and paying cash (two COUNT
DISTINCTs), and the small ledgers (drop-in sessions, time given, the solidarity pot).

What is counted:
- households taking part: households with a bill in a round that went ahead (closed at
  its deadline and not cancelled after); new: the first such round of the household in
  the group; returning: the others;
- money spent: the bills' goods and delivery-fee shares as they stand (after what
  arrived was saved); money saved: bulkbuy.domain.savings over the same lines;
- paid cash: bills with cash taken for them (not reversed or handed back); helped at
  the tablet: bills whose order someone outside the household typed (a helper);
- drop-in sessions: the tablet's sessions started in the period, and how long they
  were open (ended ones); volunteer time: minutes of help recorded for time credits
  (drop-in helping, packing, other help);
- the solidarity pot: donations in, help paid out at close (less help given back).
Every count of households goes through bulkbuy.domain.impact's privacy rule.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, not_, select
from sqlalchemy.orm import aliased

from bulkbuy.domain import impact as rules
from bulkbuy.domain.money import format_pence
from bulkbuy.domain.savings import Saving
from bulkbuy.domain.statuses import RoundStatus
from bulkbuy.extensions import db
from bulkbuy.formatting import csv_safe, local
from bulkbuy.models import (
    CashPayment,
    Group,
    Membership,
    PledgeLine,
    Round,
    RoundImpact,
    SolidarityEntry,
    Statement,
    TabletSession,
    TimeCreditEntry,
)
from bulkbuy.models.time_credits import EARNED_REASONS
from bulkbuy.services import statements as statement_service
from bulkbuy.validation import optional_day

#: Why a round did not go ahead, in words (rules.totals' keys).
NOT_AHEAD_WORDS = {
    "below_minimum": _l("Not enough was ordered to reach the minimum order"),
    "cancelled_after_close": _l("Cancelled after it closed"),
    "cancelled_before_close": _l("Cancelled before its deadline"),
}
#: A drop-in session longer than this is counted as this long (a tablet left signed in).
LONGEST_SESSION = timedelta(hours=12)


# --- writing a round's totals ----------------------------------------------------------


def record(rnd: Round, now: datetime) -> RoundImpact | None:
    """Write (or bring up to date) the round's kept totals from its bills as they stand.
    A round that has not closed (or was cancelled before its deadline, with no bills)
    gets none. The caller commits."""
    if rnd.closed_at is None or rnd.status in (RoundStatus.DRAFT, RoundStatus.OPEN,
                                               RoundStatus.PENDING_APPROVAL):
        return None
    bills = db.session.execute(
        select(func.count(Statement.id), func.coalesce(func.sum(Statement.goods_pence), 0),
               func.coalesce(func.sum(Statement.fee_pence), 0),
               func.coalesce(func.sum(Statement.pot_pence), 0),
               func.coalesce(func.sum(Statement.time_credit_pence), 0))
        .where(Statement.round_id == rnd.id)).one()
    count, goods, fees, pot, credit = (int(v) for v in bills)
    if rnd.status == RoundStatus.CANCELLED:
        if count == 0:
            return None  # cancelled before its deadline: counted from rounds
        outcome, reason = "cancelled", "cancelled_after_close"
    elif rnd.status == RoundStatus.FAILED:
        outcome, reason = "failed", "below_minimum"
    else:
        outcome, reason = "ran", None
    if outcome == "failed":
        households = db.session.scalar(
            select(func.count(func.distinct(PledgeLine.household_id)))
            .where(PledgeLine.round_id == rnd.id)) or 0
        new = 0
        goods = fees = pot = credit = 0
        saving = Saving()
    else:
        households = count
        new = _new_households(rnd)
        saving = statement_service.round_saving_of(rnd)
    assisted = min(_assisted_households(rnd), households)
    found = db.session.get(RoundImpact, rnd.id)
    if found is None:
        found = RoundImpact(round_id=rnd.id, group_id=rnd.group_id)
        db.session.add(found)
    found.outcome = outcome
    found.failed_reason = reason
    found.closed_at = rnd.closed_at
    found.households = households
    found.new_households = new
    found.assisted_households = assisted
    found.goods_pence = goods
    found.fees_pence = fees
    found.saving_pence = saving.saved_pence
    found.unpriced_lines = saving.lines_without_price
    found.pot_pence = pot
    found.time_credit_pence = credit
    found.updated_at = now
    db.session.flush()
    return found


_this = aliased(Statement, name="this_bill")


def _new_households(rnd: Round) -> int:
    """Households with a bill in this round and none in an earlier round of the group
    that was not cancelled."""
    earlier = (
        select(Statement.id)
        .join(Round, Round.id == Statement.round_id)
        .where(Round.group_id == rnd.group_id, Round.id != rnd.id,
               Round.status != RoundStatus.CANCELLED,
               Round.closed_at.is_not(None),
               (Round.closed_at < rnd.closed_at)
               | and_(Round.closed_at == rnd.closed_at, Round.id < rnd.id),
               Statement.household_id == _this.household_id)
    )
    return db.session.scalar(
        select(func.count()).select_from(_this)
        .where(_this.round_id == rnd.id, not_(exists(earlier)))) or 0


def _assisted_households(rnd: Round) -> int:
    """Households of the round with any of its order typed by someone outside the
    household (a helper at the drop-in tablet, or staff for them)."""
    own = select(Membership.user_id).where(Membership.household_id == PledgeLine.household_id)
    return db.session.scalar(
        select(func.count(func.distinct(PledgeLine.household_id)))
        .where(PledgeLine.round_id == rnd.id, PledgeLine.entered_by_id.is_not(None),
               PledgeLine.entered_by_id.not_in(own))) or 0


def backfill(now: datetime, group_id: int | None = None) -> int:
    """Write the kept totals of every round that closed before they were kept (oldest
    first, so "new" households are right). Returns how many rounds were written."""
    query = (
        select(Round)
        .where(Round.closed_at.is_not(None),
               Round.status.not_in((RoundStatus.DRAFT, RoundStatus.OPEN,
                                    RoundStatus.PENDING_APPROVAL)),
               ~exists(select(RoundImpact.round_id).where(RoundImpact.round_id == Round.id)))
        .order_by(Round.closed_at, Round.id))
    if group_id is not None:
        query = query.where(Round.group_id == group_id)
    written = 0
    for rnd in db.session.scalars(query).all():
        if record(rnd, now) is not None:
            written += 1
    return written


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the charts (a month or a year)."""

    key: str
    households: rules.Count
    spent_pence: int
    saved_pence: int


@dataclass
class Report:
    """Everything the report page, its charts, its print page and its CSV show."""

    group: Group
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    first: date | None = None
    last: date | None = None
    totals: rules.Totals = field(default_factory=rules.Totals)
    not_ahead: dict[str, int] = field(default_factory=dict)
    households: rules.Count = rules.Count(rules.EXACT, 0)
    new: rules.Count = rules.Count(rules.EXACT, 0)
    returning: rules.Count = rules.Count(rules.EXACT, 0)
    bills: rules.Count = rules.Count(rules.EXACT, 0)
    cash_bills: rules.Count = rules.Count(rules.EXACT, 0)
    assisted_bills: rules.Count = rules.Count(rules.EXACT, 0)
    cash_percent: int | None = None
    assisted_percent: int | None = None
    saved_per_household_pence: int = 0
    dropin_sessions: int = 0
    dropin_minutes: int = 0
    volunteer_minutes: int = 0
    pot_in_pence: int = 0
    pot_out_pence: int = 0
    monthly: bool = True
    steps: list[Step] = field(default_factory=list)

    @property
    def query(self) -> dict[str, str]:
        """The period as query-string arguments (for links to the charts and the CSV)."""
        if self.first is None or self.last is None:
            return {}
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def default_period(today: date) -> tuple[date, date]:
    """The last 12 months, ending today."""
    return rules.add_months(today, -12) + timedelta(days=1), today


def report(group: Group, args: Mapping[str, str], now: datetime) -> Report:
    """The group's report for the period in `args` ("from", "to": 2026-03-14; the last
    12 months when neither is given). A bad date gives `errors` and no figures."""
    typed = {name: (args.get(name) or "").strip()[:20] for name in ("from", "to")}
    found = Report(group, typed)
    today = local(now, group.timezone).date()
    first = optional_day(typed["from"], "from", found.errors)
    last = optional_day(typed["to"], "to", found.errors)
    if found.errors:
        return found
    if first is None and last is None:
        first, last = default_period(today)
    elif first is None:
        first = default_period(last)[0]
    elif last is None:
        last = max(first, today)
    if last < first:
        found.errors["to"] = _("The last day must be the same as the first day or after it.")
        return found
    found.first, found.last = first, last
    typed.update(found.query)
    _fill(found, group, first, last)
    return found


def _fill(found: Report, group: Group, first: date, last: date) -> None:
    zone = ZoneInfo(group.timezone)
    since = datetime.combine(first, time(), zone)
    before = datetime.combine(last + timedelta(days=1), time(), zone)
    kept = db.session.execute(
        select(RoundImpact)
        .where(RoundImpact.group_id == group.id, RoundImpact.closed_at >= since,
               RoundImpact.closed_at < before)
        .order_by(RoundImpact.closed_at, RoundImpact.round_id)
    ).scalars().all()
    figures = [rules.RoundFigures(
        k.outcome, k.failed_reason, k.households, k.new_households, k.assisted_households,
        k.goods_pence, k.fees_pence, k.saving_pence, k.unpriced_lines, k.pot_pence,
        k.time_credit_pence) for k in kept]
    totals = rules.totals(figures)
    found.totals = totals
    not_ahead = dict(totals.not_ahead)
    cancelled_early = db.session.scalar(
        select(func.count(Round.id))
        .where(Round.group_id == group.id, Round.status == RoundStatus.CANCELLED,
               Round.closed_at >= since, Round.closed_at < before,
               ~exists(select(RoundImpact.round_id)
                       .where(RoundImpact.round_id == Round.id)))) or 0
    if cancelled_early:
        not_ahead["cancelled_before_close"] = cancelled_early
    found.not_ahead = not_ahead

    ran = [k for k in kept if k.outcome == "ran"]
    ran_ids = [k.round_id for k in ran]
    monthly = rules.by_month(first, last)
    found.monthly = monthly
    step_of = {k.round_id: rules.bucket_of(local(k.closed_at, group.timezone).date(),
                                           monthly) for k in ran}
    distinct = 0
    per_step: dict[str, int] = {}
    cash = 0
    if ran_ids:
        in_period = Statement.round_id.in_(ran_ids)
        distinct = db.session.scalar(
            select(func.count(func.distinct(Statement.household_id))).where(in_period)) or 0
        step = case(step_of, value=Statement.round_id)
        per_step = {key: int(n) for key, n in db.session.execute(
            select(step, func.count(func.distinct(Statement.household_id)))
            .where(in_period).group_by(step))}
        cash = db.session.scalar(
            select(func.count(func.distinct(CashPayment.statement_id)))
            .join(Statement, Statement.id == CashPayment.statement_id)
            .where(CashPayment.group_id == group.id, in_period,
                   CashPayment.reversed_at.is_(None), CashPayment.returned_at.is_(None))
        ) or 0
    new = min(totals.new_households, distinct)
    found.households = rules.shown(distinct)
    found.new, found.returning = rules.split(new, distinct - new)
    found.bills = rules.shown(totals.bills)
    found.cash_bills = rules.shown(cash)
    found.assisted_bills = rules.shown(totals.assisted_bills)
    found.cash_percent = rules.share_percent(cash, totals.bills)
    found.assisted_percent = rules.share_percent(totals.assisted_bills, totals.bills)
    found.saved_per_household_pence = rules.per_household(totals.saving_pence, distinct)

    spent: dict[str, int] = {}
    saved: dict[str, int] = {}
    for k in ran:
        key = step_of[k.round_id]
        spent[key] = spent.get(key, 0) + k.goods_pence + k.fees_pence
        saved[key] = saved.get(key, 0) + k.saving_pence
    found.steps = [Step(key, rules.shown(per_step.get(key, 0)), spent.get(key, 0),
                        saved.get(key, 0)) for key in rules.buckets(first, last)]

    sessions = db.session.execute(
        select(TabletSession.started_at, TabletSession.ended_at)
        .where(TabletSession.group_id == group.id, TabletSession.started_at >= since,
               TabletSession.started_at < before)).all()
    found.dropin_sessions = len(sessions)
    found.dropin_minutes = sum(
        int(min(ended - started, LONGEST_SESSION).total_seconds()) // 60
        for started, ended in sessions if ended is not None and ended > started)
    found.volunteer_minutes = int(db.session.scalar(
        select(func.coalesce(func.sum(TimeCreditEntry.minutes), 0))
        .where(TimeCreditEntry.group_id == group.id,
               TimeCreditEntry.reason.in_(EARNED_REASONS),
               TimeCreditEntry.recorded_at >= since, TimeCreditEntry.recorded_at < before))
        or 0)
    pot = dict(db.session.execute(
        select(SolidarityEntry.reason, func.sum(SolidarityEntry.amount_pence))
        .where(SolidarityEntry.group_id == group.id, SolidarityEntry.recorded_at >= since,
               SolidarityEntry.recorded_at < before)
        .group_by(SolidarityEntry.reason)).all())
    found.pot_in_pence = int(pot.get("donation") or 0)
    found.pot_out_pence = -int(pot.get("round_help") or 0) - int(pot.get("help_given_back")
                                                                  or 0)


# --- words -----------------------------------------------------------------------------


def count_words(count: rules.Count) -> str:
    """A count as shown to people (and in the CSV)."""
    if count.kind == rules.FEWER:
        return _("fewer than 5")
    if count.kind == rules.HIDDEN:
        return _("not shown (it would give a small number away)")
    return f"{count.value:,}"


def percent_words(percent: int | None) -> str:
    return _("fewer than 5") if percent is None else f"{percent}%"


def hours_words(minutes: int) -> str:
    """Minutes as hours to the nearest tenth: 90 -> "1.5"."""
    tenths = (minutes * 10 + 30) // 60
    return f"{tenths // 10:,}.{tenths % 10}"


def pounds(pence: int) -> str:
    """Pence as pounds for the CSV: -1250 -> "-12.50" (the CSV guard then quotes it)."""
    sign = "-" if pence < 0 else ""
    return f"{sign}{abs(pence) // 100}.{abs(pence) % 100:02d}"


def step_words(key: str) -> str:
    """A chart step's name: "2026-03" -> "Mar 2026", "2026" -> "2026"."""
    if len(key) == 4:
        return key
    return format_date(date(int(key[:4]), int(key[5:]), 1), "MMM yyyy")


def figures(found: Report) -> list[tuple[str, str]]:
    """The report's figures as (what, value) pairs: the CSV's rows and the print page."""
    t = found.totals
    rows = [
        (_("From"), found.first.isoformat() if found.first else ""),
        (_("To"), found.last.isoformat() if found.last else ""),
        (_("Households taking part"), count_words(found.households)),
        (_("New households"), count_words(found.new)),
        (_("Returning households"), count_words(found.returning)),
        (_("Rounds that went ahead"), f"{t.rounds_run:,}"),
        (_("Rounds that did not go ahead"), f"{sum(found.not_ahead.values()):,}"),
    ]
    for reason, n in found.not_ahead.items():
        rows.append((str(NOT_AHEAD_WORDS.get(reason, reason)), f"{n:,}"))
    rows += [
        (_("Money spent (goods and delivery)"), format_pence(t.spent_pence)),
        (_("Money saved compared with shop prices"), format_pence(t.saving_pence)),
        (_("Money saved per household"), format_pence(found.saved_per_household_pence)),
        (_("Orders (a household in a round)"), count_words(found.bills)),
        (_("Orders paid in cash"), count_words(found.cash_bills)),
        (_("Share of orders paid in cash"), percent_words(found.cash_percent)),
        (_("Orders entered with a helper at the tablet"), count_words(found.assisted_bills)),
        (_("Share of orders entered with a helper"), percent_words(found.assisted_percent)),
        (_("Drop-in sessions held"), f"{found.dropin_sessions:,}"),
        (_("Hours the drop-in tablet was open"), hours_words(found.dropin_minutes)),
        (_("Volunteer hours recorded"), hours_words(found.volunteer_minutes)),
        (_("Solidarity pot: money in"), format_pence(found.pot_in_pence)),
        (_("Solidarity pot: money out"), format_pence(found.pot_out_pence)),
    ]
    return rows


def as_csv(found: Report) -> str:
    """The figures and the chart steps as a spreadsheet; every text cell guarded
    against being run as a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_safe(_("Figure")), csv_safe(_("Value"))])
    for what, value in figures(found):
        writer.writerow([csv_safe(what), csv_safe(value)])
    writer.writerow([])
    writer.writerow([csv_safe(w) for w in (
        _("Month") if found.monthly else _("Year"), _("Households taking part"),
        _("Money spent (pounds)"), _("Money saved (pounds)"))])
    for step in found.steps:
        writer.writerow([csv_safe(step.key), csv_safe(count_words(step.households)),
                         csv_safe(pounds(step.spent_pence)),
                         csv_safe(pounds(step.saved_pence))])
    return out.getvalue()


def households_summary(found: Report) -> str:
    """The households chart in words (counts under 5 never given)."""
    step = _("month") if found.monthly else _("year")
    shown_steps = [s for s in found.steps if s.households.kind == rules.EXACT
                   and (s.households.value or 0) > 0]
    words = [_("In all, %(n)s households took part.", n=count_words(found.households))]
    if shown_steps:
        top = max(shown_steps, key=lambda s: (s.households.value, s.key))
        words.append(_("The busiest %(step)s was %(when)s, with %(n)s households.",
                       step=step, when=step_words(top.key), n=f"{top.households.value:,}"))
    hidden = sum(1 for s in found.steps if s.households.kind == rules.FEWER)
    if hidden:
        words.append(_("Bars are left out where fewer than 5 households took part "
                       "(%(n)s of them).", n=hidden))
    return " ".join(words)


def money_summary(found: Report) -> str:
    """The money chart in words."""
    t = found.totals
    words = [_("In all, %(spent)s was spent and %(saved)s saved compared with shop "
               "prices.", spent=format_pence(t.spent_pence),
               saved=format_pence(t.saving_pence))]
    busy = [s for s in found.steps if s.spent_pence > 0]
    if busy:
        top = max(busy, key=lambda s: (s.spent_pence, s.key))
        words.append(_("The most was spent in %(when)s: %(spent)s, saving %(saved)s.",
                       when=step_words(top.key), spent=format_pence(top.spent_pence),
                       saved=format_pence(top.saved_pence)))
    return " ".join(words)
