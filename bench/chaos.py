"""The long chaos run: kill the app's payment commands 1,000 times and check the money.

    python bench/chaos.py                       # 1,000 kills on SQLite, a random seed
    python bench/chaos.py --kills 100 --seed 7  # replay seed 7 (a violation names its seed)
    python bench/chaos.py --postgres URL        # on PostgreSQL (the URL's database name
                                                # must contain "chaos": it is wiped)

What it does and checks is tests/chaos.py's (a short run of it is in `make test`):
runs of up to 15 kills each, every run a new round that closes, is charged and is
mostly cancelled and refunded, with `close-due`, `charge-cards` and `scheduler`
started as subprocesses against a localstripe of its own and killed with SIGKILL
after a random delay; then clean sweeps and the checks. The same seed plans the
same runs and delays; what each delay catches depends on the machine.

The last line is `kills=... runs=... violations=... seconds=...`. Exits 1 when there
is any violation (each is printed with its seed), 0 otherwise.
"""

from __future__ import annotations

import argparse
import functools
import logging
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bulkbuy.extensions import db  # noqa: E402 - after the path is set
from bulkbuy.services import accounts  # noqa: E402
from devtools.localstripe_server import LocalstripeServer, is_installed  # noqa: E402
from tests.chaos import run_chaos  # noqa: E402
from tests.conftest import make_app  # noqa: E402
from tests.stripe_helpers import app_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--kills-per-run", type=int, default=15)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database name has 'chaos'")
    args = parser.parse_args(argv)
    if not is_installed():
        print("localstripe is not installed: pip install -r requirements-dev.txt")
        return 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    logging.basicConfig(level=logging.WARNING)
    # Test users share one password: hash it once (scrypt costs 0.1 s a call).
    accounts.hash_secret = functools.lru_cache(maxsize=None)(accounts.hash_secret)
    with tempfile.TemporaryDirectory(prefix="bulkbuy-chaos-") as tmp:
        url = args.postgres or f"sqlite:///{tmp}/chaos.sqlite"
        if args.postgres and "chaos" not in url.rsplit("/", 1)[-1]:
            parser.error("the PostgreSQL database's name must contain 'chaos' (it is wiped)")
        print(f"seed={seed} database={url.split('://')[0]} kills={args.kills}", flush=True)
        with LocalstripeServer() as stripe_base:
            app = make_app(url, **app_settings(stripe_base))
            for noisy in ("stripe", "alembic"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
            with app.app_context():
                report = run_chaos(database_url=url, stripe_base=stripe_base, seed=seed,
                                   kills=args.kills, kills_per_run=args.kills_per_run,
                                   log=lambda line: print(line, flush=True))
                db.session.remove()
                db.engine.dispose()
    print(f"launches={report.launches}")
    print(report.line())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
