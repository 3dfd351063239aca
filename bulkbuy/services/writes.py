"""Writing a new row that the database may refuse as a duplicate.

A form sent twice at the same moment (a double click, a bad connection's retry)
passes the "is there one already?" check twice; the second insert then meets a
unique index. That is an ordinary refusal, not an error: the person gets the
form's own message and nothing of the second attempt is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from bulkbuy.extensions import db
from bulkbuy.services import ServiceError


@contextmanager
def savepoint() -> Iterator[None]:
    """A savepoint inside the request's (or job's) transaction: what the block writes
    is undone alone when it raises, and kept with the rest otherwise.

    Python's sqlite3 opens its transaction only at the first write, so a SAVEPOINT
    coming first would open one of its own, and its RELEASE would commit what came
    before and what follows could no longer be undone. On SQLite the transaction is
    therefore begun first.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")
    with db.session.begin_nested():
        yield


def inserted(row: object) -> bool:
    """Add `row` and write it now, in a savepoint; False (and nothing of it kept) when
    a unique index refuses it: the same row was made at the same moment elsewhere."""
    try:
        with savepoint():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return False
    return True


def add_or_refuse(row: object, message, *, field: str | None = None) -> None:
    """Add `row` and write it now (see `inserted`). When the database refuses it as a
    duplicate, raise ServiceError(message, field=field), nothing of it kept."""
    if not inserted(row):
        raise ServiceError(message, field=field)
