"""A group's staff: the list, invites for community workers and co-organisers, roles,
and a staff member's own household."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _organiser
from bulkbuy.qr import qr_svg
from bulkbuy.services import ServiceError, staff
from bulkbuy.transactions import undone_on_error


def _render_staff(group, errors=None, typed=None, status=200):
    return render_template(
        "organiser/staff.html", group=group, people=staff.staff_list(group),
        invites=staff.open_invites(group, utcnow()), me=staff.membership_of(group, current_user),
        errors=errors or {}, typed=typed or {}, title=_("Staff"),
    ), status


def _back(group):
    return redirect(url_for("organiser.staff_page", group_id=group.id), 303)


def _member_or_404(group, membership_id: int):
    member = staff.staff_member(group, membership_id)
    if member is None:
        abort(404)
    return member


@bp.route("/<int:group_id>/staff")
@login_required
def staff_page(group_id: int):
    return _render_staff(_organiser(group_id))


@bp.route("/<int:group_id>/staff/invite", methods=["POST"])
@login_required
def invite_staff(group_id: int):
    """A link for a new community worker or organiser: e-mailed, or shown once here."""
    group = _organiser(group_id)
    typed = {k: request.form.get(k, "") for k in ("role", "email")}
    try:
        with undone_on_error():
            invite, url = staff.invite(group, role=typed["role"], email=typed["email"],
                                       actor=current_user, now=utcnow())
    except ServiceError as error:
        return _render_staff(group, {"invite": {error.field or "role": error.message}},
                             {"invite": typed}, 400)
    if invite.email:
        flash(_("Invite sent to %(email)s.", email=invite.email), "success")
        return _back(group)
    return render_template("organiser/staff_invite_link.html", group=group, invite=invite,
                           url=url, qr=qr_svg(url, title=_("QR code of the invite link")),
                           title=_("Invite link"),
                           back=url_for("organiser.staff_page", group_id=group.id))


@bp.route("/<int:group_id>/staff/invites/<int:invite_id>/withdraw", methods=["POST"])
@login_required
def withdraw_staff_invite(group_id: int, invite_id: int):
    group = _organiser(group_id)
    invite = staff.invite_of_group(group, invite_id)
    if invite is None:
        abort(404)
    staff.withdraw(group, invite, actor=current_user, now=utcnow())
    flash(_("Invite withdrawn. Its link no longer works."), "success")
    return _back(group)


@bp.route("/<int:group_id>/staff/<int:membership_id>/role", methods=["POST"])
@login_required
def change_staff_role(group_id: int, membership_id: int):
    group = _organiser(group_id)
    member = _member_or_404(group, membership_id)
    name = member.user.name
    try:
        with undone_on_error():
            staff.change_role(group, member, request.form.get("role", ""),
                              actor=current_user, now=utcnow())
    except ServiceError as error:
        return _render_staff(group, {membership_id: {"role": error.message}}, status=400)
    flash(_("Role of %(name)s changed.", name=name), "success")
    return _back(group)


@bp.route("/<int:group_id>/staff/<int:membership_id>/remove", methods=["POST"])
@login_required
def remove_staff(group_id: int, membership_id: int):
    group = _organiser(group_id)
    member = _member_or_404(group, membership_id)
    name = member.user.name
    try:
        with undone_on_error():
            staff.remove(group, member, actor=current_user, now=utcnow())
    except ServiceError as error:
        return _render_staff(group, {membership_id: {"role": error.message}}, status=400)
    flash(_("%(name)s is no longer staff of this group.", name=name), "success")
    return _back(group)


@bp.route("/<int:group_id>/staff/household", methods=["POST"])
@login_required
def add_own_household(group_id: int):
    """An organiser adds their own home in the group, to order for it as residents do."""
    group = _organiser(group_id)
    typed = {"household": request.form.get("household", "")}
    try:
        with undone_on_error():
            household = staff.add_own_household(group, current_user, typed["household"])
    except ServiceError as error:
        return _render_staff(group, {"household": {"household": error.message}},
                             {"household": typed}, 400)
    flash(_("You can now order for %(household)s.", household=household.label), "success")
    return _back(group)
