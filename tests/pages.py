"""Small helpers for reading pages and rows in integration tests."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import OutboxMessage, PledgeLine


def count(model) -> int:
    """Rows of `model` as the database has them now."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def page(response) -> str:
    """The page as a person reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


_CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*(")')


def page_without_csrf(response) -> str:
    """`page(response)` with every CSRF token blanked: the token carries the second it was
    made, so two loads of the same page may differ only there."""
    return _CSRF_VALUE.sub(r"\1\2", page(response))


def csrf_token_in(response) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True))
    assert found, "the page has no CSRF token field"
    return found.group(1)


def lines_of(household_id: int) -> list[tuple[int, int, int]]:
    """(queue position, quantity, tolerance) of a household's pledge lines, in queue order."""
    db.session.expire_all()
    return [
        (line.queue_pos, line.quantity, line.tolerance)
        for line in db.session.scalars(
            select(PledgeLine)
            .where(PledgeLine.household_id == household_id)
            .order_by(PledgeLine.queue_pos)
        )
    ]


def join_link_for(email: str) -> str:
    """The path of the newest link e-mailed to `email` to finish joining."""
    db.session.expire_all()
    body = db.session.scalar(
        select(OutboxMessage.body).where(OutboxMessage.to_address == email,
                                         OutboxMessage.key.like("join-link:%"))
        .order_by(OutboxMessage.id.desc()).limit(1))
    assert body, f"no join link was e-mailed to {email}"
    found = re.search(r"https?://[^/\s]+(/join/confirm/\S+)", body)
    assert found, body
    return found.group(1)


def join_as_new(client, code: str, *, name: str = "Nia", household: str = "Flat 9",
                email: str = "nia@oak.test", password: str = "password123"):
    """Join with a new account as a person does: the join form (answered "check your
    e-mail"), then the e-mailed link's button. Returns the button's response."""
    asked = client.post(f"/join/{code}", data={"name": name, "household": household,
                                                "email": email, "password": password})
    assert asked.status_code == 303, page(asked)
    assert asked.headers["Location"].endswith(f"/join/{code}/sent")
    return client.post(join_link_for(email.strip().lower()))
