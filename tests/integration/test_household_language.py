"""Choosing a language, the rest (#16): staff set a household's language and paper news on
the households page (a household helped at the drop-in has nobody else to), e-mails to a
person are written in their language (or their household's), and a unit price is shown
in the reader's language."""

from __future__ import annotations

import flask_babel
import pytest
from sqlalchemy import select

from bulkbuy import formatting
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Household, Invite, OutboxMessage, User, utcnow
from bulkbuy.services import audit_log, emails, tablet
from tests import factories
from tests.pages import page


def url(w, household, action="/language") -> str:
    return f"/organise/{w.group.id}/households/{household.id}{action}"


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def audits(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def speaks(user: User, code: str) -> None:
    user.locale = code
    db.session.commit()


@pytest.fixture
def locales_used(monkeypatch):
    """The language in force each time an e-mail is rendered: [(e-mail name, code)]."""
    used: list[tuple[str, str]] = []
    real = emails.render_email

    def spy(name, /, **context):
        used.append((name, str(flask_babel.get_locale())))
        return real(name, **context)

    monkeypatch.setattr(emails, "render_email", spy)
    return used


def in_polish(text: str) -> str:
    with flask_babel.force_locale("pl"):
        return flask_babel.gettext(text)


# --- staff set a household's language and paper news -----------------------------------


@pytest.mark.parametrize("who", ["organiser", "worker"])
def test_staff_set_an_assisted_households_language_and_paper_news(client, auth, who):
    w = factories.world(open_round=False)
    home = tablet.create_assisted_household(w.group, "Flat 9", None, "4812",
                                            actor=w.organiser, now=utcnow())
    db.session.commit()
    auth.login(getattr(w, who).email)

    response = client.post(url(w, home), data={"locale": "pl", "paper_slips": "y"})

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"#household-{home.id}")
    saved = fresh(Household, home.id)
    assert (saved.locale, saved.paper_slips) == ("pl", True)
    [entry] = audits("household.language_set")
    assert entry.actor_id == getattr(w, who).id
    assert entry.household_id == home.id
    assert '"after": {"locale": "pl", "paper_slips": true}' in entry.details
    assert '"before": {"locale": "en", "paper_slips": false}' in entry.details
    listing = page(client.get(f"/organise/{w.group.id}/households"))
    row = listing.split(f'id="household-{home.id}"', 1)[1].split("</li>", 1)[0]
    assert "Polski" in row
    assert "News on paper too" in row
    assert '<option value="pl" lang="pl" selected>' in row

    # Saving the same again changes nothing and writes nothing.
    assert client.post(url(w, home), data={"locale": "pl-PL", "paper_slips": "y"}
                       ).status_code == 303
    assert len(audits("household.language_set")) == 1
    # Paper off, back to English.
    assert client.post(url(w, home), data={"locale": "en"}).status_code == 303
    saved = fresh(Household, home.id)
    assert (saved.locale, saved.paper_slips) == ("en", False)
    assert len(audits("household.language_set")) == 2


@pytest.mark.parametrize("code", ["xx", "", "de", "<script>", "p" * 50])
def test_a_language_not_on_the_list_is_refused_on_its_form_and_nothing_changes(
        client, auth, code):
    w = factories.world(open_round=False)
    home = w.households[0]
    auth.login(w.organiser.email)

    response = client.post(url(w, home), data={"locale": code, "paper_slips": "y"})

    assert response.status_code == 400
    shown = page(response)
    assert "Choose one of the languages on the list." in shown
    assert f'aria-describedby="locale-{home.id}-error"' in shown
    saved = fresh(Household, home.id)
    assert (saved.locale, saved.paper_slips) in ((None, False), ("en", False))
    assert audits("household.language_set") == []


def test_a_resident_cannot_set_a_households_language(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.residents[0].email)

    assert client.post(url(w, w.households[1]), data={"locale": "pl"}).status_code == 403
    assert fresh(Household, w.households[1].id).locale is None


def test_a_removed_household_is_not_found(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    home = w.households[1]
    home.removed_at = utcnow()
    db.session.commit()

    assert client.post(url(w, home), data={"locale": "pl"}).status_code == 404


def test_the_audit_log_has_words_for_a_language_change():
    assert "household.language_set" in audit_log.ACTION_WORDS


# --- e-mails to a person in their language ---------------------------------------------


def test_a_polish_persons_reset_e_mail_is_in_polish_though_the_page_is_english(
        client, locales_used):
    w = factories.world(open_round=False)
    speaks(w.residents[0], "pl")

    assert client.post("/password/forgot", data={"email": "r1@oak.test"}).status_code in (
        200, 303)

    assert ("password_reset", "pl") in locales_used
    [mail] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.to_address == "r1@oak.test",
        OutboxMessage.key.startswith("password-reset:")))
    assert mail.subject == in_polish("Choose a new password")


def test_an_english_persons_reset_e_mail_is_in_english(client, locales_used):
    factories.world(open_round=False)

    client.post("/password/forgot", data={"email": "r2@oak.test"})

    assert locales_used == [("password_reset", "en")]


def test_a_reset_link_staff_send_is_in_the_members_language(client, auth, locales_used):
    w = factories.world(open_round=False)
    speaks(w.residents[0], "ro")
    auth.login(w.organiser.email)

    response = client.post(f"/organise/{w.group.id}/households/{w.households[0].id}"
                           f"/members/{w.residents[0].id}/reset-link")

    assert response.status_code in (200, 303), page(response)
    assert ("password_reset", "ro") in locales_used


def test_e_mail_change_news_is_in_the_persons_language(client, auth, locales_used):
    w = factories.world(open_round=False)
    speaks(w.residents[0], "ur")
    auth.login("r1@oak.test")

    assert client.post("/account/email", data={
        "new_email": "nia@new.test", "email_password": factories.PASSWORD}).status_code == 303

    assert ("email_change_confirm", "ur") in locales_used
    assert ("email_change_asked", "ur") in locales_used


def test_a_household_invite_is_in_the_households_language(client, auth, locales_used):
    w = factories.world(open_round=False)
    home = w.households[1]
    home.locale = "pl"
    db.session.commit()
    auth.login(w.organiser.email)

    response = client.post(url(w, home, "/invite"), data={"email": "new@oak.test"})

    assert response.status_code == 200
    assert ("household_invite", "pl") in locales_used
    [mail] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.key.startswith("household-invite:")))
    invite = db.session.scalar(select(Invite).where(Invite.kind == "household"))
    with flask_babel.force_locale("pl"):
        polish_date = formatting.when(invite.expires_at, w.group.timezone)
    english_date = formatting.when(invite.expires_at, w.group.timezone)
    assert polish_date != english_date
    assert polish_date in mail.body  # Babel's Polish weekday and month
    assert english_date not in mail.body


def test_a_staff_invite_to_a_polish_account_is_in_polish(client, auth, locales_used):
    w = factories.world(open_round=False)
    speaks(w.residents[0], "pl")
    auth.login(w.organiser.email)

    response = client.post(f"/organise/{w.group.id}/staff/invite",
                           data={"role": "worker", "email": "r1@oak.test"})

    assert response.status_code == 303
    assert ("staff_invite", "pl") in locales_used


def test_a_staff_invite_to_an_unknown_address_is_in_the_inviters_language(
        client, auth, locales_used):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)

    client.post(f"/organise/{w.group.id}/staff/invite",
                data={"role": "worker", "email": "someone@new.test"})

    assert locales_used == [("staff_invite", "en")]


# --- unit prices in the reader's language ----------------------------------------------


def test_unit_prices_are_in_the_readers_language(client, auth):
    w = factories.world()  # tomatoes: 12 for £10 (about £0.83 each); rice: 25 for £31.50
    auth.login("r1@oak.test")
    english = page(client.get(f"/rounds/{w.round.id}"))
    assert "about £0.83 each" in english
    assert "£1.26 each" in english

    speaks(w.residents[0], "pl")
    polish = page(client.get(f"/rounds/{w.round.id}"))

    assert "0,83\xa0£" in polish
    assert "1,26\xa0£" in polish
    assert "about £0.83" not in polish
    assert "GBP" not in polish
    # The board kept for the round is the same one: English again is unchanged.
    speaks(w.residents[0], None)
    assert "about £0.83 each" in page(client.get(f"/rounds/{w.round.id}"))
