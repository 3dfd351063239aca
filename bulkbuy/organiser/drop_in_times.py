"""Drop-in times: when and where residents can come to order and pay in person (weekly or
once). Organisers add and remove them; pages and e-mails name the next ones.

(Not the tablet's session sheets: those are in organiser/dropins.py.)"""

from __future__ import annotations

import re
from datetime import date, time

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.models import Group, utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _organiser
from bulkbuy.services import ServiceError
from bulkbuy.services import drop_ins as drop_in_service
from bulkbuy.transactions import undone_on_error

#: The two add forms and the fields each sends.
FORMS = {"weekly": ("place", "weekday", "starts", "ends", "note"),
         "once": ("place", "date", "starts", "ends", "note")}
#: What the weekday menu sends: 0 (Monday) to 6 (Sunday).
WEEKDAYS = tuple(str(day) for day in range(7))
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])(?:[:.]([0-5][0-9]))?", re.ASCII)
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", re.ASCII)
_UK_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", re.ASCII)


def parse_clock(text: str | None) -> time | None:
    """A clock time typed as "18:00", "18.30" or "18" (24-hour); None when it is not."""
    found = _CLOCK.fullmatch((text or "").strip())
    if found is None:
        return None
    return time(int(found.group(1)), int(found.group(2) or 0))


def parse_date(text: str | None) -> date | None:
    """A date as a date box sends it (2027-03-24) or typed as 24/03/2027; None when it is
    not one."""
    text = (text or "").strip()
    try:
        if found := _ISO_DATE.fullmatch(text):
            return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
        if found := _UK_DATE.fullmatch(text):
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
    except ValueError:
        return None
    return None


def weekday_names() -> list[str]:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"),
            _("Saturday"), _("Sunday")]


@bp.route("/<int:group_id>/drop-in-times", methods=["GET", "POST"])
@login_required
def drop_in_times(group_id: int):
    """The group's drop-in times, with a form to add a weekly one and one to add a
    one-off."""
    group = _organiser(group_id)
    if request.method == "GET":
        return _render(group)
    kind = request.form.get("kind", "")
    if kind not in FORMS:
        abort(400)
    typed = {name: request.form.get(name, "")[:400] for name in FORMS[kind]}
    errors: dict[str, str] = {}
    starts = parse_clock(typed["starts"])
    if starts is None:
        errors["starts"] = _("Enter the time it starts, like 10:00.")
    ends = parse_clock(typed["ends"])
    if ends is None:
        errors["ends"] = _("Enter the time it ends, like 12:00.")
    if kind == "weekly":
        day = typed["weekday"].strip()
        weekday = int(day) if day in WEEKDAYS else None
        if weekday is None:
            errors["weekday"] = _("Choose the day of the week.")
    else:
        on_date = parse_date(typed["date"])
        if on_date is None:
            errors["date"] = _("Enter the date, like 24/03/2027.")
    if not errors:
        try:
            with undone_on_error():
                if kind == "weekly":
                    drop_in_service.add_weekly(
                        group, place=typed["place"], weekday=weekday, starts=starts,
                        ends=ends, note=typed["note"], actor=current_user, now=utcnow())
                else:
                    drop_in_service.add_once(
                        group, place=typed["place"], on_date=on_date, starts=starts,
                        ends=ends, note=typed["note"], actor=current_user, now=utcnow())
        except ServiceError as error:
            errors[error.field or "place"] = error.message
    if errors:
        return _render(group, errors=errors, typed=typed, error_form=kind, status=400)
    flash(_("Drop-in time added."), "success")
    return redirect(url_for("organiser.drop_in_times", group_id=group.id), 303)


@bp.route("/<int:group_id>/drop-in-times/<int:session_id>/remove", methods=["POST"])
@login_required
def remove_drop_in_time(group_id: int, session_id: int):
    """Remove one of the group's drop-in times."""
    group = _organiser(group_id)
    if drop_in_service.session_of_group(group, session_id) is None:
        abort(404)
    try:
        with undone_on_error():
            row = drop_in_service.remove(group, session_id, actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("Removed: %(place)s.", place=row.place), "success")
    return redirect(url_for("organiser.drop_in_times", group_id=group.id), 303)


def _render(group: Group, *, errors=None, typed=None, error_form=None, status=200):
    return render_template(
        "organiser/drop_in_times.html", group=group,
        page=drop_in_service.sessions(group, utcnow()), weekdays=weekday_names(),
        errors=errors or {}, typed=typed or {}, error_form=error_form,
        title=_("Drop-in times"),
    ), status
