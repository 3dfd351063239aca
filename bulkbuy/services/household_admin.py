"""Staff looking after a group's households: renaming one or moving it to another block,
setting its language and whether its news is printed, merging two into one (after a
preview), removing one, and inviting a person into one.

A removed or merged household keeps its row, its statements and its payments for the
books; it leaves every list (removed_at) and its name becomes "Removed household <id>",
so the name is free again. Like every service, nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import flask_babel
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from bulkbuy import i18n
from bulkbuy.domain import merging
from bulkbuy.domain.labels import natural_key
from bulkbuy.domain.statuses import COLLECTING_ROUNDS, OWED, RoundStatus
from bulkbuy.extensions import db
from bulkbuy.models import (
    Group,
    Household,
    Invite,
    Membership,
    OutboxMessage,
    PledgeLine,
    Round,
    RoundItem,
    Statement,
    TabletVisit,
    User,
)
from bulkbuy.services import (
    ServiceError,
    accounts,
    audit,
    credits,
    emails,
    invites,
    notifications,
    pledges,
    writes,
)
from bulkbuy.services import tablet as tablet_service

MONEY_OUTSTANDING = _l(
    "%(household)s still owes money for a round, or is owed money back, or has money "
    "kept for later. Settle that first (take the payment, write it off, or hand the "
    "money back); then try again.")
ROUND_UNFINISHED = _l(
    "%(household)s has a round that is not finished yet: its bill can still change when the "
    "delivery is recorded. Try again when the round is finished.")
ROUND_CLOSING = _l("A round with orders from %(household)s is closing right now. Try again "
                   "in a few minutes, once it has closed.")
LABEL_TAKEN = _l("There is already a household with that name. Choose another.")


def live_household(group: Group, household_id: int) -> Household | None:
    """The group's household with this id unless it was removed or merged, else None."""
    household = db.session.get(Household, household_id)
    if household is None or household.group_id != group.id or household.removed_at is not None:
        return None
    return household


def _removed_label(household: Household) -> str:
    return f"Removed household {household.id}"


# --- rename, move block ----------------------------------------------------------------


def edit_household(household: Household, label: str, block: str | None, *, actor: User,
                   now: datetime) -> bool:
    """Give the household this name and block (None: no block). The name follows the
    rules of every household name (accounts.clean_household_label, one alphabet per
    word, unique in the group whatever its case or look-alike letters: ServiceError,
    field "label", nothing changed). Returns whether anything changed; a change is
    audited ("household.edited", before and after)."""
    label = accounts.clean_household_label(label, field="label")
    clash = accounts.find_household(household.group, label)
    if clash is not None and clash.id != household.id:
        raise ServiceError(LABEL_TAKEN, field="label")
    accounts.refuse_mixed_alphabets(label, field="label")
    block = block or None
    before = {"label": household.label, "block": household.block}
    after = {"label": label, "block": block}
    if before == after:
        return False
    household.label = label
    household.block = block
    if not writes.inserted(household):  # the same name given to another at this moment
        raise ServiceError(LABEL_TAKEN, field="label")
    audit.record("household.edited", actor=actor, group_id=household.group_id,
                 household_id=household.id, subject=household, before=before, after=after)
    return True


# --- language and paper ------------------------------------------------------------------

LANGUAGE_UNKNOWN = _l("Choose one of the languages on the list.")


def set_language(household: Household, code: object, paper_slips: bool, *,
                 actor: User) -> bool:
    """The language of the household's e-mails and printed slips (households.locale)
    and whether its news is printed for it too (households.paper_slips), set by staff:
    a household with no members (helped at the drop-in) has nobody else to set them.
    A code we have no language for: ServiceError (field "locale"), nothing changed.
    Returns whether anything changed; a change is audited ("household.language_set",
    before and after)."""
    locale = i18n.normalise(code)
    if locale is None:
        raise ServiceError(LANGUAGE_UNKNOWN, field="locale")
    before = {"locale": i18n.or_default(household.locale),
              "paper_slips": bool(household.paper_slips)}
    after = {"locale": locale, "paper_slips": bool(paper_slips)}
    if before == after:
        return False
    household.locale = locale
    household.paper_slips = after["paper_slips"]
    audit.record("household.language_set", actor=actor, group_id=household.group_id,
                 household_id=household.id, subject=household, before=before, after=after)
    return True


# --- money -----------------------------------------------------------------------------


def money_outstanding(household: Household, *, credit_counts: bool = True) -> bool:
    """Whether the household owes money for a round (a statement still owed), is owed
    money back (owed_back_pence), or, when `credit_counts`, has money kept for later."""
    unsettled = db.session.scalar(
        select(Statement.id).where(
            Statement.household_id == household.id,
            or_(Statement.payment_status.in_([str(s) for s in OWED]),
                Statement.owed_back_pence > 0)).limit(1))
    if unsettled is not None:
        return True
    return credit_counts and credits.balance(household.id) != 0


def round_unfinished(household: Household) -> bool:
    """Whether the household has a bill in a round not finished yet (closed, ordered or
    delivered): a delivery saved later can still change it, and money can move."""
    return db.session.scalar(
        select(Statement.id).join(Round, Statement.round_id == Round.id)
        .where(Statement.household_id == household.id,
               Round.status.in_([str(s) for s in COLLECTING_ROUNDS])).limit(1)) is not None


def _locked(*households: Household) -> None:
    """Lock the households' rows (in id order) and read them again, so a merge, a
    removal and a join through an invite link wait for one another; refuses one
    removed meanwhile."""
    for household in sorted(households, key=lambda h: h.id):
        db.session.scalar(select(Household).where(Household.id == household.id)
                          .with_for_update().execution_options(populate_existing=True))
        if household.removed_at is not None:
            raise ServiceError(_l("%(household)s was just removed or merged.",
                                  household=household.label))


# --- merging ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundPreview:
    round: Round
    #: (the round's product, its row of the preview), in queue order.
    rows: list[tuple[RoundItem, merging.ProductRow]]


@dataclass(frozen=True)
class MergePreview:
    """What merging `merged` into `kept` will do; `problem` says why it cannot (None: it
    can)."""

    kept: Household
    merged: Household
    rounds: list[RoundPreview]
    kept_members: list[User]
    moving_members: list[User]
    #: Statements of finished rounds that stay with the merged household (its history).
    statements_staying: int
    problem: str | None


def merge_candidates(household: Household) -> list[Household]:
    """The other households of its group it could be merged into, by name."""
    homes = db.session.scalars(select(Household).where(
        Household.group_id == household.group_id, Household.id != household.id,
        Household.removed_at.is_(None)))
    return sorted(homes, key=lambda h: (natural_key(h.label), h.id))


def _open_lines(household_ids: list[int]) -> list[PledgeLine]:
    return list(db.session.scalars(
        select(PledgeLine).join(Round, Round.id == PledgeLine.round_id)
        .where(PledgeLine.household_id.in_(household_ids), Round.status == RoundStatus.OPEN)
        .order_by(PledgeLine.queue_pos)))


def _members(household: Household) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.household_id == household.id).order_by(User.name, User.id)))


def _as_line(line: PledgeLine) -> merging.Line:
    return merging.Line(line.id, line.round_item_id, line.queue_pos, line.quantity,
                        line.tolerance)


def _merge_problem(kept: Household, merged: Household) -> str | None:
    if kept.id == merged.id:
        return str(_l("Choose two different households."))
    for household in (kept, merged):
        # The kept household's money kept for later stays its own; the merged one's
        # would be left behind with its removed row.
        if money_outstanding(household, credit_counts=household is merged):
            return str(MONEY_OUTSTANDING % {"household": household.label})
    if round_unfinished(merged):  # its bills stay with it: none may still change
        return str(ROUND_UNFINISHED % {"household": merged.label})
    return None


def merge_preview(kept: Household, merged: Household) -> MergePreview:
    """What merging `merged` into `kept` does (domain.merging's rule), round by open
    round and product; nothing is written. Members of `merged` move to `kept`; `kept`
    keeps its name, block and PIN; statements of finished rounds stay where they are.
    Merging is refused (`problem`) while either household owes money or is owed money
    back for a round, or the merged one has money kept for later."""
    lines = _open_lines([kept.id, merged.id])
    by_round: dict[int, list[PledgeLine]] = {}
    for line in lines:
        by_round.setdefault(line.round_id, []).append(line)
    rounds = []
    for round_lines in by_round.values():
        rnd = round_lines[0].item.round
        items = {line.round_item_id: line.item for line in round_lines}
        rows = merging.preview([_as_line(x) for x in round_lines if x.household_id == kept.id],
                               [_as_line(x) for x in round_lines
                                if x.household_id == merged.id])
        rounds.append(RoundPreview(rnd, [(items[row.product], row) for row in rows]))
    rounds.sort(key=lambda r: (r.round.closes_at, r.round.id))
    staying = len(db.session.scalars(
        select(Statement.id).where(Statement.household_id == merged.id)).all())
    return MergePreview(kept, merged, rounds, _members(kept), _members(merged), staying,
                        _merge_problem(kept, merged))


def _end_turns_and_invites(household: Household, now: datetime) -> None:
    """Its open tablet turns end and its unused invite links stop working."""
    for visit in db.session.scalars(select(TabletVisit).where(
            TabletVisit.household_id == household.id, TabletVisit.ended_at.is_(None))):
        tablet_service.end_visit(visit, "done", now)
    for invite in db.session.scalars(select(Invite).where(
            Invite.household_id == household.id, Invite.used_at.is_(None),
            Invite.revoked_at.is_(None))):
        invites.revoke(invite, now)


def _retire(household: Household, now: datetime) -> str:
    """Take the household off every list under a neutral name; returns its old name."""
    old_label = household.label
    household.label = _removed_label(household)
    household.removed_at = now
    return old_label


def merge_households(kept: Household, merged: Household, *, actor: User,
                     now: datetime) -> MergePreview:
    """Merge `merged` into `kept`, as merge_preview describes (its answer is returned,
    worked out before the change): the merged household's pledge lines in open rounds
    become the kept one's with their queue places (each round's pledge version is
    bumped, as any pledge change does), its members join the kept one, and it is removed
    (merged_into_id). Refused with a ServiceError, nothing changed, for merge_preview's
    problems and while one of the rounds is past its deadline but not yet closed.
    Audited ("household.merged")."""
    _locked(kept, merged)
    preview = merge_preview(kept, merged)
    if preview.problem is not None:
        raise ServiceError(preview.problem)
    for round_id in sorted({r.round.id for r in preview.rounds
                            if any(row.merged != (0, 0) for _item, row in r.rows)}):
        try:
            pledges.lock_open_round(round_id, now)
        except pledges.RoundNotOpenError:
            raise ServiceError(ROUND_CLOSING % {"household": merged.label}) from None
    lines = _open_lines([kept.id, merged.id])  # read again, the rounds now locked
    result = merging.merge_pledges(
        [_as_line(line) for line in lines if line.household_id == kept.id],
        [_as_line(line) for line in lines if line.household_id == merged.id])
    moved_ids = [line.line_id for line in result if line.moved]
    if moved_ids:
        db.session.execute(
            update(PledgeLine).where(PledgeLine.id.in_(moved_ids))
            .values(household_id=kept.id).execution_options(synchronize_session=False))
    memberships = list(db.session.scalars(
        select(Membership).where(Membership.household_id == merged.id)))
    for membership in memberships:
        membership.household_id = kept.id
    if memberships and kept.is_assisted:
        kept.is_assisted = False  # someone in it now has an account with an e-mail
    _end_turns_and_invites(merged, now)
    merged.merged_into_id = kept.id
    old_label = _retire(merged, now)
    audit.record(
        "household.merged", actor=actor, group_id=kept.group_id, household_id=kept.id,
        subject=kept, merged_id=merged.id, merged_label=old_label,
        members_moved=[m.user_id for m in memberships], lines_moved=moved_ids,
        products=[{"round_id": r.round.id, "round_item_id": item.id,
                   "kept": list(row.kept), "merged": list(row.merged),
                   "combined": list(row.combined)}
                  for r in preview.rounds for item, row in r.rows])
    db.session.flush()
    return preview


# --- removing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    old_label: str
    pledges_withdrawn: int


def remove_household(household: Household, *, actor: User, now: datetime) -> Removal:
    """Take the household off the group's lists, keeping its statements and payments for
    the books. Refused (ServiceError, nothing changed) while it owes money, is owed money
    back or has money kept for later, and while a round it ordered in is past its
    deadline but not closed. Its orders in open rounds are withdrawn through the pledge
    service (audited there, round versions bumped); staff in it stay staff with no
    household, its members leave the group; its name becomes "Removed household <id>".
    Audited ("household.removed")."""
    _locked(household)
    if money_outstanding(household):
        raise ServiceError(MONEY_OUTSTANDING % {"household": household.label})
    if round_unfinished(household):
        raise ServiceError(ROUND_UNFINISHED % {"household": household.label})
    lines = _open_lines([household.id])
    withdrawn = 0
    for item_id in dict.fromkeys(line.round_item_id for line in lines):
        item = db.session.get(RoundItem, item_id)
        try:
            result = pledges.set_pledge(item, household, 0, 0, entered_by=actor, now=now,
                                        max_units=0)
        except pledges.RoundNotOpenError:
            raise ServiceError(ROUND_CLOSING % {"household": household.label}) from None
        withdrawn += result.changed
    detached, left = [], []
    for membership in db.session.scalars(
            select(Membership).where(Membership.household_id == household.id)):
        if membership.role == "member":
            left.append(membership.user_id)
            db.session.delete(membership)
        else:
            detached.append(membership.user_id)
            membership.household_id = None
    _end_turns_and_invites(household, now)
    old_label = _retire(household, now)
    audit.record("household.removed", actor=actor, group_id=household.group_id,
                 household_id=household.id, subject=household, label=old_label,
                 pledges_withdrawn=withdrawn, members_left=left, staff_detached=detached)
    db.session.flush()
    return Removal(old_label, withdrawn)


# --- inviting a person into a household -----------------------------------------------


@dataclass(frozen=True)
class HouseholdInvite:
    invite: Invite
    #: The address to open (shown once, never stored).
    url: str


def invite_to_household(household: Household, *, actor: User, now: datetime,
                        email: str | None = None) -> HouseholdInvite:
    """A single-use link (services.invites, a week) that gives a person an account in
    this household; when `email` is given, the link is also e-mailed there (queued), in
    the household's language.
    A bad address: ServiceError (field "email"). Audited ("invite.created")."""
    address = accounts.one_email_address(email) if email else None
    invite, token = invites.create(household.group, kind="household", actor=actor, now=now,
                                   household=household, email=address)
    url = invites.link(token, kind="household")
    if address:
        # The household's language; else that of the address's account, if it has one;
        # else the request's.
        code = (i18n.normalise(household.locale)
                or notifications.person_language(accounts.find_user(address)))
        with flask_babel.force_locale(code):
            subject, body = emails.render_email(
                "household_invite", group_name=household.group.name,
                household=household.label, inviter=actor.name, url=url,
                expires_at=invite.expires_at, timezone=household.group.timezone)
        db.session.add(OutboxMessage(key=f"household-invite:{invite.id}", to_address=address,
                                     subject=subject, body=body, created_at=now))
    audit.record("invite.created", actor=actor, group_id=household.group_id,
                 household_id=household.id, subject=invite, kind="household",
                 emailed=bool(address))
    return HouseholdInvite(invite, url)


def waiting_household_invite(token: str, now: datetime) -> Invite | None:
    """The household invite of this token while it works (and its household is still
    on the list), else None."""
    invite = invites.waiting(token, now, kind="household")
    if invite is None or invite.household is None or invite.household.removed_at is not None:
        return None
    return invite


def _join(invite: Invite, user: User, token: str, now: datetime) -> Household:
    household = invite.household
    if invite.created_by_id == user.id:
        raise ServiceError(_l("You made this link for someone else. Give it to the person "
                              "who lives in %(household)s.", household=household.label))
    _locked(household)
    membership = db.session.scalar(select(Membership).where(
        Membership.user_id == user.id, Membership.group_id == invite.group_id))
    if membership is not None and membership.household_id == household.id:
        raise ServiceError(_l("You are already in %(household)s.", household=household.label))
    if membership is not None and membership.household_id is not None:
        raise ServiceError(_l(
            "You are already in another household in %(group)s. One person can be in one "
            "household of a group: ask an organiser to merge the two households.",
            group=invite.group.name))
    invites.use(token, user, now, kind="household")
    if membership is None:
        db.session.add(Membership(user_id=user.id, group_id=invite.group_id, role="member",
                                  household_id=household.id, created_at=now))
    else:
        membership.household_id = household.id  # staff who had no household here
    # The household now has a person with an account and an e-mail; its PIN, its
    # orders and its statements stay as they were.
    household.is_assisted = False
    audit.record("household.invite_used", actor=user, group_id=invite.group_id,
                 household_id=household.id, subject=invite)
    db.session.flush()
    return household


def join_with_new_account(token: str, *, name: str, email: str, password: str,
                          password_again: str, now: datetime) -> tuple[User, Household]:
    """Make an account and put it in the invite's household (role member). Refuses a
    link that no longer works (invites.LINK_GONE), two different passwords (field
    "password_again"), and what accounts.create_user refuses; nothing is kept then."""
    invite = waiting_household_invite(token, now)
    if invite is None:
        raise ServiceError(invites.LINK_GONE)
    if password != password_again:
        raise ServiceError(_l("The two passwords are different. Type the same password "
                              "twice."), field="password_again")
    user = accounts.create_user(email, name, password)
    return user, _join(invite, user, token, now)


def join_signed_in(token: str, user: User, *, now: datetime) -> Household:
    """Put a signed-in person in the invite's household: refused (nothing changed) when
    the link no longer works, or when they are already in a household of the group."""
    invite = waiting_household_invite(token, now)
    if invite is None:
        raise ServiceError(invites.LINK_GONE)
    return _join(invite, user, token, now)
