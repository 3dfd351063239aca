"""Adding or changing many rows at once, each to its own values, in few statements.

A big round's delivery changes thousands of statement lines. An `executemany` UPDATE is
one round trip per row on PostgreSQL (psycopg's pipeline), and a VALUES list of
thousands of rows costs more to build than to run; so on PostgreSQL each column goes
in as one array parameter, unnested into rows: one statement, whatever the number of
rows. SQLite answers an `executemany` in-process, quickly.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from bulkbuy.extensions import db


def update_rows(table: Table, rows: list[dict], *, set_: Sequence[str],
                guards: Sequence[str] = ()) -> int:
    """Give each row of `table` named by `rows[i]["id"]` the values of its `set_` keys,
    only where its `guards` columns still hold `rows[i]["read_<column>"]` (the values
    read before: a row changed meanwhile is left alone). Returns how many rows were
    changed, so the caller can refuse when it is not all of them."""
    if not rows:
        return 0
    if db.session.get_bind().dialect.name != "postgresql":
        statement = update(table).where(
            table.c.id == bindparam("b_id"),
            *(table.c[g] == bindparam(f"b_read_{g}") for g in guards),
        ).values({c: bindparam(f"b_{c}") for c in set_})
        return db.session.execute(
            statement, [{f"b_{k}": v for k, v in row.items()} for row in rows],
            execution_options={"synchronize_session": False}).rowcount
    names = ["id", *set_, *(f"read_{g}" for g in guards)]
    source = {"id": "id", **{c: c for c in set_}, **{f"read_{g}": g for g in guards}}
    given = _unnested(table, rows, names, source)
    return db.session.execute(
        update(table).where(table.c.id == given.c.id,
                            *(table.c[g] == given.c[f"read_{g}"] for g in guards))
        .values({c: given.c[c] for c in set_}),
        execution_options={"synchronize_session": False}).rowcount


def insert_rows(table: Table, rows: list[dict]) -> None:
    """Add `rows` (dicts with the same keys, column names) to `table`: on PostgreSQL in
    one statement, each column one array parameter; elsewhere as one executemany."""
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
    names = list(rows[0])
    given = _unnested(table, rows, names, {n: n for n in names})
    db.session.execute(insert(table).from_select(names, select(*(given.c[n] for n in names))))


def _unnested(table: Table, rows: list[dict], names: list[str], source: dict[str, str]):
    """`rows` as a PostgreSQL table-valued unnest of one typed array per name in `names`
    (typed as the column `source[name]` of `table`)."""
    arrays = [cast(bindparam(n, [row[n] for row in rows],
                             type_=ARRAY(table.c[source[n]].type)),
                   ARRAY(table.c[source[n]].type)) for n in names]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="given")
