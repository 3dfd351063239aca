from __future__ import annotations

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

from bulkbuy import access, fragment_cache, validation
from bulkbuy.extensions import limiter
from bulkbuy.models import utcnow
from bulkbuy.resident import bp
from bulkbuy.round_form import RoundForm
from bulkbuy.services import ServiceError, pledges, residents, rounds, tablet, time_credits
from bulkbuy.services import drop_ins as drop_in_service
from bulkbuy.services import home as home_service
from bulkbuy.services.payments import saved_cards as cards
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import whole_number


@bp.route("/")
@login_required
def home():
    overview = home_service.home_overview(current_user)
    return render_template(
        "resident/home.html",
        memberships=overview.memberships,
        open_rounds=overview.open_rounds,
        other_rounds=overview.other_rounds,
        payment_rounds=overview.payment_rounds,
        staff_groups=overview.staff_groups,
        to_pay=overview.to_pay,
        drop_ins=overview.drop_ins,
        time_given=time_credits.household_time(current_user),
        title=_("Your rounds"),
    )


def _load_round(round_id: int):
    """The round (with its group and supplier) and the user's membership, in one query;
    404 when the user may not see it."""
    found = residents.round_with_membership(round_id, current_user.id)
    if found is None:
        abort(404)
    rnd, member = found
    if member is None:
        member = access.membership(rnd.group_id)  # site admins; 404 for everyone else
    if not access.may_see_round(rnd, member):
        abort(404)
    return rnd, member


def _render_products(rnd, member, contents, errors=None, typed=None, csrf=None,
                     slots=None) -> Markup:
    """The last calls and product cards of an unfinished round (with `slots`, the
    household's own numbers left as slots: see _kept_in_parts)."""
    return Markup(render_template(  # noqa: S704 - an autoescaping template
        "resident/_products.html", round=rnd, member=member,
        items=contents.items, last_calls=contents.last_calls, slots=slots,
        errors=errors or {}, typed=typed or {}, csrf_value=csrf or generate_csrf(),
    ))


def _render_round(rnd, member, errors=None, typed=None, status=200, csrf=None,
                  contents=None, products_html=None):
    """The round page, from `contents` (residents.round_contents, read here unless
    given). With `csrf` given, that text stands in for every CSRF token (for a cached
    copy); otherwise the real token is used. `products_html` stands in for the products
    when given."""
    if contents is None:
        contents = residents.round_contents(rnd, member.household_id, utcnow())
    if contents.finished:
        products_html = Markup("")
    elif products_html is None:
        products_html = _render_products(rnd, member, contents, errors, typed, csrf)
    extra = {"csrf_token": lambda: csrf} if csrf else {}
    return (
        render_template(
            "resident/round.html",
            round=rnd,
            member=member,
            products_html=products_html,
            finished=contents.finished,
            cards_on=cards.cards_on(current_app.config),
            own_statement=contents.own_statement,
            drop_ins=contents.drop_ins,
            errors=errors or {},
            title=_("Order by %(when)s", when=_when(rnd)),
            **extra,
        ),
        status,
    )


def _page_key(values: tuple) -> tuple:
    """The round page's cache key (see bulkbuy/fragment_cache.py): `values` are
    residents.PAGE_KEY_FIELDS (the database's version numbers of the round, its pledges
    and its group, its last calls, the member looking) and the drop-in times the page
    lists, then who the viewer is and the locale. For a page put together from a shared
    part (residents.shares_products), the key of the part around it: without the
    pledges' and last calls' numbers."""
    if residents.shares_products(values):
        values = ("around", *residents.split_key(values)[1])
    return (*values, current_user.id, current_user.is_site_admin,
            residents.organises_a_group(current_user), str(get_locale()))


def _shared_key(values: tuple) -> tuple:
    """The key of an open round's shared part: the round's versions, last calls and
    drop-in times (residents.split_key), and the locale; nobody's own."""
    return ("shared", *residents.split_key(values)[0], str(get_locale()))


#: The slots of the shared part (templates/resident/_products.html), as they read for a
#: household with nothing pledged for the product.
_EMPTY_SLOTS = {"ask": "", "q": "0", "t": "0", "open": ""}
#: " · you asked for N" in each locale, made once each.
_ASKED: dict[tuple[str, int], str] = {}


def _asked(locale: str, quantity: int) -> str:
    """The jump list's " · you asked for N" (as _products.html words it)."""
    text = _ASKED.get((locale, quantity))
    if text is None:
        text = " · " + _("you asked for %(q)s", q=quantity)
        if len(_ASKED) < 10_000:
            _ASKED[(locale, quantity)] = text
    return text


def _filled(shared: fragment_cache.Slotted, mine: dict[int, tuple[int, int]]) -> str:
    """The shared part with the household's own numbers put in its slots."""
    locale = str(get_locale())

    def value(kind: str, quantity: int, tolerance: int) -> str:
        if kind == "q":
            return str(quantity)
        if kind == "t":
            return str(tolerance)
        if kind == "open":
            return " open" if tolerance else ""
        return _asked(locale, quantity) if quantity else ""

    return shared.fill(mine, value)


def _assembled(around: tuple[str, str], shared: fragment_cache.Slotted,
               mine: dict[int, tuple[int, int]]) -> str:
    """The page: the part around, the shared part filled, the CSRF token put in."""
    before, after = around
    return (before + _filled(shared, mine) + after).replace(
        fragment_cache.CSRF_PLACEHOLDER, generate_csrf())


def _cached_page(round_id: int, now) -> tuple[str | None, residents.KeptPage | None]:
    """The kept copy of the round page (for an open round, its two parts put together),
    checked fresh with one plain query (its versions, the group's drop-in sessions and
    the household's pledges), else None; and what that query read (None when no copy may
    be kept). A page with a message (after a + or −) is never kept, but what the query
    read is answered: its shared part is (see round_page)."""
    if not fragment_cache.enabled():
        return None, None
    kept = residents.kept_page_values(round_id, current_user.id, now)
    if kept is None or session.get("_flashes"):
        return None, kept
    page = fragment_cache.round_pages.get(_page_key(kept.values))
    if page is None:
        return None, kept
    if residents.shares_products(kept.values):
        shared = fragment_cache.shared_parts.get(_shared_key(kept.values))
        if shared is None:
            return None, kept
        return _assembled(page, shared, kept.mine), kept
    return page.replace(fragment_cache.CSRF_PLACEHOLDER, generate_csrf()), kept


def _kept_in_parts(rnd, member, contents, values: tuple, mine,
                   keep_around: bool = True) -> str | None:
    """An open round's page from its two parts, each rendered and kept unless kept
    already (the part around only with `keep_around`: never one carrying a message),
    put together; None when the shared part cannot be kept (fragment_cache.Slotted.cut)."""
    placeholder = fragment_cache.CSRF_PLACEHOLDER
    shared = fragment_cache.shared_parts.get(_shared_key(values))
    if shared is None:
        shared = fragment_cache.Slotted.cut(fragment_cache.without_indentation(
            _render_products(rnd, member, contents, csrf=placeholder,
                             slots=fragment_cache.slot)), _EMPTY_SLOTS)
        if shared is None:
            return None
        fragment_cache.shared_parts.put(_shared_key(values), shared)
    around = fragment_cache.round_pages.get(_page_key(values)) if keep_around else None
    if around is None:
        html, _status = _render_round(
            rnd, member, csrf=placeholder, contents=contents,
            products_html=Markup(fragment_cache.SHARED_PLACEHOLDER))  # noqa: S704 - ours
        parts = fragment_cache.without_indentation(html).split(
            fragment_cache.SHARED_PLACEHOLDER)
        if len(parts) != 2:
            return None
        around = (parts[0], parts[1])
        if keep_around:
            fragment_cache.round_pages.put(_page_key(values), around)
    return _assembled(around, shared, mine)


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
    # An open round's page is kept in two parts: the product cards, the same for
    # everyone, per pledge_version; and the rest of the page per viewer, which a
    # neighbour's pledge does not change. The household's own numbers are put in the
    # cards on each load (from the key's query). The page after a + or − carries a
    # message, so its part around is not kept, but it keeps the new shared part for
    # the neighbours who load the page next.
    now = utcnow()
    cached, kept = _cached_page(round_id, now)
    if cached is not None:
        return cached
    rnd, member = _load_round(round_id)
    message = bool(session.get("_flashes"))
    if (rnd.status not in residents.CACHEABLE_STATUSES or member.id is None
            or (message and (kept is None or not residents.shares_products(kept.values)))):
        return _render_round(rnd, member)
    # What the key's query read is used, not read again.
    known = residents.known_parts(kept) if kept is not None else None
    contents = residents.round_contents(rnd, member.household_id, now, known)
    values = residents.page_values(rnd, member, contents)
    if kept is not None and residents.shares_products(values):
        html = _kept_in_parts(rnd, member, contents, values, kept.mine,
                              keep_around=not message)
        if html is not None:
            return html
    if message:
        return _render_round(rnd, member, contents=contents)
    html, _status = _render_round(rnd, member, csrf=fragment_cache.CSRF_PLACEHOLDER,
                                  contents=contents)
    html = fragment_cache.without_indentation(html)
    if not residents.shares_products(values):
        fragment_cache.round_pages.put(_page_key(values), html)
    return html.replace(fragment_cache.CSRF_PLACEHOLDER, generate_csrf())


@bp.route("/rounds/<int:round_id>/items/<int:item_id>", methods=["POST"])
@login_required
def pledge(round_id: int, item_id: int):
    rnd, member = _load_round(round_id)
    item = residents.round_item(rnd, item_id)
    if item is None:
        abort(404)
    if member.household_id is None:
        flash(_("You are not part of a household in this group, so you cannot order."), "error")
        return redirect(url_for("resident.round_page", round_id=rnd.id))
    if rnd.status != "open" or rnd.closes_at <= utcnow():
        return _closed(rnd)

    max_units = current_app.config["MAX_UNITS_PER_PLEDGE"]
    unit = item.unit_description
    # − and + send step=-1/1 with the number in the box: the step acts on what the box
    # shows (typed or not). set_quantity is the number an older page's button carried.
    step = {"-1": -1, "1": 1, "+1": 1}.get(request.form.get("step", ""), 0)
    quantity_text = request.form.get("set_quantity") or request.form.get("quantity", "")
    if step and not quantity_text.strip():
        quantity_text = "0"
    tolerance_text = request.form.get("tolerance", "0") or "0"
    errors = {}
    try:
        quantity = _count(quantity_text, max_units, _("Enter how many you want, like 2"))
        if step and not request.form.get("set_quantity"):
            quantity = _count(str(max(quantity + step, 0)), max_units, "")
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
        with undone_on_error():
            result = pledges.set_pledge(
                item, member.household, quantity, tolerance,
                entered_by=current_user, now=utcnow(), max_units=max_units,
            )
    except pledges.RoundNotOpenError:
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
        return whole_number(text, _("Number"), maximum=max_units)
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
    orders = home_service.my_orders(current_user, current_app.config)
    return render_template("resident/my_orders.html", estimates=orders.estimates,
                           choices=orders.choices, helpers=orders.helpers,
                           household_of=orders.household_of,
                           helper_changes=orders.helper_changes,
                           pin_groups=orders.pin_groups,
                           to_pay=orders.to_pay, closed=orders.closed,
                           changes=orders.changes, credit=orders.credit,
                           savings=orders.savings, drop_ins=orders.drop_ins,
                           pots=orders.pots, title=_("My orders"))


@bp.route("/groups/<int:group_id>/rounds/new", methods=["GET", "POST"])
@login_required
def start_round(group_id: int):
    member = access.membership(group_id)
    group = member.group if member.id else access.group_or_404(group_id)
    supplier_id = validation.record_id(request.args.get("supplier"))
    choices = residents.new_round_choices(group_id, supplier_id, request.args.get("q"))
    supplier = choices.supplier
    if supplier is None:
        return render_template(
            "rounds/choose_supplier.html", group=group, suppliers=choices.suppliers,
            organiser=member.role == "organiser", endpoint="resident.start_round",
            title=_("Start a round: choose a supplier"),
        )
    products = choices.products
    form = RoundForm(products, group.timezone)
    if form.validate_on_submit():
        chosen = [p for p in products if p.id in set(form.products.data)]
        try:
            with undone_on_error():
                rnd, status = rounds.start_round(
                    group, supplier, chosen, form.details(),
                    started_by=rounds.STARTED_BY_RESIDENT, user=current_user, now=utcnow())
        except ServiceError as error:
            form.closes_at.errors.append(error.message)
        else:
            if status == "open":
                flash(_("Your round is open. Tell your neighbours!"), "success")
            else:
                flash(_("Your round is waiting for an organiser to approve it."), "success")
            return redirect(url_for("resident.round_page", round_id=rnd.id), 303)
    return render_template(
        "rounds/form.html", form=form, group=group, supplier=supplier, organiser=False,
        listed=choices.listed, endpoint="resident.start_round",
        title=_("Start a round with %(supplier)s", supplier=supplier.name),
    )


def _own_round(round_id: int):
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
            with undone_on_error():
                new_time = parse_local(request.form.get("closes_at"), rnd.group.timezone)
                rounds.extend_round(rnd, new_time, actor=current_user, now=utcnow())
        except (ValueError, ServiceError) as problem:
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
            with undone_on_error():
                rounds.cancel_round(rnd, actor=current_user, now=utcnow())
        except ServiceError as error:
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
    household = member.household
    errors: dict[str, str] = {}
    if request.method == "POST":
        pin = request.form.get("pin", "").strip()
        if not tablet.PIN_PATTERN.match(pin):
            errors["pin"] = _("A PIN is 4 numbers, like 2580.")
        elif request.form.get("pin_again", "").strip() != pin:
            errors["pin_again"] = _("The two PINs are not the same. Type it again.")
        if not residents.change_household_pin(
                household, None if errors else pin, request.form.get("password", ""),
                user=current_user, now=utcnow()):
            errors["password"] = _("That is not your password.")
        if not errors:
            flash(_("Your drop-in PIN is saved."), "success")
            return redirect(url_for("resident.my_orders"), 303)
    return render_template("resident/pin.html", household=household, errors=errors,
                           drop_ins=drop_in_service.upcoming(group_id, utcnow()),
                           timezone=member.group.timezone,
                           title=_("Your drop-in PIN")), 400 if errors else 200
