"""Start closing a round, then hang before the commit, so a test can SIGKILL this process.

    python tests/integration/helpers/hang_mid_close.py DB_URL ROUND_ID NOW_ISO READY_FILE

Makes the app on DB_URL (schema already there), wraps closing._write_statements so
that, once the statements and their lines are written and flushed to the database
inside the closing transaction, it writes how many statements this transaction sees
to READY_FILE ("statements lines backend_pid", the PostgreSQL backend's pid or 0) and
then sleeps (until killed). Exits 3 if close_round does not reach
the statements (the round was not due).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bulkbuy import create_app  # noqa: E402
from bulkbuy.extensions import db  # noqa: E402
from bulkbuy.models import Statement, StatementLine  # noqa: E402
from bulkbuy.services import closing  # noqa: E402
from config import TestConfig  # noqa: E402

HANG_SECONDS = 120


def main(url: str, round_id: int, now: datetime, ready: Path) -> int:
    app = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": url})
    original = closing._write_statements

    def write_then_hang(*args, **kwargs):
        original(*args, **kwargs)
        db.session.flush()
        statements = db.session.scalar(
            select(func.count()).select_from(Statement).where(Statement.round_id == round_id))
        lines = db.session.scalar(
            select(func.count()).select_from(StatementLine)
            .join(Statement, StatementLine.statement_id == Statement.id)
            .where(Statement.round_id == round_id))
        backend = 0
        if db.engine.dialect.name == "postgresql":
            backend = db.session.scalar(select(func.pg_backend_pid()))
        partial = ready.with_suffix(".partial")
        partial.write_text(f"{statements} {lines} {backend}\n")
        partial.rename(ready)  # appears whole
        time.sleep(HANG_SECONDS)
        raise SystemExit("not killed in time")

    closing._write_statements = write_then_hang
    with app.app_context():
        result = closing.close_round(round_id, now)
        if result is None:
            return 3
        db.session.commit()  # never reached when the test kills us
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]),
                  Path(sys.argv[4])))
