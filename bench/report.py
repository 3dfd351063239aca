"""Benchmark: the impact report page over five years of weekly rounds.

    python bench/report.py                      # SQLite file in a temporary directory
    python bench/report.py --postgres URL       # or BENCH_DATABASE_URL=URL
    python bench/report.py --rounds 100 --households 500   # a smaller run

Builds a fresh database with the migrated schema: one group of 2,000 households and
about 500 weekly rounds closed over five years (the newest closed yesterday), each with
about 1,000 of the households pledging for 5 products: 2.5 M pledge lines and 500,000
bills, bulk inserted, with each round's kept totals (round_impact) as the close writes
them. Then, through the Flask test client (in this process, not over HTTP: the page's
own time, without gunicorn's), signs an organiser in through the real sign-in form and
loads /organise/<group>/impact:

- cold: the first load by a freshly made app (new connection pool, templates not yet
  compiled, the report's queries not yet planned);
- warm: the median of --repeat further loads.

Each answer must be a 200 carrying the whole page (its figures table). Prints
`report_ms=<warm> cold_ms=<cold> rounds=... lines=...` last; the targets are under
200 ms warm and under 1 s cold, for the default period (the last 12 months). The whole
five years (`all_years_ms=...`) is measured too, and one round's record at close
(`record_ms=...`).

PostgreSQL: the database's public schema is DROPPED and rebuilt. That happens only when
the database is empty, its name contains "bench", or --wipe is given.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402 - database choice, sign-in words, the lines printed

ORGANISER_EMAIL = "bench-organiser@example.org"
PASSWORD = harness.PASSWORD
PRODUCTS = 20
LINES_PER_BILL = 5
WARM_TARGET_MS = 200
COLD_TARGET_MS = 1000
MARKER = 'class="table impact-figures"'
say = harness.say


def build_database(url: str, rounds_wanted: int, households: int, per_round: int) -> dict:
    """Migrate and fill the database; return what the measuring needs."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from bulkbuy import create_app
    from bulkbuy.extensions import db
    from bulkbuy.models import (
        Household,
        PledgeLine,
        Round,
        RoundImpact,
        RoundItem,
        Statement,
        utcnow,
    )
    from bulkbuy.services import accounts, catalogue
    from config import Config, database_url

    app = create_app(Config, {"SQLALCHEMY_DATABASE_URI": database_url(url),
                              "SECRET_KEY": "bench-build"})
    rng = random.Random(17)
    started = time.perf_counter()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        now = utcnow()
        organiser = accounts.create_user(ORGANISER_EMAIL, "Organiser", PASSWORD)
        group = accounts.create_group("Bench Estate", "Europe/London", organiser, actor=None)
        supplier = catalogue.create_supplier(group.id, "Wholesaler", None, actor=organiser)
        products = [catalogue.save_product(
            supplier, catalogue.ProductFields(f"Product {n:02d}", "1kg bag", 10,
                                              1000 + 50 * n, 130 + 5 * n, f"P{n:02d}"),
            actor=organiser) for n in range(PRODUCTS)]
        homes = db.session.scalars(
            insert(Household).returning(Household.id, sort_by_parameter_order=True),
            [{"group_id": group.id, "label": f"Flat {n}"} for n in range(households)]).all()
        seen: set[int] = set()
        queue = 0
        lines = bills = 0
        for r in range(rounds_wanted):
            closed = now - timedelta(days=1 + 7 * (rounds_wanted - 1 - r))
            rnd = Round(group_id=group.id, supplier_id=supplier.id, title=f"Week {r}",
                        status="complete", closes_at=closed, closed_at=closed,
                        created_by_id=organiser.id, created_at=closed - timedelta(days=7),
                        delivery_fee_pence=2000)
            db.session.add(rnd)
            db.session.flush()
            rnd_id = rnd.id
            item_ids = db.session.scalars(
                insert(RoundItem).returning(RoundItem.id, sort_by_parameter_order=True),
                [{"round_id": rnd_id, "product_id": p.id, "name": p.name,
                  "unit_description": "1kg bag", "case_size": 10,
                  "case_price_pence": p.case_price_pence, "retail_price_pence": 130 + 5 * n,
                  "cases_ordered": 0} for n, p in enumerate(products)]).all()
            taking = rng.sample(homes, per_round)
            pledge_rows, bill_rows = [], []
            new = 0
            for position, home in enumerate(taking):
                if home not in seen:
                    seen.add(home)
                    new += 1
                goods = 0
                for k in range(LINES_PER_BILL):
                    queue += 1
                    pledge_rows.append({
                        "round_id": rnd_id, "round_item_id": item_ids[(home + k * 3) % PRODUCTS],
                        "household_id": home, "queue_pos": queue, "quantity": 2, "tolerance": 0,
                        "created_at": closed - timedelta(days=1),
                        "entered_by_id": organiser.id if home % 9 == 0 else None})
                    goods += 2 * (100 + 5 * ((home + k * 3) % PRODUCTS))
                fee = 2000 * goods // (per_round * 1100)
                bill_rows.append({"round_id": rnd_id, "household_id": home,
                                  "goods_pence": goods, "fee_pence": fee,
                                  "total_pence": goods + fee, "position": position,
                                  "paid_pence": goods + fee, "payment_status": "paid",
                                  "created_at": closed})
            db.session.execute(insert(PledgeLine), pledge_rows)
            db.session.execute(insert(Statement), bill_rows)
            db.session.execute(insert(RoundImpact), [{
                "round_id": rnd_id, "group_id": group.id, "outcome": "ran",
                "closed_at": closed, "households": per_round, "new_households": new,
                "assisted_households": sum(1 for h in taking if h % 9 == 0),
                "goods_pence": sum(b["goods_pence"] for b in bill_rows),
                "fees_pence": sum(b["fee_pence"] for b in bill_rows),
                "saving_pence": sum(b["goods_pence"] for b in bill_rows) * 3 // 10,
                "unpriced_lines": 0, "pot_pence": 0, "time_credit_pence": 0,
                "updated_at": now}])
            lines += len(pledge_rows)
            bills += len(bill_rows)
            if r % 50 == 49:
                db.session.commit()
                say(f"  {r + 1} rounds, {lines:,} pledge lines "
                    f"({time.perf_counter() - started:.0f} s)")
        if db.engine.dialect.name == "postgresql":
            db.session.execute(select(func.setval("pledge_queue_seq", queue + 1)))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(select(func.count()).select_from(PledgeLine))
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        last_round = rnd_id
        result = {"group_id": group.id, "rounds": rounds_wanted, "lines": lines,
                  "bills": bills, "last_round": last_round}
        say(f"database: {households:,} households, {rounds_wanted} rounds, {lines:,} pledge "
            f"lines, {bills:,} bills, built in {time.perf_counter() - started:.0f} s")
        db.session.remove()
        db.engine.dispose()
    return result


def _app(url: str):
    from bulkbuy import create_app
    from config import Config, database_url

    return create_app(Config, {"SQLALCHEMY_DATABASE_URI": database_url(url),
                               "SECRET_KEY": "bench-measure", "WTF_CSRF_ENABLED": False,
                               "RATELIMIT_ENABLED": False, "SESSION_COOKIE_SECURE": False})


def _load(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    took = (time.perf_counter() - started) * 1000
    body = response.get_data(as_text=True)
    if response.status_code != 200 or MARKER not in body:
        harness.fail(f"{path} answered {response.status_code} without its figures table")
    return took


def measure(url: str, built: dict, repeat: int) -> dict[str, float]:
    from bulkbuy.extensions import db

    path = f"/organise/{built['group_id']}/impact"
    app = _app(url)  # fresh: no pool, no compiled templates
    client = app.test_client()
    with app.app_context():
        signed = client.post("/login", data={"email": ORGANISER_EMAIL, "password": PASSWORD})
        if signed.status_code not in (302, 303):
            harness.fail(f"sign-in answered {signed.status_code}")
        cold = _load(client, path)
        warm = statistics.median(_load(client, path) for _ in range(repeat))
        everything = f"{path}?from=2000-01-01&to=2100-12-31"
        _load(client, everything)
        all_years = statistics.median(_load(client, everything) for _ in range(repeat))
        chart = statistics.median(_load_chart(client, f"{path}/households.svg")
                                  for _ in range(max(3, repeat // 4)))
        record = _record_once(built["last_round"])
        db.session.remove()
        db.engine.dispose()
    return {"cold": cold, "warm": warm, "all_years": all_years, "chart": chart,
            "record": record}


def _load_chart(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    if response.status_code != 200 or b"<svg" not in response.get_data():
        harness.fail(f"{path} answered {response.status_code} without an SVG")
    return (time.perf_counter() - started) * 1000


def _record_once(round_id: int) -> float:
    """One round's kept totals written again, as at close (rolled back)."""
    from bulkbuy.extensions import db
    from bulkbuy.models import Round, utcnow
    from bulkbuy.services import impact

    rnd = db.session.get(Round, round_id)
    started = time.perf_counter()
    impact.record(rnd, utcnow())
    took = (time.perf_counter() - started) * 1000
    db.session.rollback()
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_database_arguments(parser)
    parser.add_argument("--rounds", type=int, default=500, help="weekly rounds (500)")
    parser.add_argument("--households", type=int, default=2000, help="in the group (2,000)")
    parser.add_argument("--per-round", type=int, default=1000,
                        help="households taking part in each round (1,000)")
    parser.add_argument("--repeat", type=int, default=20, help="warm loads measured (20)")
    args = parser.parse_args()
    if not 1 <= args.per_round <= args.households:
        parser.error("--per-round must be between 1 and --households")
    with tempfile.TemporaryDirectory(prefix="bulkbuy-bench-") as tmp:
        url = harness.database_url(args, Path(tmp))
        built = build_database(url, args.rounds, args.households, args.per_round)
        timings = measure(url, built, args.repeat)
    status = harness.report_failures()
    say(f"all_years_ms={timings['all_years']:.1f} chart_ms={timings['chart']:.1f} "
        f"record_ms={timings['record']:.1f} bills={built['bills']}")
    met = timings["warm"] < WARM_TARGET_MS and timings["cold"] < COLD_TARGET_MS
    say(f"targets: warm < {WARM_TARGET_MS} ms, cold < {COLD_TARGET_MS} ms: "
        f"{'met' if met else 'NOT met'}")
    say(f"report_ms={timings['warm']:.1f} cold_ms={timings['cold']:.1f} "
        f"rounds={built['rounds']} lines={built['lines']}")
    return status


if __name__ == "__main__":
    harness.run_main(main)
