"""The group's drop-in times: when and where a community worker takes orders and cash on
the tablet. Organisers add weekly or one-off sessions and remove them; pages, e-mails and
the tablet show the next few (`upcoming`).

Times are clock times in the group's time zone (groups.timezone); what the next ones are
is worked out by `bulkbuy.domain.drop_ins`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from bulkbuy.domain.drop_ins import DropInRule, DropInTime, next_times
from bulkbuy.extensions import db
from bulkbuy.models import DropInSession, Group, User
from bulkbuy.services import ServiceError, audit

__all__ = ["DropInTime", "upcoming", "next_from", "oldest_date", "add_weekly", "add_once",
           "remove", "sessions"]

#: Longest place and note, as the columns allow.
PLACE_MAX = 200
NOTE_MAX = 200
#: Fallback when a group's time zone is unknown to this machine.
DEFAULT_TIMEZONE = "Europe/London"


def _zone_name(name: str | None) -> str:
    try:
        ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIMEZONE
    return name or DEFAULT_TIMEZONE


def _rule(row: DropInSession) -> DropInRule:
    return DropInRule(place=row.place, starts=row.starts, ends=row.ends,
                      weekday=row.weekday, on_date=row.on_date, note=row.note)


def oldest_date(now: datetime) -> date:
    """One-off sessions on a date before this one are left unread: long past (a day's
    margin either side covers any zone)."""
    return (now - timedelta(days=2)).date()


def next_from(rows, timezone: str | None, now: datetime, *, until: datetime | None = None,
              limit: int = 3) -> list[DropInTime]:
    """`upcoming` from session rows already read with another query (anything with the
    place, starts, ends, weekday, on_date and note of each, removed ones left out): the
    round page reads them with its kept copy's key (services/residents)."""
    return next_times([_rule(row) for row in rows], _zone_name(timezone), now,
                      until=until, limit=limit)


def upcoming(group_id: int, now: datetime, *, until: datetime | None = None,
             limit: int = 3) -> list[DropInTime]:
    """The group's next `limit` drop-in times, soonest first (one under way counts until
    it ends; none starting after `until`); removed sessions are left out. One query.
    `now` and `until` are aware datetimes; the times returned are in the group's zone."""
    if limit < 1:
        return []
    # One-off sessions long past are left in the database.
    oldest = oldest_date(now)
    rows = db.session.execute(
        select(DropInSession, Group.timezone)
        .join(Group, Group.id == DropInSession.group_id)
        .where(DropInSession.group_id == group_id, DropInSession.removed_at.is_(None),
               or_(DropInSession.on_date.is_(None), DropInSession.on_date >= oldest))
    ).all()
    if not rows:
        return []
    return next_times([_rule(row) for row, _ in rows], _zone_name(rows[0][1]), now,
                      until=until, limit=limit)


@dataclass(frozen=True)
class DropInSessions:
    """The organiser page: the group's sessions (weekly first, by day and time; then
    one-offs still to come, by date) and the next few times they make."""

    group: Group
    weekly: list[DropInSession]
    once: list[DropInSession]
    next_times: list[DropInTime]
    timezone: str


def sessions(group: Group, now: datetime) -> DropInSessions:
    """What the organiser's "Drop-in times" page shows."""
    zone = _zone_name(group.timezone)
    today = now.astimezone(ZoneInfo(zone)).date()
    rows = db.session.scalars(
        select(DropInSession)
        .where(DropInSession.group_id == group.id, DropInSession.removed_at.is_(None),
               or_(DropInSession.on_date.is_(None), DropInSession.on_date >= today))
        .order_by(DropInSession.weekday, DropInSession.on_date, DropInSession.starts,
                  DropInSession.id)
    ).all()
    weekly = [row for row in rows if row.weekday is not None]
    once = [row for row in rows if row.on_date is not None]
    times = next_times([_rule(row) for row in rows], zone, now, limit=5)
    return DropInSessions(group=group, weekly=weekly, once=once, next_times=times,
                          timezone=zone)


def _checked(place: str | None, starts: time | None, ends: time | None,
             note: str | None) -> tuple[str, time, time, str | None]:
    place = " ".join((place or "").split())
    if not place:
        raise ServiceError(_l("Say where the drop-in is."), field="place")
    if len(place) > PLACE_MAX:
        raise ServiceError(_l("Keep the place to %(n)s characters or fewer.", n=PLACE_MAX),
                           field="place")
    if starts is None:
        raise ServiceError(_l("Enter the time it starts, like 10:00."), field="starts")
    if ends is None:
        raise ServiceError(_l("Enter the time it ends, like 12:00."), field="ends")
    if ends <= starts:
        raise ServiceError(_l("The end time must be after the start time."), field="ends")
    note = " ".join((note or "").split()) or None
    if note is not None and len(note) > NOTE_MAX:
        raise ServiceError(_l("Keep the note to %(n)s characters or fewer.", n=NOTE_MAX),
                           field="note")
    return place, starts, ends, note


def add_weekly(group: Group, *, place: str | None, weekday: int | None,
               starts: time | None, ends: time | None, note: str | None = None,
               actor: User, now: datetime) -> DropInSession:
    """Add a drop-in every week on `weekday` (0 = Monday). Refused (ServiceError, fields
    "place", "weekday", "starts", "ends", "note") for no place or one too long, no or an
    unknown weekday, a missing time, an end not after the start. Audited."""
    if weekday is None or not 0 <= weekday <= 6:
        raise ServiceError(_l("Choose the day of the week."), field="weekday")
    place, starts, ends, note = _checked(place, starts, ends, note)
    row = DropInSession(group_id=group.id, place=place, weekday=weekday, starts=starts,
                        ends=ends, note=note, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record("drop_in.added", actor=actor, group_id=group.id, subject=row,
                 place=place, weekday=weekday, starts=starts.isoformat("minutes"),
                 ends=ends.isoformat("minutes"))
    return row


def add_once(group: Group, *, place: str | None, on_date: date | None,
             starts: time | None, ends: time | None, note: str | None = None,
             actor: User, now: datetime) -> DropInSession:
    """Add a one-off drop-in on `on_date`. Refused as `add_weekly` is, and for no date or
    a date already past in the group's time zone ("date"). Audited."""
    if on_date is None:
        raise ServiceError(_l("Enter the date, like 24/03/2027."), field="date")
    today = now.astimezone(ZoneInfo(_zone_name(group.timezone))).date()
    if on_date < today:
        raise ServiceError(_l("That date has passed. Enter a date from today on."),
                           field="date")
    place, starts, ends, note = _checked(place, starts, ends, note)
    row = DropInSession(group_id=group.id, place=place, on_date=on_date, starts=starts,
                        ends=ends, note=note, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record("drop_in.added", actor=actor, group_id=group.id, subject=row,
                 place=place, on_date=on_date.isoformat(), starts=starts.isoformat("minutes"),
                 ends=ends.isoformat("minutes"))
    return row


def session_of_group(group: Group, session_id: int) -> DropInSession | None:
    """The group's drop-in session `session_id`, not removed; None for another group's."""
    return db.session.scalar(
        select(DropInSession).where(DropInSession.id == session_id,
                                    DropInSession.group_id == group.id,
                                    DropInSession.removed_at.is_(None))
    )


def remove(group: Group, session_id: int, *, actor: User, now: datetime) -> DropInSession:
    """Stop showing one of the group's drop-in sessions (kept, marked removed). Refused
    when it is not the group's or already removed. Audited."""
    row = session_of_group(group, session_id)
    if row is None:
        raise ServiceError(_l("That drop-in time is not listed any more."))
    row.removed_at = now
    audit.record("drop_in.removed", actor=actor, group_id=group.id, subject=row,
                 place=row.place)
    return row
