"""Benchmark: closing a big round (services.closing.close_round + commit), against a GROUP BY.

    python bench/close.py                    # SQLite; PostgreSQL too when TEST_DATABASE_URL
                                             # or DATABASE_URL is set
    python bench/close.py --postgres URL     # or BENCH_CLOSE_DATABASE_URL=URL
    python bench/close.py --no-postgres      # SQLite only
    python bench/close.py --repeat 5
    python bench/close.py --pot              # with the group's solidarity pot on
    python bench/close.py --no-sqlite --postgres URL   # PostgreSQL only

Data (fixed random seed): one group, one open round of 200 products (case sizes 4-25,
case prices from 30p to £4 a unit), households pledging 5 lines each for distinct
products, quantities 1-5, about a third of lines with a tolerance of 1-3, queue
positions shuffled across households, three in four households with a user (so the
result e-mails are queued too), a delivery fee and a minimum order the round reaches.
Everything but the round itself is bulk inserted.

Sizes: 10,000 pledge lines (200 products x 2,000 households), then 10x the data:
100,000 lines as 200 products x 20,000 households (a bigger estate buying from the
same list, so each product's queue is 10x longer and the statements, e-mails and fee
split are 10x bigger).

Each size runs in a fresh, migrated database: a temporary SQLite file, and on
PostgreSQL a database of its own (`bulkbuy_bench_close`, made with
`TEST_DB_NAME=bulkbuy_bench_close bash scripts/ensure_postgres.sh`, its public schema
dropped and rebuilt; a --postgres URL is wiped only if its name contains "bench").
The close is timed with time.perf_counter from a fresh session to after the commit,
`--repeat` times (the close is undone between runs), and the median is reported. The
baseline, in the same run on the same lines, is the plain SQL
`SELECT round_item_id, household_id, SUM(quantity), SUM(tolerance) FROM pledge_lines
WHERE round_id = ? GROUP BY 1, 2` with every row fetched (median of 5). Each close is
checked: statements sum to cases x case price + the delivery fee.

With --pot, before the timed closes the group gets a solidarity pot the way an organiser
sets one up (bulkbuy.services.solidarity: a grant recorded as one donation, the rule
"half of a household's goods after its fee, at most £10 a household a round", and one
household in ten marked supported, each through the service, audited); the grant is
£7.50 a supported household, so the pot falls short of what the rule asks and is shared
by largest remainder (the costlier path of services.solidarity.apply_at_close). The check
then also holds the pot to account: what households still pay (total - pot help) plus
the pot's help is cases x case price + fee; the pot's help on the bills is what its
ledger paid out for them, exactly the grant or what the rule asks if less (computed here
from the bills, not by the app's code), nobody unsupported is helped, nobody is helped
over the rule (fee + half the goods, at most the cap), no bill is paid by anything but
the pot, a bill is "paid" exactly when the pot covered it whole, and the balance left is
the grant less the help.

Per database it prints one line per size; the last line is always
`close_10k_s=... close_100k_s=... growth=... ratio_to_groupby=...`, where with two
databases the close times are the worse (larger) of the two, growth is
close_100k_s / close_10k_s and ratio_to_groupby is close_10k_s over the GROUP BY time
of the database whose close_10k_s is reported. Targets: close_10k_s < 2 on each
database, growth <= 12. Exits 1 if a close is inconsistent, 0 otherwise (targets
missed are printed, not fatal).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRODUCTS = 200
#: --pot: one household in POT_EVERY is supported; the group's rule and its grant.
POT_EVERY = 10
POT_SHARE_PERCENT = 50
POT_CAP_PENCE = 1_000
POT_GRANT_PER_SUPPORTED_PENCE = 750
LINES_PER_HOUSEHOLD = 5
SIZES = ((10_000, 2_000), (100_000, 20_000))  # (pledge lines, households)
SEED = 20260314
BENCH_PG_DB = "bulkbuy_bench_close"
TARGET_10K_S = 2.0
TARGET_GROWTH = 12.0
GROUP_BY = (
    "SELECT round_item_id, household_id, SUM(quantity), SUM(tolerance) "
    "FROM pledge_lines WHERE round_id = :round_id GROUP BY 1, 2"
)


def say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Measured:
    database: str
    lines: int
    households: int
    close_s: float
    close_runs: tuple[float, ...]
    groupby_s: float
    statements: int
    pot: PotCheck | None = None


@dataclass(frozen=True)
class PotCheck:
    """What the pot did at a checked close."""

    supported: int
    grant_pence: int
    wanted_pence: int
    spent_pence: int
    helped: int
    covered_whole: int


# --- databases ----------------------------------------------------------------------------


def postgres_url(explicit: str | None) -> str | None:
    """The PostgreSQL URL to use, or None to run on SQLite only."""
    if explicit:
        return explicit
    if not (os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        return None
    made = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_postgres.sh")],
        env={**os.environ, "TEST_DB_NAME": BENCH_PG_DB}, capture_output=True, text=True,
        check=False,
    )
    if made.returncode != 0 or not made.stdout.strip():
        say(f"postgresql: could not make database {BENCH_PG_DB}; skipped\n{made.stderr}")
        return None
    return made.stdout.strip()


def wipe_postgres(url: str) -> None:
    """The bench database's schema dropped and rebuilt (bench/harness.py)."""
    import harness  # bench/, beside this file

    harness.wipe_bench_database(url)


def make_app(url: str):
    from flask_migrate import upgrade

    from bulkbuy import create_app
    from config import Config, database_url

    app = create_app(Config, {"SQLALCHEMY_DATABASE_URI": database_url(url),
                              "SECRET_KEY": "bench-close", "MAIL_SERVER": None})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


# --- data ---------------------------------------------------------------------------------


def build_round(households: int, lines: int, products: int = PRODUCTS) -> tuple[int, object]:
    """Fill the (empty, migrated) database with one round of `products` products, and
    `lines` pledge lines over `households` households; return (round id, the time to
    close it at). (bench/delivery.py builds its round with this too.)"""
    from sqlalchemy import func, insert, select, text

    from bulkbuy.extensions import db
    from bulkbuy.models import (
        Household,
        Membership,
        PledgeLine,
        Product,
        RoundItem,
        User,
        utcnow,
    )
    from bulkbuy.services import accounts, rounds

    rng = random.Random(SEED)
    now = utcnow()
    organiser = accounts.create_user("bench-organiser@example.org", "Organiser", "password123")
    group = accounts.create_group("Bench Estate", "Europe/London", organiser, actor=None)
    supplier_id = db.session.execute(
        text("INSERT INTO suppliers (group_id, name, created_at) VALUES (:g, 'Wholesaler', :t) "
             "RETURNING id"), {"g": group.id, "t": now.replace(tzinfo=None)},
    ).scalar_one()
    product_rows = []
    for n in range(products):
        size = rng.randint(4, 25)
        product_rows.append({
            "supplier_id": supplier_id, "name": f"Product {n:03d}", "unit_description": "unit",
            "case_size": size, "case_price_pence": size * rng.randint(30, 400),
            "supplier_code": f"P{n:03d}", "active": True,
        })
    db.session.execute(insert(Product), product_rows)
    products = db.session.scalars(
        select(Product).where(Product.supplier_id == supplier_id).order_by(Product.id)).all()
    rnd = rounds.create_round(
        group, products[0].supplier, products,
        rounds.RoundDetails(title="Bench round", closes_at=now + timedelta(days=7),
                            delivery_fee_pence=2500, min_order_pence=10_000),
        created_by=organiser, now=now,
    )
    rounds.open_round(rnd, actor=organiser, now=now)
    db.session.flush()
    item_ids = list(db.session.scalars(
        select(RoundItem.id).where(RoundItem.round_id == rnd.id).order_by(RoundItem.id)))

    home_ids = db.session.scalars(
        insert(Household).returning(Household.id, sort_by_parameter_order=True),
        [{"group_id": group.id, "label": f"Flat {n}", "is_assisted": n % 4 == 3,
          "pin_failed_attempts": 0, "created_at": now} for n in range(households)],
    ).all()
    with_user = [h for n, h in enumerate(home_ids) if n % 4 != 3]
    user_ids = db.session.scalars(
        insert(User).returning(User.id, sort_by_parameter_order=True),
        [{"email": f"resident{n}@bench.example.org", "name": f"Resident {n}",
          "password_hash": "not-a-login", "is_site_admin": False, "created_at": now}
         for n in range(len(with_user))],
    ).all()
    db.session.execute(insert(Membership), [
        {"user_id": u, "group_id": group.id, "role": "member", "household_id": h,
         "created_at": now} for u, h in zip(user_ids, with_user, strict=True)])

    per_household = lines // households
    wanted = []
    for home_id in home_ids:
        for item_id in rng.sample(item_ids, per_household):
            tolerance = rng.randint(1, 3) if rng.random() < 0.33 else 0
            wanted.append((home_id, item_id, rng.randint(1, 5), tolerance))
    rng.shuffle(wanted)  # households pledge in no particular order
    start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
    rows = [
        {"round_id": rnd.id, "round_item_id": item_id, "household_id": home_id,
         "queue_pos": start + n, "quantity": quantity, "tolerance": tolerance,
         "created_at": now, "entered_by_id": None}
        for n, (home_id, item_id, quantity, tolerance) in enumerate(wanted)
    ]
    for chunk in range(0, len(rows), 10_000):
        db.session.execute(insert(PledgeLine), rows[chunk:chunk + 10_000])
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(func.setval("pledge_queue_seq", start + len(rows))))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return rnd.id, now + timedelta(days=8)


def add_pot(round_id: int) -> int:
    """The round's group gets a solidarity pot, set up as its organiser does on the pot
    page: a grant recorded as a donation, the rule, and one household in POT_EVERY (by
    id) marked supported, each through bulkbuy.services.solidarity, audited. Committed.
    Returns the grant in pence."""
    from sqlalchemy import select, text

    from bulkbuy.extensions import db
    from bulkbuy.models import Household, Round, utcnow
    from bulkbuy.services import solidarity

    rnd = db.session.get(Round, round_id)
    group, organiser, now = rnd.group, rnd.created_by, utcnow()
    homes = db.session.scalars(select(Household).where(Household.group_id == group.id)
                               .order_by(Household.id)).all()[::POT_EVERY]
    grant = POT_GRANT_PER_SUPPORTED_PENCE * len(homes)
    solidarity.record_donation(group, grant, "Grant from the housing association",
                               actor=organiser, now=now)
    solidarity.save_rule(group, POT_SHARE_PERCENT, POT_CAP_PENCE, actor=organiser, now=now)
    for home in homes:
        if not solidarity.set_supported(group, home, True, actor=organiser, now=now):
            raise SystemExit(f"household {home.id} was already supported")
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return grant


# --- measuring ----------------------------------------------------------------------------


def undo_close(round_id: int) -> None:
    from sqlalchemy import text

    from bulkbuy.extensions import db

    for sql in (
        # The pot's help (--pot): its ledger entries out for these bills, and their audit.
        "DELETE FROM solidarity_entries WHERE reason = 'round_help' AND statement_id IN "
        "(SELECT id FROM statements WHERE round_id = :r)",
        "DELETE FROM audit_log WHERE action = 'solidarity.help'",
        "DELETE FROM statement_lines WHERE statement_id IN "
        "(SELECT id FROM statements WHERE round_id = :r)",
        "DELETE FROM statements WHERE round_id = :r",
        "DELETE FROM outbox WHERE key LIKE 'round-%'",
        "DELETE FROM audit_log WHERE action IN ('round.closed', 'round.failed') "
        "AND subject_id = :r",
        "UPDATE round_items SET cases_ordered = NULL WHERE round_id = :r",
        "UPDATE rounds SET status = 'open', closed_at = NULL, goods_total_pence = NULL "
        "WHERE id = :r",
    ):
        db.session.execute(text(sql), {"r": round_id})
    db.session.commit()
    db.session.remove()


def check_close(round_id: int, grant_pence: int = 0) -> tuple[int, PotCheck | None]:
    """Check the close added up (with a pot of `grant_pence`, the pot too: see the
    module's docstring); return the number of statements and what the pot did."""
    from sqlalchemy import text

    from bulkbuy.extensions import db

    status, goods_total, fee = db.session.execute(
        text("SELECT status, goods_total_pence, delivery_fee_pence FROM rounds WHERE id = :r"),
        {"r": round_id}).one()
    cases_total = db.session.execute(
        text("SELECT SUM(cases_ordered * case_price_pence) FROM round_items WHERE round_id = :r"),
        {"r": round_id}).scalar_one()
    statements, billed, payable, pot_help = db.session.execute(
        text("SELECT COUNT(*), SUM(total_pence), SUM(total_pence - pot_pence), "
             "SUM(pot_pence) FROM statements WHERE round_id = :r"),
        {"r": round_id}).one()
    households = db.session.execute(
        text("SELECT COUNT(DISTINCT household_id) FROM pledge_lines WHERE round_id = :r"),
        {"r": round_id}).scalar_one()
    problems = []
    pot = check_pot(round_id, grant_pence, problems) if grant_pence else None
    if pot is None and pot_help:
        problems.append(f"the pot paid {pot_help} with no pot set up")
    if payable + pot_help != cases_total + fee:
        problems.append(f"households pay {payable} + pot {pot_help} != {cases_total} + fee "
                        f"{fee}")
    db.session.remove()
    if status != "closed":
        problems.append(f"status {status}")
    if goods_total != cases_total:
        problems.append(f"goods total {goods_total} != cases x price {cases_total}")
    if billed != cases_total + fee:
        problems.append(f"statements sum {billed} != {cases_total} + fee {fee}")
    if statements != households:
        problems.append(f"{statements} statements for {households} households")
    if problems:
        raise SystemExit("inconsistent close: " + "; ".join(problems))
    return statements, pot


def check_pot(round_id: int, grant_pence: int, problems: list[str]) -> PotCheck:
    """The pot's side of a close (--pot), from the rows: appends what does not hold."""
    from sqlalchemy import text

    from bulkbuy.extensions import db

    bills = db.session.execute(text(
        "SELECT s.id, s.goods_pence, s.fee_pence, s.total_pence, s.paid_pence, s.pot_pence, "
        "s.payment_status, sh.household_id IS NOT NULL AND sh.unmarked_at IS NULL "
        "FROM statements s LEFT JOIN supported_households sh "
        "ON sh.household_id = s.household_id WHERE s.round_id = :r"), {"r": round_id}).all()
    ledger = dict(db.session.execute(text(
        "SELECT e.statement_id, -SUM(e.amount_pence) FROM solidarity_entries e "
        "JOIN statements s ON s.id = e.statement_id "
        "WHERE s.round_id = :r AND e.reason = 'round_help' GROUP BY e.statement_id"),
        {"r": round_id}).all())
    balance = db.session.execute(text(
        "SELECT COALESCE(SUM(amount_pence), 0) FROM solidarity_entries")).scalar_one()
    wanted = spent = helped = whole = supported = 0
    wrong: dict[str, int] = {}
    for (sid, goods, fee, total, paid, pot, status, is_supported) in bills:
        # The rule, worked out here: fee first, then half the goods (rounded down), in all
        # at most the cap.
        fee_help = min(fee, POT_CAP_PENCE)
        most = fee_help + min(goods * POT_SHARE_PERCENT // 100, POT_CAP_PENCE - fee_help)
        supported += bool(is_supported)
        wanted += most if is_supported else 0
        spent += pot
        helped += pot > 0
        whole += pot == total
        for bad, what in (
            (pot and not is_supported, "helped but not supported"),
            (pot > most, "helped over the rule"),
            (ledger.get(sid, 0) != pot, "help on the bill is not the ledger's"),
            (paid != pot, "paid by something else than the pot"),
            ((status == "paid") != (pot == total), "paid status not as the pot left it"),
        ):
            if bad:
                wrong[what] = wrong.get(what, 0) + 1
    problems.extend(f"{n} bills {what}" for what, n in wrong.items())
    if sum(ledger.values()) != spent:
        problems.append(f"the ledger paid {sum(ledger.values())}, the bills got {spent}")
    if spent != min(grant_pence, wanted):
        problems.append(f"the pot spent {spent}, not min(grant {grant_pence}, wanted {wanted})")
    if balance != grant_pence - spent or balance < 0:
        problems.append(f"the pot holds {balance}, not {grant_pence} - {spent}")
    if not helped:
        problems.append("the pot helped nobody")
    return PotCheck(supported, grant_pence, wanted, spent, helped, whole)


def measure(database: str, url: str, lines: int, households: int, repeat: int,
            pot: bool = False) -> Measured:
    from sqlalchemy import text

    from bulkbuy.extensions import db
    from bulkbuy.services import closing

    app = make_app(url)
    with app.app_context():
        built = time.perf_counter()
        round_id, close_at = build_round(households, lines)
        grant = add_pot(round_id) if pot else 0
        say(f"{database}: built {lines:,} lines in {time.perf_counter() - built:.1f} s")
        db.session.remove()

        runs = []
        statements, pot_done = 0, None
        for attempt in range(repeat):
            if attempt:
                undo_close(round_id)
            started = time.perf_counter()
            result = closing.close_round(round_id, close_at)
            db.session.commit()
            runs.append(time.perf_counter() - started)
            db.session.remove()
            if result is None or result.status != "closed":
                raise SystemExit(f"{database}: the round did not close: {result}")
            statements, pot_done = check_close(round_id, grant)

        groupby = []
        for _ in range(5):
            with db.engine.connect() as conn:
                started = time.perf_counter()
                rows = conn.execute(text(GROUP_BY), {"round_id": round_id}).all()
                groupby.append(time.perf_counter() - started)
        assert len(rows) == lines, (len(rows), lines)  # one row per (item, household)
        db.session.remove()
        db.engine.dispose()
    return Measured(database, lines, households, statistics.median(runs), tuple(runs),
                    statistics.median(groupby), statements, pot_done)


def run_database(database: str, url_for_size, repeat: int, pot: bool = False
                 ) -> list[Measured]:
    results = []
    for lines, households in SIZES:
        m = measure(database, url_for_size(), lines, households, repeat, pot)
        results.append(m)
        runs = " ".join(f"{r:.3f}" for r in m.close_runs)
        say(f"{database}: {m.lines:,} lines ({PRODUCTS} products x {m.households:,} households,"
            f" {m.statements:,} statements): close {m.close_s:.3f} s (runs {runs}),"
            f" group-by {m.groupby_s * 1000:.1f} ms, ratio {m.close_s / m.groupby_s:.0f}")
        if m.pot:
            p = m.pot
            say(f"{database}:   pot: {p.supported:,} households supported, grant "
                f"{p.grant_pence:,}p, the rule asks {p.wanted_pence:,}p, spent "
                f"{p.spent_pence:,}p on {p.helped:,} bills ({p.covered_whole:,} paid whole); "
                f"checked")
    small, big = results
    say(f"{database}: growth {big.close_s / small.close_s:.2f} for 10x the lines "
        f"(target <= {TARGET_GROWTH:g}); 10k close {small.close_s:.3f} s "
        f"(target < {TARGET_10K_S:g} s)")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("BENCH_CLOSE_DATABASE_URL") or None,
                        help="PostgreSQL URL (wiped; its name must contain 'bench')")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--repeat", type=int, default=3, help="closes per size (median)")
    parser.add_argument("--pot", action="store_true",
                        help="the group has a solidarity pot with a grant, and one household "
                             f"in {POT_EVERY} is supported")
    args = parser.parse_args()
    if args.no_postgres and args.no_sqlite:
        parser.error("--no-postgres and --no-sqlite leave nothing to run")

    measured: dict[str, list[Measured]] = {}
    if args.pot:
        say(f"pot: on (grant {POT_GRANT_PER_SUPPORTED_PENCE}p a supported household, one in "
            f"{POT_EVERY} supported, rule {POT_SHARE_PERCENT}% of goods, cap "
            f"{POT_CAP_PENCE}p)")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="bulkbuy-bench-close-") as tmp:
            files = iter(range(100))
            measured["sqlite"] = run_database(
                "sqlite", lambda: f"sqlite:///{Path(tmp) / f'close-{next(files)}.sqlite'}",
                args.repeat, args.pot)
    pg = None if args.no_postgres else postgres_url(args.postgres)
    if pg:
        def fresh_pg() -> str:
            wipe_postgres(pg)
            return pg

        measured["postgresql"] = run_database("postgresql", fresh_pg, args.repeat, args.pot)
    else:
        say("postgresql: not run (set TEST_DATABASE_URL or DATABASE_URL, or pass --postgres)")
    if not measured:
        raise SystemExit("nothing was measured")

    worst_small = max((r[0] for r in measured.values()), key=lambda m: m.close_s)
    worst_big = max((r[1] for r in measured.values()), key=lambda m: m.close_s)
    close_10k, close_100k = worst_small.close_s, worst_big.close_s
    growth = close_100k / close_10k
    missed = [f"{name} 10k close {r[0].close_s:.2f} s" for name, r in measured.items()
              if r[0].close_s >= TARGET_10K_S]
    missed += [f"{name} growth {r[1].close_s / r[0].close_s:.1f}"
               for name, r in measured.items() if r[1].close_s / r[0].close_s > TARGET_GROWTH]
    say("targets met" if not missed else "targets MISSED: " + "; ".join(missed))
    say(f"close_10k_s={close_10k:.3f} close_100k_s={close_100k:.3f} growth={growth:.2f} "
        f"ratio_to_groupby={close_10k / worst_small.groupby_s:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
