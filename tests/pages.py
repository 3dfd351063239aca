"""Small helpers for reading pages and rows in integration tests."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from bulkbuy.extensions import db


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
