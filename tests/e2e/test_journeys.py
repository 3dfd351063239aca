"""Journeys through the real app in Debian's Chromium, with axe-core on every page.

Each page visited is checked by `check_page` (tests/e2e/conftest.py): zero axe
violations for WCAG 2.0/2.1/2.2 A and AA, every control at least 44x44 at
360x640, and no sideways scroll at 320px.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Round
from bulkbuy.sweeps import sweep_rounds
from tests import factories
from tests.e2e.conftest import check_page
from tests.pages import join_link_for

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    Page = expect = None

PASSWORD = factories.PASSWORD


def sign_in(page: Page, email: str, *, axe: bool = True) -> None:
    """Sign in through the form; the home page it lands on is checked (axe needs
    JavaScript: pass axe=False for a browser without it)."""
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your rounds")
    check_page(page, axe=axe)                          # home, as each one signs in


def make_world(live_app, **options) -> dict:
    """A group with an organiser, residents r1@oak.test..., products and (by default) a round."""
    with live_app.app_context():
        made = factories.world(**options)
        found = {
            "group_id": made.group.id,
            "invite_code": made.group.invite_code,
            "round_id": made.round.id if made.round else None,
            "items": {item.name: item.id for item in made.round.items} if made.round else {},
        }
        db.session.remove()
    return found


def save_quantity(page: Page, item_id: int, typed: str) -> None:
    card = page.locator(f"#item-{item_id}")
    card.locator(f"#quantity-{item_id}").fill(typed)
    card.get_by_role("button", name="Save", exact=True).click()


def fill_text(page: Page, item_id: int):
    return page.locator(f"#item-{item_id} .fill")


def assert_error_flow(page: Page, item_id: int, message: str) -> None:
    """Title "Error: ...", summary focused on load, its link focuses the field, words match."""
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    assert page.evaluate(
        "document.activeElement && document.activeElement.classList.contains('error-summary')"
    ), "the error summary is not document.activeElement"
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    link = summary.get_by_role("link", name=message)
    expect(link).to_have_attribute("href", f"#quantity-{item_id}")
    expect(page.locator(f"#quantity-{item_id}-error")).to_have_text(f"Error: {message}")
    link.click()
    expect(page.locator(f"#quantity-{item_id}")).to_be_focused()
    assert page.evaluate("document.activeElement.id") == f"quantity-{item_id}"


def test_resident_joins_and_orders_with_a_neighbour(live_app, new_context):
    data = make_world(live_app)
    tomatoes = data["items"]["Tinned tomatoes"]

    page = new_context().new_page()
    page.goto("/login")
    check_page(page)                                   # sign-in

    page.get_by_role("navigation").get_by_role("link", name="Join your group").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Join your group")
    check_page(page)                                   # join: the code
    page.get_by_label("Invite code").fill(data["invite_code"])
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Join Oak Estate")
    check_page(page)                                   # join: about you
    page.get_by_label("Your name").fill("Nia Newcomer")
    page.get_by_label("Your flat or house").fill("Flat 9")
    page.get_by_label("Email address").fill("nia@oak.test")
    page.get_by_label("Choose a password").fill("a long password")
    page.get_by_role("button", name="Join").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check your e-mail")
    check_page(page)                                   # join: check your e-mail
    with live_app.app_context():
        link = join_link_for("nia@oak.test")           # as if opened from the e-mail
        db.session.remove()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Finish joining Oak Estate")
    check_page(page)                                   # join: the e-mailed link
    page.get_by_role("button", name="Join Oak Estate").click()

    expect(page.get_by_role("status")).to_have_text("Welcome to Oak Estate.")
    check_page(page)                                   # home
    page.get_by_role("link", name="Test round").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Order by "))
    expect(fill_text(page, tomatoes)).to_have_text("No orders yet — 12 fill a case")
    check_page(page)                                   # round page
    page.get_by_role("button", name="One more Tinned tomatoes").click()
    expect(page.get_by_role("status")).to_have_text("You want 1 of Tinned tomatoes. Saved.")
    expect(page.locator(f"#quantity-{tomatoes}")).to_have_value("1")
    expect(fill_text(page, tomatoes)).to_have_text("1 of 12 — 11 more fill it")

    save_quantity(page, tomatoes, "4")
    expect(page.get_by_role("status")).to_have_text("You want 4 of Tinned tomatoes. Saved.")
    expect(fill_text(page, tomatoes)).to_have_text("4 of 12 — 8 more fill it")
    check_page(page)                                   # round page, after a save

    neighbour = new_context().new_page()
    sign_in(neighbour, "r1@oak.test")
    neighbour.goto(f"/rounds/{data['round_id']}")
    save_quantity(neighbour, tomatoes, "5")
    expect(neighbour.get_by_role("status")).to_have_text("You want 5 of Tinned tomatoes. Saved.")
    check_page(neighbour)                              # the neighbour's round page

    page.reload()
    expect(fill_text(page, tomatoes)).to_have_text("9 of 12 — 3 more fill it")
    expect(page.locator(f"#quantity-{tomatoes}")).to_have_value("4")

    save_quantity(page, tomatoes, "lots")
    expect(page.locator(".error-summary")).to_contain_text("Enter a whole number, like 2")
    check_page(page)                                   # round page with an error

    page.goto(f"/rounds/{data['round_id']}")
    page.get_by_role("link", name="Check my order").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    expect(page.get_by_role("row", name=re.compile("Tinned tomatoes"))).to_contain_text("4")
    check_page(page)                                   # my orders

    page.get_by_role("navigation").get_by_role("link", name="Rounds").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your rounds")
    check_page(page)                                   # home again, signed in


def test_ordering_and_errors_work_without_javascript(live_app, new_context):
    data = make_world(live_app)
    rice = data["items"]["Rice"]
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, "r1@oak.test", axe=False)
    page.goto(f"/rounds/{data['round_id']}")
    check_page(page, axe=False)

    page.get_by_role("button", name="One more Rice").click()
    expect(page.get_by_role("status")).to_have_text("You want 1 of Rice. Saved.")
    page.get_by_role("button", name="One more Rice").click()
    expect(page.get_by_role("status")).to_have_text("You want 2 of Rice. Saved.")
    page.get_by_role("button", name="One less Rice").click()
    expect(page.get_by_role("status")).to_have_text("You want 1 of Rice. Saved.")

    page.locator(f"#quantity-{rice}").fill("5")        # + acts on the typed number
    page.get_by_role("button", name="One more Rice").click()
    expect(page.get_by_role("status")).to_have_text("You want 6 of Rice. Saved.")

    save_quantity(page, rice, "7")
    expect(page.get_by_role("status")).to_have_text("You want 7 of Rice. Saved.")
    expect(fill_text(page, rice)).to_have_text("7 of 25 — 18 more fill it")

    save_quantity(page, rice, "abc")
    assert_error_flow(page, rice, "Enter a whole number, like 2")
    check_page(page, axe=False)   # axe cannot run with JavaScript off; test_quantity_errors scans
    expect(page.locator(f"#quantity-{rice}")).to_have_value("abc")   # what they typed is kept

    save_quantity(page, rice, "3")
    expect(page.get_by_role("status")).to_have_text("You want 3 of Rice. Saved.")
    expect(page.locator(".error-summary")).to_have_count(0)


def test_organiser_round_from_form_to_statements(live_app, new_context):
    make_world(live_app, open_round=False)
    organiser = new_context().new_page()
    sign_in(organiser, "org@oak.test")

    organiser.get_by_role("navigation").get_by_role("link", name="Organise").click()
    expect(organiser.get_by_role("heading", level=1)).to_have_text("Oak Estate")
    check_page(organiser)                              # dashboard
    organiser.get_by_role("link", name="New round").click()
    check_page(organiser)                              # choose a supplier
    organiser.get_by_role("link", name="Wholesaler").click()
    expect(organiser.get_by_role("heading", level=1)).to_have_text("New round with Wholesaler")
    check_page(organiser)                              # the round form

    closes = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=2)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    organiser.get_by_label("Name of the round").fill("Rice and tins, March")
    organiser.get_by_label(re.compile(r"^Tinned tomatoes")).check()
    organiser.get_by_label(re.compile(r"^Rice")).check()
    organiser.get_by_label("Orders close at").fill(closes.strftime("%Y-%m-%dT%H:%M"))
    organiser.get_by_label("Where to collect").fill("Community room")
    organiser.get_by_role("button", name="Save round").click()
    expect(organiser.get_by_role("status")).to_contain_text("Round saved as a draft")
    organiser.get_by_role("button", name="Open Rice and tins, March").click()
    expect(organiser.get_by_role("status")).to_have_text("The round is open.")
    check_page(organiser)                              # dashboard with an open round

    with live_app.app_context():
        rnd = db.session.scalars(select(Round)).one()
        round_id, closes_at = rnd.id, rnd.closes_at
        items = {item.name: item.id for item in rnd.items}
        db.session.remove()
    assert closes_at == closes

    resident = new_context().new_page()
    sign_in(resident, "r1@oak.test")
    resident.get_by_role("link", name="Rice and tins, March").click()
    save_quantity(resident, items["Tinned tomatoes"], "12")
    expect(resident.get_by_role("status")).to_contain_text("Saved")
    save_quantity(resident, items["Rice"], "2")
    expect(resident.get_by_role("status")).to_contain_text("Saved")
    check_page(resident)                               # the round page before it closes

    with live_app.app_context():
        swept = sweep_rounds(closes_at + timedelta(minutes=1))
        db.session.remove()
    assert [result.round_id for result in swept.closed] == [round_id]

    organiser.reload()
    row = organiser.get_by_role("row", name=re.compile("Rice and tins"))
    expect(row).to_contain_text("Orders closed")
    organiser.get_by_role("link", name="Rice and tins, March", exact=True).click()
    expect(organiser.get_by_role("heading", level=2, name="Supplier order")).to_be_visible()
    check_page(organiser)                              # round with its supplier order
    organiser.get_by_role("link", name="Print order sheets").click()
    expect(organiser.get_by_role("heading", level=1)).to_have_text("Order for Wholesaler")
    expect(organiser.get_by_role("row", name=re.compile("Tinned tomatoes"))).to_contain_text("£10")
    expect(organiser.locator(".household")).to_contain_text("Flat 1")
    check_page(organiser)                              # order sheet
    organiser.emulate_media(media="print")
    expect(organiser.locator(".site-header")).to_be_hidden()
    pdf = organiser.pdf(format="A4")
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1000
    organiser.emulate_media(media="screen")

    organiser.go_back()
    organiser.get_by_role("link", name="Households' statements").click()
    expect(organiser.get_by_role("heading", level=1)).to_have_text("Households' statements")
    expect(organiser.get_by_role("heading", level=2)).to_have_text(["Flat 1 — £10"])
    check_page(organiser)                              # statements

    organiser.go_back()
    organiser.get_by_role("link", name="Payments").click()
    expect(organiser.get_by_role("heading", level=1)).to_have_text("Payments")
    organiser.get_by_label("Receipt number").fill("R-100")
    organiser.get_by_role("button", name=re.compile("^Record cash")).click()
    expect(organiser.get_by_text("Cash recorded: £10 from Flat 1.")).to_be_visible()
    expect(organiser.get_by_text("Paid so far: £10 (cards £0, cash £10).",
                                 exact=False)).to_be_visible()
    check_page(organiser)                              # payments

    # The resident's page is from before the close: a late tap is refused, plainly.
    with resident.expect_response(lambda r: r.request.method == "POST") as posted:
        save_quantity(resident, items["Rice"], "3")
    assert posted.value.status == 409
    expect(resident.get_by_role("heading", level=1)).to_have_text("Orders are closed")
    expect(resident.get_by_text("We did not change your order.")).to_be_visible()
    check_page(resident)                               # orders closed
    resident.get_by_role("link", name="See the round").click()
    expect(resident.get_by_role("heading", level=2, name="What you get")).to_be_visible()
    statement = resident.locator("table").filter(has_text="You owe")
    expect(statement).to_contain_text("The case did not fill, so you pay nothing for it.")
    expect(statement.get_by_role("row", name=re.compile("^You owe"))).to_contain_text("£10")
    check_page(resident)                               # the resident's statement


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter how many you want, like 2"),
        ("abc", "Enter a whole number, like 2"),
        ("99999", "You can have up to 999"),
    ],
    ids=["blank", "letters", "too-many"],
)
def test_quantity_errors(live_app, new_context, typed, message):
    data = make_world(live_app)
    rice = data["items"]["Rice"]
    page = new_context().new_page()
    sign_in(page, "r1@oak.test")
    page.goto(f"/rounds/{data['round_id']}")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        save_quantity(page, rice, typed)
    assert posted.value.status == 400
    assert_error_flow(page, rice, message)
    check_page(page)


def test_pressing_enter_in_the_box_saves_the_number_typed(live_app, new_context):
    data = make_world(live_app)
    rice = data["items"]["Rice"]
    page = new_context().new_page()
    sign_in(page, "r1@oak.test")
    page.goto(f"/rounds/{data['round_id']}")
    box = page.locator(f"#quantity-{rice}")
    box.fill("2")
    box.press("Enter")
    expect(page.get_by_text("You want 2 of Rice. Saved.")).to_be_visible()
    box = page.locator(f"#quantity-{rice}")
    box.fill("5")
    box.press("Enter")
    expect(page.get_by_text("You want 5 of Rice. Saved.")).to_be_visible()
    expect(page.locator(f"#quantity-{rice}")).to_have_value("5")
