"""The pages residents read, in every language we offer, checked in a real browser.

The English pass is tests/e2e/test_every_page.py (every page, every role, keyboard too).
Here each other language (Polish, Romanian, Urdu: right to left) gets the pages anyone
and residents open (the GET pages of PAGES, not a form's error states, which are sent
with English button names), asked for by the browser's Accept-Language, with the same
checks: axe-core (WCAG 2.2 A and AA) with zero violations, 44 px targets at 360x640 and
1280x800, and no horizontal scroll at 320 px (Polish words run long). The tablet's pages
in Polish and Urdu are in tests/e2e/test_tablet_languages.py (a turn's language is picked
on the tablet, not asked for by the browser).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bulkbuy import i18n
from tests.e2e.test_every_page import (
    ANON,
    EMAILS,
    PAGES,
    PASSWORD,
    PHONE,
    RESIDENT,
    STARTER,
    Problem,
    _rule_of,
    build_world,
    check_visit,
    report,
)

OTHER_LANGUAGES = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]
ROLES = (ANON, RESIDENT, STARTER)


def _sign_in(page, email: str) -> None:
    """The sign-in form by its fields' names (its words are in the page's language)."""
    page.goto("/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) button[type=submit]").click()
    assert urlsplit(page.url).path == "/", f"{email} could not sign in: still on {page.url}"


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_residents_pages_in_every_language(live_app, new_context, code):
    ids = build_world(live_app)
    problems: list[Problem] = []
    visited = 0
    for role in ROLES:
        page = new_context(viewport=PHONE,
                           extra_http_headers={"Accept-Language": code}).new_page()
        if role != ANON:
            _sign_in(page, EMAILS[role])
        for visit in (v for v in PAGES if v.role == role and v.then is None):
            page.goto(visit.url.format(**ids))
            visited += 1
            path = urlsplit(page.url).path
            where = f"[{role}, {code}] {path} ({visit.state})"
            status = page.evaluate(
                "performance.getEntriesByType('navigation')[0].responseStatus")
            if status != visit.status or _rule_of(live_app, path) != visit.rule:
                problems.append(Problem("page", f"{where}: expected HTTP {visit.status}",
                                        f"got HTTP {status} at {page.url}", where))
                continue
            lang, direction = page.evaluate(
                "[document.documentElement.lang, document.documentElement.dir]")
            if (lang, direction) != (code, i18n.direction(code)):
                problems.append(Problem(
                    "language", f"{where}: <html lang={lang} dir={direction}>",
                    f"expected lang={code} dir={i18n.direction(code)}", where))
            problems += check_visit(page, visit, where)
        page.context.close()
    assert visited > 10
    if problems:
        pytest.fail(report(problems, visited), pytrace=False)
