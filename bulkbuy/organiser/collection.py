"""Collection day: staff tick each household's bag collected (taking any cash still owed
in the same step), keep it for later or give it away. On a phone or a tablet."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.domain.money import format_pence
from bulkbuy.models import Group, Round, utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _round_in, _staff
from bulkbuy.services import ServiceError
from bulkbuy.services import collection as collection_service
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, parse_pounds


def _collection_round(group_id: int, round_id: int) -> tuple[Group, Round]:
    """Staff of the group, and a round of it whose bags are being (or were) handed out."""
    group, _member = _staff(group_id)
    return group, _round_in(group, round_id, collection_service.SHOWN_ROUNDS)


@bp.route("/<int:group_id>/rounds/<int:round_id>/collection")
@login_required
def collection(group_id: int, round_id: int):
    """Who has collected their bag and who has not; big buttons to tick one."""
    group, rnd = _collection_round(group_id, round_id)
    return _render(group, rnd)


def _render(group, rnd, *, household_id=None, errors=None, typed=None, status=200):
    return render_template(
        "organiser/collection.html", group=group, round=rnd,
        board=collection_service.board(rnd, request.args.get("q")),
        open_to_change=rnd.status == "delivered",
        error_household=household_id, errors=errors or {}, typed=typed or {},
        title=_("Collection: %(round)s", round=rnd.title),
    ), status


def _back(group, rnd, household_id: int):
    return redirect(url_for("organiser.collection", group_id=group.id, round_id=rnd.id,
                            q=request.args.get("q") or None) + f"#bag-{household_id}", 303)


def _refused(group, rnd, household_id, error: ServiceError, typed: dict):
    """A refusal about what was typed is shown beside the field (400, typed values kept);
    one about the bag itself (already collected, no such bag) is flashed on the board."""
    if error.field is None:
        flash(error.message, "error")
        return _back(group, rnd, household_id)
    return _render(group, rnd, household_id=household_id,
                   errors={error.field: error.message}, typed=typed,
                   status=400)


@bp.route("/<int:group_id>/rounds/<int:round_id>/collection/<int:household_id>/collect",
          methods=["POST"])
@login_required
def collect_bag(group_id: int, round_id: int, household_id: int):
    group, rnd = _collection_round(group_id, round_id)
    form = request.form
    typed = {name: form.get(name, "") for name in ("by", "neighbour_name", "amount",
                                                    "receipt")}
    errors: dict[str, str] = {}
    neighbour_name = None
    if typed["by"] == "neighbour":
        try:
            neighbour_name = clean_text(typed["neighbour_name"], _("The neighbour's name"),
                                        max_length=collection_service.NAME_MAX)
        except ValueError as error:
            errors["neighbour_name"] = str(error)
    elif typed["by"] != "household":
        errors["by"] = _("Choose who is collecting the bag.")
    cash = None
    if typed["amount"].strip() or typed["receipt"].strip():
        amount = receipt = None
        try:
            amount = parse_pounds(typed["amount"])
        except ValueError as error:
            errors["amount"] = str(error)
        try:
            receipt = clean_text(typed["receipt"], _("Receipt number"), max_length=40)
        except ValueError as error:
            errors["receipt"] = str(error)
        cash = (amount, receipt)
    if errors:
        return _render(group, rnd, household_id=household_id, errors=errors, typed=typed,
                       status=400)
    try:
        with undone_on_error():
            done = collection_service.collect(rnd, household_id, neighbour_name=neighbour_name,
                                              cash=cash, actor=current_user, now=utcnow())
    except ServiceError as error:
        return _refused(group, rnd, household_id, error, typed)
    if done.cash is not None:
        flash(_("Collected: %(household)s's bag. Cash taken: %(amount)s (receipt "
                "%(receipt)s).", household=done.household.label,
                amount=format_pence(done.cash.amount_pence),
                receipt=done.cash.receipt_number), "success")
    else:
        flash(_("Collected: %(household)s's bag.", household=done.household.label),
              "success")
    return _back(group, rnd, household_id)


@bp.route("/<int:group_id>/rounds/<int:round_id>/collection/<int:household_id>/keep",
          methods=["POST"])
@login_required
def keep_bag(group_id: int, round_id: int, household_id: int):
    return _set_aside(group_id, round_id, household_id, collection_service.keep)


@bp.route("/<int:group_id>/rounds/<int:round_id>/collection/<int:household_id>/give-away",
          methods=["POST"])
@login_required
def give_away_bag(group_id: int, round_id: int, household_id: int):
    return _set_aside(group_id, round_id, household_id, collection_service.give_away)


def _set_aside(group_id: int, round_id: int, household_id: int, use_case):
    """Keep a bag for later, or give it away: the reason is required."""
    group, rnd = _collection_round(group_id, round_id)
    action = "keep" if use_case is collection_service.keep else "give_away"
    reason_text = request.form.get("reason", "")
    typed = {"action": action, "reason": reason_text}
    try:
        reason = clean_text(reason_text, _("The reason"),
                            max_length=collection_service.REASON_MAX, multiline=True)
    except ValueError as error:
        return _render(group, rnd, household_id=household_id,
                       errors={"reason": str(error)}, typed=typed, status=400)
    try:
        with undone_on_error():
            handover = use_case(rnd, household_id, reason, actor=current_user, now=utcnow())
    except ServiceError as error:
        return _refused(group, rnd, household_id, error, typed)
    if handover.status == "kept":
        flash(_("Kept for later: %(household)s's bag.", household=handover.household.label),
              "success")
    else:
        flash(_("Given away: %(household)s's bag.", household=handover.household.label),
              "success")
    return _back(group, rnd, household_id)
