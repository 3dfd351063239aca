"""Where a transaction begins and ends. Services never commit; these do.

- **A web request is one transaction.** `init_app` commits it once the view
  has returned a response, whatever its status (a refused PIN is still
  counted), and it is rolled back when the view raises (the error page's
  handler, then Flask-SQLAlchemy's teardown).
- **A refused use case changes nothing.** A view that catches a use case's
  `ServiceError` runs it inside `undone_on_error()`: when it raises, all the
  request wrote so far is rolled back before the view shows the message.
- **A sweep or command commits per piece of work** with `unit_of_work()`
  (one round closed, one charge attempt written). The one use case that must
  make its record durable before it asks Stripe within a request (paying on
  our page) takes a `commit` callable, and is given `commit_now` by its view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response

from bulkbuy.extensions import db


def init_app(app: Flask) -> None:
    app.after_request(_commit_request)


def _commit_request(response: Response) -> Response:
    db.session.commit()
    return response


@contextmanager
def undone_on_error() -> Iterator[None]:
    """Run a use case; if it raises, roll the transaction back (nothing it wrote, nor
    anything before it in this transaction, stays) and let the error go on."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise


@contextmanager
def unit_of_work() -> Iterator[None]:
    """One piece of a sweep's or command's work: committed when the block ends, rolled
    back if it raises."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def commit_now() -> None:
    """Make what is written so far durable now (given as the `commit` callable of a use
    case that records what it will ask Stripe before it asks)."""
    db.session.commit()
