"""A turn at the tablet in the resident's own language (#16), in Debian's Chromium at
tablet size (800x1280): pick the language on the list, enter the PIN, order with "+",
say "I'll take up to 1 more to fill a case" with its "+", and tap Done; the language ends
with the turn. One journey each in Urdu (right to left), Polish and Romanian.

Every page on the way is checked by test_tablet_journeys.TabletChecks (zero axe
violations, every control at least 64x64 px at 800x1280, no sideways scroll at 320 px).
It finds controls by their form names and checks `lang`/`dir`, not translated words
(tests/unit/test_catalogues.py checks every word has its translation). Screenshots:
tablet-urdu.png, tablet-polish.png and tablet-romanian.png (tests/e2e/screenshots.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import PledgeLine, TabletVisit
from tests.e2e import screenshots
from tests.e2e.test_tablet_journeys import (
    LIST,
    PINS,
    TabletChecks,
    make_drop_in,
    start_tablet,
)

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    Page = expect = None

TABLET = {"width": 800, "height": 1280}


@pytest.fixture
def tablet_page(new_context) -> Page:
    return new_context(viewport=TABLET).new_page()


def _wanted(live_app, household_id: int, item_id: int) -> tuple[int, int]:
    with live_app.app_context():
        found = db.session.execute(
            select(func.coalesce(func.sum(PledgeLine.quantity), 0),
                   func.coalesce(func.sum(PledgeLine.tolerance), 0))
            .where(PledgeLine.household_id == household_id,
                   PledgeLine.round_item_id == item_id)).one()
        db.session.remove()
    return tuple(found)


def _turn_locales(live_app) -> list[tuple[str | None, str | None]]:
    with live_app.app_context():
        rows = db.session.execute(select(TabletVisit.locale, TabletVisit.end_reason)
                                  .order_by(TabletVisit.id)).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def _html(page: Page):
    return page.locator("html")


def _submit(page: Page, locator) -> None:
    with page.expect_navigation():
        locator.click()


@pytest.mark.parametrize("code, name, direction, shot", [
    ("ur", "اردو", "rtl", "tablet-urdu"),
    ("pl", "Polski", "ltr", "tablet-polish"),
    ("ro", "Română", "ltr", "tablet-romanian"),
])
def test_a_turn_in_the_residents_language(live_app, tablet_page, code, name, direction,
                                          shot):
    data = make_drop_in(live_app)
    tomatoes = data["items"]["Tinned tomatoes"]
    flat1 = data["homes"]["Flat 1"]
    page, checks = tablet_page, TabletChecks()

    start_tablet(page, data["worker"])
    expect(_html(page)).to_have_attribute("lang", "en")
    picker = page.locator(f'form.language-picker button[name="lang"][value="{code}"]')
    expect(picker).to_have_text(name)
    expect(picker).to_have_attribute("lang", code)
    expect(picker).to_have_attribute("dir", direction)
    _submit(page, picker)

    expect(page).to_have_url(LIST)
    expect(_html(page)).to_have_attribute("lang", code)
    expect(_html(page)).to_have_attribute("dir", direction)
    expect(page.locator(f'button[name="lang"][value="{code}"]')).to_have_attribute(
        "aria-pressed", "true")
    checks(page, f"household list ({code})")

    _submit(page, page.locator(f'button[name="household_id"][value="{flat1}"]'))
    expect(_html(page)).to_have_attribute("lang", code)
    checks(page, f"PIN entry ({code})")
    page.locator("#pin").fill(PINS["Flat 1"])
    _submit(page, page.locator('form:has(#pin) button[type="submit"]'))
    expect(page.locator("body[data-turn=open]")).to_have_count(1)
    expect(_html(page)).to_have_attribute("dir", direction)

    card = page.locator(f"#item-{tomatoes}")
    _submit(page, card.locator('button[name="quantity"]').last)   # "+"
    expect(card.locator(".tablet-stepper .count").first).to_contain_text("1")
    more = card.locator('form[action="/tablet/take-more"]')
    expect(more).to_have_attribute("dir", "ltr")
    # − is left of the number and + right of it, even right to left.
    minus, plus = more.locator("button").first, more.locator("button").last
    assert minus.bounding_box()["x"] < plus.bounding_box()["x"]
    _submit(page, more.locator('button[name="tolerance"]').last)   # "+": up to 1 more
    card = page.locator(f"#item-{tomatoes}")
    expect(card.locator('form[action="/tablet/take-more"] .count-more')).to_contain_text("1")
    expect(_html(page)).to_have_attribute("lang", code)
    checks(page, f"your order, take more ({code})")
    screenshots.save(page, shot)
    assert _wanted(live_app, flat1, tomatoes) == (1, 1)

    _submit(page, page.locator("#done-form button[type=submit]"))
    # The thanks and what they ordered, straight after Done, are still in their language,
    expect(_html(page)).to_have_attribute("lang", code)
    expect(_html(page)).to_have_attribute("dir", direction)
    expect(page.locator("main")).not_to_contain_text("Thank you")
    checks(page, f"thank you ({code})")
    page.reload()  # but only once: the language ended with the turn
    expect(_html(page)).to_have_attribute("lang", "en")
    expect(page.locator("main")).to_contain_text("Thank you")
    checks(page, f"thank you ({code} turn over)")
    assert _turn_locales(live_app) == [(code, "done")]
    checks.assert_clean()
