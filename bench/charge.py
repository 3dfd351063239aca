"""Benchmark: the card charge sweep (sweeps.sweep_payments), against a bare SDK loop.

    python bench/charge.py                    # 500 households, SQLite
    python bench/charge.py --households 50    # a quick smoke run
    python bench/charge.py --postgres URL     # the app on PostgreSQL (or
                                              # BENCH_CHARGE_DATABASE_URL=URL)
    python bench/charge.py --repeat 2         # app, bare, bare, app; medians reported
    python bench/charge.py --fresh-client     # also a bare loop with a new client per call
    python bench/charge.py --profile          # cProfile the first app sweep
    python bench/charge.py --localstripe-dir DIR   # localstripe's state files there

localstripe (devtools/localstripe_server.py) pickles its whole store after every write, so
it slows as its state grows. So every timed run gets a localstripe of its own, started
from one snapshot: each starts with exactly the same state (the same N customers and
cards, no payment yet) and writes the same N PaymentIntents. The snapshot is made once,
untimed: N customers, each with a test card (4242 4242 4242 4242) made as a
PaymentMethod and attached, through the SDK, on a localstripe that saves its store once
at the end instead of after every write (the same state; only quicker to make).

Where: each localstripe keeps its state file (rewritten several times a request, some
MB a second) in a directory of its own under --localstripe-dir, by default /dev/shm
(memory) when there is one, while the SQLite database is a file in the ordinary
temporary directory: so the fake's rewrites and the app's fsync'd commits do not share
a disk and slow each other (a cost of the fake, not of the app; real Stripe writes
nothing to our disk). Both sides get the same directory.

App run (untimed setup): a fresh, migrated database (a temporary SQLite file, or the
PostgreSQL database, its public schema dropped and rebuilt; a --postgres URL is wiped
only if its name contains "bench": `TEST_DB_NAME=bulkbuy_bench_charge bash
scripts/ensure_postgres.sh` prints one), with tests/stripe_helpers.py's app_settings and
STRIPE_REQUESTS_PER_SECOND=100; one group, one open round of one product (1 a case,
137p), N households pledging 1-6 units each, a saved card (SavedCard row pointing at
the snapshot's customer and card) and consent (CardConsent row) per household, bulk
inserted; then services.closing.close_round and a commit, so there are N statements due
(137p to 822p, all at least Stripe's 30p minimum). Timed: one call of
sweeps.sweep_payments(now, config=app.config,
throttle=Throttle(100), batch=N) (so it charges all N), from a fresh session to its
return. Checked: N charged, no errors, N statements paid, and exactly N PaymentIntents
at localstripe, all succeeded.

Bare run: N x `client.v1.payment_intents.create(params={amount, currency gbp, customer,
payment_method, off_session, confirm, metadata}, options={idempotency_key})` with one
StripeClient (max_network_retries=0), with the amounts, cards, metadata and keys of the
app's charges; every answer must be "succeeded". With --fresh-client another bare loop
builds a new StripeClient on a new requests.Session per call and closes it after, as
the adapter (stripe_gateway._call) does; it is printed, not in the last line.

The sweep has up to STRIPE_CONCURRENT_CHARGES charges in flight (the app's default, 4,
unless --concurrency N; 1 sends them one by one), each call in a worker thread while
the sweep's own thread records attempts and answers; the bare loop sends one at a time
(with real Stripe taking a few hundred ms a charge, one at a time could not reach the
configured rate; here it shows what the sweep's own work costs beside the calls).

Each app run also prints where its time went, per charge: on the sweep's thread, in
start_attempt, the commits, _card_of, the throttle's sleep and _apply, and the rest
(which includes waiting for answers); in the worker threads,
stripe_gateway.charge_off_session (the HTTP call; overlapping the rest). Each is wrapped
for the run with a perf_counter timer. And how many SQL statements the sweep sent, per
charge.

The last line printed is always
`charges_per_s=... bare_sdk_per_s=... ratio=... peak_rate=...`: N over the (median)
sweep time, N over the (median) bare loop time, their ratio, and the most charges the
throttle started within any one second (Throttle.peak_per_second; the largest over the
app runs). Targets: ratio >= 0.9, peak_rate <= 100. Exits 1 if a run does not check
out, 0 otherwise (targets missed are printed, not fatal); 0 with a message when
localstripe is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.localstripe_server import (  # noqa: E402 - after the path is set
    TEST_KEY,
    LocalstripeServer,
    free_port,
    is_installed,
)

HOUSEHOLDS = 500
RATE_LIMIT = 100  # STRIPE_REQUESTS_PER_SECOND for the measurement
UNIT_PRICE_PENCE = 137  # one product, 1 a case: statements of 137p to 822p
SEED = 20260315
CARD_OK = "4242424242424242"
TARGET_RATIO = 0.9

#: A localstripe for making the snapshot: as devtools/localstripe_server.py runs it, but
#: writes are not saved one by one; POST /_config/bench_dump saves the whole store to
#: argv[2], as a plain dict: unpickling localstripe's own Store calls its __setitem__,
#: which saves the store to the very file being loaded, truncating it (a state of
#: 400 KiB then fails to load with "pickle data was truncated").
_SETUP_SERVE = (
    "import pickle, sys, aiohttp.web, localstripe.resources, localstripe.server\n"
    "localstripe.resources.Store.dump_to_disk = lambda store: None\n"
    "async def bench_dump(request):\n"
    "    with open(sys.argv[2], 'wb') as f:\n"
    "        pickle.dump(dict(localstripe.resources.store), f,"
    " protocol=pickle.HIGHEST_PROTOCOL)\n"
    "    return aiohttp.web.Response()\n"
    "localstripe.server.app.router.add_post('/_config/bench_dump', bench_dump)\n"
    "aiohttp.web.run_app(localstripe.server.app, host='127.0.0.1',"
    " port=int(sys.argv[1]), print=None, access_log=None)\n"
)


def say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Charge:
    """One card to charge: the same on both sides."""

    round_id: int
    household_id: int
    statement_id: int
    amount_pence: int
    customer_id: str
    payment_method_id: str

    @property
    def metadata(self) -> dict[str, str]:  # as CardPayment.metadata_for_stripe (attempt 1)
        return {"round_id": str(self.round_id), "household_id": str(self.household_id),
                "attempt": "1", "statement_id": str(self.statement_id)}

    @property
    def idempotency_key(self) -> str:  # as charging.charge_key (attempt 1)
        return f"bulkbuy-charge-r{self.round_id}-h{self.household_id}-a1"


@dataclass(frozen=True)
class AppRun:
    seconds: float
    peak_rate: int
    #: Seconds spent in each part of the sweep (see PHASES), summed over the charges.
    phases: dict[str, float]
    #: SQL statements the sweep sent, by their first word (SELECT, UPDATE, ...).
    statements: dict[str, int]
    #: Charges in flight at once (STRIPE_CONCURRENT_CHARGES).
    concurrency: int


#: The parts of the sweep timed in each app run, by wrapping them for the run:
#: (name, module attribute). "commit" is the session's commit (each unit of work) and
#: "throttle sleep" the Throttle's sleep; the rest of the sweep is reported as "other".
PHASES = (
    ("start_attempt", "bulkbuy.services.payments.charge_sweep:start_attempt"),
    ("commit", None),
    ("_card_of", "bulkbuy.services.payments.charge_sweep:card_of"),
    ("throttle sleep", None),
    ("charge_off_session", "bulkbuy.adapters.stripe_gateway:charge_off_session"),
    ("_apply", "bulkbuy.services.payments.charge_sweep:record_answer"),
)
#: Phases that run in the sweep's worker threads (overlapping the others).
IN_WORKERS = ("charge_off_session",)


class PhaseTimer:
    """Adds up the time spent in wrapped functions (time.perf_counter around each call)."""

    def __init__(self):
        self.seconds = {name: 0.0 for name, _ in PHASES}
        self._patched: list[tuple[object, str, object]] = []
        self._lock = threading.Lock()  # the calls are timed in the sweep's worker threads

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                with self._lock:
                    self.seconds[name] += spent
        return timed

    def __enter__(self) -> PhaseTimer:
        import importlib

        for name, where in PHASES:
            if where:
                module_name, attribute = where.split(":")
                module = importlib.import_module(module_name)
                original = getattr(module, attribute)
                self._patched.append((module, attribute, original))
                setattr(module, attribute, self.wrap(name, original))
        return self

    def __exit__(self, *exc_info) -> None:
        for module, attribute, original in reversed(self._patched):
            setattr(module, attribute, original)
        self._patched.clear()


# --- localstripe --------------------------------------------------------------------------


class _SetupServer(LocalstripeServer):
    """localstripe for making the snapshot (see _SETUP_SERVE); state saved on dump()."""

    def start(self) -> str:
        try:
            self.port = self.port or free_port()
            self._log = tempfile.TemporaryFile()
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SETUP_SERVE, str(self.port), str(self.state_file)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            )
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def dump(self) -> None:
        import requests

        requests.post(f"{self.base_url}/_config/bench_dump", timeout=60).raise_for_status()


def client_for(base_url: str):
    import stripe

    return stripe.StripeClient(TEST_KEY, base_addresses={"api": base_url},
                               max_network_retries=0)


def make_snapshot(households: int, path: Path) -> list[tuple[str, str]]:
    """Customers with an attached test card, saved to `path`; returns (customer, card) ids."""
    cards = []
    server = _SetupServer(state_file=str(path))
    with server as base_url:
        client = client_for(base_url)
        for n in range(households):
            customer = client.v1.customers.create(params={
                "email": f"resident{n}@bench.example.org", "name": f"Flat {n}",
                "metadata": {"household_id": str(n + 1)}})
            card = client.v1.payment_methods.create(params={
                "type": "card",
                "card": {"number": CARD_OK, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
            client.v1.payment_methods.attach(card.id, params={"customer": customer.id})
            cards.append((customer.id, card.id))
        server.dump()
    return cards


def default_localstripe_dir() -> str | None:
    """The shared-memory directory when there is one (see the module doc, "Where")."""
    shm = Path("/dev/shm")  # noqa: S108 - only a parent for tempfile.TemporaryDirectory
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@contextlib.contextmanager
def localstripe_from(snapshot: Path, state_dir: Path, expected_customers: int):
    """A localstripe of its own starting from (a copy of) the snapshot; yields its URL."""
    state = state_dir / f"run-{time.monotonic_ns()}.pickle"
    shutil.copyfile(snapshot, state)
    try:
        with LocalstripeServer(state_file=str(state)) as base_url:
            customers = client_for(base_url).v1.customers.list(params={"limit": 100})
            if len(list(customers.auto_paging_iter())) != expected_customers:
                raise SystemExit("localstripe did not load the snapshot")
            yield base_url
    finally:
        state.unlink(missing_ok=True)


def payment_intents_at(base_url: str) -> list:
    client = client_for(base_url)
    return list(client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


# --- databases ----------------------------------------------------------------------------


def wipe_postgres(url: str) -> None:
    """The bench database's schema dropped and rebuilt (bench/harness.py)."""
    import harness  # bench/, beside this file

    harness.wipe_bench_database(url)


def make_app(url: str, base_url: str, concurrency: int | None = None):
    from flask_migrate import upgrade

    from bulkbuy import create_app
    from config import Config, database_url
    from tests.stripe_helpers import app_settings

    app = create_app(Config, {
        "SQLALCHEMY_DATABASE_URI": database_url(url), "SECRET_KEY": "bench-charge",
        "MAIL_SERVER": None,
        **app_settings(base_url, STRIPE_REQUESTS_PER_SECOND=float(RATE_LIMIT)),
        **({} if concurrency is None else {"STRIPE_CONCURRENT_CHARGES": concurrency}),
    })
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
    finally:
        # migrations/env.py's fileConfig gives the root logger a console handler: take
        # it away again, so the SDK's info lines (stripe_gateway sets the "stripe"
        # logger to INFO) go nowhere, as in the app served, instead of to stderr.
        root.setLevel(level)
        root.handlers[:] = handlers
    return app


def build_round(cards: list[tuple[str, str]]) -> tuple[list[Charge], object]:
    """Fill the (empty, migrated) database and close the round; return the charges due
    (by statement id) and the time to sweep at."""
    from sqlalchemy import func, insert, select, text

    from bulkbuy.extensions import db
    from bulkbuy.models import (
        CardConsent,
        Household,
        PledgeLine,
        Product,
        RoundItem,
        SavedCard,
        Statement,
        utcnow,
    )
    from bulkbuy.services import accounts, closing, rounds

    rng = random.Random(SEED)
    now = utcnow()
    organiser = accounts.create_user("bench-organiser@example.org", "Organiser", "password123")
    group = accounts.create_group("Bench Estate", "Europe/London", organiser, actor=None)
    supplier_id = db.session.execute(
        text("INSERT INTO suppliers (group_id, name, created_at) VALUES (:g, 'Wholesaler', :t) "
             "RETURNING id"), {"g": group.id, "t": now.replace(tzinfo=None)},
    ).scalar_one()
    db.session.execute(insert(Product), [{
        "supplier_id": supplier_id, "name": "Tinned tomatoes", "unit_description": "tin",
        "case_size": 1, "case_price_pence": UNIT_PRICE_PENCE, "supplier_code": "T1",
        "active": True}])
    products = db.session.scalars(select(Product).where(Product.supplier_id == supplier_id)).all()
    rnd = rounds.create_round(
        group, products[0].supplier, products,
        rounds.RoundDetails(title="Bench round", closes_at=now + timedelta(days=7)),
        created_by=organiser, now=now,
    )
    rounds.open_round(rnd, actor=organiser, now=now)
    db.session.flush()
    item_id = db.session.scalar(select(RoundItem.id).where(RoundItem.round_id == rnd.id))

    home_ids = db.session.scalars(
        insert(Household).returning(Household.id, sort_by_parameter_order=True),
        [{"group_id": group.id, "label": f"Flat {n}", "is_assisted": False,
          "pin_failed_attempts": 0, "created_at": now} for n in range(len(cards))],
    ).all()
    start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
    db.session.execute(insert(PledgeLine), [
        {"round_id": rnd.id, "round_item_id": item_id, "household_id": home_id,
         "queue_pos": start + n, "quantity": rng.randint(1, 6), "tolerance": 0,
         "created_at": now, "entered_by_id": None} for n, home_id in enumerate(home_ids)])
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(func.setval("pledge_queue_seq", start + len(home_ids))))
    db.session.execute(insert(SavedCard), [
        {"household_id": home_id, "customer_id": customer_id, "setup_intent_id": None,
         "payment_method_id": card_id, "brand": "visa", "last4": "4242", "status": "saved",
         "saved_at": now, "updated_at": now}
        for home_id, (customer_id, card_id) in zip(home_ids, cards, strict=True)])
    db.session.execute(insert(CardConsent), [
        {"round_id": rnd.id, "household_id": home_id, "max_pence": 6 * UNIT_PRICE_PENCE,
         "user_id": None, "consented_at": now} for home_id in home_ids])
    db.session.commit()

    close_at = now + timedelta(days=8)
    result = closing.close_round(rnd.id, close_at)
    db.session.commit()
    if result is None or result.status != "closed":
        raise SystemExit(f"the round did not close: {result}")
    card_of = dict(zip(home_ids, cards, strict=True))
    rows = db.session.execute(
        select(Statement.id, Statement.household_id, Statement.total_pence,
               Statement.paid_pence, Statement.payment_status)
        .where(Statement.round_id == rnd.id).order_by(Statement.id)).all()
    if len(rows) != len(cards) or any(r.payment_status != "due" or r.paid_pence
                                      or r.total_pence < 30 for r in rows):
        raise SystemExit(f"unexpected statements after the close: {rows[:5]}...")
    charges = [Charge(rnd.id, r.household_id, r.id, r.total_pence, *card_of[r.household_id])
               for r in rows]
    db.session.remove()
    return charges, close_at + timedelta(minutes=1)


# --- measuring ----------------------------------------------------------------------------


def app_run(db_url, base_url: str, cards, expected: list[Charge] | None,
            profile: bool, concurrency: int | None = None) -> tuple[AppRun, list[Charge]]:
    from sqlalchemy import event, func, select

    from bulkbuy import sweeps
    from bulkbuy.extensions import db
    from bulkbuy.models import Statement
    from bulkbuy.services.payments.throttle import Throttle

    app = make_app(db_url(), base_url, concurrency)
    with app.app_context():
        charges, now = build_round(cards)
        if expected is not None and charges != expected:
            raise SystemExit("the rebuilt round differs from the first one")

        timer = PhaseTimer()
        throttle = Throttle(float(app.config["STRIPE_REQUESTS_PER_SECOND"]),
                                     sleep=timer.wrap("throttle sleep", time.sleep))
        db.session.commit = timer.wrap("commit", db.session.commit)
        statements: Counter[str] = Counter()

        def count(conn, cursor, statement, parameters, context, executemany) -> None:
            statements[statement.lstrip().split(None, 1)[0].upper()] += 1

        profiler = cProfile.Profile() if profile else None
        event.listen(db.engine, "before_cursor_execute", count)
        with timer:
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            result = sweeps.sweep_payments(now, config=app.config,
                                             throttle=throttle, batch=len(charges))
            if profiler:
                profiler.disable()
            seconds = time.perf_counter() - started
        event.remove(db.engine, "before_cursor_execute", count)
        del db.session.commit  # the session's own again
        db.session.remove()

        paid = db.session.scalar(select(func.count()).select_from(Statement).where(
            Statement.payment_status == "paid", Statement.paid_pence == Statement.total_pence))
        db.session.remove()
        db.engine.dispose()
    problems = []
    if result.charged != len(charges) or result.errors or result.needs_action:
        problems.append(f"sweep: {result}")
    if paid != len(charges):
        problems.append(f"{paid} of {len(charges)} statements paid")
    intents = payment_intents_at(base_url)
    succeeded = sum(pi.status == "succeeded" for pi in intents)
    if len(intents) != len(charges) or succeeded != len(charges):
        problems.append(f"{len(intents)} PaymentIntents at localstripe, {succeeded} succeeded")
    if len(throttle.calls) != len(charges):
        problems.append(f"the throttle saw {len(throttle.calls)} calls")
    if problems:
        raise SystemExit("app run inconsistent: " + "; ".join(problems))
    if profiler:
        print_profile(profiler, seconds, len(charges))
    return AppRun(seconds, throttle.peak_per_second(), dict(timer.seconds),
                  dict(statements), int(app.config["STRIPE_CONCURRENT_CHARGES"])), charges


def bare_run(base_url: str, charges: list[Charge], fresh_client: bool) -> float:
    import requests
    import stripe

    client = client_for(base_url)
    succeeded = 0
    started = time.perf_counter()
    for charge in charges:
        session = None
        if fresh_client:  # as stripe_gateway._call: a client and session per call
            session = requests.Session()
            client = stripe.StripeClient(
                TEST_KEY, base_addresses={"api": base_url},
                http_client=stripe.RequestsClient(timeout=5.0, session=session),
                max_network_retries=0)
        try:
            pi = client.v1.payment_intents.create(params={
                "amount": charge.amount_pence, "currency": "gbp",
                "customer": charge.customer_id, "payment_method": charge.payment_method_id,
                "off_session": True, "confirm": True, "metadata": charge.metadata,
            }, options={"idempotency_key": charge.idempotency_key})
        finally:
            if session is not None:
                session.close()
        succeeded += pi.status == "succeeded"
    seconds = time.perf_counter() - started
    if succeeded != len(charges):
        raise SystemExit(f"bare run: {succeeded} of {len(charges)} PaymentIntents succeeded")
    intents = payment_intents_at(base_url)
    if len(intents) != len(charges):
        raise SystemExit(f"bare run: {len(intents)} PaymentIntents at localstripe")
    return seconds


def print_profile(profiler: cProfile.Profile, seconds: float, charges: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    say(f"profile of the sweep ({charges} charges, {seconds:.2f} s under cProfile):\n"
        f"{out.getvalue()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=HOUSEHOLDS,
                        help=f"households (charges) per run (default {HOUSEHOLDS})")
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("BENCH_CHARGE_DATABASE_URL") or None,
                        help="run the app on PostgreSQL (wiped; its name must contain 'bench')")
    parser.add_argument("--repeat", type=int, default=1,
                        help="app/bare pairs, alternating their order (medians reported)")
    parser.add_argument("--fresh-client", action="store_true",
                        help="also time a bare loop with a new client per call")
    parser.add_argument("--profile", action="store_true", help="cProfile the first app sweep")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="STRIPE_CONCURRENT_CHARGES for the app (default: the app's own)")
    parser.add_argument("--localstripe-dir", default=default_localstripe_dir(),
                        help="where each localstripe keeps its state file (default: "
                             "/dev/shm when there is one, else the temporary directory)")
    args = parser.parse_args()
    if not is_installed():
        say("charge: localstripe is not installed; skipped")
        return 0
    n = args.households

    with (tempfile.TemporaryDirectory(prefix="bulkbuy-bench-charge-") as tmp_name,
          tempfile.TemporaryDirectory(prefix="bulkbuy-bench-charge-localstripe-",
                                      dir=args.localstripe_dir) as state_name):
        tmp, state_dir = Path(tmp_name), Path(state_name)
        databases = iter(range(1000))
        if args.postgres:
            database = "postgresql"

            def db_url() -> str:
                wipe_postgres(args.postgres)
                return args.postgres
        else:
            database = "sqlite"

            def db_url() -> str:
                return f"sqlite:///{tmp / f'charge-{next(databases)}.sqlite'}"

        started = time.perf_counter()
        snapshot = tmp / "snapshot.pickle"
        cards = make_snapshot(n, snapshot)
        say(f"setup: {n} customers with an attached card at localstripe "
            f"({snapshot.stat().st_size / 1024:.0f} KiB of state) in "
            f"{time.perf_counter() - started:.1f} s")

        app_runs: list[AppRun] = []
        bare_s: list[float] = []
        fresh_s: list[float] = []
        charges: list[Charge] | None = None
        order = []
        for pair in range(max(1, args.repeat)):
            order += ["app", "bare"] if pair % 2 == 0 else ["bare", "app"]
        if args.fresh_client:
            order.append("fresh")
        for what in order:
            if what != "app" and charges is None:
                raise AssertionError("the first run is the app's")
            with localstripe_from(snapshot, state_dir, n) as base_url:
                if what == "app":
                    run, charges = app_run(db_url, base_url, cards, charges,
                                           args.profile and not app_runs, args.concurrency)
                    app_runs.append(run)
                    say(f"app ({database}, {run.concurrency} in flight): {n} charges in "
                        f"{run.seconds:.2f} s = {n / run.seconds:.1f}/s "
                        f"({run.seconds / n * 1000:.1f} ms each); peak {run.peak_rate}/s")
                    # The calls run in worker threads, overlapping the sweep's own work.
                    own = {k: v for k, v in run.phases.items() if k not in IN_WORKERS}
                    other = run.seconds - sum(own.values())
                    say("  per charge, the sweep's thread: " + ", ".join(
                        f"{name} {spent / n * 1000:.1f} ms"
                        for name, spent in [*own.items(), ("other (incl. waiting for "
                                                           "answers)", other)]))
                    say("  per charge, in worker threads: " + ", ".join(
                        f"{name} {run.phases[name] / n * 1000:.1f} ms" for name in IN_WORKERS))
                    say(f"  SQL: {sum(run.statements.values()) / n:.1f} statements a charge ("
                        + ", ".join(f"{word} {count / n:.1f}" for word, count
                                    in sorted(run.statements.items())) + ")")
                elif what == "bare":
                    seconds = bare_run(base_url, charges, fresh_client=False)
                    bare_s.append(seconds)
                    say(f"bare SDK loop (one client): {n} in {seconds:.2f} s = "
                        f"{n / seconds:.1f}/s ({seconds / n * 1000:.1f} ms each)")
                else:
                    seconds = bare_run(base_url, charges, fresh_client=True)
                    fresh_s.append(seconds)
                    say(f"bare SDK loop (a client per call): {n} in {seconds:.2f} s = "
                        f"{n / seconds:.1f}/s ({seconds / n * 1000:.1f} ms each)")

    charges_per_s = n / statistics.median(r.seconds for r in app_runs)
    bare_per_s = n / statistics.median(bare_s)
    ratio = charges_per_s / bare_per_s
    peak = max(r.peak_rate for r in app_runs)
    missed = []
    if ratio < TARGET_RATIO:
        missed.append(f"ratio {ratio:.3f} < {TARGET_RATIO}")
    if peak > RATE_LIMIT:
        missed.append(f"peak rate {peak}/s over the configured {RATE_LIMIT}/s")
    say("targets met" if not missed else "targets MISSED: " + "; ".join(missed))
    say(f"charges_per_s={charges_per_s:.1f} bare_sdk_per_s={bare_per_s:.1f} "
        f"ratio={ratio:.3f} peak_rate={peak:d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
