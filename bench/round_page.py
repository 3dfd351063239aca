"""Benchmark: requests per second for a signed-in resident's round page, against hello-world.

    python bench/round_page.py                      # SQLite file in a temporary directory
    python bench/round_page.py --postgres URL       # or BENCH_DATABASE_URL=URL
    python bench/round_page.py --duration 5
    python bench/round_page.py --languages en      # English only (default: en,ur)

Builds a fresh database with the migrated schema: one group, one open round of
50 products and 2,000 households each pledging for 3 of them (6,000 pledge
lines, bulk inserted). Serves the app with gunicorn (2 sync workers, bound to
127.0.0.1 on a free port), signs in a resident through the real sign-in form
(CSRF on), then loads /rounds/<id> with wrk (or, without wrk, a Python load
loop) for a fixed time. Does the same against bench/hello_app.py under the same
gunicorn settings. Every round page response must be a 200 carrying the whole
page; anything else is counted and printed, and the run exits 1.

Each language in --languages (default English, then Urdu, the right-to-left one) is
loaded the same way, asked for with the browser's Accept-Language (the resident has
not chosen one); each other language prints
`round_page_language=ur rps=... english_rps=... ratio_to_english=...` (the target:
within 10% of English). The last line printed is always English's
`round_page_rps=... hello_rps=... ratio=...`.

PostgreSQL: the database's public schema is DROPPED and rebuilt. That happens
only when the database is empty, its name contains "bench", or --wipe is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402 - servers, sign-in, load and the lines printed

RESIDENT_EMAIL = "bench-resident@example.org"
PASSWORD = harness.PASSWORD
PRODUCTS = 50
HOUSEHOLDS = 2_000
LINES_PER_HOUSEHOLD = 3
TARGET_RATIO = 0.20
#: Another language's round page may be this much slower than English's.
LANGUAGE_TOLERANCE = 0.10
say = harness.say


def build_database(url: str) -> tuple[int, int]:
    """Migrate and fill the database; return (round id, id of the item shown last)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from bulkbuy import create_app
    from bulkbuy.extensions import db
    from bulkbuy.models import Household, PledgeLine, utcnow
    from bulkbuy.services import accounts, catalogue, pledges, rounds
    from config import Config, database_url

    app = create_app(
        Config, {"SQLALCHEMY_DATABASE_URI": database_url(url), "SECRET_KEY": "bench-build"}
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        now = utcnow()
        organiser = accounts.create_user("bench-organiser@example.org", "Organiser", PASSWORD)
        group = accounts.create_group("Bench Estate", "Europe/London", organiser, actor=None)
        resident = accounts.create_user(RESIDENT_EMAIL, "Resident", PASSWORD)
        home = accounts.join_group(group, resident, "Flat 0").household
        supplier = catalogue.create_supplier(group.id, "Wholesaler", None, actor=organiser)
        products = [
            catalogue.save_product(
                supplier,
                catalogue.ProductFields(
                    f"Product {n:02d}", "1kg bag", 6 + n % 20, 500 + 37 * n, None, f"P{n:02d}"
                ),
                actor=organiser,
            )
            for n in range(PRODUCTS)
        ]
        rnd = rounds.create_round(
            group, supplier, products,
            rounds.RoundDetails(title="Bench round", closes_at=now + timedelta(days=7),
                                delivery_fee_pence=1500, min_order_pence=10_000,
                                collection_place="Community centre"),
            created_by=organiser, now=now,
        )
        rounds.open_round(rnd, actor=organiser, now=now)
        db.session.flush()
        items = sorted(rnd.items, key=lambda i: i.id)
        for k in range(LINES_PER_HOUSEHOLD):  # the resident's own pledges, through the service
            pledges.set_pledge(items[k * 17], home, 2 + k, 1, entered_by=resident, now=now,
                               max_units=999)
        db.session.flush()

        homes = db.session.scalars(
            insert(Household).returning(Household.id, sort_by_parameter_order=True),
            [{"group_id": group.id, "label": f"Flat {n}", "is_assisted": True}
             for n in range(1, HOUSEHOLDS)],
        ).all()
        start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
        rows = [
            {
                "round_id": rnd.id,
                "round_item_id": items[(n * 7 + k * 17) % PRODUCTS].id,
                "household_id": home_id,
                "queue_pos": start + n * LINES_PER_HOUSEHOLD + k,
                "quantity": 1 + (n + k) % 4,
                "tolerance": (n + k) % 3,
                "created_at": now,
                "entered_by_id": organiser.id,
            }
            for n, home_id in enumerate(homes)
            for k in range(LINES_PER_HOUSEHOLD)
        ]
        db.session.execute(insert(PledgeLine), rows)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(select(func.setval("pledge_queue_seq", start + len(rows))))
        db.session.commit()
        lines = db.session.scalar(select(func.count()).select_from(PledgeLine))
        last_item = max(items, key=lambda i: i.name)  # the page lists items by name
        result = (rnd.id, last_item.id)
        say(f"database: {len(homes) + 1} households, {lines} pledge lines, "
            f"{len(items)} products, round {rnd.id}")
        db.session.remove()
        db.engine.dispose()
    return result


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_database_arguments(parser)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per app")
    parser.add_argument("--languages", default="en,ur",
                        help="comma-separated language codes; English is always measured")
    args = parser.parse_args()
    languages = ["en"] + [c for c in args.languages.split(",") if c.strip() and c != "en"]
    if not 1 <= args.duration <= 300:
        parser.error("--duration must be between 1 and 300 seconds")

    harness.stop_on_signals()
    with tempfile.TemporaryDirectory(prefix="bulkbuy-bench-") as tmp:
        workdir = Path(tmp)
        try:
            url = harness.database_url(args, workdir)
            round_id, last_item_id = build_database(url)
            env = harness.app_environment(url)
            path = f"/rounds/{round_id}"
            marker = f'id="item-{last_item_id}"'  # the last product: the page is all there
            port = harness.start_gunicorn("wsgi:app", env, workdir / "app.log", pythonpath=ROOT)
            cookie = harness.sign_in(port, path, marker, RESIDENT_EMAIL)
            headers = {"Cookie": f"session={cookie}", "User-Agent": harness.USER_AGENT}
            round_rps = harness.measure("round page", port, path, headers, marker,
                                        args.duration, workdir)
            by_language = {}
            for code in languages[1:]:
                asked = {**headers, "Accept-Language": code}
                # The page must really be in that language: <html lang="ur" ...>.
                harness.fetch_checked(port, path, asked, f'<html lang="{code}"')
                by_language[code] = harness.measure(f"round page ({code})", port, path, asked,
                                                    marker, args.duration, workdir)
            if (workdir / "app.log").stat().st_size:
                say(f"app log:\n{harness.tail(workdir / 'app.log')}")
            harness.stop_servers()
            hello = harness.hello_rps(env, workdir, args.duration)
        finally:
            harness.stop_servers()

    status = harness.report_failures()
    met = harness.ratio(round_rps, hello) >= TARGET_RATIO
    for code, rps in by_language.items():
        ratio = harness.ratio(rps, round_rps)
        say(f"round_page_language={code} rps={rps:.1f} english_rps={round_rps:.1f} "
            f"ratio_to_english={ratio:.3f} within_{LANGUAGE_TOLERANCE:.0%}="
            f"{'yes' if ratio >= 1 - LANGUAGE_TOLERANCE else 'NO'}")
    say(f"target ratio >= {TARGET_RATIO:.2f}: {'met' if met else 'NOT met'}")
    say(harness.ratio_line("round_page", round_rps, hello))
    return status


if __name__ == "__main__":
    harness.run_main(main)
