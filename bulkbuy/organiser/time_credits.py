"""Time credits: staff enter time households gave (packing, other help), see every
household's credits and the ledger; organisers set the rule turning credits into pence
off a household's delivery-fee share. Drop-in help is logged from the tablet."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from bulkbuy.models import Group, utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _organiser, _staff, pounds_text
from bulkbuy.services import ServiceError, organising, time_credits
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, optional_pounds, parse_pounds, record_id, whole_number


def _page_url(group: Group) -> str:
    return url_for("organiser.time_credits_page", group_id=group.id)


def _render(group: Group, is_organiser: bool, errors=None, typed=None, status=200):
    page = time_credits.staff_page(group)
    typed = typed or {}
    typed.setdefault("rule", {
        "minutes_per_credit": str(page.rule.minutes_per_credit),
        "pence_per_credit": pounds_text(page.rule.pence_per_credit),
        "most_per_round": pounds_text(page.rule.most_per_round_pence)})
    return render_template("organiser/time_credits.html", group=group, page=page,
                           is_organiser=is_organiser, errors=errors or {},
                           typed=typed, reasons=time_credits.STAFF_REASONS,
                           title=_("Time credits")), status


# One rule for the page and its form: a GET rule and a POST-only rule on the same path
# would answer 405 instead of 404 to an id too large for a row (tests/integration/
# test_huge_ids.py).
@bp.route("/<int:group_id>/time-credits", methods=["GET", "POST"])
@login_required
def time_credits_page(group_id: int):
    """Each household's credits, the latest entries, the form to enter time and the
    rule (organisers may change it); a POST enters time (_record_time_given)."""
    group, member = _staff(group_id)
    if request.method == "POST":
        return _record_time_given(group, member)
    return _render(group, member.is_organiser)


def _record_time_given(group, member):
    """Staff enter time a household gave: which household, what, minutes, a note."""
    typed = {k: request.form.get(k, "") for k in ("household", "reason", "minutes", "note")}
    errors: dict[str, str] = {}
    household_id = record_id(typed["household"])
    household = organising.household_of_group(group, household_id) if household_id else None
    if household is None or household.removed_at is not None:
        errors["household"] = _("Choose the household.")
    if typed["reason"] not in time_credits.STAFF_REASONS:
        errors["reason"] = _("Choose what they did.")
    try:
        minutes = whole_number(typed["minutes"], _("Minutes"), minimum=1,
                               maximum=time_credits.MAX_MINUTES)
    except ValueError as error:
        errors["minutes"] = str(error)
    try:
        note = clean_text(typed["note"], _("Who helped and what they did"), max_length=200,
                          required=False)
    except ValueError as error:
        errors["note"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                entry = time_credits.record_time(group, household, minutes, typed["reason"],
                                                 note, actor=current_user, now=utcnow())
        except ServiceError as error:
            errors[error.field or "minutes"] = error.message
    if errors:
        return _render(group, member.is_organiser, {"time": errors}, {"time": typed}, 400)
    flash(_("%(minutes)s minutes given by %(household)s recorded: %(credits)s credits "
            "earned.", minutes=minutes, household=household.label, credits=entry.credits),
          "success")
    return redirect(_page_url(group), 303)


@bp.route("/<int:group_id>/time-credits/correct", methods=["POST"])
@login_required
def correct_time_credits(group_id: int):
    """Staff take back credits a household was given by mistake (a 'correction' entry,
    never below its balance): which household, how many credits, and why."""
    group, member = _staff(group_id)
    typed = {k: request.form.get(k, "") for k in ("household", "credits", "note")}
    household_id = record_id(typed["household"])
    household = organising.household_of_group(group, household_id) if household_id else None
    if household is None or household.removed_at is not None:
        flash(_("Choose the household."), "error")
        return redirect(_page_url(group) + "#households", 303)
    key = f"correct-{household.id}"
    errors: dict[str, str] = {}
    try:
        credits = whole_number(typed["credits"], _("Credits to take back"), minimum=1,
                               maximum=1_000_000)
    except ValueError as problem:
        errors["credits"] = str(problem)
    try:
        note = clean_text(typed["note"], _("Why they were a mistake"),
                          max_length=time_credits.CORRECTION_NOTE_MAX)
    except ValueError as problem:
        errors["note"] = str(problem)
    if not errors:
        try:
            with undone_on_error():
                time_credits.correct_credits(group, household, credits, note,
                                             actor=current_user, now=utcnow())
        except ServiceError as problem:
            errors[problem.field or "credits"] = problem.message
    if errors:
        return _render(group, member.is_organiser, {key: errors}, {key: typed}, 400)
    flash(ngettext("%(num)s credit taken back from %(household)s.",
                   "%(num)s credits taken back from %(household)s.", credits,
                   household=household.label), "success")
    return redirect(_page_url(group) + "#households", 303)


@bp.route("/<int:group_id>/time-credits/rule", methods=["POST"])
@login_required
def save_time_credit_rule(group_id: int):
    """Organisers set the minutes a credit takes, what a credit takes off a household's
    delivery share (0: off) and the most per round (empty: its whole share)."""
    group = _organiser(group_id)
    typed = {k: request.form.get(k, "")
             for k in ("minutes_per_credit", "pence_per_credit", "most_per_round")}
    errors: dict[str, str] = {}
    try:
        minutes = whole_number(typed["minutes_per_credit"], _("Minutes for one credit"),
                               minimum=1, maximum=time_credits.MAX_MINUTES)
    except ValueError as error:
        errors["minutes_per_credit"] = str(error)
    try:
        worth = parse_pounds(typed["pence_per_credit"] or "0")
    except ValueError as error:
        errors["pence_per_credit"] = str(error)
    try:
        most = optional_pounds(typed["most_per_round"])
    except ValueError as error:
        errors["most_per_round"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                time_credits.save_rule(group, minutes, worth, most, actor=current_user,
                                       now=utcnow())
        except ServiceError as error:
            errors[error.field or "minutes_per_credit"] = error.message
    if errors:
        return _render(group, True, {"rule": errors}, {"rule": typed}, 400)
    flash(_("The time credits rule is saved."), "success")
    return redirect(_page_url(group) + "#rule", 303)
