"""Benchmark: delivery day (services.delivery.record_delivery) for a big round received
20% short on every product, then its refunds swept against localstripe, beside a bare
SDK loop.

    python bench/delivery.py                         # SQLite
    python bench/delivery.py --postgres URL          # PostgreSQL (or
                                                     # BENCH_DELIVERY_DATABASE_URL=URL)
    python bench/delivery.py --card-households 300   # fewer card payments to refund
    python bench/delivery.py --profile               # cProfile a (rolled back) save

The round (untimed, bulk inserted as bench/close.py does): one group, 40 products,
2,000 households with 5 pledge lines each (10,000 lines), three in four households with
a user (so the "your bill changed" e-mails are owed too), a delivery fee and a minimum
order the round reaches; closed with services.closing.close_round and marked ordered
with services.rounds.mark_ordered, each committed.

Card payments (untimed): for the first --card-households statements (by id; default
300 of the 2,000: see CARD_HOUSEHOLDS) a real PaymentIntent for the statement's total,
made (a card PaymentMethod, then a confirmed PaymentIntent) on a localstripe that saves
its store once at the end (bench/charge.py's snapshot); in the database a succeeded
CardPayment for it, credited in full, and the statement paid. Every timed localstripe
starts from a copy of that snapshot, so the app and the bare loop meet the same state
(localstripe rewrites its whole store after every write, so its speed depends on the
state's size).

Timed, `reallocate_s`: one save of what arrived, every product 20% short (arrived =
4/5 of the units ordered, rounded down), as a request does it: from a fresh session,
the round loaded, then record_delivery(...) and the commit. Before it, one save that is
rolled back (a warm-up, as on a running server; with --profile it runs under cProfile
and its profile is printed). The SQL statements of the save are counted, by first word.
Checked: every statement is goods + fee, the fees add up to the round's fee, and the
refunds queued add up to what the card-paid statements went down by.

Timed, `refunds_per_s`: sweeps.sweep_payments(now, throttle=Throttle(--rate),
batch=N) called until no refund is due (normally once), against a localstripe of its own;
refunds per second of that. Checked: every refund succeeded, and localstripe holds
exactly that many refunds. The configured rate (STRIPE_REQUESTS_PER_SECOND, here --rate,
default 100 as in bench/charge.py; the app's own default is 10) caps it:
`peak_rate` is the most refunds the throttle let start within any one second.

Timed, `bare_sdk_per_s`: on a fresh localstripe from the same snapshot, one StripeClient
(max_network_retries=0) calling client.v1.refunds.create for the same PaymentIntents,
amounts, metadata and idempotency keys, one at a time; ratio = refunds_per_s /
bare_sdk_per_s.

Timed, `news_s` (reported, no target): the notification sweep's part that turns the
save's notices into those e-mails (delivery.queue_delivery_news and its commit).

The last line printed is always
`database=... reallocate_s=... refunds_per_s=... bare_sdk_per_s=... ratio=...
peak_rate=... rate=... card_households=...`. Targets: reallocate_s < 1 on PostgreSQL,
ratio >= 0.9, peak_rate <= rate. Exits 1 if a run does not check out, 0 otherwise
(targets missed are printed, not fatal); 0 with a message when localstripe is not
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
for _path in (ROOT, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import close as close_bench  # noqa: E402 - bench/close.py: the same big round
from charge import (  # noqa: E402 - bench/charge.py, after the path is set
    _SetupServer,
    client_for,
    default_localstripe_dir,
    make_app,
)

from devtools.localstripe_server import LocalstripeServer, is_installed  # noqa: E402

PRODUCTS = 40
HOUSEHOLDS = 2_000
LINES_PER_HOUSEHOLD = 5
SHORT = (4, 5)  # arrived = units ordered x 4/5, rounded down: every product 20% short
RATE_LIMIT = 100
#: Statements paid by card by default. localstripe rewrites its whole store after every
#: write, so with 2,000 PaymentIntents (2.6 MB of state) each refund costs it 0.3-0.6 s
#: and the fake, not the app or the SDK, sets both sides' pace; 300 keeps it near 40 ms.
CARD_HOUSEHOLDS = 300
CARD_OK = "4242424242424242"
TARGET_REALLOCATE_S = 1.0
TARGET_RATIO = 0.9


def say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Paid:
    """One statement paid by card: its PaymentIntent at localstripe."""

    statement_id: int
    household_id: int
    amount_pence: int
    payment_intent_id: str


@dataclass(frozen=True)
class Refund:
    """One refund the save queued: the same on both sides."""

    payment_intent_id: str
    amount_pence: int
    idempotency_key: str


# --- the round ----------------------------------------------------------------------------


def build_round(households: int) -> tuple[int, object]:
    """Fill the (empty, migrated) database as bench/close.py does, close the round and
    mark it ordered (each committed); return (round id, the time of the close)."""
    from sqlalchemy import select

    from bulkbuy.extensions import db
    from bulkbuy.models import Round, User
    from bulkbuy.services import closing, rounds

    round_id, close_at = close_bench.build_round(households, households * LINES_PER_HOUSEHOLD,
                                                 products=PRODUCTS)
    result = closing.close_round(round_id, close_at)
    db.session.commit()
    if result is None or result.status != "closed":
        raise SystemExit(f"the round did not close: {result}")
    organiser = db.session.scalar(select(User).where(
        User.email == "bench-organiser@example.org"))
    rounds.mark_ordered(db.session.get(Round, round_id), reference="BENCH-1",
                        expected_on=(close_at + timedelta(days=3)).date(),
                        actor=organiser, now=close_at)
    db.session.commit()
    db.session.remove()
    return round_id, close_at


def statements_to_pay(round_id: int, count: int) -> list[tuple[int, int, int]]:
    """(statement id, household id, total) of the first `count` statements, by id."""
    from sqlalchemy import select

    from bulkbuy.extensions import db
    from bulkbuy.models import Statement

    rows = db.session.execute(
        select(Statement.id, Statement.household_id, Statement.total_pence)
        .where(Statement.round_id == round_id).order_by(Statement.id).limit(count)).all()
    db.session.remove()
    return [tuple(r) for r in rows]


def make_snapshot(to_pay: list[tuple[int, int, int]], round_id: int,
                  path: Path) -> list[Paid]:
    """A succeeded PaymentIntent per statement, saved to `path` (see bench/charge.py)."""
    paid = []
    server = _SetupServer(state_file=str(path))
    with server as base_url:
        client = client_for(base_url)
        for statement_id, household_id, total in to_pay:
            card = client.v1.payment_methods.create(params={
                "type": "card",
                "card": {"number": CARD_OK, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
            intent = client.v1.payment_intents.create(params={
                "amount": total, "currency": "gbp", "payment_method": card.id,
                "confirm": True,
                "metadata": {"round_id": str(round_id), "household_id": str(household_id),
                             "attempt": "1", "statement_id": str(statement_id)}})
            if intent.status != "succeeded":
                raise SystemExit(f"setup: a PaymentIntent is {intent.status}")
            paid.append(Paid(statement_id, household_id, total, intent.id))
        server.dump()
    return paid


def record_card_payments(round_id: int, paid: list[Paid], at) -> None:
    """A succeeded CardPayment per PaymentIntent, credited in full; its statement paid."""
    from sqlalchemy import bindparam, insert, update

    from bulkbuy.extensions import db
    from bulkbuy.models import CardPayment, Statement

    db.session.execute(insert(CardPayment), [
        {"statement_id": p.statement_id, "round_id": round_id, "household_id": p.household_id,
         "attempt": 1, "kind": "off_session",
         "idempotency_key": f"bulkbuy-charge-r{round_id}-h{p.household_id}-a1",
         "amount_pence": p.amount_pence, "status": "succeeded",
         "payment_intent_id": p.payment_intent_id, "credited_pence": p.amount_pence,
         "refunded_pence": 0, "checks": 0, "answered_5xx": False, "empty_lookups": 0,
         "created_at": at, "updated_at": at} for p in paid])
    table = Statement.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("b_id"))
        .values(paid_pence=bindparam("b_paid"), payment_status="paid"),
        [{"b_id": p.statement_id, "b_paid": p.amount_pence} for p in paid])
    db.session.commit()
    db.session.remove()


def analyze() -> None:
    from sqlalchemy import text

    from bulkbuy.extensions import db

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


# --- localstripe --------------------------------------------------------------------------


@contextlib.contextmanager
def localstripe_from(snapshot: Path, state_dir: Path, intents: int):
    """A localstripe of its own starting from (a copy of) the snapshot; yields its URL."""
    state = state_dir / f"run-{time.monotonic_ns()}.pickle"
    shutil.copyfile(snapshot, state)
    try:
        with LocalstripeServer(state_file=str(state)) as base_url:
            found = client_for(base_url).v1.payment_intents.list(params={"limit": 100})
            if len(list(found.auto_paging_iter())) != intents:
                raise SystemExit("localstripe did not load the snapshot")
            yield base_url
    finally:
        state.unlink(missing_ok=True)


def refunds_at(base_url: str) -> list:
    client = client_for(base_url)
    return list(client.v1.refunds.list(params={"limit": 100}).auto_paging_iter())


# --- measuring ----------------------------------------------------------------------------


def save_delivery(round_id: int, now, *, commit: bool, profiler: cProfile.Profile | None,
                  statements: Counter):
    """One save of what arrived (every product 20% short) from a fresh session, then
    commit (or roll back). Returns (seconds, result): record_delivery and the commit."""
    from sqlalchemy import event, select

    from bulkbuy.extensions import db
    from bulkbuy.models import Round, User
    from bulkbuy.services import delivery

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements[statement.lstrip().split(None, 1)[0].upper()] += 1

    db.session.remove()
    rnd = db.session.get(Round, round_id)
    actor = db.session.scalar(select(User).where(
        User.email == "bench-organiser@example.org"))
    arrived = [delivery.Arrived(item.id, (item.cases_ordered or 0) * item.case_size
                                * SHORT[0] // SHORT[1])
               for item in delivery.original_items(rnd)]
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = delivery.record_delivery(rnd, arrived, [], None,
                                          drawn_version=rnd.delivery_version,
                                          actor=actor, now=now)
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        db.session.remove()
    return seconds, result


def check_save(round_id: int, paid: list[Paid], before: dict[int, int]) -> list[Refund]:
    """The save added up; return the refunds it queued (oldest first)."""
    from sqlalchemy import select

    from bulkbuy.extensions import db
    from bulkbuy.models import CardPayment, CardRefund, Round, Statement

    rnd = db.session.get(Round, round_id)
    rows = db.session.execute(
        select(Statement.id, Statement.goods_pence, Statement.fee_pence, Statement.total_pence,
               Statement.paid_pence).where(Statement.round_id == round_id)).all()
    refunds = db.session.execute(
        select(CardRefund.amount_pence, CardRefund.idempotency_key, CardRefund.status,
               CardPayment.payment_intent_id, CardPayment.statement_id)
        .join(CardPayment, CardRefund.card_payment_id == CardPayment.id)
        .where(CardPayment.round_id == round_id).order_by(CardRefund.id)).all()
    status = rnd.status
    fee = rnd.delivery_fee_pence
    db.session.remove()
    problems = []
    if status != "delivered":
        problems.append(f"round is {status}")
    if any(r.total_pence != r.goods_pence + r.fee_pence for r in rows):
        problems.append("a statement is not goods + fee")
    if sum(r.fee_pence for r in rows) != fee:
        problems.append(f"fees add up to {sum(r.fee_pence for r in rows)}, not {fee}")
    totals = {r.id: r.total_pence for r in rows}
    went_down = sum(max(0, p.amount_pence - totals[p.statement_id]) for p in paid)
    if sum(r.amount_pence for r in refunds) != went_down:
        problems.append(f"refunds add up to {sum(r.amount_pence for r in refunds)}p, the "
                        f"card-paid statements went down by {went_down}p")
    if any(r.status != "pending" for r in refunds):
        problems.append("a refund is not pending")
    if sum(totals.values()) >= sum(before.values()):
        problems.append("the statements did not go down")
    if problems:
        raise SystemExit("inconsistent save: " + "; ".join(problems))
    return [Refund(r.payment_intent_id, r.amount_pence, r.idempotency_key) for r in refunds]


def sweep_refunds(app, rate: float, expected: int) -> tuple[float, int]:
    """Sweep until no refund is due; (seconds, peak rate)."""
    from sqlalchemy import func, select

    from bulkbuy import sweeps
    from bulkbuy.extensions import db
    from bulkbuy.models import CardRefund, utcnow
    from bulkbuy.services.payments import refunds
    from bulkbuy.services.payments.throttle import Throttle

    throttle = Throttle(rate)
    swept = charged = 0
    errors: list[str] = []
    db.session.remove()
    started = time.perf_counter()
    for _ in range(10):
        result = sweeps.sweep_payments(utcnow(), config=app.config, throttle=throttle,
                                       batch=expected)
        swept += result.refunded
        charged += result.charged
        errors += result.errors
        db.session.remove()
        if not refunds.due_refund_ids(utcnow(), 1):
            break
    seconds = time.perf_counter() - started
    succeeded = db.session.scalar(select(func.count()).select_from(CardRefund)
                                  .where(CardRefund.status == "succeeded"))
    db.session.remove()
    problems = []
    if swept != expected or errors or charged:
        problems.append(f"sweep: {swept} refunded, {charged} charged, errors {errors[:3]}")
    if succeeded != expected:
        problems.append(f"{succeeded} of {expected} refunds succeeded")
    if len(throttle.calls) != expected:
        problems.append(f"the throttle saw {len(throttle.calls)} calls")
    if problems:
        raise SystemExit("refund sweep inconsistent: " + "; ".join(problems))
    return seconds, throttle.peak_per_second()


def bare_run(base_url: str, refunds: list[Refund]) -> float:
    client = client_for(base_url)
    succeeded = 0
    started = time.perf_counter()
    for refund in refunds:
        answer = client.v1.refunds.create(params={
            "payment_intent": refund.payment_intent_id, "amount": refund.amount_pence,
            "metadata": {"refund_key": refund.idempotency_key},
        }, options={"idempotency_key": refund.idempotency_key})
        succeeded += answer.status == "succeeded"
    seconds = time.perf_counter() - started
    if succeeded != len(refunds):
        raise SystemExit(f"bare run: {succeeded} of {len(refunds)} refunds succeeded")
    return seconds


def print_profile(profiler: cProfile.Profile, seconds: float) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    say(f"profile of a save (rolled back; {seconds:.2f} s under cProfile):\n{out.getvalue()}")


def news_sweep() -> tuple[float, int]:
    """Seconds the notification sweep takes to queue the "your bill changed" e-mails of
    the save (delivery.queue_delivery_news and its commit), and how many it queued."""
    from sqlalchemy import func, select

    from bulkbuy.extensions import db
    from bulkbuy.models import OutboxMessage, utcnow
    from bulkbuy.services import delivery

    db.session.remove()
    before = db.session.scalar(select(func.count(OutboxMessage.id)))
    started = time.perf_counter()
    delivery.queue_delivery_news(utcnow())
    db.session.commit()
    seconds = time.perf_counter() - started
    return seconds, db.session.scalar(select(func.count(OutboxMessage.id))) - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("BENCH_DELIVERY_DATABASE_URL") or None,
                        help="run on PostgreSQL (wiped; its name must contain 'bench')")
    parser.add_argument("--households", type=int, default=HOUSEHOLDS,
                        help=f"households, {LINES_PER_HOUSEHOLD} lines each "
                             f"(default {HOUSEHOLDS})")
    parser.add_argument("--card-households", type=int, default=CARD_HOUSEHOLDS,
                        help="statements paid by card, so refunded "
                             f"(default {CARD_HOUSEHOLDS})")
    parser.add_argument("--rate", type=float, default=RATE_LIMIT,
                        help=f"STRIPE_REQUESTS_PER_SECOND for the sweep (default {RATE_LIMIT})")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the warm-up save (rolled back) and print it")
    parser.add_argument("--localstripe-dir", default=default_localstripe_dir(),
                        help="where each localstripe keeps its state file (default: "
                             "/dev/shm when there is one, else the temporary directory)")
    args = parser.parse_args()
    if not is_installed():
        say("delivery: localstripe is not installed; skipped")
        return 0
    cards = min(args.households, args.card_households)

    with (tempfile.TemporaryDirectory(prefix="bulkbuy-bench-delivery-") as tmp_name,
          tempfile.TemporaryDirectory(prefix="bulkbuy-bench-delivery-localstripe-",
                                      dir=args.localstripe_dir) as state_name):
        tmp, state_dir = Path(tmp_name), Path(state_name)
        if args.postgres:
            import harness  # bench/, beside this file

            database = "postgresql"
            harness.wipe_bench_database(args.postgres)
            url = args.postgres
        else:
            database = "sqlite"
            url = f"sqlite:///{tmp / 'delivery.sqlite'}"
        say(f"database: {database}")

        from bulkbuy.extensions import db
        from bulkbuy.models import Statement, utcnow

        # STRIPE_API_BASE is set to each run's localstripe below.
        app = make_app(url, "http://127.0.0.1:9")
        app.config["STRIPE_REQUESTS_PER_SECOND"] = args.rate
        with app.app_context():
            started = time.perf_counter()
            round_id, close_at = build_round(args.households)
            to_pay = statements_to_pay(round_id, cards)
            say(f"setup: round of {args.households:,} households, "
                f"{args.households * LINES_PER_HOUSEHOLD:,} lines, {PRODUCTS} products, "
                f"closed and ordered in {time.perf_counter() - started:.1f} s")

            started = time.perf_counter()
            snapshot = tmp / "snapshot.pickle"
            paid = make_snapshot(to_pay, round_id, snapshot)
            record_card_payments(round_id, paid, close_at + timedelta(minutes=5))
            analyze()
            before = dict(db.session.execute(
                db.select(Statement.id, Statement.total_pence)
                .where(Statement.round_id == round_id)).all())
            db.session.remove()
            say(f"setup: {len(paid):,} statements paid by card (real PaymentIntents, "
                f"{snapshot.stat().st_size / 1024:.0f} KiB of localstripe state) in "
                f"{time.perf_counter() - started:.1f} s")

            profiler = cProfile.Profile() if args.profile else None
            warm_statements: Counter = Counter()
            warm_s, _ = save_delivery(round_id, utcnow(), commit=False, profiler=profiler,
                                      statements=warm_statements)
            if profiler:
                print_profile(profiler, warm_s)
            else:
                say(f"warm-up save (rolled back): {warm_s:.3f} s")
            statements: Counter = Counter()
            reallocate_s, result = save_delivery(round_id, utcnow(), commit=True,
                                                 profiler=None, statements=statements)
            refunds = check_save(round_id, paid, before)
            say(f"save: {reallocate_s:.3f} s (record_delivery and the commit); "
                f"{result.statements_changed:,} statements changed, "
                f"{result.refunds_queued:,} refunds queued; "
                f"{sum(statements.values()):,} SQL statements ("
                + ", ".join(f"{w} {n:,}" for w, n in sorted(statements.items())) + ")")
            if result.refunds_queued != len(refunds) or not refunds:
                raise SystemExit(f"{result.refunds_queued} refunds queued, "
                                 f"{len(refunds)} found")
            news_s, mails = news_sweep()
            if mails < result.statements_changed // 2:
                raise SystemExit(f"{mails} e-mails for {result.statements_changed} bills")
            say(f"news sweep: {mails:,} e-mails for {result.statements_changed:,} changed "
                f"bills in {news_s:.3f} s (the notification sweep, after the save)")

            with localstripe_from(snapshot, state_dir, len(paid)) as base_url:
                app.config["STRIPE_API_BASE"] = base_url
                sweep_s, peak = sweep_refunds(app, args.rate, len(refunds))
                at_stripe = len(refunds_at(base_url))
            if at_stripe != len(refunds):
                raise SystemExit(f"{at_stripe} refunds at localstripe, not {len(refunds)}")
            say(f"refund sweep: {len(refunds):,} refunds in {sweep_s:.2f} s = "
                f"{len(refunds) / sweep_s:.1f}/s ({sweep_s / len(refunds) * 1000:.1f} ms each);"
                f" peak {peak}/s (rate {args.rate:g}/s)")
            db.session.remove()
            db.engine.dispose()

        with localstripe_from(snapshot, state_dir, len(paid)) as base_url:
            bare_s = bare_run(base_url, refunds)
        say(f"bare SDK loop (one client): {len(refunds):,} refunds in {bare_s:.2f} s = "
            f"{len(refunds) / bare_s:.1f}/s ({bare_s / len(refunds) * 1000:.1f} ms each)")

    refunds_per_s = len(refunds) / sweep_s
    bare_per_s = len(refunds) / bare_s
    ratio = refunds_per_s / bare_per_s
    missed = []
    if database == "postgresql" and reallocate_s >= TARGET_REALLOCATE_S:
        missed.append(f"reallocate_s {reallocate_s:.3f} >= {TARGET_REALLOCATE_S:g}")
    if ratio < TARGET_RATIO:
        missed.append(f"ratio {ratio:.3f} < {TARGET_RATIO}")
    if peak > args.rate:
        missed.append(f"peak rate {peak}/s over the configured {args.rate:g}/s")
    say("targets met" if not missed else "targets MISSED: " + "; ".join(missed))
    say(f"database={database} reallocate_s={reallocate_s:.3f} "
        f"refunds_per_s={refunds_per_s:.1f} bare_sdk_per_s={bare_per_s:.1f} "
        f"ratio={ratio:.3f} peak_rate={peak} rate={args.rate:g} card_households={len(paid)} "
        f"news_s={news_s:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
