"""Household names that only look different are refused as the same name, at join
and when staff add an assisted household, on both databases (before: a zero-width
space, a no-break space or a look-alike letter made a new "Flat 1", and case was
folded for A-Z only on SQLite).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bulkbuy.extensions import db
from bulkbuy.models import Household, User
from tests import factories
from tests.pages import count, join_as_new, page

LOOK_ALIKES = [
    "Flat\u200b 1",  # zero-width space
    "Flat\u00a01",  # no-break space
    "Flat 1\u200d",  # zero-width joiner
    "Flаt 1",  # Cyrillic "а"
    "FLAT 1",
    "Ｆｌａｔ １",  # full-width letters and digits
]
ON_THE_LIST = "That name is already on the list."
ONE_ALPHABET = "Write each word of the name in one alphabet, like Flat 12."


def join(client, w, household, email="nia@oak.test"):
    return client.post(f"/join/{w.group.invite_code}", data={
        "name": "Nia", "household": household, "email": email, "password": "password123"})


def add_assisted(client, w, label):
    return client.post(f"/organise/{w.group.id}/households/assisted",
                       data={"label": label, "block": "", "pin": "2468"})


@pytest.mark.parametrize("label", LOOK_ALIKES)
def test_joining_with_a_name_that_only_looks_different_is_refused(client, label):
    w = factories.world(open_round=False)  # has Flat 1 and Flat 2
    before = (count(User), count(Household))

    response = join(client, w, label)

    assert response.status_code == 200
    assert ON_THE_LIST in page(response)
    assert (count(User), count(Household)) == before


@pytest.mark.parametrize("label", LOOK_ALIKES)
def test_staff_cannot_add_a_household_whose_name_only_looks_different(client, auth, label):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    before = count(Household)

    response = add_assisted(client, w, label)

    assert response.status_code == 400
    assert "There is already a household with that name. Choose another." in page(response)
    assert count(Household) == before


def test_a_word_mixing_alphabets_is_refused_with_a_plain_message(client, auth):
    w = factories.world(open_round=False)

    response = join(client, w, "Flаt 7")  # a Cyrillic "а" inside a Latin word

    assert response.status_code == 200
    assert ONE_ALPHABET in page(response)
    assert count(Household) == 2


def test_case_is_folded_beyond_a_to_z_on_every_database(client):
    w = factories.world(open_round=False)
    assert join_as_new(client, w.group.invite_code, household="Ärmel 1").status_code == 303
    client.post("/logout")

    response = join(client, w, "ärmel 1", email="other@oak.test")

    assert ON_THE_LIST in page(response)
    assert count(Household) == 3


def test_the_name_is_kept_cleaned_and_names_in_another_alphabet_are_welcome(client):
    w = factories.world(open_round=False)

    assert join_as_new(client, w.group.invite_code,
                       household="  Flat\u00a03 \u200b(Анна)  ").status_code == 303

    kept = db.session.scalar(select(Household).order_by(Household.id.desc()))
    assert kept.label == "Flat 3 (Анна)"


def test_the_database_itself_refuses_a_second_household_with_the_same_key(app):
    w = factories.world(open_round=False)
    db.session.add(Household(group_id=w.group.id, label="flat\u200b 1"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
