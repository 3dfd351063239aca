"""A short seeded chaos run on each database (tests/chaos.py): the app's own commands
(close-due, charge-cards, scheduler) are killed with SIGKILL at random moments while a
round closes, is charged and, after a cancel, refunded; then the money is checked at
Stripe and in our records. `python bench/chaos.py` runs the long version."""

from __future__ import annotations

import os

from tests.chaos import run_chaos

#: Change it with CHAOS_SEED=N to replay a failure (its message names the seed).
SEED = int(os.environ.get("CHAOS_SEED", "20261206"))
KILLS = 20
#: Two runs: the first cancelled after it was paid, the second while it was charged.
KILLS_PER_RUN = 10


def test_killing_the_sweeps_at_random_never_loses_or_doubles_money(card_app, localstripe):
    report = run_chaos(database_url=card_app.config["SQLALCHEMY_DATABASE_URI"],
                       stripe_base=localstripe, seed=SEED, kills=KILLS, kills_per_run=KILLS_PER_RUN,
                       log=print)

    print(report.line())
    assert report.kills == KILLS and report.runs == 2
    assert report.violations == [], "\n".join(report.violations)
