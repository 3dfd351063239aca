"""People and accounts in Debian's Chromium, at phone size (#15's journey).

An organiser invites a community worker by a link shown on screen; the worker makes her
account from it, runs a drop-in at the tablet for an assisted household, then makes an
invite link for that same flat; a resident of the flat makes her own account from it and
is in that household; she forgets her password, takes the reset link from the e-mail
(sent from the outbox to a real SMTP server on loopback, aiosmtpd) and chooses a new
one; she downloads her household's data as a zip. Every new page visited gets
`check_page` (axe, target sizes, 320px reflow).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from urllib.parse import urlsplit

from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import Household, Membership, PledgeLine, RoundItem, User, utcnow
from bulkbuy.services import tablet
from tests import factories
from tests.e2e.conftest import PHONE, check_page
from tests.integration.test_mail import SMTPServer, free_port

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    expect = None

PASSWORD = factories.PASSWORD
NEW_PASSWORD = "a new password 42"
TABLET = {"width": 800, "height": 1280}
FLAT, BLOCK, PIN = "Ground floor 1", "Block A", "1357"


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def heading(page):
    return page.get_by_role("heading", level=1)


def path_of(url: str) -> str:
    """The link's path: the page goes to it on the live server, whatever BASE_URL says."""
    return urlsplit(url).path


def make_account(page, name: str, email: str) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("Type the password again").fill(PASSWORD)
    page.get_by_role("button", name="Make my account and join").click()


def test_invited_worker_helps_a_flat_to_its_own_account_which_resets_and_downloads(
        live_app, new_context, monkeypatch):
    smtp = SMTPServer(free_port())
    smtp.start()
    try:
        _journey(live_app, new_context, monkeypatch, smtp)
    finally:
        smtp.stop()


def _journey(live_app, new_context, monkeypatch, smtp) -> None:
    for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port,
                       "MAIL_TIMEOUT": 5, "MAIL_FROM": "bulkbuy <no-reply@bulkbuy.test>"}.items():
        monkeypatch.setitem(live_app.config, key, value)
    with live_app.app_context():
        made = factories.world()
        home = tablet.create_assisted_household(made.group, FLAT, BLOCK, PIN,
                                                actor=made.organiser, now=utcnow())
        db.session.commit()
        group_id, round_id, home_id = made.group.id, made.round.id, home.id
        tomatoes = db.session.scalars(select(RoundItem.id).where(
            RoundItem.round_id == round_id, RoundItem.name == "Tinned tomatoes")).one()
        db.session.remove()

    # 1. The organiser invites a community worker, with no e-mail: a link to give her.
    organiser = new_context().new_page()
    sign_in(organiser, "org@oak.test")
    organiser.goto(f"/organise/{group_id}/staff")
    expect(heading(organiser)).to_have_text("Staff of Oak Estate")
    check_page(organiser)
    invite_form = organiser.locator("form").filter(
        has=organiser.get_by_role("button", name="Make invite"))
    expect(invite_form.get_by_label("Community worker")).to_be_checked()
    invite_form.get_by_label("Their e-mail address (optional)").fill("")
    invite_form.get_by_role("button", name="Make invite").click()
    expect(heading(organiser)).to_have_text("Invite to Oak Estate")
    expect(organiser.locator(".qr-code svg")).to_be_visible()
    check_page(organiser)
    staff_link = organiser.locator("#invite-link").inner_text().strip()
    assert "/invite/staff/" in staff_link, staff_link

    # 2. The worker opens it, makes her account and is a community worker.
    worker = new_context().new_page()
    worker.goto(path_of(staff_link))
    expect(heading(worker)).to_have_text("Join Oak Estate as a community worker")
    expect(worker.get_by_text("Olive Organiser invited you.")).to_be_visible()
    check_page(worker)
    make_account(worker, "Wanda Worker", "wanda@oak.test")
    expect(worker.get_by_text("Welcome to Oak Estate.")).to_be_visible()
    with live_app.app_context():
        wanda = db.session.scalars(select(User).where(User.email == "wanda@oak.test")).one()
        roles = [(m.group_id, m.role) for m in wanda.memberships]
        db.session.remove()
    assert roles == [(group_id, "worker")]

    # 3. She runs a drop-in (at tablet size): the flat's PIN, one tin, Done; she leaves.
    worker.set_viewport_size(TABLET)
    worker.goto("/tablet/start")
    expect(heading(worker)).to_have_text("Start the tablet for a drop-in")
    worker.get_by_role("button", name="Start the tablet").click()
    expect(heading(worker)).to_have_text("Tap your flat")
    worker.get_by_role("button", name=FLAT, exact=True).click()
    expect(heading(worker)).to_have_text(f"Enter the PIN for {FLAT}")
    worker.get_by_label("Your 4-number PIN").fill(PIN)
    worker.get_by_role("button", name="Continue").click()
    expect(heading(worker)).to_have_text("Your order")
    worker.get_by_role("button", name="One more Tinned tomatoes").click()
    expect(worker.get_by_role("status")).to_have_text("You want 1 of Tinned tomatoes. Saved.")
    worker.get_by_role("button", name="Done").click()
    expect(heading(worker)).to_have_text("Thank you. Your order is saved.")
    with live_app.app_context():
        ordered = db.session.execute(select(PledgeLine.household_id, PledgeLine.quantity).where(
            PledgeLine.round_item_id == tomatoes)).all()
        db.session.remove()
    assert [tuple(line) for line in ordered] == [(home_id, 1)]
    worker.goto("/tablet/")
    worker.get_by_role("link", name="Helper: leave tablet mode").click()
    worker.get_by_label("Your password").fill(PASSWORD)
    worker.get_by_role("button", name="Leave tablet mode").click()
    expect(heading(worker)).to_have_text("Drop-in session sheet")
    worker.set_viewport_size(PHONE)

    # 4. The flat wants its own account: she makes an invite link for it.
    worker.goto(f"/organise/{group_id}/households")
    expect(heading(worker)).to_have_text("Households in Oak Estate")
    check_page(worker)
    row = worker.locator(f"#household-{home_id}")
    row.locator("summary").filter(has_text="Manage").click()
    invite = row.locator("form").filter(
        has=worker.get_by_role("button", name=f"Make an invite link for {FLAT}"))
    expect(invite.get_by_label("Their e-mail address (optional)")).to_be_visible()
    check_page(worker)                                        # with Manage open
    invite.get_by_role("button", name=f"Make an invite link for {FLAT}").click()
    expect(heading(worker)).to_have_text(f"Invite link for {FLAT}")
    check_page(worker)
    household_link = worker.get_by_label("The link").input_value()
    assert "/invite/household/" in household_link, household_link

    # 5. Gina, of that flat, makes her account from it and is in that household.
    gina = new_context().new_page()
    gina.goto(path_of(household_link))
    expect(heading(gina)).to_have_text(f"Join {FLAT} in Oak Estate")
    expect(gina.get_by_text("Wanda Worker invited you")).to_be_visible()
    check_page(gina)
    make_account(gina, "Gina", "gina@oak.test")
    expect(gina.get_by_text(f"Welcome to Oak Estate. You are part of {FLAT}.")).to_be_visible()
    with live_app.app_context():
        joined = db.session.scalars(select(Membership).join(User).where(
            User.email == "gina@oak.test")).one()
        assert (joined.group_id, joined.household_id) == (group_id, home_id)
        kept = db.session.get(Household, home_id)
        assert kept.label == FLAT and kept.pin_hash is not None  # the tablet still works
        db.session.remove()

    # 6. She signs out, forgets her password, and takes the link from the e-mail.
    gina.get_by_role("button", name="Sign out").click()
    gina.goto("/login")
    gina.get_by_role("link", name="Forgot your password?").click()
    expect(heading(gina)).to_have_text("Forgot your password?")
    check_page(gina)
    gina.get_by_label("Email address").fill("gina@oak.test")
    gina.get_by_role("button", name="Send me a link").click()
    expect(heading(gina)).to_have_text("Check your e-mail")
    check_page(gina)
    with live_app.app_context():
        sweeps.send_outbox(utcnow())
        db.session.remove()
    resets = [message for rcpt, message in smtp.inbox.messages if rcpt == ["gina@oak.test"]]
    assert len(resets) == 1, [rcpt for rcpt, _message in smtp.inbox.messages]
    assert resets[0]["Subject"] == "Choose a new password"
    found = re.search(r"\S+/password/reset/\S+", resets[0].get_body().get_content())
    assert found, resets[0].get_body().get_content()
    gina.goto(path_of(found.group(0)))
    expect(heading(gina)).to_have_text("Choose a new password")
    check_page(gina)
    gina.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    gina.get_by_label("New password again").fill(NEW_PASSWORD)
    gina.get_by_role("button", name="Change my password").click()
    expect(gina.get_by_text("Your password is changed. Sign in with your new password.")
           ).to_be_visible()
    sign_in(gina, "gina@oak.test", NEW_PASSWORD)

    # 7. She downloads her household's data from My orders' "Your data".
    gina.goto("/my-orders")
    gina.get_by_role("link", name="Your data: download it, or ask us to erase it").click()
    expect(heading(gina)).to_have_text("Your data")
    check_page(gina)
    with gina.expect_download() as downloaded:
        gina.get_by_role("button", name="Download my data").click()
    download = downloaded.value
    assert re.fullmatch(r"bulkbuy-data-\d{4}-\d{2}-\d{2}\.zip", download.suggested_filename)
    with open(download.path(), "rb") as file:
        archive = zipfile.ZipFile(io.BytesIO(file.read()))
    names = archive.namelist()
    folder = f"household-{home_id}"
    assert "account.json" in names and f"{folder}/data.json" in names, names
    assert "gina@oak.test" in archive.read("account.json").decode()
    household_data = archive.read(f"{folder}/data.json").decode()
    assert FLAT in household_data, household_data[:400]
    json.loads(household_data)
    pledged = "".join(archive.read(name).decode() for name in names
                      if name.startswith(f"{folder}/") and name.endswith(".csv"))
    assert "Tinned tomatoes" in pledged, names       # what the flat ordered at the drop-in
