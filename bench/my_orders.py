"""Benchmark: My orders for a resident, with 3,000, 5,000 and 30,000 pledge lines in the round.

    python bench/my_orders.py                      # SQLite file in a temporary directory
    python bench/my_orders.py --postgres URL       # or BENCH_DATABASE_URL=URL
    python bench/my_orders.py --repeat 50

Builds a fresh database with the migrated schema and, per size, a group of its own with
one open round of 50 products: the resident's household pledges for 3 of them through
the pledge service, and lines - 3 more lines come from households of 3 lines each (bulk
inserted, tolerance on two lines in three, queue positions after the resident's).

Per size it times, after a warm-up (the first view works out the round's likely
allocation for its pledge_version and keeps it; that first view is printed too):
- after_pledge_ms: GET /my-orders straight after a neighbour changed a pledge for one
  product (through the pledge service; a different product each time), mean of 10: the
  view that works the round out again, which under pledging is most views; only that
  product's lines are read and allocated again;
- my_orders_mean_ms: GET /my-orders through the Flask test client, signed in through
  the real sign-in form, mean of --repeat requests (each checked: 200, whole page);
- service_ms: home.my_orders + the template, in a request context, mean of --repeat;
- old_service_ms: the same for the way before #18 (every line of the round read as ORM
  objects and allocated on every view: tests/integration/test_my_orders_in_proportion's
  every_line_my_orders), mean of a few, in the same run on the same rows. Both ways must
  give the same estimates, or the run exits 1.

The last line is `database=... lines=5000 my_orders_mean_ms=... ratio_30000_to_3000=...
after_pledge_ms=... old_service_ms=... old_ratio_30000_to_3000=...` (ratios of the same
figure at 30,000 and at 3,000 lines). Targets: my_orders_mean_ms < 50 at 5,000 lines,
ratio_30000_to_3000 <= 1.3 (printed, not fatal).

PostgreSQL: the database's public schema is DROPPED and rebuilt. That happens only when
the database is empty, its name contains "bench", or --wipe is given
(`TEST_DB_NAME=bulkbuy_bench_my_orders bash scripts/ensure_postgres.sh` makes one).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402 - the database and the lines printed

SIZES = (3_000, 5_000, 30_000)
PRODUCTS = 50
LINES_PER_HOUSEHOLD = 3
OLD_REPEAT = 5
AFTER_REPEAT = 10
TARGET_MS = 50.0
TARGET_RATIO = 1.3
PASSWORD = harness.PASSWORD
say = harness.say


def make_app(url: str):
    from flask_migrate import upgrade

    from bulkbuy import create_app
    from config import Config, database_url

    app = create_app(Config, {
        "SQLALCHEMY_DATABASE_URI": database_url(url), "SECRET_KEY": "bench-my-orders",
        "MAIL_SERVER": None, "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
        "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def build_round(lines: int, organiser_id: int | None) -> tuple[str, int, int]:
    """A group with one open round of `lines` pledge lines; return (the resident's e-mail,
    the round id, the organiser's id)."""
    from sqlalchemy import func, insert, select

    from bulkbuy.extensions import db
    from bulkbuy.models import Household, PledgeLine, User, utcnow
    from bulkbuy.services import accounts, catalogue, pledges, rounds

    now = utcnow()
    organiser = (db.session.get(User, organiser_id) if organiser_id else
                 accounts.create_user("bench-organiser@example.org", "Organiser", PASSWORD))
    group = accounts.create_group(f"Estate {lines}", "Europe/London", organiser, actor=None)
    email = f"bench-resident-{lines}@example.org"
    resident = accounts.create_user(email, "Resident", PASSWORD)
    home = accounts.join_group(group, resident, "Flat 0").household
    supplier = catalogue.create_supplier(group.id, "Wholesaler", None, actor=organiser)
    products = [
        catalogue.save_product(
            supplier,
            catalogue.ProductFields(f"Product {n:02d}", "1kg bag", 6 + n % 20, 500 + 37 * n,
                                    None, f"P{n:02d}"),
            actor=organiser)
        for n in range(PRODUCTS)
    ]
    rnd = rounds.create_round(
        group, supplier, products,
        rounds.RoundDetails(title=f"Round of {lines}", closes_at=now + timedelta(days=7),
                            delivery_fee_pence=1500, min_order_pence=10_000,
                            collection_place="Community centre"),
        created_by=organiser, now=now)
    rounds.open_round(rnd, actor=organiser, now=now)
    db.session.flush()
    items = sorted(rnd.items, key=lambda i: i.id)
    for k in range(LINES_PER_HOUSEHOLD):  # the resident's own pledges, through the service
        pledges.set_pledge(items[k * 17], home, 2 + k, 1, entered_by=resident, now=now,
                           max_units=999)
    db.session.flush()

    more = lines - LINES_PER_HOUSEHOLD
    others = -(-more // LINES_PER_HOUSEHOLD)  # the last household may have fewer lines
    homes = db.session.scalars(
        insert(Household).returning(Household.id, sort_by_parameter_order=True),
        [{"group_id": group.id, "label": f"Flat {n}", "is_assisted": True}
         for n in range(1, others + 1)],
    ).all()
    start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
    rows = []
    for m in range(more):
        n, k = divmod(m, LINES_PER_HOUSEHOLD)
        rows.append({
            "round_id": rnd.id, "round_item_id": items[(n * 7 + k * 17) % PRODUCTS].id,
            "household_id": homes[n], "queue_pos": start + m, "quantity": 1 + (n + k) % 4,
            "tolerance": (n + k) % 3, "created_at": now, "entered_by_id": organiser.id})
    for chunk in range(0, len(rows), 10_000):
        db.session.execute(insert(PledgeLine), rows[chunk:chunk + 10_000])
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(func.setval("pledge_queue_seq", start + len(rows))))
    db.session.commit()
    counted = db.session.scalar(
        select(func.count()).select_from(PledgeLine).where(PledgeLine.round_id == rnd.id))
    assert counted == lines, (counted, lines)
    result = (email, rnd.id, organiser.id)
    db.session.remove()
    return result


def mean_ms(runs: list[float]) -> float:
    return statistics.fmean(runs) * 1000


class Viewer:
    """One size's resident, signed in through the real sign-in form, looking at My orders."""

    def __init__(self, app, lines: int, email: str, round_id: int):
        self.app, self.lines, self.email = app, lines, email
        self.client = app.test_client()
        login = self.client.get("/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                          login.get_data(as_text=True))
        signed = self.client.post("/login", data={
            "email": email, "password": PASSWORD, "csrf_token": token.group(1) if token else ""})
        if signed.status_code != 302:
            raise SystemExit(f"sign-in failed: {signed.status_code}")
        self.marker = f'id="round-{round_id}"'

    def view(self) -> float:
        """One GET /my-orders, checked; its seconds."""
        started = time.perf_counter()
        response = self.client.get("/my-orders")
        took = time.perf_counter() - started
        body = response.get_data(as_text=True)
        if response.status_code != 200 or self.marker not in body or "</html>" not in body:
            raise SystemExit(f"{self.lines} lines: bad My orders page ({response.status_code})")
        return took

    def service(self, way) -> float:
        """`way` (home.my_orders or the old way) and the template; its seconds."""
        from flask import render_template
        from flask_babel import gettext as _
        from flask_login import login_user
        from sqlalchemy import select

        from bulkbuy.extensions import db
        from bulkbuy.models import User

        with self.app.test_request_context("/my-orders"):
            user = db.session.scalar(select(User).where(User.email == self.email))
            login_user(user)
            started = time.perf_counter()
            orders = way(user, self.app.config)
            render_template("resident/my_orders.html",
                            **{name: getattr(orders, name) for name in orders.__dataclass_fields__},
                            title=_("My orders"))
            took = time.perf_counter() - started
            db.session.remove()
        return took

    def after_a_neighbours_pledge(self, turn: int) -> float:
        """A neighbour (Flat 1) changes a pledge for one product (a different one each
        turn) through the pledge service; then one GET /my-orders: its seconds. Only
        that product is worked out again (round_view.round_likely)."""
        from sqlalchemy import select

        from bulkbuy.extensions import db
        from bulkbuy.models import Household, Round, User, utcnow
        from bulkbuy.services import pledges

        with self.app.app_context():
            rnd = db.session.scalar(select(Round).where(Round.title == f"Round of {self.lines}"))
            neighbour = db.session.scalar(select(Household).where(
                Household.group_id == rnd.group_id, Household.label == "Flat 1"))
            by = db.session.scalar(select(User).where(User.email == self.email))
            items = sorted(rnd.items, key=lambda i: i.id)
            pledges.set_pledge(items[turn * 7 % len(items)], neighbour, 1 + turn % 5, 0,
                               entered_by=by, now=utcnow(), max_units=999)
            db.session.commit()
            db.session.remove()
        return self.view()

    def same_as_the_old_way(self) -> bool:
        from flask_login import login_user
        from sqlalchemy import select

        from bulkbuy.extensions import db
        from bulkbuy.models import User
        from bulkbuy.services import home
        from tests.integration.test_my_orders_in_proportion import every_line_my_orders

        with self.app.test_request_context("/my-orders"):
            user = db.session.scalar(select(User).where(User.email == self.email))
            login_user(user)
            same = (home.my_orders(user, self.app.config).estimates
                    == every_line_my_orders(user, self.app.config).estimates)
            db.session.remove()
        return same


def measure(app, built: dict[int, tuple[str, int]], repeat: int) -> dict[int, dict[str, float]]:
    """Every size's figures. The sizes' requests are interleaved, so that whatever else
    the machine does weighs on each size alike."""
    from bulkbuy import web
    from bulkbuy.services import home
    from tests.integration.test_my_orders_in_proportion import every_line_my_orders

    viewers = {lines: Viewer(app, lines, *built[lines]) for lines in SIZES}
    with app.app_context():
        web.clear_caches()
    # The first view works out the round's likely allocation, once for its version.
    first = {lines: viewers[lines].view() for lines in SIZES}
    for _warm in range(3):
        for viewer in viewers.values():
            viewer.view()
    requests: dict[int, list[float]] = {lines: [] for lines in SIZES}
    service: dict[int, list[float]] = {lines: [] for lines in SIZES}
    for _n in range(repeat):
        for lines, viewer in viewers.items():
            requests[lines].append(viewer.view())
        for lines, viewer in viewers.items():
            service[lines].append(viewer.service(home.my_orders))
    after = {lines: [viewer.after_a_neighbours_pledge(turn) for turn in range(AFTER_REPEAT)]
             for lines, viewer in viewers.items()}
    old = {lines: [viewer.service(every_line_my_orders) for _n in range(OLD_REPEAT)]
           for lines, viewer in viewers.items()}
    for lines, viewer in viewers.items():
        if not viewer.same_as_the_old_way():
            raise SystemExit(f"{lines} lines: the estimates differ from the old way's")
    return {lines: {"my_orders_mean_ms": mean_ms(requests[lines]),
                    "first_view_ms": first[lines] * 1000,
                    "after_pledge_ms": mean_ms(after[lines]),
                    "service_ms": mean_ms(service[lines]),
                    "old_service_ms": mean_ms(old[lines])} for lines in SIZES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_database_arguments(parser)
    parser.add_argument("--repeat", type=int, default=50, help="requests timed per size")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 1000:
        parser.error("--repeat must be between 1 and 1000")

    from sqlalchemy import text

    from bulkbuy.extensions import db

    with tempfile.TemporaryDirectory(prefix="bulkbuy-bench-my-orders-") as tmp:
        url = harness.database_url(args, Path(tmp))
        app = make_app(url)
        database = "postgresql" if url.startswith("postgres") else "sqlite"
        with app.app_context():
            built, organiser_id = {}, None
            for lines in SIZES:
                started = time.perf_counter()
                email, round_id, organiser_id = build_round(lines, organiser_id)
                built[lines] = (email, round_id)
                say(f"{database}: built a round of {lines:,} lines in "
                    f"{time.perf_counter() - started:.1f} s")
            if database == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("ANALYZE"))
            db.session.remove()
        # No app context pushed while requests run: each gets a fresh one, as under a server.
        figures = measure(app, built, args.repeat)
        for lines in SIZES:
            say(f"database={database} lines={lines} " + " ".join(
                f"{name}={value:.1f}" for name, value in figures[lines].items()))
        with app.app_context():
            db.engine.dispose()

    small, middle, big = (figures[n] for n in SIZES)
    ratio = big["my_orders_mean_ms"] / small["my_orders_mean_ms"]
    old_ratio = big["old_service_ms"] / small["old_service_ms"]
    met = middle["my_orders_mean_ms"] < TARGET_MS and ratio <= TARGET_RATIO
    say(f"targets (< {TARGET_MS:g} ms at 5,000 lines, ratio <= {TARGET_RATIO:g}): "
        f"{'met' if met else 'NOT met'}; old way / new way at 5,000 lines (service + "
        f"template): {middle['old_service_ms'] / middle['service_ms']:.0f}x")
    say(f"database={database} lines=5000 my_orders_mean_ms={middle['my_orders_mean_ms']:.1f} "
        f"ratio_30000_to_3000={ratio:.2f} after_pledge_ms={middle['after_pledge_ms']:.1f} "
        f"old_service_ms={middle['old_service_ms']:.1f} "
        f"old_ratio_30000_to_3000={old_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
