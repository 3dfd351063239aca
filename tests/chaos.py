"""Chaos: kill the app's own commands at random moments, then check the money.

Each *run* prepares a round whose households pledge and agree to pay by card
(one card needs 3-D Secure, one is declined on every charge, two households
pay cash), lets it close, charges it, and, in most runs, cancels it so every
card payment is refunded. Every step that moves money is done by the app's
real commands (`flask close-due`, `flask charge-cards`, `flask scheduler`),
each run in a process of its own against localstripe (forked from one that
imported the app once, so no kill is spent on imports) and killed with
SIGKILL after a random delay; killed work is started again. What a person would do
(the resident confirming with their bank, the worker taking or handing back
cash, the organiser cancelling) is done in this process through the same
services the pages use.

When a run's kills are spent it is finished with clean sweeps (not killed),
and checked:
- at Stripe, per household and attempt, at most one succeeded PaymentIntent;
  no PaymentIntent refunded more than it took; no two refunds with one key;
- `flask reconcile-payments` finds no difference between us and Stripe;
- every statement ends settled: paid in full (card money kept at Stripe plus
  cash equals what is owed), or, when the round was cancelled, cancelled with
  every card payment refunded in full;
- the round closed exactly once, its statements complete, summing to the
  supplier order plus the delivery fee.

Timing is random but seeded: the same seed plans the same runs, commands and
delays (what a delay catches still depends on the machine). Each violation
names the seed. `flask charge-cards --now` is given a clock that moves on by
more than a lease at every start, so what a killed sweep held is free for
the next; the scheduler keeps the real clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import requests
import stripe
from flask import current_app
from sqlalchemy import func, select

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.models import (
    CardPayment,
    CardRefund,
    CashPayment,
    PledgeLine,
    Round,
    Statement,
    utcnow,
)
from bulkbuy.services import pledges
from bulkbuy.services.payments import attempts, charge_sweep, pay_now, refunds
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import saved_cards as cards
from devtools import localstripe_server
from tests import factories
from tests.conftest import empty_tables
from tests.integration.helpers.closing_checks import (
    assert_statements_consistent,
    closed_audits,
)
from tests.stripe_helpers import (
    CARD_DECLINED_ON_CHARGE,
    CARD_NEEDS_AUTH,
    CARD_OK,
    save_card,
)

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = (("Tinned tomatoes", 12, 1000), ("Rice", 25, 3150), ("Oil", 6, 1194))
#: How a run ends: everyone pays; the round is cancelled after it was paid (refunds);
#: or cancelled while its charges are being killed.
ENDINGS = ("paid", "cancelled_after", "cancelled_during")  # run 1 is cancelled_after
#: More than a lease and the wait before an unanswered refund is looked up again.
CLOCK_STEP = max(attempts.LEASE, attempts.RECHECK_AFTER) + timedelta(seconds=1)


@dataclass
class ChaosReport:
    seed: int
    kills: int = 0
    runs: int = 0
    launches: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"kills={self.kills} runs={self.runs} violations={len(self.violations)} "
                f"seconds={self.seconds:.1f}")


@dataclass
class Launch:
    command: str
    killed: bool
    seconds: float
    returncode: int | None
    output: str


#: A process that has imported the app once and forks a child for every command: the
#: child runs `flask --app bulkbuy <args>` through Flask's own CLI, with its output
#: and then its exit status written to the files named, in a session of its own.
#: Children are reaped by the kernel (SIGCHLD ignored). This saves the second of
#: imports a fresh `flask` spends, so kills land while the command works, not while
#: it imports.
_FORK_SERVER = """
import json, os, signal, sys, traceback
import flask.cli, bulkbuy, bulkbuy.cli, bulkbuy.adapters.scheduler
import bulkbuy.services.payments.reconcile, bulkbuy.sweeps
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        code = 1
        try:
            flask.cli.cli.main(args=["--app", "bulkbuy", *request["args"]], prog_name="flask")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        with open(request["status"] + ".tmp", "w") as f:
            f.write(str(code))
        os.replace(request["status"] + ".tmp", request["status"])
        os._exit(code)
    print(pid, flush=True)
"""


class Commands:
    """Starts the app's commands on one database and localstripe, each a process of its
    own (forked from a process that imported the app once), and kills them with SIGKILL
    after a random delay drawn from `rng`.

    The delay is drawn over the time the command takes when left alone (learned from
    the runs that finished), so kills land anywhere in its work.
    """

    def __init__(self, database_url: str, stripe_base: str, rng: random.Random, workdir: Path):
        self.rng = rng
        self.workdir = workdir
        env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("STRIPE_", "FLASK_", "DATABASE_URL", "MAIL_"))},
            "DATABASE_URL": database_url,
            "SECRET_KEY": "chaos-test-secret",
            "STRIPE_SECRET_KEY": localstripe_server.TEST_KEY,
            "STRIPE_API_BASE": stripe_base,
            "STRIPE_TIMEOUT": "5",
            "STRIPE_REQUESTS_PER_SECOND": "200",
            "SWEEP_SECONDS": "1",
            "PAYMENT_SWEEP_SECONDS": "1",
        }
        self.server = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER], cwd=ROOT, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        self.work = {"close-due": 0.3, "charge-cards": 1.0, "scheduler": 1.5}
        self.launches = 0

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)
        self.server.stdout.close()

    def run(self, command: str, *args: str, kill: bool) -> Launch:
        """Run `flask <command> <args>`; with `kill`, SIGKILL it after a random delay
        (it may finish first). Without, wait for it (the scheduler is always killed)."""
        limit = 120.0
        if kill or command == "scheduler":
            limit = self.rng.uniform(0.0, 1.3 * self.work[command])
        self.launches += 1
        output = self.workdir / f"launch-{self.launches}.out"
        status = self.workdir / f"launch-{self.launches}.status"
        started = time.monotonic()
        self.server.stdin.write(json.dumps({"args": [command, *args], "output": str(output),
                                            "status": str(status)}) + "\n")
        self.server.stdin.flush()
        pid = int(self.server.stdout.readline())
        while _alive(pid) and time.monotonic() - started < limit:
            time.sleep(0.002)
        if _alive(pid):
            # The process itself, not its group: a kill may come before the child's
            # setsid(), and the command starts no processes of its own (its threads die
            # with it).
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            gone_by = time.monotonic() + 30
            while _alive(pid):
                if time.monotonic() > gone_by:
                    raise RuntimeError(f"process {pid} outlived SIGKILL by 30 s")
                time.sleep(0.002)
        seconds = time.monotonic() - started
        killed = not status.exists()
        text = output.read_text(errors="replace") if output.exists() else ""
        returncode = None if killed else int(status.read_text())
        for path in (output, status):
            path.unlink(missing_ok=True)
        if not killed and command in self.work:
            self.work[command] = 0.5 * self.work[command] + 0.5 * max(0.05, seconds)
        if command == "charge-cards":
            self.work["scheduler"] = self.work["charge-cards"] + 0.5
        return Launch(command, killed, seconds, returncode, text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Clock:
    """The time given to `charge-cards --now`: never behind the real clock, and a
    lease further on at every start, so a killed sweep's leases have ended."""

    def __init__(self):
        self.now = utcnow()

    def next(self) -> datetime:
        self.now = max(self.now, utcnow()) + CLOCK_STEP
        return self.now


def run_chaos(*, database_url: str, stripe_base: str, seed: int, kills: int,
              kills_per_run: int = 15, log: Callable[[str], None] = print) -> ChaosReport:
    """Kill the app's commands `kills` times in all, in runs of up to `kills_per_run`,
    and check every run (see the module docstring). Needs an app context on
    `database_url` with a migrated schema; empties its tables and wipes localstripe
    before each run."""
    report = ChaosReport(seed=seed)
    started = time.monotonic()
    rng = random.Random(seed)
    db.session.remove()
    empty_tables()
    with tempfile.TemporaryDirectory(prefix="bulkbuy-chaos-") as workdir:
        commands = Commands(database_url, stripe_base, rng, Path(workdir))
        try:
            _play_runs(report, commands, rng, seed, kills, kills_per_run, stripe_base, log)
        finally:
            commands.close()
    report.launches = commands.launches
    report.seconds = time.monotonic() - started
    return report


def _play_runs(report: ChaosReport, commands: Commands, rng: random.Random, seed: int,
               kills: int, kills_per_run: int, stripe_base: str,
               log: Callable[[str], None]) -> None:
    while report.kills < kills:
        budget = min(kills_per_run, kills - report.kills)
        run = ChaosRun(report.runs + 1, seed, rng, commands, stripe_base)
        run.play(budget)
        report.kills += run.kills
        report.runs += 1
        report.violations += run.violations
        log(f"run {run.number}: {run.ending}, {run.kills} kill(s) "
            f"({', '.join(f'{k} {v}' for k, v in sorted(run.killed.items()))}), "
            f"{len(run.violations)} violation(s)")
        for violation in run.violations:
            log(f"  VIOLATION {violation}")


class ChaosRun:
    """One round from pledges to settled statements, its commands killed `budget` times."""

    def __init__(self, number: int, seed: int, rng: random.Random, commands: Commands,
                 stripe_base: str):
        self.number = number
        self.seed = seed
        self.rng = rng
        self.commands = commands
        self.stripe_base = stripe_base
        self.clock = Clock()
        self.ending = ENDINGS[number % len(ENDINGS)]  # each in turn, refunds first
        self.kills = 0
        self.killed: dict[str, int] = defaultdict(int)
        self.violations: list[str] = []
        self.round_id: int | None = None
        self.fee = 0

    # --- playing ---------------------------------------------------------------------------

    def play(self, budget: int) -> None:
        db.session.remove()
        empty_tables()
        localstripe_server.wipe(self.stripe_base)
        self.world = self._prepare()
        close_kills = max(1, budget // 5)
        charge_kills = budget - close_kills
        refund_kills = 0
        if self.ending != "paid":
            refund_kills = charge_kills // 2
            charge_kills -= refund_kills
        cancel_after = (self.rng.randint(0, charge_kills) if self.ending == "cancelled_during"
                        else None)

        self._kill_a_few(close_kills, ("close-due", "close-due", "scheduler"))
        self._finish("close-due")
        self._check_closed()

        for done in range(charge_kills):
            if done == cancel_after:
                self._cancel()
            self._kill_a_few(1, ("charge-cards", "charge-cards", "scheduler"))
        if cancel_after == charge_kills:
            self._cancel()
        self._settle()
        if self.ending != "cancelled_during":
            self._residents_pay()
            self._settle()
        if self.ending == "cancelled_after":
            self._cancel()
            self._hand_back_cash()
        self._kill_a_few(refund_kills, ("charge-cards", "charge-cards", "scheduler"))
        self._settle()
        self._check_money()

    def _prepare(self) -> factories.World:
        rng = self.rng
        w = factories.world(residents=rng.randint(6, 9), products=PRODUCTS,
                            closes_in=timedelta(hours=1))
        self.fee = rng.choice((0, 750, 1199))
        w.round.delivery_fee_pence = self.fee
        db.session.commit()
        card_numbers = [CARD_NEEDS_AUTH, CARD_DECLINED_ON_CHARGE] + [CARD_OK] * (
            len(w.households) - 4) + [None, None]
        now = utcnow()
        for household, person, number in zip(w.households, w.residents, card_numbers,
                                              strict=True):
            for item in w.round.items:
                if rng.random() < 0.7:
                    pledges.set_pledge(item, household, rng.randint(1, 8), rng.randint(0, 3),
                                       entered_by=person, now=now, max_units=999)
            db.session.commit()
            if number is not None and pledges_of(w.round.id, household.id):
                save_card(household, person, number)
                cards.give_consent(w.round, household, user=person, now=utcnow())
                db.session.commit()
        rnd = db.session.get(Round, w.round.id)
        rnd.closes_at = utcnow() - timedelta(seconds=1)  # the deadline has passed
        db.session.commit()
        self.round_id = rnd.id
        db.session.remove()
        return w

    def _kill_a_few(self, count: int, choices: tuple[str, ...]) -> None:
        """Start commands drawn from `choices` until `count` of them were killed."""
        while count > 0:
            command = self.rng.choice(choices)
            launch = self._launch(command, kill=True)
            if launch.killed:
                count -= 1

    def _launch(self, command: str, *, kill: bool) -> Launch:
        db.session.remove()  # hold no transaction (SQLite locks) while a command runs
        args: tuple[str, ...] = ()
        if command == "charge-cards":
            args = ("--now", self.clock.next().isoformat())
        launch = self.commands.run(command, *args, kill=kill)
        if launch.killed and not kill and command != "scheduler":
            self._violation(f"`flask {command}` did not finish in {launch.seconds:.0f} s")
        elif launch.killed:
            self.kills += 1
            self.killed[command] += 1
        elif launch.returncode != 0 and command not in ("scheduler", "reconcile-payments"):
            self._violation(f"`flask {command}` exited {launch.returncode}:\n"
                            f"{launch.output[-2000:]}")
        return launch

    def _finish(self, command: str) -> None:
        self._launch(command, kill=False)

    def _settle(self) -> None:
        """Clean payment sweeps until nothing waits for an answer (a few at most)."""
        for _ in range(6):
            self._launch("charge-cards", kill=False)
            if not self._anything_in_flight():
                return
        self._violation("payments still waiting for an answer after 6 clean sweeps")

    def _anything_in_flight(self) -> bool:
        db.session.remove()
        return bool(
            db.session.scalar(select(func.count(CardPayment.id)).where(
                CardPayment.status.in_(("pending", "unknown"))))
            or db.session.scalar(select(func.count(CardRefund.id)).where(
                CardRefund.status.in_(("pending", "unknown"))))
            or db.session.scalar(select(func.count(Statement.id)).where(
                Statement.payment_status == "charging"))
            # A card statement still due: the next sweep charges it.
            or any(charge_sweep.sweep_will_charge(s) for s in self._statements()
                   if s.payment_status == "due"))

    def _statements(self) -> list[Statement]:
        return list(db.session.scalars(select(Statement).where(
            Statement.round_id == self.round_id).order_by(Statement.id)))

    # --- what people do ---------------------------------------------------------------------

    def _cancel(self) -> None:
        db.session.remove()
        rnd = db.session.get(Round, self.round_id)
        organiser = db.session.merge(self.world.organiser)
        refunds.cancel_closed_round(rnd, actor=organiser, now=utcnow())
        db.session.commit()

    def _residents_pay(self) -> None:
        """Each household still owing pays as it would: a 3-D Secure card is confirmed with
        the bank on our page (checked at Stripe, as the page does); the rest pay cash."""
        db.session.remove()
        worker = db.session.merge(self.world.worker)
        config = current_app.config
        for statement in self._statements():
            if statement.payment_status == "needs_action":
                waiting = db.session.scalar(select(CardPayment).where(
                    CardPayment.statement_id == statement.id,
                    CardPayment.status == "requires_action"))
                if waiting is not None and waiting.payment_intent_id:
                    self._authenticate(config, waiting.payment_intent_id)
                    pay_now.check_at_stripe(waiting, config=config, now=utcnow())
                    db.session.commit()
                    db.session.refresh(statement)
            owed = statement.total_pence - statement.paid_pence
            if statement.payment_status in ("due", "needs_action") and owed > 0:
                cash_service.record_cash(statement, owed, f"R{statement.id}", actor=worker,
                                     now=utcnow())
                db.session.commit()

    def _authenticate(self, config, payment_intent_id: str) -> None:
        secret = gateway.payment_intent_client_secret(config, payment_intent_id)
        response = requests.post(
            f"{self.stripe_base}/v1/payment_intents/{payment_intent_id}/_authenticate",
            data={"client_secret": secret, "success": "true"},
            auth=(localstripe_server.TEST_KEY, ""), timeout=10)
        if response.status_code != 200:
            self._violation(f"3-D Secure of {payment_intent_id} answered "
                            f"{response.status_code}: {response.text[:200]}")

    def _hand_back_cash(self) -> None:
        db.session.remove()
        worker = db.session.merge(self.world.worker)
        for cash in db.session.scalars(select(CashPayment).where(
                CashPayment.returned_at.is_(None))).all():
            cash_service.record_cash_returned(cash, actor=worker, now=utcnow())
        db.session.commit()

    # --- checks ------------------------------------------------------------------------------

    def _violation(self, what: str) -> None:
        self.violations.append(f"seed={self.seed} run={self.number} ({self.ending}): {what}")

    def _check_closed(self) -> None:
        db.session.remove()
        rnd = db.session.get(Round, self.round_id)
        if rnd.status != "closed":
            self._violation(f"the round is {rnd.status} after a clean close-due")
            return
        if closed_audits(self.round_id) != 1:
            self._violation(f"the round closed {closed_audits(self.round_id)} times")
        try:
            assert_statements_consistent(self.round_id)
        except AssertionError as exc:
            self._violation(f"statements after close do not add up: {exc!r}")

    def _check_money(self) -> None:
        db.session.remove()
        rnd = db.session.get(Round, self.round_id)
        statements = self._statements()
        fee = rnd.delivery_fee_pence if rnd.goods_total_pence else 0
        if sum(s.total_pence for s in statements) != rnd.goods_total_pence + fee:
            self._violation("statements no longer sum to the supplier order plus the fee")
        if closed_audits(self.round_id) != 1:
            self._violation(f"the round closed {closed_audits(self.round_id)} times")
        kept = self._check_stripe()
        reconcile = self._launch("reconcile-payments", kill=False)
        if reconcile.returncode != 0:
            self._violation(f"reconcile-payments found differences:\n{reconcile.output[-3000:]}")
        db.session.remove()
        cancelled = self.ending != "paid"
        for statement in self._statements():
            at_stripe = kept.get(statement.household_id, 0)
            cash = db.session.scalar(select(func.coalesce(func.sum(CashPayment.amount_pence), 0))
                                     .where(CashPayment.statement_id == statement.id,
                                            CashPayment.returned_at.is_(None)))
            who = f"household {statement.household_id}"
            if cancelled:
                if statement.payment_status != "cancelled" or at_stripe or cash:
                    self._violation(f"{who}: {statement.payment_status} after the cancel, "
                                    f"{at_stripe}p kept at Stripe, {cash}p cash not handed back")
            elif (statement.payment_status not in ("paid", "settled")
                  or statement.paid_pence != statement.total_pence
                  or at_stripe + cash != statement.total_pence):
                self._violation(f"{who}: {statement.payment_status}, owes "
                                f"{statement.total_pence}p, paid {statement.paid_pence}p "
                                f"({at_stripe}p kept at Stripe, {cash}p cash)")
        refunds = db.session.scalars(select(CardRefund).where(
            CardRefund.status != "succeeded")).all()
        for refund in refunds:
            self._violation(f"refund {refund.idempotency_key} ended {refund.status}")

    def _check_stripe(self) -> dict[int, int]:
        """Stripe's side: one success per attempt, no PaymentIntent refunded past what it
        took, one refund per key. Returns card money kept at Stripe per household."""
        client = stripe.StripeClient(localstripe_server.TEST_KEY,
                                     base_addresses={"api": self.stripe_base},
                                     max_network_retries=0)
        intents = list(client.v1.payment_intents.list(params={"limit": 100})
                       .auto_paging_iter())
        refunds = list(client.v1.refunds.list(params={"limit": 100}).auto_paging_iter())
        succeeded: dict[tuple[str, str], list[str]] = defaultdict(list)
        taken: dict[str, tuple[int, int]] = {}
        for pi in intents:
            meta = pi.metadata.to_dict() if pi.metadata else {}
            if pi.status == "succeeded":
                household = int(meta["household_id"])
                succeeded[(meta["household_id"], meta["attempt"])].append(pi.id)
                taken[pi.id] = (household, pi.amount)
        for (household, attempt), ids in succeeded.items():
            if len(ids) > 1:
                self._violation(f"household {household} attempt {attempt} succeeded "
                                f"{len(ids)} times at Stripe: {', '.join(ids)}")
        refunded: dict[str, int] = defaultdict(int)
        keys: dict[str, list[str]] = defaultdict(list)
        for refund in refunds:
            if refund.status in ("failed", "canceled"):
                continue
            refunded[refund.payment_intent] += refund.amount
            keys[(refund.metadata.to_dict() if refund.metadata else {}).get(
                "refund_key", refund.id)].append(refund.id)
        for key, ids in keys.items():
            if len(ids) > 1:
                self._violation(f"{len(ids)} refunds at Stripe for our one refund {key}: "
                                f"{', '.join(ids)}")
        kept: dict[int, int] = defaultdict(int)
        for pi_id, (household, amount) in taken.items():
            if refunded[pi_id] > amount:
                self._violation(f"household {household}: {pi_id} took {amount}p and was "
                                f"refunded {refunded[pi_id]}p")
            kept[household] += amount - refunded[pi_id]
        for pi_id in set(refunded) - set(taken):
            self._violation(f"{pi_id} was refunded but never succeeded")
        return kept


def pledges_of(round_id: int, household_id: int) -> int:
    """Units the household pledged in the round."""
    return db.session.scalar(select(func.coalesce(func.sum(PledgeLine.quantity), 0)).where(
        PledgeLine.round_id == round_id, PledgeLine.household_id == household_id))

