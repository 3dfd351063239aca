"""The organiser's groups: the list, a group's dashboard, its settings and invite code."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.organiser import bp
from bulkbuy.organiser.common import (
    _organiser,
)
from bulkbuy.organiser.forms import GroupSettingsForm
from bulkbuy.services import (
    ServiceError,
    accounts,
    organising,
)
from bulkbuy.transactions import undone_on_error


@bp.route("/")
@login_required
def index():
    groups = organising.organised_groups(current_user)
    if not groups:
        abort(403)
    if len(groups) == 1:
        return redirect(url_for("organiser.dashboard", group_id=groups[0].id))
    return render_template("organiser/index.html", groups=groups, title=_("Your groups"))


@bp.route("/<int:group_id>")
@login_required
def dashboard(group_id: int):
    group = _organiser(group_id)
    return _dashboard_page(group, GroupSettingsForm(obj=group))


def _dashboard_page(group, settings_form, status: int = 200):
    board = organising.dashboard(group)
    return render_template(
        "organiser/dashboard.html", group=group, rounds=board.rounds, suppliers=board.suppliers,
        waiting=board.waiting, settings_form=settings_form, title=group.name,
    ), status


@bp.route("/<int:group_id>/settings", methods=["POST"])
@login_required
def settings(group_id: int):
    """The group's settings (its name, whether residents' rounds need approval). A form
    with a problem shows the dashboard again with the message by the field."""
    group = _organiser(group_id)
    form = GroupSettingsForm()
    if "name" not in request.form:  # an older page's form, without the name box
        form.name.data = group.name
        form.name.raw_data = [group.name]
    if form.validate_on_submit():
        try:
            with undone_on_error():
                organising.update_group_settings(
                    group, name=form.name.data,
                    require_round_approval=form.require_round_approval.data,
                    # an older page's form, without the name box, leaves it as it is
                    require_two_step=("require_two_step" in request.form
                                      if "name" in request.form else None),
                    actor=current_user)
        except ServiceError as error:
            form.name.errors.append(error.message)
        else:
            flash(_("Settings saved."), "success")
            return redirect(url_for("organiser.dashboard", group_id=group.id), 303)
    if form.errors or any(f.errors for f in form):
        return _dashboard_page(group, form, 400)
    return redirect(url_for("organiser.dashboard", group_id=group.id), 303)


@bp.route("/<int:group_id>/invite/reset", methods=["POST"])
@login_required
def reset_invite(group_id: int):
    group = _organiser(group_id)
    accounts.regenerate_invite_code(group, actor=current_user)
    flash(_("New invite code made. The old one no longer works."), "success")
    return redirect(url_for("organiser.dashboard", group_id=group.id), 303)
