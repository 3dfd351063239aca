"""The shared tablet at a drop-in, in Debian's Chromium at tablet size (800x1280).

Journey 2: a worker starts the tablet; residents tap their flat, enter their
PIN, tap "+" and Done; nothing of theirs is left for the next person (history,
reload, cookies, storage); an idle turn ends on its own after a warning; five
wrong PINs lock; leaving tablet mode needs the worker's password. Journey 4b:
the helper takes an assisted household's cash at the tablet.

Every tablet page and state visited is checked by `TabletChecks`: zero axe
violations (conftest's `scan`), every visible control at least 64x64 CSS px at
800x1280 (docs/pages.md, "Sizes"), and no sideways scroll at 320px. The
checks collect what they find and each test asserts at the end, so one run
lists every failing page, not only the first.

Time in the page is Playwright's fake clock (`page.clock`), so the 90 s
warning, the 120 s idle end and the thank-you page's 10 s return take no real
time. The tests also save the README's screenshots (tests/e2e/screenshots.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import (
    Household,
    PledgeLine,
    RoundItem,
    Statement,
    TabletVisit,
    User,
    utcnow,
)
from bulkbuy.services import closing, pledges, tablet
from tests import factories
from tests.e2e import screenshots
from tests.e2e.conftest import check_no_horizontal_scroll, check_page, scan

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page, expect
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    Page = expect = None
    PlaywrightError = Exception

PASSWORD = factories.PASSWORD
TABLET = {"width": 800, "height": 1280}
TABLET_TARGET = 64  # CSS px: docs/pages.md, "Sizes" (800×1280)
PINS = {"Flat 1": "1357", "Flat 2": "8642"}
ASSISTED_PIN = "2468"
LIST = re.compile(r"/tablet/$")
MAX_TAPS = 5  # docs/pages.md: tile, PIN confirm, one "+", Done, plus at most one more step


# --- measuring the tablet's targets ---------------------------------------------------------

# Every visible control, as conftest's phone check, but at 64px and with no
# "link in a sentence" exception: on the tablet every control is a finger's
# target. Not measured: anything not rendered (display:none, [hidden], the
# inside of a closed <details>), 1px visually-hidden text, and the skip link
# while it is parked off screen.
_SMALL_TARGETS = r"""
(min) => {
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
                 + '[role=button], [tabindex]:not([tabindex="-1"])';
  const small = [];
  for (const el of document.querySelectorAll(controls)) {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;
    if (r.right <= 0 || r.bottom <= 0) continue;
    if (r.width + 0.01 < min || r.height + 0.01 < min) {
      const text = (el.getAttribute('aria-label') || el.textContent || el.value || '').trim();
      small.push(`<${el.tagName.toLowerCase()}${el.id ? ' id=' + el.id : ''}> "`
                 + `${text.replace(/\s+/g, ' ').slice(0, 40)}" is `
                 + `${r.width.toFixed(1)}x${r.height.toFixed(1)}`);
    }
  }
  return small;
}
"""


class TabletChecks:
    """Checks each page or state it is given, and notes what fails (`require` notes other
    problems); `assert_clean()` at the end of a test fails with everything noted."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.pages: list[str] = []

    def __call__(self, page: Page, what: str) -> None:
        self.pages.append(what)
        for check in (scan, self._targets, check_no_horizontal_scroll):
            try:
                check(page)
            except AssertionError as failed:
                self.problems.append(f"[{what}] " + str(failed).split("\nassert ")[0])

    @staticmethod
    def _targets(page: Page) -> None:
        assert page.viewport_size == TABLET, f"measured at {page.viewport_size}, not {TABLET}"
        small = page.evaluate(_SMALL_TARGETS, TABLET_TARGET)
        assert not small, (
            f"controls under {TABLET_TARGET}x{TABLET_TARGET}px at 800x1280 on {page.url}:\n"
            + "\n".join(small)
        )

    def require(self, holds: bool, problem: str) -> None:
        """A check that is noted, not raised, so the journey goes on."""
        if not holds:
            self.problems.append(problem)

    def assert_clean(self) -> None:
        assert not self.problems, (
            f"{len(self.problems)} problem(s); tablet pages checked: {', '.join(self.pages)}\n"
            + "\n".join(self.problems)
        )


class Taps:
    """Clicks that are counted: the quality bar is about how many times a resident taps."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, target) -> None:
        self.count += 1
        target.click()


# --- data and steps ---------------------------------------------------------------------------

def make_drop_in(live_app) -> dict:
    """factories.world (Flat 1 and Flat 2, an open round), each flat with a PIN."""
    with live_app.app_context():
        made = factories.world()
        now = utcnow()
        for home in made.households:
            tablet.set_pin(home, PINS[home.label], actor=made.worker, now=now)
        db.session.commit()
        found = {
            "group_id": made.group.id,
            "round_id": made.round.id,
            "worker": made.worker.email,
            "organiser": made.organiser.email,
            "items": {item.name: item.id for item in made.round.items},
            "homes": {home.label: home.id for home in made.households},
        }
        db.session.remove()
    return found


def quantity(live_app, household_id: int, item_id: int) -> int:
    with live_app.app_context():
        found = db.session.scalar(select(func.coalesce(func.sum(PledgeLine.quantity), 0)).where(
            PledgeLine.household_id == household_id, PledgeLine.round_item_id == item_id))
        db.session.remove()
    return found


def visits(live_app) -> list[tuple[str, str | None]]:
    """Every turn so far, oldest first: (household label, end reason or None if open)."""
    with live_app.app_context():
        rows = db.session.execute(
            select(Household.label, TabletVisit.end_reason)
            .join(Household, Household.id == TabletVisit.household_id)
            .order_by(TabletVisit.id)).all()
        db.session.remove()
    return [tuple(row) for row in rows]


@pytest.fixture
def tablet_page(new_context) -> Page:
    """A page at tablet size with Playwright's fake clock installed (time still runs)."""
    page = new_context(viewport=TABLET).new_page()
    page.clock.install()
    return page


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def start_tablet(page: Page, email: str, *, check=None) -> None:
    """The worker signs in and starts the tablet for their (only) group."""
    sign_in(page, email)
    page.goto("/tablet/start")
    expect(heading(page)).to_have_text("Start the tablet for a drop-in")
    if check is not None:
        check_page(page)  # a worker's page (site layout): conftest's 44px phone checks
    page.get_by_role("button", name="Start the tablet").click()
    expect(page).to_have_url(LIST)
    expect(heading(page)).to_have_text("Tap your flat")


def enter_pin(page: Page, label: str, pin: str, tap=None) -> None:
    """Tap the flat's tile, type the PIN, tap Continue (tap: counts the two taps)."""
    tap = tap or (lambda target: target.click())
    tap(page.get_by_role("button", name=label, exact=True))
    expect(heading(page)).to_have_text(f"Enter the PIN for {label}")
    page.get_by_label("Your 4-number PIN").fill(pin)
    tap(page.get_by_role("button", name="Continue"))


def assert_private_address(page: Page, label: str, path: str) -> None:
    """No household label or id in the address or the title: history keeps both."""
    address = urlsplit(page.url)
    assert (address.path, address.query) == (path, ""), page.url
    assert label not in page.title(), page.title()


def assert_not_a_turn(page: Page, label: str) -> None:
    """Nothing of the household's turn on screen: not its PIN page, order page or quantity."""
    assert page.locator("body[data-turn]").count() == 0, f"a turn is on screen at {page.url}"
    headings = page.locator("h1").all_inner_texts()
    text = page.locator("body").inner_text() if page.locator("body").count() else ""
    shown = {f"Enter the PIN for {label}", "Your order"} & set(headings)
    shown |= {words for words in (f"{label} ·", "You want 1", "Tinned tomatoes") if words in text}
    assert not shown, f"{sorted(shown)} on screen at {page.url}:\n{text[:400]}"


# --- journey 2 --------------------------------------------------------------------------------

def test_resident_orders_at_the_tablet_in_four_taps_and_leaves_nothing(
        live_app, tablet_page):
    data = make_drop_in(live_app)
    tomatoes = data["items"]["Tinned tomatoes"]
    flat1, flat2 = data["homes"]["Flat 1"], data["homes"]["Flat 2"]
    page, checks = tablet_page, TabletChecks()
    context = page.context

    start_tablet(page, data["worker"], check=True)
    checks(page, "household list")
    screenshots.save(page, "tablet-households")

    # Resident A: tile, PIN, "+", Done -- counted from the list.
    taps = Taps()
    taps(page.get_by_role("button", name="Flat 1", exact=True))
    expect(heading(page)).to_have_text("Enter the PIN for Flat 1")
    assert_private_address(page, "Flat 1", "/tablet/pin")
    expect(page.get_by_label("Your 4-number PIN")).to_be_focused()
    expect(page.get_by_label("Your 4-number PIN")).to_have_attribute("autocomplete",
                                                                    "new-password")
    checks(page, "PIN entry")
    page.get_by_label("Your 4-number PIN").fill(PINS["Flat 1"])
    taps(page.get_by_role("button", name="Continue"))

    expect(heading(page)).to_have_text("Your order")
    turn = [c for c in context.cookies() if c["name"] == "bulkbuy_turn"]
    assert len(turn) == 1 and turn[0]["httpOnly"] and turn[0]["sameSite"] == "Strict"
    kept_turn = turn[0]                  # what a browser that kept the cookie would send
    assert_private_address(page, "Flat 1", "/tablet/order")
    checks(page, "pledge screen")
    taps(page.get_by_role("button", name="One more Tinned tomatoes"))
    expect(page.get_by_role("status")).to_have_text("You want 1 of Tinned tomatoes. Saved.")
    expect(page.locator(f"#item-{tomatoes} .count")).to_have_text("You want 1")
    expect(page.locator(".done-bar p")).to_have_text(re.compile(r"^Flat 1 · 1 item · up to "))
    checks(page, "pledge screen after +")
    screenshots.save(page, "tablet-order")
    assert quantity(live_app, flat1, tomatoes) == 1

    with page.expect_response(lambda r: r.url.endswith("/tablet/done")) as answered:
        taps(page.get_by_role("button", name="Done"))
    done = answered.value
    assert done.status == 303
    assert done.all_headers().get("clear-site-data") == '"cache", "storage"'
    assert "no-store" in done.all_headers().get("cache-control", "")

    expect(heading(page)).to_have_text("Thank you. Your order is saved.")
    assert taps.count == 4 <= MAX_TAPS, f"{taps.count} taps from the list to Done"
    assert visits(live_app) == [("Flat 1", "done")]
    expect(page.get_by_text("1 × Tinned tomatoes")).to_be_visible()  # what A ordered
    page.clock.fast_forward(15_000)  # not yet: with the summary it waits 20 s
    expect(heading(page)).to_have_text("Thank you. Your order is saved.")
    checks(page, "thank-you, with what was ordered")
    page.clock.fast_forward(5_500)   # 20 s after it opened: back to the list by itself
    expect(page).to_have_url(LIST)
    expect(heading(page)).to_have_text("Tap your flat")

    # Resident B: nothing of A's turn is left to reach.
    assert not [c for c in context.cookies() if c["name"] == "bulkbuy_turn"]
    assert {c["name"] for c in context.cookies()} >= {"bulkbuy_tablet"}
    stored = page.evaluate("""async () => ({
        local: localStorage.length, session: sessionStorage.length,
        idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
        caches: (await caches.keys()).length})""")
    assert stored == {"local": 0, "session": 0, "idb": 0, "caches": 0}

    # Back through every page of the visit, reloading each GET page on the way.
    for _ in range(4):
        try:
            page.go_back()
        except PlaywrightError as refused:
            # The PIN page was the answer to a POST (the tile tap): Chromium will not
            # resend it unasked. Reloading it does resend it: see the next test.
            assert "ERR_CACHE_MISS" in str(refused), refused
            assert_not_a_turn(page, "Flat 1")
            continue
        page.wait_for_load_state()
        assert_not_a_turn(page, "Flat 1")
        expect(heading(page)).to_have_text("Tap your flat")
        page.reload()
        assert_not_a_turn(page, "Flat 1")
        expect(heading(page)).to_have_text("Tap your flat")

    page.goto("/tablet/order")
    expect(page).to_have_url(LIST)
    expect(page.get_by_role("alert")).to_have_text(
        "Your turn is over, and your order is saved. Tap your flat to start again.")
    assert_not_a_turn(page, "Flat 1")

    # A's "+" sent again with A's old turn cookie (as if the browser had kept it):
    # the ended turn is not found, so it goes to the list and changes nothing.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    context.add_cookies([kept_turn])
    replay = page.request.post("/tablet/pledge", max_redirects=0, form={
        "csrf_token": token, "item_id": str(tomatoes), "quantity": "2"})
    assert replay.status == 303 and replay.headers["location"].endswith("/tablet/")
    assert "bulkbuy_turn=;" in replay.headers.get("set-cookie", "")      # deleted again
    assert quantity(live_app, flat1, tomatoes) == 1
    context.clear_cookies(name="bulkbuy_turn")

    # The list's filter (with the "turn has ended" alert still shown), then B's turn.
    page.get_by_label("Find your flat").fill("flat 2")
    expect(page.get_by_role("button", name="Flat 1", exact=True)).to_be_hidden()
    page.get_by_label("Find your flat").fill("flat 99")
    expect(page.get_by_text("No flat matches. Not on the list? Ask a helper.")).to_be_visible()
    checks(page, "household list: turn-ended alert, filter matching nothing")
    page.get_by_label("Find your flat").fill("2")
    enter_pin(page, "Flat 2", PINS["Flat 2"])
    expect(heading(page)).to_have_text("Your order")
    expect(page.locator(f"#item-{tomatoes} .count")).to_have_text("You want 0")
    expect(page.locator(".done-bar p")).to_have_text(re.compile(r"^Flat 2 · nothing ordered yet$"))
    assert "Flat 1" not in page.locator("body").inner_text()
    page.get_by_role("button", name="Done").click()
    expect(heading(page)).to_have_text("Thank you. Your order is saved.")
    assert visits(live_app) == [("Flat 1", "done"), ("Flat 2", "done")]
    assert quantity(live_app, flat2, tomatoes) == 0
    checks.assert_clean()


def test_back_and_reload_after_done_never_show_the_last_flat(live_app, tablet_page):
    """docs/pages.md, "The shared tablet": A orders and taps Done; going back and reloading
    show nothing of A, at every step back. (The journey above does not reload the "Confirm
    Form Resubmission" page.)"""
    data = make_drop_in(live_app)
    page = tablet_page
    start_tablet(page, data["worker"])
    enter_pin(page, "Flat 1", PINS["Flat 1"])
    expect(heading(page)).to_have_text("Your order")
    page.get_by_role("button", name="Done").click()
    expect(heading(page)).to_have_text("Thank you. Your order is saved.")
    page.clock.fast_forward(20_500)  # 20 s with the summary of what was ordered
    expect(page).to_have_url(LIST)

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    for _ in range(4):
        try:
            page.go_back()
        except PlaywrightError as refused:
            assert "ERR_CACHE_MISS" in str(refused), refused
        assert_not_a_turn(page, "Flat 1")
        page.reload()
        assert_not_a_turn(page, "Flat 1")
    assert posts == [], f"going back and reloading sent these forms again: {posts}"


def test_idle_turn_warns_then_returns_to_the_list_on_its_own(live_app, tablet_page):
    data = make_drop_in(live_app)
    page, checks = tablet_page, TabletChecks()
    start_tablet(page, data["worker"])
    enter_pin(page, "Flat 1", PINS["Flat 1"])
    expect(heading(page)).to_have_text("Your order")
    warn, idle = live_app.config["TABLET_WARN_SECONDS"], live_app.config["TABLET_IDLE_SECONDS"]
    assert 10 <= warn < idle   # 90 and 120 unless the environment says otherwise
    assert page.locator("body").get_attribute("data-warn-seconds") == str(warn)
    assert page.locator("body").get_attribute("data-idle-seconds") == str(idle)
    dialog = page.get_by_role("alertdialog", name="Are you still there?")

    page.clock.fast_forward((warn - 10) * 1000)
    expect(dialog).to_be_hidden()
    page.clock.fast_forward(11_000)  # warn + 1 s idle
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("We will go back to the list soon")
    # The page counts from the server's last note of the resident, less a 2 s margin
    # (tablet.js), so it shows a few seconds fewer than idle - warn.
    left = idle - warn
    shown = "|".join(str(n) for n in range(left - 5, left + 1))
    expect(dialog.locator("#idle-count")).to_have_text(
        re.compile(rf"^({shown}) seconds left\.$"))
    keep_going = dialog.get_by_role("button", name="Yes, keep going")
    expect(keep_going).to_be_focused()
    page.keyboard.press("Tab")  # a modal warning: Tab stays on its one button
    expect(keep_going).to_be_focused()
    checks(page, "idle warning")

    with page.expect_response(lambda r: r.url.endswith("/tablet/still-here")) as answered:
        keep_going.click()
    assert answered.value.status == 200
    expect(dialog).to_be_hidden()
    assert visits(live_app) == [("Flat 1", None)]    # the turn goes on

    page.clock.fast_forward((warn - 5) * 1000)   # the timer started again: no warning yet
    expect(dialog).to_be_hidden()
    expect(heading(page)).to_have_text("Your order")
    page.clock.fast_forward(6_000)               # warn + 1 s since "Yes, keep going"
    expect(dialog).to_be_visible()

    # Left alone: at the idle limit the page sends Done itself (reason "idle").
    with page.expect_response(lambda r: r.url.endswith("/tablet/done")) as answered:
        page.clock.fast_forward(left * 1000)
    assert answered.value.all_headers().get("clear-site-data") == '"cache", "storage"'
    expect(page).to_have_url(re.compile(r"/tablet/thanks$"))   # as Done does (docs/pages.md)
    expect(heading(page)).to_have_text("Thank you. Your order is saved.")
    page.clock.fast_forward(10_500)
    expect(page).to_have_url(LIST)
    expect(heading(page)).to_have_text("Tap your flat")
    assert visits(live_app) == [("Flat 1", "idle")]
    assert not [c for c in page.context.cookies() if c["name"] == "bulkbuy_turn"]

    # The server ends an idle turn too, when the page could not (a dead tablet, no JS).
    enter_pin(page, "Flat 2", PINS["Flat 2"])
    expect(heading(page)).to_have_text("Your order")
    with live_app.app_context():
        turn = db.session.scalars(select(TabletVisit).where(TabletVisit.ended_at.is_(None))).one()
        turn.last_seen_at = utcnow() - timedelta(seconds=idle + 1)
        db.session.commit()
        db.session.remove()
    page.reload()
    expect(page).to_have_url(LIST)
    expect(page.get_by_role("alert")).to_contain_text("Your turn is over")
    assert visits(live_app) == [("Flat 1", "idle"), ("Flat 2", "idle")]

    # A flat tapped and left on its PIN page (which names the flat) goes back too,
    # counted from the last key pressed there.
    page.get_by_role("button", name="Flat 1", exact=True).click()
    expect(heading(page)).to_have_text("Enter the PIN for Flat 1")
    page.clock.fast_forward((idle - 10) * 1000)
    page.get_by_label("Your 4-number PIN").press("1")
    page.clock.fast_forward((idle - 10) * 1000)
    expect(heading(page)).to_have_text("Enter the PIN for Flat 1")
    page.clock.fast_forward(11_000)
    expect(page).to_have_url(LIST)
    expect(heading(page)).to_have_text("Tap your flat")
    checks.assert_clean()


def test_five_wrong_pins_lock_the_flat(live_app, tablet_page):
    data = make_drop_in(live_app)
    page, checks = tablet_page, TabletChecks()
    start_tablet(page, data["worker"])
    page.get_by_role("button", name="Flat 1", exact=True).click()
    pin_box = page.get_by_label("Your 4-number PIN")
    messages = [f"That PIN is not right. You can try {n} more time{'s' if n != 1 else ''}."
                for n in (4, 3, 2, 1)]
    messages.append("That PIN was wrong 5 times, so it is locked for 15 minutes. Ask a helper.")
    for number, message in enumerate(messages, start=1):
        pin_box.fill("0000")
        with page.expect_response(lambda r: r.url.endswith("/tablet/pin")) as answered:
            page.get_by_role("button", name="Continue").click()
        assert answered.value.status == 400
        expect(page).to_have_title(re.compile(r"^Error: "))
        summary = page.locator(".error-summary")
        expect(summary).to_be_focused()
        expect(summary.get_by_role("link")).to_have_text(message)
        expect(page.locator("#pin-error")).to_have_text(f"Error: {message}")
        if number in (1, 5):
            checks(page, f"PIN error {number}")

    pin_box.fill(PINS["Flat 1"])                         # the right PIN, now refused
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#pin-error")).to_contain_text(
        "This PIN is locked for 15 more minutes after 5 wrong tries. Ask a helper.")
    expect(heading(page)).to_have_text("Enter the PIN for Flat 1")
    assert visits(live_app) == []
    with live_app.app_context():
        locked = db.session.get(Household, data["homes"]["Flat 1"]).pin_locked_until
        db.session.remove()
    assert locked is not None and locked > utcnow() + timedelta(minutes=14)

    # The worker, who knows this person, unlocks in person with their password.
    page.get_by_text("Forgotten it? Ask a helper").click()
    checks(page, "PIN page, helper box open")
    page.get_by_label("Helper: I know this person. My password").fill(PASSWORD)
    page.get_by_role("button", name="Helper: confirm in person").click()
    expect(heading(page)).to_have_text("Your order")
    assert visits(live_app) == [("Flat 1", None)]
    checks.assert_clean()


def test_leaving_tablet_mode_needs_the_workers_password(live_app, tablet_page):
    data = make_drop_in(live_app)
    page, checks = tablet_page, TabletChecks()
    start_tablet(page, data["worker"])

    for address in ("/my-orders", "/", f"/rounds/{data['round_id']}", "/organise/", "/login"):
        page.goto(address)
        expect(page).to_have_url(LIST)
        expect(heading(page)).to_have_text("Tap your flat")

    page.get_by_role("link", name="Helper: leave tablet mode").click()
    expect(heading(page)).to_have_text("Helper: leave tablet mode")
    checks(page, "leave tablet mode")
    page.get_by_label("Your password").fill("not the password")
    with page.expect_response(lambda r: r.url.endswith("/tablet/leave")) as answered:
        page.get_by_role("button", name="Leave tablet mode").click()
    assert answered.value.status == 400
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text("That is not the helper's password.")
    checks(page, "leave tablet mode, wrong password")
    checks.require(page.title().startswith("Error: "),   # docs/pages.md "Errors", like the PIN page
                   f"[leave tablet mode, wrong password] <title> is {page.title()!r}: "
                   "it should start 'Error: '")
    page.goto("/my-orders")
    expect(page).to_have_url(LIST)                      # still in tablet mode

    page.get_by_role("link", name="Helper: leave tablet mode").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Leave tablet mode").click()
    expect(heading(page)).to_have_text("Drop-in session sheet")
    check_page(page)                                     # a worker's page again: 44px rules
    # Its print button (shown by print.js) asks the browser to print; the print dialog
    # itself is the browser's, so window.print is replaced to see that it was asked.
    page.evaluate("window.print = () => { window.bulkbuyPrinted = true; }")
    page.get_by_role("button", name="Print this sheet").click()
    assert page.evaluate("window.bulkbuyPrinted === true")
    page.goto("/tablet/")
    expect(page).to_have_url(re.compile(r"/tablet/start$"))
    page.goto("/organise/")
    expect(page).to_have_url(re.compile(r"/organise/"))
    checks.assert_clean()


# --- journey 4b -------------------------------------------------------------------------------

def test_helper_takes_an_assisted_households_cash_at_the_tablet(live_app, tablet_page):
    with live_app.app_context():
        made = factories.world()
        now = utcnow()
        home = tablet.create_assisted_household(made.group, "Flat 7", "Birch House",
                                                ASSISTED_PIN, actor=made.worker, now=now)
        tomatoes = db.session.scalars(select(RoundItem).where(
            RoundItem.round_id == made.round.id, RoundItem.name == "Tinned tomatoes")).one()
        pledges.set_pledge(tomatoes, home, 12, 0, entered_by=made.worker, now=now,
                           max_units=live_app.config["MAX_UNITS_PER_PLEDGE"])
        db.session.commit()
        closed = closing.close_round(made.round.id, made.round.closes_at + timedelta(minutes=1))
        db.session.commit()
        assert closed is not None and closed.status == "closed"
        statement = db.session.scalars(
            select(Statement).where(Statement.household_id == home.id)).one()
        statement_id, total = statement.id, statement.total_pence
        worker_email = made.worker.email
        db.session.remove()
    assert total == 1000

    page, checks = tablet_page, TabletChecks()
    start_tablet(page, worker_email)
    expect(page.get_by_role("navigation", name="Blocks")).to_be_visible()   # two blocks
    checks(page, "household list with blocks")
    enter_pin(page, "Flat 7", ASSISTED_PIN)
    expect(heading(page)).to_have_text("Your order")
    expect(page.get_by_text("There is nothing to order right now.")).to_be_visible()
    bill = page.locator(f"#bill-{statement_id}")
    expect(bill).to_contain_text("Test round: you owe £10.")
    checks(page, "pledge screen with a bill")

    bill.get_by_text("Helper: take cash").click()
    expect(bill.get_by_label("Cash taken, in pounds")).to_have_value("10.00")
    checks(page, "pledge screen, take cash open")
    bill.get_by_label("Receipt number").fill("R-7")
    bill.get_by_label("Helper's password").fill(PASSWORD)
    bill.get_by_role("button", name="Record cash").click()
    expect(page.get_by_role("status")).to_have_text("Cash recorded: £10.")
    expect(page.locator(f"#bill-{statement_id}")).to_have_count(0)   # nothing left to pay
    checks(page, "pledge screen after cash")
    with live_app.app_context():
        paid = db.session.get(Statement, statement_id)
        assert (paid.payment_status, paid.paid_pence) == ("paid", 1000)
        db.session.remove()
    page.get_by_role("button", name="Done").click()
    expect(heading(page)).to_have_text("Thank you. Your order is saved.")
    checks.assert_clean()


# --- README screenshots of the other main screens -----------------------------------------

def test_screenshots_of_the_round_page_and_the_order_sheet(live_app, new_context):
    data = make_drop_in(live_app)
    tomatoes = data["items"]["Tinned tomatoes"]

    resident = new_context().new_page()                  # 360x640, a phone
    sign_in(resident, "r1@oak.test")
    resident.goto(f"/rounds/{data['round_id']}")
    resident.get_by_role("button", name="One more Tinned tomatoes").click()
    expect(resident.get_by_role("status")).to_have_text("You want 1 of Tinned tomatoes. Saved.")
    resident.evaluate("window.scrollTo(0, 0)")
    screenshots.save(resident, "resident-round-page", full_page=True)

    with live_app.app_context():
        item = db.session.get(RoundItem, tomatoes)
        home = db.session.get(Household, data["homes"]["Flat 2"])
        neighbour = db.session.scalars(select(User).where(User.email == "r2@oak.test")).one()
        pledges.set_pledge(item, home, 11, 0, entered_by=neighbour, now=utcnow(),
                           max_units=live_app.config["MAX_UNITS_PER_PLEDGE"])
        db.session.commit()
        closing.close_round(data["round_id"], item.round.closes_at + timedelta(minutes=1))
        db.session.commit()
        db.session.remove()

    organiser = new_context(viewport={"width": 1024, "height": 768}).new_page()
    sign_in(organiser, data["organiser"])
    organiser.goto(f"/organise/{data['group_id']}/rounds/{data['round_id']}/order-sheet")
    expect(heading(organiser)).to_have_text("Order for Wholesaler")
    expect(organiser.get_by_role("row", name=re.compile("Tinned tomatoes"))).to_contain_text("£10")
    screenshots.save(organiser, "organiser-order-sheet", full_page=True)
    for name in ("resident-round-page", "organiser-order-sheet"):
        assert (screenshots.directory() / f"{name}.png").stat().st_size > 1000
