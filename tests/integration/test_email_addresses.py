"""An e-mail field takes one address (before, "me@example.org,other@example.net" was
stored and mail went to both): refused with a plain message, nothing written.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, User
from bulkbuy.services import ServiceError, accounts
from bulkbuy.validation import email_address
from tests import factories
from tests.pages import count, join_as_new, page

NOT_ONE = [
    "me@example.org,other@example.net",
    "me@example.org; other@example.net",
    "me@example.org other@example.net",
    "Me <me@example.org>",
    "me@@example.org",
    "me@",
    "@example.org",
    "me@example",
    "me@exa mple.org",
    "not-an-email",
]


@pytest.mark.parametrize("typed", NOT_ONE)
def test_anything_but_one_address_is_refused(typed):
    with pytest.raises(ValueError, match="Enter one email address, like name@example.com"):
        email_address(typed)


def test_one_address_is_trimmed_and_lower_cased_as_it_is_stored():
    assert email_address("  Nia.Adams@Example.ORG ") == "nia.adams@example.org"
    assert email_address("r1@oak.test") == "r1@oak.test"


@pytest.mark.parametrize("typed", NOT_ONE[:4])
def test_joining_with_several_addresses_is_refused_and_writes_nothing(client, typed):
    w = factories.world(open_round=False)
    before = (count(User), count(Household))

    response = client.post(f"/join/{w.group.invite_code}", data={
        "name": "Nia", "household": "Flat 9", "email": typed, "password": "password123"})

    assert response.status_code == 200
    assert "Enter one email address, like name@example.com" in page(response)
    assert (count(User), count(Household)) == before


def test_joining_stores_the_address_normalised_and_signs_in_with_it(client, auth):
    w = factories.world(open_round=False)

    response = join_as_new(client, w.group.invite_code, email=" Nia@Oak.TEST ")

    assert response.status_code == 303
    assert db.session.scalar(select(User.email).where(User.name == "Nia")) == "nia@oak.test"


def test_the_site_admin_cannot_give_a_new_group_an_organiser_with_several_addresses(
        client, auth):
    factories.user("admin@site.test", "Site Admin", admin=True)
    db.session.commit()
    auth.login("admin@site.test")

    response = client.post("/admin/groups", data={
        "name": "Birch Court", "timezone": "Europe/London",
        "organiser_email": "a@birch.test,b@birch.test", "organiser_name": "Ada",
        "organiser_password": "password123"})

    assert response.status_code == 200
    assert "Enter one email address, like name@example.com" in page(response)
    assert count(Group) == 0


def test_the_service_refuses_several_addresses_whatever_the_caller(app):
    with pytest.raises(ServiceError) as refused:
        accounts.create_user("a@oak.test,b@oak.test", "Ada", "password123")
    assert refused.value.field == "email"
    assert count(User) == 0
