"""Small helpers for reading pages and rows in integration tests."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import PledgeLine


def count(model) -> int:
    """Rows of `model` as the database has them now."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def page(response) -> str:
    """The page as a person reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


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
