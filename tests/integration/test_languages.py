"""Choosing a language (Accept-Language, the footer's picker, a person's account), and
e-mails written in their reader's language (the household's, else the person's)."""

from __future__ import annotations

from datetime import timedelta

import flask_babel
import pytest
from sqlalchemy import select

from bulkbuy import i18n, web
from bulkbuy.extensions import db
from bulkbuy.models import Household, OutboxMessage, User
from bulkbuy.services import ServiceError, accounts, emails, notifications
from tests import factories
from tests.integration.test_mail import T0


def _html_tag(response) -> str:
    text = response.get_data(as_text=True)
    return text[text.index("<html"):text.index(">", text.index("<html")) + 1]


@pytest.mark.parametrize(("asked", "tag"), [
    ("pl", '<html lang="pl" dir="ltr">'),
    ("pl-PL,pl;q=0.9,en;q=0.5", '<html lang="pl" dir="ltr">'),
    ("ur", '<html lang="ur" dir="rtl">'),
    ("!!,;q=x", '<html lang="en" dir="ltr">'),
    ("xx", '<html lang="en" dir="ltr">'),
    ("", '<html lang="en" dir="ltr">'),
])
def test_the_browsers_language_or_english(client, asked, tag):
    response = client.get("/login", headers={"Accept-Language": asked})
    assert response.status_code == 200
    assert _html_tag(response) == tag


def test_the_footer_offers_every_language_in_itself(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'action="/language"' in page
    for code, name in i18n.choices():
        assert f'value="{code}" lang="{code}" dir="{i18n.direction(code)}"' in page
        assert f">{name}</button>" in page
    assert 'value="en" lang="en" dir="ltr" class="link-button" aria-current="true"' in page


def test_the_picker_keeps_the_choice_in_a_cookie_and_goes_back(client):
    response = client.post("/language", data={"language": "pl", "next": "/join?x=1"},
                           headers={"Accept-Language": "ro"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/join?x=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{i18n.COOKIE}=pl;")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert f"Max-Age={i18n.COOKIE_MAX_AGE}" in cookie
    # The choice beats the browser's language.
    assert _html_tag(client.get("/login", headers={"Accept-Language": "ro"})) == \
        '<html lang="pl" dir="ltr">'


@pytest.mark.parametrize("code", ["xx", "!!", "", "pl;drop table", "a" * 100])
def test_an_unknown_or_malformed_choice_is_english(client, code):
    response = client.post("/language", data={"language": code, "next": "/login"})
    assert response.status_code == 303
    assert response.headers["Set-Cookie"].startswith(f"{i18n.COOKIE}=en;")
    assert _html_tag(client.get("/login", headers={"Accept-Language": "pl"})) == \
        '<html lang="en" dir="ltr">'


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    None])
def test_the_picker_only_goes_back_to_this_site(client, target):
    data = {"language": "ro"} | ({"next": target} if target else {})
    response = client.post("/language", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_a_malformed_cookie_is_english(client):
    client.set_cookie(i18n.COOKIE, "<script>")
    response = client.get("/login", headers={"Accept-Language": "!!"})
    assert response.status_code == 200
    assert _html_tag(response) == '<html lang="en" dir="ltr">'


def test_a_signed_in_persons_choice_is_kept_and_beats_the_browser(app, client, auth):
    w = factories.world(residents=1, open_round=False)
    assert auth.login("r1@oak.test").status_code == 302
    client.post("/language", data={"language": "ur", "next": "/account"})
    db.session.expire_all()
    assert db.session.get(User, w.residents[0].id).locale == "ur"
    client.delete_cookie(i18n.COOKIE)
    response = client.get("/account", headers={"Accept-Language": "pl"})
    assert _html_tag(response) == '<html lang="ur" dir="rtl">'


def test_a_member_sets_their_households_language_on_the_account_page(app, client, auth):
    w = factories.world(residents=2, open_round=False)
    home = w.households[0]
    auth.login("r1@oak.test")
    page = client.get("/account").get_data(as_text=True)
    assert f'action="/account/household/{home.id}"' in page
    response = client.post(f"/account/household/{home.id}",
                           data={"locale": "ro", "paper_slips": "y"})
    assert response.status_code == 303
    db.session.expire_all()
    saved = db.session.get(Household, home.id)
    assert (saved.locale, saved.paper_slips) == ("ro", True)
    client.post(f"/account/household/{home.id}", data={"locale": "zz"})
    db.session.expire_all()
    saved = db.session.get(Household, home.id)
    assert (saved.locale, saved.paper_slips) == ("en", False)
    # Not their household: refused, nothing changed.
    other = w.households[1]
    assert client.post(f"/account/household/{other.id}",
                       data={"locale": "pl"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Household, other.id).locale is None


def test_only_a_member_may_set_a_households_language(app):
    w = factories.world(residents=2, open_round=False)
    with pytest.raises(ServiceError):
        accounts.set_household_language(w.residents[0], w.households[1].id, "pl", False)


def _bodies(prefix: str) -> dict[str, str]:
    return {m.to_address: m.body for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.startswith(prefix)))}


def test_an_email_is_written_in_the_households_language_else_the_persons(app):
    """No catalogue is needed to see the language a reminder was rendered in: Babel
    writes its date in that language (Polish and Romanian month names)."""
    w = factories.world(residents=3, now=T0, closes_in=timedelta(hours=20))
    w.households[0].locale = "pl"
    w.residents[0].locale = "ro"  # the household's language wins
    w.residents[1].locale = "ro"  # no household language: the person's
    w.round.opens_at = T0 - timedelta(days=3)
    db.session.commit()
    with app.test_request_context("/", headers={"Accept-Language": "ur"}):
        # Queued during someone else's (Urdu) request: that does not matter.
        assert notifications.queue_reminders(T0) == 1
        assert str(flask_babel.get_locale()) == "ur"  # and it is back afterwards
    db.session.commit()
    bodies = _bodies("reminder:")
    assert "marca" in bodies["r1@oak.test"]  # 14 March, in Polish
    assert "martie" in bodies["r2@oak.test"]  # in Romanian
    assert "Wednesday 11 March" in bodies["r3@oak.test"]
    assert "marca" not in bodies["r3@oak.test"]


def test_money_in_a_failed_rounds_email_is_the_households_way(app):
    w = factories.world(residents=2, now=T0)
    w.households[0].locale = "pl"
    w.round.min_order_pence = 123456
    w.round.closed_at = T0
    db.session.commit()
    notifications.queue_round_failed(w.round, [h.id for h in w.households])
    db.session.commit()
    bodies = _bodies("round-failed:")
    assert "1\xa0234,56\xa0£" in bodies["r1@oak.test"]
    assert "£1,234.56" in bodies["r2@oak.test"]


def test_one_email_template_renders_in_each_language_in_force(app):
    reminder = emails.template("reminder")
    context = {"name": "Ann", "round_title": "Veg", "closes_at": T0,
               "timezone": "Europe/London", "url": "http://x"}
    with app.test_request_context("/"):
        english = reminder.body(**context)
        with flask_babel.force_locale("pl"):
            polish = reminder.body(**context)
        assert reminder.body(**context) == english
    assert "March" in english and "marca" in polish


def test_the_pages_translations_follow_a_forced_language(app):
    with app.test_request_context("/", headers={"Accept-Language": "pl"}):
        polish = web._translations()
        assert polish is flask_babel.get_translations()
        with flask_babel.force_locale("ur"):
            urdu = web._translations()
            assert urdu is flask_babel.get_translations() and urdu is not polish
            with flask_babel.force_locale("en"):
                assert web._translations() is flask_babel.get_translations()
            assert web._translations() is urdu
        assert web._translations() is polish
