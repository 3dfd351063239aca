from __future__ import annotations

import functools
from dataclasses import replace

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from bulkbuy import access, fragment_cache
from bulkbuy.domain import statuses
from bulkbuy.extensions import db, limiter
from bulkbuy.models import (
    Group,
    Household,
    Membership,
    PledgeLine,
    Product,
    Round,
    RoundItem,
    Statement,
    Supplier,
    utcnow,
)
from bulkbuy.resident import bp
from bulkbuy.round_form import RoundForm
from bulkbuy.services import (
    ServiceError,
    accounts,
    cards,
    pledges,
    round_view,
    rounds,
    statements,
    tablet,
)
from bulkbuy.validation import whole_number
from bulkbuy.web import organises_a_group


def _memberships() -> list[Membership]:
    return db.session.scalars(
        select(Membership)
        .options(joinedload(Membership.group))
        .where(Membership.user_id == current_user.id)
    ).all()


@bp.route("/")
@login_required
def home():
    memberships = _memberships()
    group_ids = [m.group_id for m in memberships]
    household_ids = [m.household_id for m in memberships if m.household_id is not None]
    # Failed, cancelled and finished rounds stay listed for households that ordered
    # in them: that is how a household without e-mail learns what happened.
    ordered_in = select(PledgeLine.round_id).where(PledgeLine.household_id.in_(household_ids))
    visible = db.session.scalars(
        select(Round)
        .options(joinedload(Round.group))
        .where(
            Round.group_id.in_(group_ids),
            (Round.status.in_(statuses.LISTED_ROUNDS))
            | (Round.created_by_id == current_user.id)
            | Round.id.in_(ordered_in),
        )
        .order_by(Round.closes_at)
    ).all()
    staff_groups = [m.group_id for m in memberships if m.role in access.STAFF_ROLES]
    payment_rounds = []
    if staff_groups:
        # Workers and organisers take cash for closed rounds: one tap from here.
        payment_rounds = db.session.scalars(
            select(Round)
            .where(Round.group_id.in_(staff_groups),
                   Round.status.in_(statuses.COLLECTING_ROUNDS))
            .order_by(Round.closes_at.desc())
        ).all()
    return render_template(
        "resident/home.html",
        memberships=memberships,
        open_rounds=[r for r in visible if r.status == "open"],
        other_rounds=[r for r in visible if r.status != "open"],
        payment_rounds=payment_rounds,
        staff_groups=[m for m in memberships if m.role in access.STAFF_ROLES],
        to_pay=_to_pay(household_ids),
        title=_("Your rounds"),
    )


def _load_round(round_id: int):
    """The round (with its group and supplier) and the user's membership, in one query."""
    row = db.session.execute(
        select(Round, Membership)
        .options(joinedload(Round.group), joinedload(Round.supplier))
        .outerjoin(
            Membership,
            (Membership.group_id == Round.group_id) & (Membership.user_id == current_user.id),
        )
        .where(Round.id == round_id)
    ).first()
    if row is None:
        abort(404)
    rnd, member = row
    if member is None:
        member = access.membership(rnd.group_id)  # site admins; 404 for everyone else
    if not access.may_see_round(rnd, member):
        abort(404)
    return rnd, member


def _render_round(rnd, member, errors=None, typed=None, status=200, csrf=None):
    """The round page. With `csrf` given, that text stands in for every CSRF
    token (for a cached copy); otherwise the real token is used."""
    finished = rnd.status in statuses.FINISHED_ROUNDS
    own_statement = None
    if finished and member.household_id is not None:
        own_statement = next(iter(statements.statements_for(rnd, member.household_id)), None)
    products_html = Markup("")
    if not finished:
        products_html = Markup(render_template(  # noqa: S704 - an autoescaping template
            "resident/_products.html", round=rnd, member=member,
            items=round_view.item_views(rnd, member.household_id),
            errors=errors or {}, typed=typed or {}, csrf_value=csrf or generate_csrf(),
        ))
    extra = {"csrf_token": lambda: csrf} if csrf else {}
    return (
        render_template(
            "resident/round.html",
            round=rnd,
            member=member,
            products_html=products_html,
            finished=finished,
            cards_on=cards.cards_on(current_app.config),
            own_statement=own_statement,
            errors=errors or {},
            title=_("Order by %(when)s", when=_when(rnd)),
            **extra,
        ),
        status,
    )


CACHEABLE_STATUSES = ("draft", "pending_approval", "open")


#: What the round page shows of the round, its group, its supplier and the
#: member: the cache key is these values plus the user's (see _page_key).
_PAGE_FIELDS = (
    Round.id, Round.pledge_version, Round.status, Round.closes_at, Round.title, Supplier.name,
    Round.collection_place, Round.collection_time, Round.delivery_fee_pence,
    Round.min_order_pence, Round.notes, Round.created_by_id, Group.timezone,
    Membership.role, Membership.household_id,
)


def _page_key(values: tuple) -> tuple:
    """Everything the round page shows, as a cache key (see bulkbuy/fragment_cache.py).

    `values` are _PAGE_FIELDS. pledge_version changes with every pledge; the
    other fields are in the key themselves, so a change to any is a new key.
    """
    return (*values, current_user.id, current_user.is_site_admin, organises_a_group(),
            str(get_locale()))


def _page_values(rnd: Round, member: Membership) -> tuple:
    """_PAGE_FIELDS read from loaded objects (the same values the quick query reads)."""
    return (
        rnd.id, rnd.pledge_version, rnd.status, rnd.closes_at, rnd.title, rnd.supplier.name,
        rnd.collection_place, rnd.collection_time, rnd.delivery_fee_pence, rnd.min_order_pence,
        rnd.notes, rnd.created_by_id, rnd.group.timezone, member.role, member.household_id,
    )


@functools.cache
def _page_values_query():
    """_PAGE_FIELDS of one round for one member, built once (it runs on every reload)."""
    return (
        select(*_PAGE_FIELDS)
        .join(Group, Group.id == Round.group_id)
        .join(Supplier, Supplier.id == Round.supplier_id)
        .join(
            Membership,
            (Membership.group_id == Round.group_id)
            & (Membership.user_id == bindparam("user_id")),
        )
        .where(Round.id == bindparam("round_id"))
    )


def _cached_page(round_id: int) -> str | None:
    """The kept copy of the round page, checked fresh with one plain query; else None."""
    if session.get("_flashes"):
        return None
    values = db.session.execute(
        _page_values_query(), {"round_id": round_id, "user_id": current_user.id}
    ).first()
    if values is None or values.status not in CACHEABLE_STATUSES:
        return None
    html = fragment_cache.round_pages.get(_page_key(tuple(values)))
    if html is None:
        return None
    return html.replace(fragment_cache.CSRF_PLACEHOLDER, generate_csrf())


def _when(rnd):
    from bulkbuy.formatting import when

    return when(rnd.closes_at, rnd.group.timezone)


@bp.route("/rounds/<int:round_id>")
@login_required
def round_page(round_id: int):
    # The page residents reload while neighbours fill boxes is kept rendered until
    # anything on it changes, with the CSRF token put in on every response. A kept
    # copy exists only for a member who has seen the page, so the access checks
    # below have already passed for the same round, status and role.
    cached = _cached_page(round_id)
    if cached is not None:
        return cached
    rnd, member = _load_round(round_id)
    if rnd.status not in CACHEABLE_STATUSES or session.get("_flashes") or member.id is None:
        return _render_round(rnd, member)
    html, _status = _render_round(rnd, member, csrf=fragment_cache.CSRF_PLACEHOLDER)
    html = fragment_cache.without_indentation(html)
    fragment_cache.round_pages.put(_page_key(_page_values(rnd, member)), html)
    return html.replace(fragment_cache.CSRF_PLACEHOLDER, generate_csrf())


@bp.route("/rounds/<int:round_id>/items/<int:item_id>", methods=["POST"])
@login_required
def pledge(round_id: int, item_id: int):
    rnd, member = _load_round(round_id)
    item = db.session.get(RoundItem, item_id)
    if item is None or item.round_id != rnd.id:
        abort(404)
    if member.household_id is None:
        flash(_("You are not part of a household in this group, so you cannot order."), "error")
        return redirect(url_for("resident.round_page", round_id=rnd.id))
    if rnd.status != "open" or rnd.closes_at <= utcnow():
        return _closed(rnd)

    max_units = current_app.config["MAX_UNITS_PER_PLEDGE"]
    unit = item.unit_description
    quantity_text = request.form.get("set_quantity") or request.form.get("quantity", "")
    tolerance_text = request.form.get("tolerance", "0") or "0"
    errors = {}
    try:
        quantity = _count(quantity_text, max_units, _("Enter how many you want, like 2"))
    except ValueError as error:
        errors["quantity"] = str(error)
    try:
        tolerance = _count(tolerance_text, max_units, _("Enter how many more you would take"))
    except ValueError as error:
        errors["tolerance"] = str(error)
    if errors:
        return _render_round(
            rnd, member,
            errors={item.id: errors},
            typed={item.id: {"quantity": quantity_text, "tolerance": tolerance_text}},
            status=400,
        )
    try:
        result = pledges.set_pledge(
            item, member.household, quantity, tolerance,
            entered_by=current_user, now=utcnow(), max_units=max_units,
        )
        db.session.commit()
    except pledges.RoundNotOpenError:
        db.session.rollback()
        return _closed(rnd)
    if result.quantity == 0 and result.tolerance == 0:
        flash(_("You do not want any %(unit)s of %(name)s. Saved.", unit=unit, name=item.name),
              "success")
    else:
        flash(_("You want %(n)s of %(name)s. Saved.", n=result.quantity, name=item.name),
              "success")
    return redirect(url_for("resident.round_page", round_id=rnd.id) + f"#item-{item.id}", 303)


def _count(text: str, max_units: int, blank_message: str) -> int:
    """A number of units typed on the round page, with the round page's own words."""
    try:
        return whole_number(text, "Number", maximum=max_units)
    except ValueError:
        stripped = (text or "").strip()
        if not stripped:
            raise ValueError(blank_message) from None
        if stripped.isdigit():
            raise ValueError(_("You can have up to %(n)s", n=max_units)) from None
        raise ValueError(_("Enter a whole number, like 2")) from None


def _closed(rnd):
    return (
        render_template("resident/round_closed.html", round=rnd, title=_("Orders are closed")),
        409,
    )


@bp.route("/my-orders")
@login_required
def my_orders():
    memberships = [m for m in _memberships() if m.household_id is not None]
    estimates = []
    for member in memberships:
        open_rounds = db.session.scalars(
            select(Round).where(Round.group_id == member.group_id, Round.status == "open")
        ).all()
        estimates += round_view.household_estimates(list(open_rounds), member.household_id)
    household_of = {m.group_id: m.household_id for m in memberships}
    helpers = {}
    for member in memberships:
        helpers.update({(member.household_id, item_id): names for item_id, names in
                        round_view.entered_by_helpers(
                            member.household_id,
                            [e.round.id for e in estimates
                             if e.round.group_id == member.group_id]).items()})
    choices = {e.round.id: cards.card_choice(current_app.config, e.round,
                                             household_of[e.round.group_id])
               for e in estimates}
    helper_changes = [change for member in memberships
                      for change in round_view.helper_changes(member.household_id)]
    return render_template("resident/my_orders.html", estimates=estimates, choices=choices,
                           helpers=helpers, household_of=household_of,
                           helper_changes=helper_changes,
                           pin_groups=[m.group for m in memberships],
                           to_pay=_to_pay([m.household_id for m in memberships]),
                           title=_("My orders"))


def _to_pay(household_ids: list[int]) -> list[Statement]:
    """The households' statements still owed, for the "Pay now" links."""
    if not household_ids:
        return []
    return list(db.session.scalars(
        select(Statement)
        .options(joinedload(Statement.round))
        .join(Round, Statement.round_id == Round.id)
        .where(Statement.household_id.in_(household_ids),
               Statement.payment_status.in_(statuses.OWED),
               Round.status.in_(statuses.FINISHED_ROUNDS))
        .order_by(Round.closes_at)
    ))


@bp.route("/groups/<int:group_id>/rounds/new", methods=["GET", "POST"])
@login_required
def start_round(group_id: int):
    member = access.membership(group_id)
    group = member.group if member.id else access.group_or_404(group_id)
    suppliers = db.session.scalars(
        select(Supplier).where(Supplier.group_id == group_id).order_by(Supplier.name)
    ).all()
    supplier_id = request.args.get("supplier", type=int)
    supplier = next((s for s in suppliers if s.id == supplier_id), None)
    if supplier is None:
        return render_template(
            "rounds/choose_supplier.html", group=group, suppliers=suppliers,
            endpoint="resident.start_round", title=_("Start a round: choose a supplier"),
        )
    products = db.session.scalars(
        select(Product)
        .where(Product.supplier_id == supplier.id, Product.active.is_(True))
        .order_by(Product.name)
    ).all()
    form = RoundForm(products, group.timezone)
    if form.validate_on_submit():
        chosen = [p for p in products if p.id in set(form.products.data)]
        try:
            # Money settings and scheduling are organisers' choices: a resident's
            # round takes the usual ones, whatever the request carries.
            details = replace(
                form.details(), delivery_fee_pence=0, min_order_pence=None,
                fee_split="by_value", allocation_mode="first_come", opens_at=None,
                payment_days=3,
            )
            rnd = rounds.create_round(
                group, supplier, chosen, details, created_by=current_user, now=utcnow()
            )
            status = rounds.submit_for_approval_or_open(rnd, actor=current_user, now=utcnow())
            db.session.commit()
        except ServiceError as error:
            db.session.rollback()
            form.closes_at.errors.append(error.message)
        else:
            if status == "open":
                flash(_("Your round is open. Tell your neighbours!"), "success")
            else:
                flash(_("Your round is waiting for an organiser to approve it."), "success")
            return redirect(url_for("resident.round_page", round_id=rnd.id), 303)
    return render_template(
        "rounds/form.html", form=form, group=group, supplier=supplier, organiser=False,
        title=_("Start a round with %(supplier)s", supplier=supplier.name),
    )


def _own_round(round_id: int) -> Round:
    rnd, member = _load_round(round_id)
    if rnd.created_by_id != current_user.id and member.role != "organiser":
        abort(403)
    return rnd


@bp.route("/rounds/<int:round_id>/extend", methods=["GET", "POST"])
@login_required
def extend_round(round_id: int):
    from bulkbuy.formatting import parse_local

    rnd = _own_round(round_id)
    error = None
    if request.method == "POST":
        try:
            new_time = parse_local(request.form.get("closes_at"), rnd.group.timezone)
            rounds.extend_round(rnd, new_time, actor=current_user, now=utcnow())
            db.session.commit()
        except (ValueError, ServiceError) as problem:
            db.session.rollback()
            error = getattr(problem, "message", str(problem))
        else:
            flash(_("The new closing time is saved."), "success")
            return redirect(url_for("resident.round_page", round_id=rnd.id), 303)
    return render_template(
        "rounds/extend.html", round=rnd, error=error, title=_("Change the closing time"),
    ), (400 if error else 200)


@bp.route("/rounds/<int:round_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel_round(round_id: int):
    rnd = _own_round(round_id)
    if request.method == "POST":
        try:
            rounds.cancel_round(rnd, actor=current_user, now=utcnow())
            db.session.commit()
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("resident.round_page", round_id=rnd.id), 303)
        flash(_("The round is cancelled. Nobody will pay for it."), "success")
        return redirect(url_for("resident.home"), 303)
    return render_template("rounds/cancel.html", round=rnd, title=_("Cancel this round"))


def _sign_in_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/groups/<int:group_id>/pin", methods=["GET", "POST"])
@login_required
@limiter.limit(_sign_in_limit, methods=["POST"])  # it checks the sign-in password
def household_pin(group_id: int):
    """A household sets its own PIN for the drop-in tablet (their password confirms it)."""
    member = access.membership(group_id)
    if member.household_id is None:
        abort(404)
    household = db.session.get(Household, member.household_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        pin = request.form.get("pin", "").strip()
        if not tablet.PIN_PATTERN.match(pin):
            errors["pin"] = _("A PIN is 4 numbers, like 2580.")
        elif request.form.get("pin_again", "").strip() != pin:
            errors["pin_again"] = _("The two PINs are not the same. Type it again.")
        if accounts.authenticate(current_user.email, request.form.get("password", "")) is None:
            errors["password"] = _("That is not your password.")
        if not errors:
            tablet.set_pin(household, pin, actor=current_user, now=utcnow())
            db.session.commit()
            flash(_("Your drop-in PIN is saved."), "success")
            return redirect(url_for("resident.my_orders"), 303)
    return render_template("resident/pin.html", household=household, errors=errors,
                           title=_("Your drop-in PIN")), 400 if errors else 200
