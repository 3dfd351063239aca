"""Who may see and do what: every check happens on the server.

Something in another group answers 404 (so ids do not leak); a member
asking for an organiser's page answers 403.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Group, Membership, Round

STAFF_ROLES = ("organiser", "worker")


def membership(group_id: int) -> Membership:
    """The signed-in user's membership of the group, or 404."""
    found = db.session.scalar(
        select(Membership).where(
            Membership.user_id == current_user.id, Membership.group_id == group_id
        )
    )
    if found is None:
        if current_user.is_site_admin and db.session.get(Group, group_id) is not None:
            # Site admins act as organisers of every group, without a household.
            return Membership(user_id=current_user.id, group_id=group_id, role="organiser")
        abort(404)
    return found


def require_role(group_id: int, *roles: str) -> Membership:
    """The membership if its role is one of `roles`; 404 for non-members, 403 otherwise."""
    found = membership(group_id)
    if found.role not in roles:
        abort(403)
    if found.role in STAFF_ROLES:
        _two_step_if_group_requires(group_id)
    return found


def _two_step_if_group_requires(group_id: int) -> None:
    """Staff of a group that requires two-step sign-in (site admins acting as its
    organisers too) are sent to set it up until they have."""
    if current_user.totp_enabled_at is not None:
        return
    group = db.session.get(Group, group_id)
    if group is None or not group.require_two_step:
        return
    flash(_("%(group)s asks its organisers and workers to use two-step sign-in. Set it up "
            "to open the group's staff pages.", group=group.name), "info")
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    abort(redirect(url_for("auth.two_step_settings", next=back), 303))


def group_or_404(group_id: int) -> Group:
    group = db.session.get(Group, group_id)
    if group is None:
        abort(404)
    return group


def may_see_round(rnd: Round, member: Membership) -> bool:
    """Members see open and finished rounds; drafts only their creator and staff."""
    if member.role in STAFF_ROLES or rnd.created_by_id == current_user.id:
        return True
    return rnd.status not in ("draft", "pending_approval")
