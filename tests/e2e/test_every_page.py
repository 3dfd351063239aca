"""Every GET page of bulkbuy, as the role that uses it, checked in a real browser.

The issue: "Accessibility and plain language on every page of the app, tablet or
not: WCAG 2.2 AA; an axe-core scan with zero violations; no horizontal scroll at
320 px wide; every control at least 44 x 44 CSS px; fully usable by keyboard;
visible focus."

`PAGES` is the table: each row is one page in one state (url_map rule, role,
state, URL to open, and the form to send there when the state is a form's
answer). `NOT_PAGES` lists the GET rules that are not pages, with the reason.
`test_every_get_rule_is_in_the_table` fails when the app has a GET rule in
neither, so a page added later without a check here fails this file.

Each page gets, at once (every problem is collected, then all are reported,
grouped so that one fix is one line):

- axe-core, WCAG 2.0/2.1/2.2 A and AA tags: zero violations;
- every visible control at least 44x44 CSS px at 360x640 (tablet pages: at
  least 64x64 at 800x1280, docs/pages.md "Sizes");
- no horizontal scroll at 320px wide;
- the right answer (HTTP status, and the rule that served it), and on a form's
  error state an error summary.

The keyboard test tabs through three key pages (the resident's round page, the
tablet's order page, the organiser's payments page): every control is reached,
each focused control is on screen with a focus indicator that focus itself
brings, and the element at its centre is the control itself (not the tablet's
sticky Done bar). <details> are opened first, so the controls in them count.

Cards: the live server has no Stripe settings, so the pay page is scanned in
cash-only mode (card pages are covered by the card payment tests).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time as dt_time
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound

from bulkbuy import web
from bulkbuy.extensions import db
from bulkbuy.models import OutboxMessage, Round, Statement, utcnow
from bulkbuy.services import (
    accounts,
    closing,
    collection,
    delivery,
    drop_ins,
    invites,
    joining,
    pledges,
    privacy,
    recovery,
    rounds,
    solidarity,
    tablet,
    time_credits,
    two_step,
)
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import refunds
from tests import factories
from tests.e2e.conftest import (
    _MEASURE_TARGETS,
    _OVERFLOW,
    AXE_TAGS,
    MIN_TARGET,
    NARROW,
    PHONE,
    _at_viewport,
)
from tests.pages import join_link_for

try:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Page
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    Axe = Page = None

TABLET = {"width": 800, "height": 1280}
TABLET_TARGET = 64  # CSS px: docs/pages.md "Sizes"
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = factories.PASSWORD
PIN = "2580"

ANON, RESIDENT, STARTER = "anonymous", "resident", "resident (started the round)"
ORGANISER, WORKER, ADMIN, AT_TABLET = "organiser", "worker", "site admin", "worker's tablet"
EMAILS = {
    RESIDENT: "r1@oak.test", STARTER: "r1@oak.test", ORGANISER: "org@oak.test",
    WORKER: "worker@oak.test", ADMIN: "admin@site.test", AT_TABLET: "worker@oak.test",
}

# --- the forms whose answers are pages to check -------------------------------------------


def _send(page: Page, button) -> None:
    """Press a submit button and wait for the page that answers."""
    with page.expect_navigation():
        button.click()


def wrong_password(page: Page, ids: dict) -> None:
    page.get_by_label("Email address").fill(EMAILS[RESIDENT])
    page.get_by_label("Password").fill("not the password")
    _send(page, page.get_by_role("button", name="Sign in"))


def unknown_invite_code(page: Page, ids: dict) -> None:
    page.get_by_label("Invite code").fill("NOTACODE")
    _send(page, page.get_by_role("button", name="Continue"))


def blank_join(page: Page, ids: dict) -> None:
    _send(page, page.get_by_role("button", name="Join", exact=True))


def quantity_in_letters(page: Page, ids: dict) -> None:
    card = page.locator(f"#item-{ids['open_rice']}")
    card.locator(f"#quantity-{ids['open_rice']}").fill("abc")
    _send(page, card.get_by_role("button", name="Save", exact=True))


def arrived_in_letters(page: Page, ids: dict) -> None:
    page.locator("input[name^=arrived-]").first.fill("abc")
    _send(page, page.get_by_role("button", name="Save what arrived"))


def press(name: str) -> Callable[[Page, dict], None]:
    """Send the form as it stands (blank: its error state)."""
    def send(page: Page, ids: dict) -> None:
        _send(page, page.get_by_role("button", name=name, exact=True))
    send.__name__ = f"press {name!r}"
    send.blank_form = True
    return send


def blank_closing_time(page: Page, ids: dict) -> None:
    page.get_by_label("New closing time").fill("")
    _send(page, page.get_by_role("button", name="Save the new time"))


def cash_in_letters(page: Page, ids: dict) -> None:
    statement = ids["closed_statement_flat1"]
    form = page.locator(f"#statement-{statement}")
    form.locator(f"#amount-{statement}").fill("abc")
    form.locator(f"#receipt-{statement}").fill("")
    _send(page, form.get_by_role("button", name="Record cash"))


def start_the_tablet(page: Page, ids: dict) -> None:
    _send(page, page.get_by_role("button", name="Start the tablet"))


def tap_flat_1(page: Page, ids: dict) -> None:
    _send(page, page.get_by_role("button", name="Flat 1", exact=True))


def wrong_pin(page: Page, ids: dict) -> None:
    tap_flat_1(page, ids)
    page.get_by_label("Your 4-number PIN").fill("0000")
    _send(page, page.get_by_role("button", name="Continue"))


def right_pin(page: Page, ids: dict) -> None:
    tap_flat_1(page, ids)
    page.get_by_label("Your 4-number PIN").fill(PIN)
    _send(page, page.get_by_role("button", name="Continue"))


def tap_done(page: Page, ids: dict) -> None:
    _send(page, page.get_by_role("button", name="Done", exact=True))


def print_flat_1s_slip(page: Page, ids: dict) -> None:
    right_pin(page, ids)
    tap_done(page, ids)
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("Print this household's slip")).first.click()


def wrong_leave_password(page: Page, ids: dict) -> None:
    page.get_by_label("Your password").fill("not the password")
    _send(page, page.get_by_role("button", name="Leave tablet mode"))


def leave_the_tablet(page: Page, ids: dict) -> None:
    page.get_by_label("Your password").fill(PASSWORD)
    _send(page, page.get_by_role("button", name="Leave tablet mode"))


def mismatched_household_pin(page: Page, ids: dict) -> None:
    page.get_by_label("New PIN").fill("2580")
    page.get_by_label("The same PIN again").fill("2581")
    page.get_by_label("Your password").fill(PASSWORD)
    _send(page, page.get_by_role("button", name="Save my PIN"))


TWO_STEP_EMAIL = "twostep@oak.test"


def password_of_a_two_step_user(page: Page, ids: dict) -> None:
    page.get_by_label("Email address").fill(TWO_STEP_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    _send(page, page.get_by_role("button", name="Sign in"))


def wrong_two_step_code(page: Page, ids: dict) -> None:
    password_of_a_two_step_user(page, ids)
    page.get_by_label("6-digit code from your authenticator app").fill("000000")
    _send(page, page.get_by_role("button", name="Sign in"))


ERROR_STATES = (wrong_password, unknown_invite_code, blank_join, quantity_in_letters,
                wrong_two_step_code, blank_closing_time, cash_in_letters, wrong_pin,
                wrong_leave_password, mismatched_household_pin)


# --- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    rule: str | None  # the url_map rule that serves the page (None: no rule, a 404)
    role: str
    state: str
    url: str  # opened first; {names} come from build_world's ids
    then: Callable[[Page, dict], None] | None = None  # a form sent there; its answer is checked
    status: int = 200
    tablet: bool = False  # a tablet-mode page: 64px targets at 800x1280
    posted: str | None = None  # the POST rule that answers with this page (its error state)

    @property
    def shows_errors(self) -> bool:
        """The state is a form's error state: the page must show an error summary."""
        return self.then in ERROR_STATES or getattr(self.then, "blank_form", False)


G = "/organise/<int:group_id>"  # the organiser pages' rules start so
PAGES: list[Visit] = [
    # Anyone
    Visit("/login", ANON, "sign-in form", "/login"),
    Visit("/login", ANON, "sign-in form, wrong password", "/login", wrong_password),
    Visit("/join", ANON, "invite code form", "/join"),
    Visit("/join", ANON, "invite code form, unknown code", "/join", unknown_invite_code),
    Visit("/join/<code>", ANON, "join a group form", "/join/{invite_code}"),
    Visit("/join/<code>", ANON, "join a group form, all blank", "/join/{invite_code}",
          blank_join, status=200),
    Visit("/join/<code>/sent", ANON, "asked to join: check your e-mail",
          "/join/{invite_code}/sent"),
    Visit("/join/confirm/<token>", ANON, "finish joining: the e-mailed link",
          "/join/confirm/{join_token}"),
    Visit("/join/confirm/<token>", ANON, "a join link that does not work",
          "/join/confirm/no-such-link", status=404),
    Visit(None, ANON, "error page: page not found", "/no-such-page", status=404),
    Visit("/password/forgot", ANON, "forgot your password", "/password/forgot"),
    Visit("/password/forgot/sent", ANON, "reset link sent (whoever asked)",
          "/password/forgot/sent"),
    Visit("/password/reset/<token>", ANON, "choose a new password", "{reset_link}"),
    Visit("/password/reset/<token>", ANON, "a reset link that does not work",
          "/password/reset/no-such-link", status=404),
    Visit("/account/email/confirm/<token>", ANON, "use this new e-mail address?",
          "{email_link}"),
    Visit("/login/two-step", ANON, "sign in: the two-step code", "/login",
          password_of_a_two_step_user),
    Visit("/login/two-step", ANON, "sign in: a wrong two-step code", "/login",
          wrong_two_step_code, status=400),
    Visit("/invite/staff/<token>", ANON, "join as a community worker: make an account",
          "/invite/staff/{staff_token}"),
    Visit("/invite/staff/<token>", ANON, "a staff invite that does not work",
          "/invite/staff/no-such-invite", status=404),
    Visit("/invite/household/<token>", ANON, "join Flat 2: make an account",
          "/invite/household/{household_token}"),
    Visit("/invite/household/<token>", ANON, "a household invite that does not work",
          "/invite/household/no-such-invite", status=404),
    Visit("/privacy", ANON, "privacy: what we keep and why", "/privacy"),
    # A resident (Flat 1: ordered in every round; owes money for the closed one)
    Visit("/", RESIDENT, "home: open, closed, failed, cancelled rounds; money to pay", "/"),
    Visit("/my-orders", RESIDENT, "my orders: two open rounds", "/my-orders"),
    Visit("/groups/<int:group_id>/pin", RESIDENT, "set the drop-in PIN", "/groups/{group}/pin"),
    Visit("/groups/<int:group_id>/pin", RESIDENT, "set the drop-in PIN, PINs differ",
          "/groups/{group}/pin", mismatched_household_pin, status=400),
    Visit("/rounds/<int:round_id>", RESIDENT, "round page, open, with orders",
          "/rounds/{open_round}"),
    Visit("/rounds/<int:round_id>", RESIDENT, 'round page, open, quantity "abc"',
          "/rounds/{open_round}", quantity_in_letters, status=400,
          posted="/rounds/<int:round_id>/items/<int:item_id>"),
    Visit("/rounds/<int:round_id>", RESIDENT, "round page, closed: statement, Pay now",
          "/rounds/{closed_round}"),
    Visit("/rounds/<int:round_id>", RESIDENT, "round page, failed", "/rounds/{failed_round}"),
    Visit("/rounds/<int:round_id>", RESIDENT, "round page, cancelled before closing",
          "/rounds/{cancelled_round}"),
    Visit("/rounds/<int:round_id>", RESIDENT, "round page, cancelled after closing",
          "/rounds/{refunded_round}"),
    Visit("/pay/<int:statement_id>", RESIDENT, "pay page, part paid in cash (cash only)",
          "/pay/{closed_statement_flat1}"),
    Visit("/groups/<int:group_id>/rounds/new", RESIDENT, "start a round: choose a supplier",
          "/groups/{group}/rounds/new"),
    Visit("/groups/<int:group_id>/rounds/new", RESIDENT, "start a round: the form",
          "/groups/{group}/rounds/new?supplier={supplier}"),
    Visit("/organise/", RESIDENT, "error page: not allowed (403)", "/organise/", status=403),
    Visit("/account", RESIDENT, "your account: password and e-mail", "/account"),
    Visit("/account/two-step", RESIDENT, "two-step sign-in, off", "/account/two-step"),
    Visit("/my/data", RESIDENT, "your household's data", "/my/data"),
    Visit("/my/data/erase-request", RESIDENT, "ask for your household's data to be erased",
          "/my/data/erase-request"),
    # The resident who started a round
    Visit("/rounds/<int:round_id>", STARTER, "own open round (change time, cancel links)",
          "/rounds/{own_round}"),
    Visit("/rounds/<int:round_id>/extend", STARTER, "change the closing time",
          "/rounds/{own_round}/extend"),
    Visit("/rounds/<int:round_id>/extend", STARTER, "change the closing time, blank",
          "/rounds/{own_round}/extend", blank_closing_time, status=400),
    Visit("/rounds/<int:round_id>/cancel", STARTER, "cancel this round?",
          "/rounds/{own_round}/cancel"),
    # A site admin
    Visit("/admin/groups", ADMIN, "groups and the add-a-group form", "/admin/groups"),
    Visit("/organise/", ADMIN, "your groups (all groups)", "/organise/"),
    # A community worker. The pages workers and organisers share (households, drop-in
    # sessions, a session's sheet) are checked as the worker; the organiser's own
    # header and navigation are checked on the organiser's other pages.
    Visit("/", WORKER, "home: rounds to take cash for", "/"),
    Visit(G + "/households", WORKER, "households (assisted one with a PIN)",
          "/organise/{group}/households"),
    Visit(G + "/rounds/<int:round_id>/payments", WORKER, "payments, closed round",
          "/organise/{group}/rounds/{closed_round}/payments"),
    Visit(G + "/tablet-sessions", WORKER, "drop-in sessions", "/organise/{group}/tablet-sessions"),
    Visit(G + "/audit", WORKER, "audit log: drop-in entries only", "/organise/{group}/audit"),
    Visit(G + "/time-credits", WORKER, "time given: enter hours, the ledger",
          "/organise/{group}/time-credits"),
    Visit(G + "/time-credits", WORKER, "time given: nothing filled in",
          "/organise/{group}/time-credits", press("Record the time"), status=400),
    # The worker's tablet: started by the form, then a resident's turn (tablet-mode pages)
    Visit("/tablet/start", AT_TABLET, "start the tablet", "/tablet/start"),
    Visit("/tablet/", AT_TABLET, "tap your flat (two blocks)", "/tablet/start",
          start_the_tablet, tablet=True),
    Visit("/tablet/pin", AT_TABLET, "enter your PIN", "/tablet/", tap_flat_1,
          tablet=True),
    Visit("/tablet/pin", AT_TABLET, "enter your PIN, wrong PIN", "/tablet/", wrong_pin,
          status=400, tablet=True),
    Visit("/tablet/order", AT_TABLET, "your order: open rounds and a bill", "/tablet/",
          right_pin, tablet=True),
    Visit("/tablet/thanks", AT_TABLET, "thank you (after Done)", "/tablet/order", tap_done,
          tablet=True),
    Visit("/tablet/slip/<int:round_id>", AT_TABLET, "the household's slip, just after Done",
          "/tablet/", print_flat_1s_slip),
    Visit("/tablet/leave", AT_TABLET, "helper: leave tablet mode", "/tablet/leave",
          tablet=True),
    Visit("/tablet/leave", AT_TABLET, "leave tablet mode, wrong password", "/tablet/leave",
          wrong_leave_password, status=400, tablet=True),
    Visit(G + "/tablet-sessions/<int:session_id>", AT_TABLET,
          "drop-in session sheet, after leaving", "/tablet/leave", leave_the_tablet),
    # An organiser (of two groups)
    Visit("/organise/", ORGANISER, "your groups", "/organise/"),
    Visit("/organise/<int:group_id>", ORGANISER, "dashboard: every kind of round",
          "/organise/{group}"),
    Visit(G + "/suppliers/new", ORGANISER, "add a supplier", "/organise/{group}/suppliers/new"),
    Visit(G + "/suppliers/<int:supplier_id>", ORGANISER, "supplier and products",
          "/organise/{group}/suppliers/{supplier}"),
    Visit(G + "/suppliers/<int:supplier_id>/edit", ORGANISER, "change a supplier",
          "/organise/{group}/suppliers/{supplier}/edit"),
    Visit(G + "/suppliers/<int:supplier_id>/products/new", ORGANISER, "add a product",
          "/organise/{group}/suppliers/{supplier}/products/new"),
    Visit(G + "/suppliers/<int:supplier_id>/products/new", ORGANISER, "add a product, blank",
          "/organise/{group}/suppliers/{supplier}/products/new", press("Save product")),
    Visit(G + "/suppliers/<int:supplier_id>/products/<int:product_id>", ORGANISER,
          "edit a product", "/organise/{group}/suppliers/{supplier}/products/{product}"),
    Visit(G + "/suppliers/<int:supplier_id>/import", ORGANISER, "import a price list",
          "/organise/{group}/suppliers/{supplier}/import"),
    Visit(G + "/suppliers/<int:supplier_id>/import", ORGANISER, "import, no file chosen",
          "/organise/{group}/suppliers/{supplier}/import", press("Import"), status=400),
    Visit(G + "/rounds/new", ORGANISER, "new round: choose a supplier",
          "/organise/{group}/rounds/new"),
    Visit(G + "/rounds/new", ORGANISER, "new round: the form",
          "/organise/{group}/rounds/new?supplier={supplier}"),
    Visit(G + "/rounds/new", ORGANISER, "new round: the form, blank",
          "/organise/{group}/rounds/new?supplier={supplier}", press("Save round")),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, draft",
          "/organise/{group}/rounds/{draft_round}"),
    Visit(G + "/rounds/<int:round_id>/edit", ORGANISER, "change a draft round",
          "/organise/{group}/rounds/{draft_round}/edit"),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, open",
          "/organise/{group}/rounds/{open_round}"),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, closed: supplier order",
          "/organise/{group}/rounds/{closed_round}"),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, failed",
          "/organise/{group}/rounds/{failed_round}"),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, cancelled",
          "/organise/{group}/rounds/{cancelled_round}"),
    Visit(G + "/rounds/<int:round_id>/order-sheet", ORGANISER, "order sheet, closed round",
          "/organise/{group}/rounds/{closed_round}/order-sheet"),
    Visit(G + "/rounds/<int:round_id>/statements", ORGANISER, "statements, closed round",
          "/organise/{group}/rounds/{closed_round}/statements"),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, closed: placing the order, no day",
          "/organise/{group}/rounds/{closed_round}",
          press("I have placed the order with the supplier"), status=400,
          posted=G + "/rounds/<int:round_id>/ordered"),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, ordered: the delivery day",
          "/organise/{group}/rounds/{ordered_round}"),
    Visit(G + "/rounds/<int:round_id>/receive", WORKER, "what arrived, ordered round",
          "/organise/{group}/rounds/{ordered_round}/receive"),
    Visit(G + "/rounds/<int:round_id>/receive", WORKER, "what arrived, saved, with changes",
          "/organise/{group}/rounds/{delivered_round}/receive"),
    Visit(G + "/rounds/<int:round_id>/receive", WORKER, 'what arrived, "abc"',
          "/organise/{group}/rounds/{ordered_round}/receive", arrived_in_letters,
          status=400),
    Visit(G + "/rounds/<int:round_id>/collection", WORKER, "collection day",
          "/organise/{group}/rounds/{delivered_round}/collection"),
    Visit(G + "/rounds/<int:round_id>/spare", WORKER, "spare units to sell or give away",
          "/organise/{group}/rounds/{delivered_round}/spare"),
    Visit(G + "/rounds/<int:round_id>/spare", WORKER, "spare: a sale with no price",
          "/organise/{group}/rounds/{delivered_round}/spare", press("Sell (Rice)"),
          status=400),
    Visit(G + "/rounds/<int:round_id>/settlement", ORGANISER, "settling up, delivered round",
          "/organise/{group}/rounds/{delivered_round}/settlement"),
    Visit(G + "/rounds/<int:round_id>", ORGANISER, "round, delivered",
          "/organise/{group}/rounds/{delivered_round}"),
    Visit("/rounds/<int:round_id>", RESIDENT, "round page, delivered: what changed",
          "/rounds/{delivered_round}"),
    Visit(G + "/rounds/<int:round_id>/pick-list", WORKER, "pick list, closed round",
          "/organise/{group}/rounds/{closed_round}/pick-list"),
    Visit(G + "/rounds/<int:round_id>/packing-slips", WORKER, "packing slips, A4",
          "/organise/{group}/rounds/{closed_round}/packing-slips"),
    Visit(G + "/rounds/<int:round_id>/packing-slips", WORKER, "packing slips, A6",
          "/organise/{group}/rounds/{closed_round}/packing-slips?size=a6"),
    Visit(G + "/rounds/<int:round_id>/slips", WORKER, "slips to print, every household",
          "/organise/{group}/rounds/{delivered_round}/slips?which=all"),
    Visit(G + "/rounds/<int:round_id>/slips/<int:household_id>", WORKER,
          "one household's slip: changed, owed back",
          "/organise/{group}/rounds/{delivered_round}/slips/{flat1}"),
    Visit(G + "/run-sheet", WORKER, "drop-in run sheet", "/organise/{group}/run-sheet"),
    Visit(G + "/rounds/<int:round_id>/payments", ORGANISER, "payments, cash recorded",
          "/organise/{group}/rounds/{closed_round}/payments"),
    Visit(G + "/rounds/<int:round_id>/payments", ORGANISER, 'payments, cash "abc"',
          "/organise/{group}/rounds/{closed_round}/payments", cash_in_letters, status=400,
          posted=G + "/rounds/<int:round_id>/payments/<int:statement_id>/cash"),
    Visit(G + "/rounds/<int:round_id>/payments", ORGANISER,
          "payments, cancelled after closing: cash to hand back",
          "/organise/{group}/rounds/{refunded_round}/payments"),
    Visit(G + "/rounds/<int:round_id>/payments/<int:statement_id>/write-off", ORGANISER,
          "write off what a household owes?",
          "/organise/{group}/rounds/{closed_round}/payments/{closed_statement_flat1}"
          "/write-off?reason=group_covers"),
    Visit(G + "/rounds/<int:round_id>/payments/cash/<int:cash_id>/reverse", WORKER,
          "reverse a cash entry",
          "/organise/{group}/rounds/{closed_round}/payments/cash/{closed_cash_flat1}/reverse"),
    Visit(G + "/rounds/<int:round_id>/payments/cash/<int:cash_id>/reverse", WORKER,
          "reverse a cash entry, no reason",
          "/organise/{group}/rounds/{closed_round}/payments/cash/{closed_cash_flat1}/reverse",
          press("Reverse £1 cash (receipt R-102)"), status=400),
    Visit(G + "/households/<int:household_id>/receipts", WORKER, "a household's receipts",
          "/organise/{group}/households/{flat1}/receipts"),
    Visit(G + "/rounds/<int:round_id>/cancel-after-close", ORGANISER,
          "cancel a closed round?", "/organise/{group}/rounds/{closed_round}/cancel-after-close"),
    Visit(G + "/staff", ORGANISER, "staff: organisers, workers, invites",
          "/organise/{group}/staff"),
    Visit(G + "/drop-in-times", ORGANISER, "drop-in times: weekly, add forms",
          "/organise/{group}/drop-in-times"),
    Visit(G + "/drop-in-times", ORGANISER, "drop-in times: weekly form blank",
          "/organise/{group}/drop-in-times", press("Add weekly drop-in"), status=400),
    Visit(G + "/households/<int:household_id>/merge", ORGANISER, "merge: choose the other",
          "/organise/{group}/households/{flat3}/merge"),
    Visit(G + "/households/<int:household_id>/merge", ORGANISER, "merge: the preview",
          "/organise/{group}/households/{flat3}/merge?into={flat2}"),
    Visit(G + "/audit", ORGANISER, "audit log", "/organise/{group}/audit"),
    Visit(G + "/audit", ORGANISER, "audit log, a bad date", "/organise/{group}/audit?from=abc",
          status=400),
    Visit(G + "/erasure-requests", ORGANISER, "erasure requests: one waiting",
          "/organise/{group}/erasure-requests"),
    Visit(G + "/solidarity-pot", ORGANISER, "solidarity pot: a grant, a household supported",
          "/organise/{group}/solidarity-pot"),
    Visit(G + "/solidarity-pot", ORGANISER, "solidarity pot: a donation with no amount",
          "/organise/{group}/solidarity-pot", press("Put it in the pot"), status=400,
          posted=G + "/solidarity-pot/donations"),
    Visit(G + "/impact", ORGANISER, "impact report: the last 12 months, with charts",
          "/organise/{group}/impact"),
    Visit(G + "/impact", ORGANISER, "impact report, a bad date",
          "/organise/{group}/impact?from=abc", status=400),
]

#: GET rules that are not pages, and why they are not checked here.
NOT_PAGES = {
    "/static/<path:filename>": "CSS and JavaScript files, not pages",
    "/healthz": "JSON for the production layout's monitoring, not a page",
    "/pictures/<name>": "a product's picture (WebP), not a page (test_pictures.py checks it)",
    "/organise/<int:group_id>/impact.csv":
        "a CSV download of the impact report's figures (its HTML twin, impact, is checked)",
    "/organise/<int:group_id>/impact/<any(households, money):chart>.svg":
        "an impact report chart (an SVG image shown on the impact page, which is checked)",
    "/organise/<int:group_id>/audit.csv":
        "a CSV download of the audit log, not a page (its HTML twin, audit, is checked)",
    "/organise/<int:group_id>/rounds/<int:round_id>/order-sheet.csv":
        "a CSV download for the supplier, not a page (its HTML twin, order-sheet, is checked)",
    "/organise/<int:group_id>/rounds/<int:round_id>/settlement.csv":
        "a CSV download for the treasurer, not a page (its HTML twin, settlement, is checked)",
}

#: The order the roles' browsers take their turns in (the tablet's session sheet is
#: made before the organiser looks at drop-in sessions).
ROLE_ORDER = [ANON, RESIDENT, STARTER, ADMIN, WORKER, AT_TABLET, ORGANISER]


# --- the data -----------------------------------------------------------------------------


def _pledge(rnd: Round, name: str, household, quantity: int, user, now) -> None:
    item = next(i for i in rnd.items if i.name == name)
    pledges.set_pledge(item, household, quantity, 0, entered_by=user, now=now, max_units=999)


def statement_of(rnd: Round, household) -> Statement:
    return db.session.scalar(select(Statement).where(
        Statement.round_id == rnd.id, Statement.household_id == household.id))


def _link_in_mail(key_prefix: str, path: str) -> str:
    """The path of the link starting `path` in the newest outbox message keyed so."""
    body = db.session.scalar(
        select(OutboxMessage.body).where(OutboxMessage.key.startswith(key_prefix))
        .order_by(OutboxMessage.id.desc()).limit(1))
    found = re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", body or "")
    assert found, f"no {path} link in an outbox message keyed {key_prefix}"
    return found.group(1)


def build_world(app) -> dict:
    """Oak Estate in every state worth seeing; returns the ids the URLs need.

    Rounds: open (with orders), the resident's own open round, a draft, closed
    with statements and cash recorded, failed (under its minimum), cancelled
    before closing, cancelled after closing (cash to hand back). Flat 1 has a
    tablet PIN; an assisted household lives in Block A; one drop-in session is over.
    """
    web.clear_caches()  # ids repeat between tests on emptied tables
    with app.app_context():
        now = utcnow()
        made = factories.world(residents=3)
        group, org, worker = made.group, made.organiser, made.worker
        (r1, r2, r3), (flat1, flat2, flat3) = made.residents, made.households
        admin = factories.user("admin@site.test", "Ada Admin", admin=True)
        accounts.create_group("Birch Court", "Europe/London", org, actor=admin)

        def new_round(title: str, closes_in=timedelta(seconds=1), creator=org, **details):
            rnd = rounds.create_round(
                group, made.supplier, made.products,
                rounds.RoundDetails(title=title, closes_at=now + closes_in, **details),
                created_by=creator, now=now,
            )
            rounds.open_round(rnd, actor=creator, now=now)
            return rnd

        open_round = made.round
        _pledge(open_round, "Tinned tomatoes", flat1, 5, r1, now)
        _pledge(open_round, "Rice", flat2, 3, r2, now)
        own = new_round("Pasta club", timedelta(days=2), creator=r1)
        _pledge(own, "Rice", flat1, 2, r1, now)
        draft = rounds.create_round(
            group, made.supplier, made.products,
            rounds.RoundDetails(title="Next month", closes_at=now + timedelta(days=30)),
            created_by=org, now=now,
        )
        closed = new_round("March tins", collection_place="Community room",
                           delivery_fee_pence=500)
        _pledge(closed, "Tinned tomatoes", flat1, 12, r1, now)
        _pledge(closed, "Rice", flat1, 2, r1, now)
        _pledge(closed, "Rice", flat2, 23, r2, now)
        ordered = new_round("April rice", collection_place="Community room")
        _pledge(ordered, "Rice", flat1, 25, r1, now)
        delivered = new_round("May tins", collection_place="Community room")
        _pledge(delivered, "Tinned tomatoes", flat2, 6, r2, now)
        _pledge(delivered, "Tinned tomatoes", flat1, 6, r1, now)
        _pledge(delivered, "Rice", flat2, 25, r2, now)
        failed = new_round("Big order", min_order_pence=1_000_000)
        _pledge(failed, "Tinned tomatoes", flat1, 3, r1, now)
        refunded = new_round("Called off")
        _pledge(refunded, "Tinned tomatoes", flat1, 12, r1, now)
        cancelled = new_round("Spring rice", timedelta(days=5))
        _pledge(cancelled, "Rice", flat1, 4, r1, now)
        rounds.cancel_round(cancelled, actor=org, now=now)
        db.session.commit()

        later = now + timedelta(seconds=2)
        for rnd in (closed, ordered, delivered, failed, refunded):
            assert closing.close_round(rnd.id, later) is not None
        db.session.commit()
        for rnd in (ordered, delivered):
            rounds.mark_ordered(db.session.get(Round, rnd.id), reference="PO-77",
                                expected_on=(later + timedelta(days=3)).date(), actor=org,
                                now=later)
        flat1_may = statement_of(delivered, flat1)
        cash_service.record_cash(flat1_may, flat1_may.total_pence, "R-104", actor=worker,
                                 now=later)
        tins = next(i for i in delivered.items if i.name == "Tinned tomatoes")
        rice = next(i for i in delivered.items if i.name == "Rice")
        delivery.record_delivery(  # two tins came damaged: Flat 1 (later) gets 4, is owed
            db.session.get(Round, delivered.id),  # back; 2 sacks of rice too many: spare
            [delivery.Arrived(tins.id, 12, 2), delivery.Arrived(rice.id, 27, 0)], [],
            None, drawn_version=0, actor=worker, now=later)
        collection.collect(db.session.get(Round, delivered.id), flat2.id,
                           neighbour_name=None, cash=None, actor=worker, now=later)
        statement = {(s.round_id, s.household_id): s for s in db.session.scalars(select(Statement))}
        flat1_closed = statement[closed.id, flat1.id]
        flat2_closed = statement[closed.id, flat2.id]
        cash_service.record_cash(flat2_closed, flat2_closed.total_pence, "R-101", actor=worker,
                             now=later)
        flat1_cash = cash_service.record_cash(flat1_closed, 100, "R-102", actor=worker,
                                              now=later)
        refund_me = statement[refunded.id, flat1.id]
        cash_service.record_cash(refund_me, refund_me.total_pence, "R-103", actor=worker, now=later)
        refunds.cancel_closed_round(db.session.get(Round, refunded.id), actor=org,
                                          now=later)

        tablet.set_pin(flat1, PIN, actor=worker, now=now)
        tablet.create_assisted_household(group, "Ground floor 1", "Block A", "1357",
                                         actor=worker, now=now)
        past, _token = tablet.start_session(group, worker, now - timedelta(days=7))
        tablet.start_visit(past, flat1, "pin", now - timedelta(days=7))
        tablet.end_session(past, now - timedelta(days=7) + timedelta(minutes=30))
        joining.ask_to_join(group, email="newcomer@oak.test", name="Nia",
                            household_label="Flat 40", password="password123", now=now)
        _staff_invite, staff_token = invites.create(group, kind="staff", role="worker",
                                                    actor=org, now=now)
        _household_invite, household_token = invites.create(
            group, kind="household", actor=org, now=now, household=flat2)
        recovery.ask_password_reset("r2@oak.test", now)
        recovery.ask_email_change(r3, PASSWORD, "nia.new@oak.test", now)
        privacy.ask_for_erasure(r3, flat3.id, confirmed=True, now=now)
        solidarity.record_donation(group, 5000, "Grant from the council", actor=org, now=now)
        solidarity.set_supported(group, flat2, True, actor=org, now=now)
        drop_ins.add_weekly(group, place="Community room, Oak House", weekday=1,
                            starts=dt_time(10), ends=dt_time(12), actor=org, now=now)
        time_credits.save_rule(group, 60, 100, None, actor=org, now=now)
        time_credits.record_time(group, flat1, 90, "packing", "Packed on delivery day",
                                 actor=worker, now=now)
        with_two_step = factories.user(TWO_STEP_EMAIL, "Tess Two-Step")
        secret = two_step.start_setup(with_two_step)
        two_step.confirm_setup(with_two_step, pyotp.TOTP(secret).now(), now)
        db.session.commit()
        join_token = join_link_for("newcomer@oak.test").rsplit("/", 1)[1]

        ids = {
            "group": group.id, "invite_code": group.invite_code, "supplier": made.supplier.id,
            "product": made.products[0].id, "open_round": open_round.id, "own_round": own.id,
            "draft_round": draft.id, "closed_round": closed.id, "failed_round": failed.id,
            "ordered_round": ordered.id, "delivered_round": delivered.id,
            "refunded_round": refunded.id, "cancelled_round": cancelled.id,
            "closed_statement_flat1": flat1_closed.id, "tablet_session": past.id,
            "closed_cash_flat1": flat1_cash.id, "flat1": flat1.id,
            "open_rice": next(i.id for i in open_round.items if i.name == "Rice"),
            "join_token": join_token, "staff_token": staff_token,
            "household_token": household_token, "flat2": flat2.id, "flat3": flat3.id,
            "reset_link": _link_in_mail("password-reset:", "/password/reset/"),
            "email_link": _link_in_mail("email-change-confirm:", "/account/email/confirm/"),
        }
        assert db.session.get(Round, failed.id).status == "failed"
        assert db.session.get(Round, refunded.id).status == "cancelled"
        db.session.remove()
    return ids


# --- the checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    kind: str  # "axe", "size", "scroll", "page", "keyboard", "words"
    key: str  # what to fix: the same key on many pages is one fix
    detail: str
    where: str  # role, URL and state


def _axe(page: Page) -> list[dict]:
    results = Axe().run(page, options={
        "runOnly": {"type": "tag", "values": AXE_TAGS},
        "resultTypes": ["violations"],
    })
    return results.response["violations"]


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


# Names an element for the report: <tag id=... class=...> "its words".
_DESCRIBE = r"""
const describe = (el) => {
  const text = (el.getAttribute('aria-label') || el.textContent || el.value || '')
    .replace(/\s+/g, ' ').trim().slice(0, 40);
  const cls = typeof el.className === 'string' && el.className ? ' class=' + el.className : '';
  return `<${el.tagName.toLowerCase()}${el.id ? ' id=' + el.id : ''}${cls}> "${text}"`;
};
// A CSS path to the element, from its nearest ancestor with an id (or <main>/<body>).
const pathOf = (el) => {
  const parts = [];
  for (let n = el; n && n.nodeType === 1 && parts.length < 7; n = n.parentElement) {
    if (n.id) { parts.unshift('#' + n.id); break; }
    const tag = n.tagName.toLowerCase();
    if (tag === 'main' || tag === 'body') { parts.unshift(tag); break; }
    const cls = typeof n.className === 'string' && n.className.trim()
      ? '.' + n.className.trim().split(/\s+/).join('.') : '';
    const same = n.parentElement ? [...n.parentElement.children].filter(
      (c) => c.tagName === n.tagName) : [];
    const nth = same.length > 1 ? `:nth-of-type(${same.indexOf(n) + 1})` : '';
    parts.unshift(tag + cls + nth);
  }
  return parts.join(' > ');
};
"""

# The CSS path of each control conftest's _MEASURE_TARGETS found too small (by its words).
_PATHS_OF_SMALL = "(small) => {" + _DESCRIBE + r"""
  const found = {};
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
  for (const el of document.querySelectorAll(controls)) {
    const text = (el.getAttribute('aria-label') || el.textContent || el.value || '').trim();
    const tag = el.tagName.toLowerCase() + (el.id ? ' id=' + el.id : '');
    const name = `<${tag}> "${text.slice(0, 40)}"`;  // as conftest's describe() names it
    for (const line of small) {
      if (line.startsWith(name + ' is ') && !(line in found)) found[line] = pathOf(el);
    }
  }
  return found;
}
"""

# What makes the page wider than the window: the outermost elements past its right
# edge that no scrolling box clips (an absolutely positioned element escapes every
# scrolling box inside its containing block, so a .visually-hidden span can too).
_ESCAPES = "() => {" + _DESCRIBE + r"""
  const width = document.documentElement.clientWidth;
  const escapes = (el) => {
    const pos = getComputedStyle(el).position;
    if (pos === 'fixed') return true;
    let contained = pos !== 'absolute';
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (!contained && style.position !== 'static') contained = true;
      if (contained && style.overflowX !== 'visible') return false;
    }
    return true;
  };
  const wide = new Set();
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 0.5 && r.width > 0 && escapes(el)) wide.add(el);
  }
  return [...wide].filter((el) => !wide.has(el.parentElement)).slice(0, 6).map((el) =>
    `${pathOf(el)} (right edge ${el.getBoundingClientRect().right.toFixed(0)}px, ` +
    `position ${getComputedStyle(el).position})`);
}
"""


# docs/pages.md "Words" (reading age 9): on pages residents read, sentences of at most 25
# words, and none of the words it says to avoid. Read from what <main> shows.
_WORDS = r"""
() => {
  const main = document.querySelector('main') || document.body;
  const text = main.innerText;
  const sentences = text.split(/\n+|(?<=[.!?])\s+/).map((s) => s.trim()).filter(Boolean);
  const long = sentences.filter((s) => s.split(/\s+/).length > 25);
  const avoid = new RegExp('\\b(' + [
    'pledges?', 'pledged', 'commit(ment)?', 'allocat\\w*', 'fulfil\\w*',
    'balance', 'arrears', 'credit\\w*', 'submit\\w*', 'invalid', 'session expired',
    'sorry', 'oops', 'click\\w*'].join('|') + ')\\b', 'i');
  const words = sentences.filter((s) => avoid.test(s))
    .map((s) => `${s.match(avoid)[0]}: "${s.slice(0, 80)}"`);
  return {long, words};
}
"""
#: Whose pages are read by residents (the tablet's are, with a helper beside them).
_RESIDENT_READ = (ANON, RESIDENT, STARTER, AT_TABLET)


def _words(page: Page, where: str) -> list[Problem]:
    found = page.evaluate(_WORDS)
    return ([Problem("words", f"over 25 words: {s[:100]}", "docs/pages.md: reading age 9", where)
             for s in found["long"]]
            + [Problem("words", f"a word to avoid, {w}", "docs/pages.md: words", where)
               for w in found["words"]])


def _small_targets(page: Page, minimum: int, size: dict, where: str) -> list[Problem]:
    small = page.evaluate(_MEASURE_TARGETS, minimum)
    paths = page.evaluate(_PATHS_OF_SMALL, small) if small else {}
    found = []
    for line in small:
        name, measured = line.rsplit(" is ", 1)
        found.append(Problem(
            "size",
            f"under {minimum}x{minimum} at {size['width']}x{size['height']}: {name}"
            f" at {paths.get(line, '?')}",
            measured, where,
        ))
    return found


def check_visit(page: Page, visit: Visit, where: str) -> list[Problem]:
    """Axe, target sizes and 320px reflow for the page as it stands."""
    found: list[Problem] = []
    size, minimum = (TABLET, TABLET_TARGET) if visit.tablet else (PHONE, MIN_TARGET)
    with _at_viewport(page, size):
        for violation in _axe(page):
            for node in violation["nodes"]:
                target = " ".join(str(t) for t in node["target"])
                found.append(Problem(
                    "axe",
                    f"{violation['id']} ({violation['impact']}): {violation['help']}"
                    f" | element {target} | {_one_line(node['html'])[:160]}",
                    _one_line(node.get("failureSummary", ""))[:400],
                    where,
                ))
        found += _small_targets(page, minimum, size, where)
    if not visit.tablet:  # a link that wraps at phone width may be one short line here
        with _at_viewport(page, DESKTOP):
            found += _small_targets(page, MIN_TARGET, DESKTOP, where)
    with _at_viewport(page, NARROW):
        overflow = page.evaluate(_OVERFLOW)
        causes = page.evaluate(_ESCAPES) if overflow["scroll"] > overflow["client"] else []
    if overflow["scroll"] > overflow["client"]:
        found.append(Problem(
            "scroll", f"horizontal scroll at 320px on {where}",
            f"scrollWidth {overflow['scroll']} > clientWidth {overflow['client']}; "
            f"sticking out (not clipped by a scrolling box): {causes or overflow['wide']}",
            where,
        ))
    return found


def _rule_of(app, path: str) -> str | None:
    adapter = app.url_map.bind("127.0.0.1")
    for method in ("GET", "POST"):
        try:
            rule, _args = adapter.match(path, method=method, return_rule=True)
        except MethodNotAllowed:
            continue
        except NotFound:
            return None
        return rule.rule
    return None


def report(problems: list[Problem], visited: int) -> str:
    """Problems grouped by what to fix, each with every page it was seen on."""
    titles = {"page": "PAGES THAT DID NOT ANSWER AS EXPECTED", "axe": "AXE VIOLATIONS",
              "size": "CONTROLS TOO SMALL", "scroll": "HORIZONTAL SCROLL AT 320PX",
              "keyboard": "KEYBOARD (TAB FROM THE TOP)", "words": "PLAIN WORDS"}
    grouped: dict[str, dict[str, list[Problem]]] = defaultdict(lambda: defaultdict(list))
    for problem in problems:
        grouped[problem.kind][problem.key].append(problem)
    lines = [f"{len(problems)} problem(s) on {visited} page visits "
             f"({sum(len(keys) for keys in grouped.values())} distinct things to fix)"]
    for kind in ("page", "axe", "size", "scroll", "keyboard", "words"):
        if kind not in grouped:
            continue
        lines.append(f"\n=== {titles[kind]} ===")
        for key, seen in sorted(grouped[kind].items()):
            lines.append(f"* {key}")
            details = sorted({p.detail for p in seen})
            lines.append(f"    why: {' / '.join(details)[:600]}")
            lines.append(f"    on {len(seen)} page(s):")
            lines += [f"      - {p.where}" for p in seen]
    return "\n".join(lines)


# --- browsers per role --------------------------------------------------------------------


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    _send(page, page.get_by_role("button", name="Sign in"))
    assert urlsplit(page.url).path == "/", f"{email} could not sign in: still on {page.url}"


def page_for(new_context, role: str) -> Page:
    """One browser context (its own cookies) and one page for a role, signed in."""
    viewport = TABLET if role == AT_TABLET else PHONE
    page = new_context(viewport=viewport).new_page()
    if role != ANON:
        sign_in(page, EMAILS[role])
    return page


# --- the tests ----------------------------------------------------------------------------


def test_every_get_rule_is_in_the_table(live_server):
    """A GET rule in neither PAGES nor NOT_PAGES is a page nobody checks: fail."""
    rules = {rule.rule: rule for rule in live_server.app.url_map.iter_rules()}
    get_rules = {name for name, rule in rules.items() if "GET" in rule.methods}
    in_table = {visit.rule for visit in PAGES if visit.rule is not None}
    unchecked = sorted(get_rules - in_table - set(NOT_PAGES))
    assert not unchecked, (
        "GET rules with no accessibility check: add each to PAGES in "
        f"tests/e2e/test_every_page.py (or to NOT_PAGES, with the reason): {unchecked}"
    )
    stale = sorted((in_table | set(NOT_PAGES)) - set(rules))
    assert not stale, f"rules in the table that the app no longer has: {stale}"
    assert not set(NOT_PAGES) & in_table, "a rule is both a page and not a page"
    assert {visit.role for visit in PAGES} <= set(ROLE_ORDER)


def test_every_page_as_its_role(live_app, new_context):
    ids = build_world(live_app)
    problems: list[Problem] = []
    seen_rules: set[str] = set()
    visited = 0
    for role in ROLE_ORDER:
        page = page_for(new_context, role)
        for visit in (v for v in PAGES if v.role == role):
            page.goto(visit.url.format(**ids))
            if visit.then is not None:
                visit.then(page, ids)
            visited += 1
            path = urlsplit(page.url).path
            where = f"[{role}] {path} ({visit.state})"
            status = page.evaluate(
                "performance.getEntriesByType('navigation')[0].responseStatus"
            )
            rule = _rule_of(live_app, path)
            if status != visit.status or rule != (visit.posted or visit.rule):
                problems.append(Problem(
                    "page",
                    f"{where}: expected HTTP {visit.status} from {visit.posted or visit.rule}",
                    f"got HTTP {status} at {page.url} (rule {rule})", where,
                ))
                continue
            if visit.shows_errors and not page.locator(".error-summary").is_visible():
                problems.append(Problem(
                    "page", f"{where}: a form's error state without an error summary",
                    "docs/pages.md: summary at the top, 'There is a problem', a link per field",
                    where,
                ))
            if visit.rule is not None:
                seen_rules.add(visit.rule)
            problems += check_visit(page, visit, where)
            if role in _RESIDENT_READ:
                problems += _words(page, where)
            # Last: it opens every <details> and moves focus about.
            problems += [Problem("keyboard", found, "Tab from the top", where)
                         for found in tab_through(page)]
        page.context.close()  # one role's browser at a time
    unseen = {v.rule for v in PAGES if v.rule is not None} - seen_rules
    for rule in sorted(unseen):
        problems.append(Problem("page", f"{rule}: never reached", "see the lines above",
                                rule))
    if problems:
        pytest.fail(report(problems, visited), pytrace=False)


# --- keyboard -----------------------------------------------------------------------------

# Where focus is now: on screen, with an indicator, and not under anything else.
_FOCUSED = "(step) => {" + _DESCRIBE + r"""
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return {end: true};
  // A date or time box takes several Tabs (day, month, year...): not a new stop.
  if (el.getAttribute('data-kbd-step') === String(step - 1)) {
    el.setAttribute('data-kbd-step', String(step));
    return {end: false, same: true};
  }
  if (el.hasAttribute('data-kbd-step')) return {end: true, again: true};
  el.setAttribute('data-kbd-step', String(step));
  const style = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  const problems = [];
  if (r.width < 1 || r.height < 1 || style.visibility === 'hidden' || style.opacity === '0') {
    problems.push(`not visible (${r.width.toFixed(0)}x${r.height.toFixed(0)})`);
  }
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  if (!outline && !shadow) problems.push('no focus indicator (outline and box-shadow none)');
  // The indicator must come with focus: compare with the same control unfocused.
  const look = (s) => ['outlineStyle', 'outlineWidth', 'outlineColor', 'boxShadow',
                       'backgroundColor', 'color', 'borderColor'].map((k) => s[k]).join('|');
  const focused = look(style);
  el.blur();
  const unfocused = look(getComputedStyle(el));
  el.focus();
  if (focused === unfocused) problems.push('focus changes nothing visible');
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) {
    problems.push(`centre (${x.toFixed(0)}, ${y.toFixed(0)}) is off screen`);
  } else {
    const hit = document.elementFromPoint(x, y);
    const labelled = hit && [...(el.labels || [])].some((l) => l === hit || l.contains(hit));
    if (!hit || !(hit === el || el.contains(hit) || labelled)) {
      const cover = hit && hit.closest('.done-bar, header, footer, [class*=sticky]');
      problems.push(`covered at its centre (${x.toFixed(0)}, ${y.toFixed(0)}) by ` +
                    (hit ? describe(hit) : 'nothing') +
                    (cover && cover !== hit ? ' inside ' + describe(cover) : ''));
    }
  }
  return {end: false, name: describe(el), problems};
}
"""

# Controls a keyboard user should reach that Tab never did.
_NOT_REACHED = "() => {" + _DESCRIBE + r"""
  const selector = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]),' +
    ' select:not([disabled]), textarea:not([disabled]), summary, [tabindex]';
  const reached = (el) => el.hasAttribute('data-kbd-step');
  const missed = [];
  for (const el of document.querySelectorAll(selector)) {
    if (reached(el) || el.tabIndex < 0 || el.closest('[inert]')) continue;  // taken out on purpose
    if (!el.checkVisibility({checkVisibilityCSS: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;  // visually hidden
    if (el.matches('input[type=radio]') && [...document.querySelectorAll(
        `input[type=radio][name="${el.name}"]`)].some(reached)) continue;
    missed.push(describe(el));
  }
  return missed;
}
"""


def tab_through(page: Page, limit: int = 250) -> list[str]:
    """Tab from the top of the page to the end, checking every stop; the problems found."""
    # Start from the top even when the page put focus on a field (autofocus): a blurred
    # field stays Tab's starting point, so focus a start marker (not a Tab stop) instead.
    page.evaluate("""() => {
      document.querySelectorAll('details').forEach((d) => { d.open = true; });
      const start = document.createElement('span');
      start.tabIndex = -1;
      document.body.prepend(start);
      start.focus();
    }""")
    problems, stops = [], 0
    for step in range(limit):
        page.keyboard.press("Tab")
        state = page.evaluate(_FOCUSED, step)
        if state["end"]:
            if stops or state.get("again"):
                break
            continue
        if state.get("same"):
            continue
        stops += 1
        problems += [f"Tab stop {stops} {state['name']}: {p}" for p in state["problems"]]
    else:
        problems.append(f"focus never left the page after {limit} Tabs (a keyboard trap?)")
    problems += [f"never reached by Tab: {m}" for m in page.evaluate(_NOT_REACHED)]
    if not stops:
        problems.append("Tab reached no control at all")
    return problems


def _resident_round(new_context, ids) -> tuple[Page, str]:
    page = page_for(new_context, RESIDENT)
    page.goto(f"/rounds/{ids['open_round']}")
    return page, "resident round page (open), 360x640"


def _tablet_order(new_context, ids) -> tuple[Page, str]:
    page = page_for(new_context, AT_TABLET)
    page.goto("/tablet/start")
    start_the_tablet(page, ids)
    right_pin(page, ids)
    assert page.url.endswith("/tablet/order"), page.url
    return page, "tablet order page, 800x1280"


def _organiser_payments(new_context, ids) -> tuple[Page, str]:
    page = page_for(new_context, ORGANISER)
    page.goto(f"/organise/{ids['group']}/rounds/{ids['closed_round']}/payments")
    return page, "organiser payments page (closed round, cash recorded), 360x640"


def _tablet_list(new_context, ids) -> tuple[Page, str]:
    page = page_for(new_context, AT_TABLET)
    page.goto("/tablet/start")
    start_the_tablet(page, ids)
    assert page.url.endswith("/tablet/"), page.url
    return page, "tablet household list, 800x1280"


def _tablet_pin(new_context, ids) -> tuple[Page, str]:
    page, _name = _tablet_list(new_context, ids)
    tap_flat_1(page, ids)
    assert page.url.endswith("/tablet/pin"), page.url
    return page, "tablet PIN page (with 'Ask a helper'), 800x1280"


def _tablet_leave(new_context, ids) -> tuple[Page, str]:
    page, _name = _tablet_list(new_context, ids)
    page.goto("/tablet/leave")
    return page, "tablet 'leave tablet mode' page, 800x1280"


def _my_orders(new_context, ids) -> tuple[Page, str]:
    page = page_for(new_context, RESIDENT)
    page.goto("/my-orders")
    return page, "resident's My orders, 360x640"


@pytest.mark.parametrize(
    "open_page", [_resident_round, _my_orders, _tablet_list, _tablet_pin, _tablet_order,
                  _tablet_leave, _organiser_payments],
    ids=["resident-round", "my-orders", "tablet-list", "tablet-pin", "tablet-order",
         "tablet-leave", "organiser-payments"],
)
def test_keyboard_reaches_every_control_with_visible_focus(live_app, new_context, open_page):
    ids = build_world(live_app)
    page, name = open_page(new_context, ids)
    problems = tab_through(page)
    assert not problems, (
        f"keyboard problems on the {name} at {page.url}:\n" + "\n".join(problems)
    )
