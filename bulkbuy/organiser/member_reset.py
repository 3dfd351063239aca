"""Staff send a household's member a link to choose a new password (to their own
e-mail address: staff never see the link, nor any password)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _staff
from bulkbuy.services import organising, recovery
from bulkbuy.transactions import undone_on_error


@bp.route("/<int:group_id>/households/<int:household_id>/members/<int:user_id>/reset-link",
          methods=["POST"])
@login_required
def send_member_reset_link(group_id: int, household_id: int, user_id: int):
    group, _member = _staff(group_id)
    household = organising.household_of_group(group, household_id)
    member = (recovery.member_of_household(group, household, user_id)
              if household is not None else None)
    if member is None:
        abort(404)
    with undone_on_error():
        recovery.send_reset_link(member, utcnow(), actor=current_user._get_current_object(),
                                 group_id=group.id, household_id=household.id)
    flash(_("We sent %(name)s a link to choose a new password, to their e-mail address. "
            "It works for 1 hour.", name=member.name), "success")
    return redirect(url_for("organiser.households", group_id=group.id,
                            q=request.form.get("q") or None)
                    + f"#household-{household.id}", 303)
