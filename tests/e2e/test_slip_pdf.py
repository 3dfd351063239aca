"""A printed slip fits one A4 page, and a round's slips print one a page (issue #16,
point 3), in Debian's Chromium: the page printed to PDF, its pages counted.

The world is tests/integration/test_slips.py's, with a short delivery (so the slip also
says what changed and why) and cash paid, so it is as long as a slip gets in practice."""

from __future__ import annotations

import re

from bulkbuy.extensions import db
from bulkbuy.models import Round, Statement, utcnow
from bulkbuy.services import delivery
from bulkbuy.services.payments import cash as cash_service
from tests import factories
from tests.e2e.conftest import check_page
from tests.integration.test_slips import _slip_world

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    expect = None


def _pages(pdf: bytes) -> int:
    """Page objects in the PDF ("/Type /Page", not the "/Type /Pages" tree)."""
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def _world(live_app) -> dict:
    with live_app.app_context():
        w = _slip_world()
        flat3 = w.extra["flat3"]
        statement = db.session.query(Statement).filter_by(household_id=flat3.id).one()
        cash_service.record_cash(statement, 200, "R-1", actor=w.worker, now=utcnow())
        db.session.commit()
        delivery.record_delivery(db.session.get(Round, w.round.id),
                                 [delivery.Arrived(w.extra["tins"].id, 12, 3)], [], None,
                                 drawn_version=0, actor=w.organiser, now=utcnow())
        db.session.commit()
        ids = {"group": w.group.id, "round": w.round.id, "flat3": flat3.id,
               "worker": w.worker.email}
        db.session.remove()
    return ids


def test_a_slip_prints_on_one_a4_page_and_a_rounds_slips_one_a_page(live_app, new_context):
    ids = _world(live_app)
    page = new_context().new_page()
    page.goto("/login")
    page.get_by_label("Email address").fill(ids["worker"])
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))

    page.goto(f"/organise/{ids['group']}/rounds/{ids['round']}/slips/{ids['flat3']}")
    expect(page.locator("article.paper-slip")).to_have_attribute("lang", "pl")
    expect(page.get_by_role("button", name="Print")).to_be_visible()  # print.js ran
    check_page(page)
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    one = page.pdf(format="A4")
    assert one.startswith(b"%PDF-")
    assert _pages(one) == 1

    page.emulate_media(media="screen")
    page.goto(f"/organise/{ids['group']}/rounds/{ids['round']}/slips")
    expect(page.locator("article.paper-slip")).to_have_count(2)  # Flats 2 and 3
    check_page(page)
    page.emulate_media(media="print")
    assert _pages(page.pdf(format="A4")) == 2
